//! Text from outside (file names, command output, query texts, hostnames) made safe to show:
//! control characters, terminal escape sequences included, become visible escapes.

use std::path::Path;

/// Replaces control characters with visible escapes such as `\x1b` or `\n`, so that no input
/// can break a line or drive the terminal.
pub fn printable(text: &str) -> String {
    if !text.chars().any(char::is_control) {
        return text.to_owned();
    }
    let mut out = String::with_capacity(text.len() + 8);
    for ch in text.chars() {
        match ch {
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            ch if ch.is_control() => out.push_str(&format!("\\x{:02x}", ch as u32)),
            ch => out.push(ch),
        }
    }
    out
}

/// A path as [`printable`] text (non-UTF-8 bytes shown as U+FFFD).
pub fn printable_path(path: &Path) -> String {
    printable(&path.to_string_lossy())
}

/// `45s`, `12m`, `3h 04m`, `5d 2h`.
pub fn duration(seconds: i64) -> String {
    let seconds = seconds.max(0);
    match seconds {
        s if s < 60 => format!("{s}s"),
        s if s < 3600 => format!("{}m", s / 60),
        s if s < 86_400 => format!("{}h {:02}m", s / 3600, (s % 3600) / 60),
        s => format!("{}d {}h", s / 86_400, (s % 86_400) / 3600),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_control_characters() {
        assert_eq!(printable("a\x1b[2Jb\n"), "a\\x1b[2Jb\\n");
        assert_eq!(printable("디스크"), "디스크");
        assert_eq!(printable_path(Path::new("/tmp/a\nb")), "/tmp/a\\nb");
    }
}
