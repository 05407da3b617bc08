//! Text for the screen: width-aware truncation (Korean and other double-width text counts two
//! columns), escaping of control characters, and compact durations.

use unicode_width::{UnicodeWidthChar, UnicodeWidthStr};

pub use crate::core::text::{duration, printable};

pub fn width(text: &str) -> usize {
    UnicodeWidthStr::width(text)
}

/// Cuts `text` to at most `max` columns, ending with `…` when something was cut.
pub fn fit(text: &str, max: usize) -> String {
    if width(text) <= max {
        return text.to_owned();
    }
    if max == 0 {
        return String::new();
    }
    let mut out = String::new();
    let mut used = 0;
    for ch in text.chars() {
        let w = ch.width().unwrap_or(0);
        if used + w > max - 1 {
            break;
        }
        out.push(ch);
        used += w;
    }
    out.push('…');
    out
}

/// Pads (or cuts) `text` to exactly `columns` columns, left-aligned.
pub fn pad(text: &str, columns: usize) -> String {
    let cut = fit(text, columns);
    let fill = columns.saturating_sub(width(&cut));
    format!("{cut}{}", " ".repeat(fill))
}

/// Minute resolution: a per-second counter on every row would redraw the whole column every
/// second, which is most of the bandwidth over SSH.
pub fn minutes(seconds: i64) -> String {
    if seconds < 60 {
        "<1m".into()
    } else {
        duration(seconds / 60 * 60)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fits_double_width_text_by_columns() {
        assert_eq!(fit("디스크 사용량", 7), "디스크…");
        assert_eq!(width(&pad("디스크", 8)), 8);
        assert_eq!(fit("disk", 4), "disk");
    }

    #[test]
    fn durations_are_compact() {
        assert_eq!(duration(45), "45s");
        assert_eq!(duration(3 * 3600 + 4 * 60), "3h 04m");
        assert_eq!(duration(5 * 86_400 + 7200), "5d 2h");
    }
}
