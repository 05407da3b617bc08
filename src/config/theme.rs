//! Themes: semantic colour slots (ok, warn, crit, gauge_low, …) read from `themes/*.toml`.
//! Four themes are built in; a file `<config dir>/themes/NAME.toml` overrides the slots of the
//! built-in theme of the same name, or of the one it `inherits`, or defines a new theme.
//! This module describes styles only; the TUI turns them into terminal colours.

use std::collections::BTreeMap;
use std::path::Path;

use serde::Deserialize;

use super::diagnostics::{ConfigError, FIX_SEPARATOR, nearest};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Slot {
    Text,
    Muted,
    Title,
    Border,
    BorderFocused,
    Selection,
    Header,
    Key,
    Ok,
    Warn,
    Crit,
    Unknown,
    GaugeLow,
    GaugeMid,
    GaugeHigh,
    GaugeEmpty,
    EnvProd,
    EnvOther,
    ReadOnly,
}

impl Slot {
    pub const ALL: [Slot; 19] = [
        Slot::Text,
        Slot::Muted,
        Slot::Title,
        Slot::Border,
        Slot::BorderFocused,
        Slot::Selection,
        Slot::Header,
        Slot::Key,
        Slot::Ok,
        Slot::Warn,
        Slot::Crit,
        Slot::Unknown,
        Slot::GaugeLow,
        Slot::GaugeMid,
        Slot::GaugeHigh,
        Slot::GaugeEmpty,
        Slot::EnvProd,
        Slot::EnvOther,
        Slot::ReadOnly,
    ];
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ColorSpec {
    Reset,
    /// One of the 16 ANSI colours, 0–15 (black, red, …, bright white).
    Ansi(u8),
    Indexed(u8),
    Rgb(u8, u8, u8),
}

const ANSI_NAMES: [&str; 16] = [
    "black",
    "red",
    "green",
    "yellow",
    "blue",
    "magenta",
    "cyan",
    "gray",
    "darkgray",
    "lightred",
    "lightgreen",
    "lightyellow",
    "lightblue",
    "lightmagenta",
    "lightcyan",
    "white",
];

impl ColorSpec {
    fn parse(word: &str) -> Option<ColorSpec> {
        let lower = word.to_ascii_lowercase().replace(['_', '-'], "");
        if lower == "reset" || lower == "default" {
            return Some(ColorSpec::Reset);
        }
        if let Some(index) = ANSI_NAMES.iter().position(|name| *name == lower) {
            return Some(ColorSpec::Ansi(index as u8));
        }
        if let Some(hex) = lower.strip_prefix('#').filter(|hex| hex.len() == 6) {
            let channel = |at: usize| u8::from_str_radix(&hex[at..at + 2], 16).ok();
            return Some(ColorSpec::Rgb(channel(0)?, channel(2)?, channel(4)?));
        }
        lower
            .strip_prefix("color")
            .and_then(|n| n.parse().ok())
            .map(ColorSpec::Indexed)
    }
}

/// A style as written in a theme: `"bold red"`, `"black on cyan"`, `"reverse"`, `"#ff8800"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(try_from = "String")]
pub struct StyleSpec {
    pub fg: Option<ColorSpec>,
    pub bg: Option<ColorSpec>,
    pub bold: bool,
    pub dim: bool,
    pub italic: bool,
    pub underline: bool,
    pub reversed: bool,
}

impl TryFrom<String> for StyleSpec {
    type Error = String;

    fn try_from(text: String) -> Result<Self, String> {
        let mut style = StyleSpec::default();
        let mut words = text.split_whitespace();
        while let Some(word) = words.next() {
            match word.to_ascii_lowercase().as_str() {
                "bold" => style.bold = true,
                "dim" => style.dim = true,
                "italic" => style.italic = true,
                "underline" | "underlined" => style.underline = true,
                "reverse" | "reversed" => style.reversed = true,
                "none" | "plain" => {}
                "on" => {
                    let color = words.next().and_then(ColorSpec::parse).ok_or_else(|| {
                        format!("`on` must be followed by a colour in style \"{text}\"{FIX_SEPARATOR}write e.g. \"black on cyan\"")
                    })?;
                    style.bg = Some(color);
                }
                _ => {
                    let color = ColorSpec::parse(word).ok_or_else(|| {
                        format!(
                            "unknown colour or modifier `{word}` in style \"{text}\"{FIX_SEPARATOR}colours: {}, #rrggbb, color0..color255; modifiers: bold, dim, italic, underline, reverse; background: `on COLOUR`",
                            ANSI_NAMES.join(", ")
                        )
                    })?;
                    style.fg = Some(color);
                }
            }
        }
        Ok(style)
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ThemeFile {
    #[serde(default)]
    inherits: Option<String>,
    #[serde(default)]
    slots: BTreeMap<Slot, StyleSpec>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Theme {
    pub name: String,
    slots: BTreeMap<Slot, StyleSpec>,
}

impl Theme {
    pub fn style(&self, slot: Slot) -> StyleSpec {
        self.slots.get(&slot).copied().unwrap_or_default()
    }

    /// True when the theme paints with colours (the mono theme uses modifiers only).
    pub fn uses_color(&self) -> bool {
        self.slots
            .values()
            .any(|style| style.fg.is_some() || style.bg.is_some())
    }
}

pub const BUILTIN_THEMES: [(&str, &str); 4] = [
    ("dark", include_str!("../../themes/dark.toml")),
    ("light", include_str!("../../themes/light.toml")),
    (
        "high-contrast",
        include_str!("../../themes/high-contrast.toml"),
    ),
    ("mono", include_str!("../../themes/mono.toml")),
];

fn parse_theme_file(file: &str, source: &str) -> Result<ThemeFile, ConfigError> {
    toml::from_str(source).map_err(|error| ConfigError::from_toml(file, source, &error))
}

fn builtin(name: &str) -> Option<&'static str> {
    BUILTIN_THEMES
        .iter()
        .find(|(builtin, _)| *builtin == name)
        .map(|(_, source)| *source)
}

/// Loads theme `name`: a user file in `themes_dir` if there is one, else a built-in theme.
pub fn load_theme(name: &str, themes_dir: Option<&Path>) -> Result<Theme, ConfigError> {
    let user_file = themes_dir.map(|dir| dir.join(format!("{name}.toml")));
    let user = match &user_file {
        Some(path) if path.exists() => {
            let source = std::fs::read_to_string(path).map_err(|error| {
                ConfigError::unreadable(path, &error, "make the theme file readable, or remove it")
            })?;
            Some((path.display().to_string(), source))
        }
        _ => None,
    };
    let Some((file, source)) = user else {
        let source = builtin(name).ok_or_else(|| unknown_theme(name, themes_dir))?;
        let parsed = parse_theme_file(&format!("built-in theme {name}"), source)?;
        return Ok(Theme {
            name: name.to_owned(),
            slots: parsed.slots,
        });
    };
    let parsed = parse_theme_file(&file, &source)?;
    let base_name = parsed.inherits.as_deref().unwrap_or(name);
    let base_source = builtin(base_name).or(builtin("dark")).unwrap_or_default();
    let mut slots = parse_theme_file(&format!("built-in theme {base_name}"), base_source)?.slots;
    slots.extend(parsed.slots);
    Ok(Theme {
        name: name.to_owned(),
        slots,
    })
}

fn unknown_theme(name: &str, themes_dir: Option<&Path>) -> ConfigError {
    let names: Vec<&str> = BUILTIN_THEMES.iter().map(|(name, _)| *name).collect();
    let hint = nearest(name, &names)
        .map(|best| format!("did you mean `{best}`? "))
        .unwrap_or_default();
    let place = themes_dir
        .map(|dir| format!(", or create {}", dir.join(format!("{name}.toml")).display()))
        .unwrap_or_default();
    ConfigError {
        file: "theme".into(),
        position: None,
        message: format!("unknown theme `{name}`"),
        fix: Some(format!(
            "{hint}built-in themes are {}{place}",
            names.join(", ")
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_builtin_theme_fills_every_slot() {
        for (name, _) in BUILTIN_THEMES {
            let theme = load_theme(name, None).expect(name);
            for slot in Slot::ALL {
                assert!(theme.slots.contains_key(&slot), "{name} lacks {slot:?}");
            }
        }
    }

    #[test]
    fn builtin_colour_themes_stay_within_16_colours() {
        for name in ["dark", "light", "high-contrast"] {
            let theme = load_theme(name, None).unwrap();
            for style in theme.slots.values() {
                for color in [style.fg, style.bg].into_iter().flatten() {
                    assert!(
                        matches!(color, ColorSpec::Ansi(_) | ColorSpec::Reset),
                        "{name} uses {color:?}"
                    );
                }
            }
        }
        assert!(!load_theme("mono", None).unwrap().uses_color());
    }

    #[test]
    fn styles_parse() {
        let style = StyleSpec::try_from("bold black on cyan".to_owned()).unwrap();
        assert!(style.bold);
        assert_eq!(style.fg, Some(ColorSpec::Ansi(0)));
        assert_eq!(style.bg, Some(ColorSpec::Ansi(6)));
        assert!(StyleSpec::try_from("bold purplish".to_owned()).is_err());
    }
}
