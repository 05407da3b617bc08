//! The theme as ratatui styles, and the glyphs used for gauges (Unicode blocks, or ASCII for
//! terminals and fonts without them). No braille is used anywhere.

use ratatui::style::{Color, Modifier, Style};

use crate::config::Glyphs;
use crate::config::theme::{ColorSpec, Slot, StyleSpec, Theme};
use crate::core::model::Status;

#[derive(Debug, Clone)]
pub struct Palette {
    styles: Vec<(Slot, Style)>,
}

impl Palette {
    pub fn new(theme: &Theme) -> Palette {
        Palette {
            styles: Slot::ALL
                .iter()
                .map(|&slot| (slot, to_style(theme.style(slot))))
                .collect(),
        }
    }

    pub fn get(&self, slot: Slot) -> Style {
        self.styles
            .iter()
            .find(|(candidate, _)| *candidate == slot)
            .map_or_else(Style::default, |(_, style)| *style)
    }

    pub fn status(&self, status: Status) -> Style {
        self.get(match status {
            Status::Ok => Slot::Ok,
            Status::Warn => Slot::Warn,
            Status::Crit => Slot::Crit,
            Status::Unknown => Slot::Unknown,
        })
    }

    pub fn gauge(&self, status: Status) -> Style {
        self.get(match status {
            Status::Ok => Slot::GaugeLow,
            Status::Warn => Slot::GaugeMid,
            Status::Crit => Slot::GaugeHigh,
            Status::Unknown => Slot::Unknown,
        })
    }
}

fn to_color(color: ColorSpec) -> Color {
    match color {
        ColorSpec::Reset => Color::Reset,
        ColorSpec::Ansi(index) => match index {
            0 => Color::Black,
            1 => Color::Red,
            2 => Color::Green,
            3 => Color::Yellow,
            4 => Color::Blue,
            5 => Color::Magenta,
            6 => Color::Cyan,
            7 => Color::Gray,
            8 => Color::DarkGray,
            9 => Color::LightRed,
            10 => Color::LightGreen,
            11 => Color::LightYellow,
            12 => Color::LightBlue,
            13 => Color::LightMagenta,
            14 => Color::LightCyan,
            _ => Color::White,
        },
        ColorSpec::Indexed(index) => Color::Indexed(index),
        ColorSpec::Rgb(r, g, b) => Color::Rgb(r, g, b),
    }
}

fn to_style(spec: StyleSpec) -> Style {
    let mut style = Style::default();
    if let Some(fg) = spec.fg {
        style = style.fg(to_color(fg));
    }
    if let Some(bg) = spec.bg {
        style = style.bg(to_color(bg));
    }
    let flags = [
        (spec.bold, Modifier::BOLD),
        (spec.dim, Modifier::DIM),
        (spec.italic, Modifier::ITALIC),
        (spec.underline, Modifier::UNDERLINED),
        (spec.reversed, Modifier::REVERSED),
    ];
    for (on, modifier) in flags {
        if on {
            style = style.add_modifier(modifier);
        }
    }
    style
}

/// Characters for bars and sparklines.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GlyphSet {
    pub full: char,
    pub empty: char,
    /// Partial cells for one to seven eighths; empty for ASCII.
    pub eighths: &'static [char],
    pub levels: &'static [char],
    /// A count going up or down against a reference (log signature trends).
    pub rising: char,
    pub falling: char,
}

pub const UNICODE_GLYPHS: GlyphSet = GlyphSet {
    full: '█',
    empty: '░',
    eighths: &['▏', '▎', '▍', '▌', '▋', '▊', '▉'],
    levels: &['▁', '▂', '▃', '▄', '▅', '▆', '▇', '█'],
    rising: '↑',
    falling: '↓',
};

pub const ASCII_GLYPHS: GlyphSet = GlyphSet {
    full: '#',
    empty: '.',
    eighths: &[],
    levels: &['_', '.', '-', '~', '=', '+', '*', '#'],
    rising: '^',
    falling: 'v',
};

/// Picks glyphs from the config, falling back to ASCII when the locale is not UTF-8.
pub fn glyphs_for(choice: Glyphs, locale: &dyn Fn(&str) -> Option<String>) -> GlyphSet {
    match choice {
        Glyphs::Unicode => UNICODE_GLYPHS,
        Glyphs::Ascii => ASCII_GLYPHS,
        Glyphs::Auto => {
            let value = ["LC_ALL", "LC_CTYPE", "LANG"]
                .iter()
                .find_map(|name| locale(name).filter(|value| !value.is_empty()));
            match value {
                Some(value) if !value.to_ascii_lowercase().replace('-', "").contains("utf8") => {
                    ASCII_GLYPHS
                }
                _ => UNICODE_GLYPHS,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn non_utf8_locales_get_ascii() {
        let c_locale = |name: &str| (name == "LANG").then(|| "C".to_owned());
        assert_eq!(glyphs_for(Glyphs::Auto, &c_locale), ASCII_GLYPHS);
        let korean = |name: &str| (name == "LANG").then(|| "ko_KR.UTF-8".to_owned());
        assert_eq!(glyphs_for(Glyphs::Auto, &korean), UNICODE_GLYPHS);
        assert_eq!(glyphs_for(Glyphs::Auto, &|_: &str| None), UNICODE_GLYPHS);
    }
}

/// How things look: theme styles, glyphs and the local time zone.
#[derive(Debug, Clone)]
pub struct Look {
    pub palette: Palette,
    pub glyphs: GlyphSet,
    pub utc_offset: chrono::FixedOffset,
}
