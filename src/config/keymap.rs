//! Key bindings: parsing key names such as `q`, `ctrl-r`, `shift-tab` or `f1`, and resolving a
//! pressed key to an [`Action`]. Defaults stay clear of tmux's prefix and common bindings
//! (Ctrl-A, Ctrl-B, Ctrl-D, Ctrl-K), and Ctrl-C is unbound so a stray one does not quit.

use std::collections::BTreeMap;
use std::fmt;

use serde::Deserialize;
use serde::de::{self, Deserializer, SeqAccess, Visitor};

use crate::config::FIX_SEPARATOR;
use crate::config::action::{Action, Home};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum KeyCode {
    Char(char),
    F(u8),
    Enter,
    Esc,
    Tab,
    BackTab,
    Backspace,
    Delete,
    Insert,
    Up,
    Down,
    Left,
    Right,
    Home,
    End,
    PageUp,
    PageDown,
}

/// A key with its modifiers. Shift is folded into the character for printable keys (`G`, `?`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct KeyChord {
    pub code: KeyCode,
    pub ctrl: bool,
    pub alt: bool,
}

impl KeyChord {
    pub const fn plain(code: KeyCode) -> Self {
        KeyChord {
            code,
            ctrl: false,
            alt: false,
        }
    }

    pub fn parse(text: &str) -> Result<KeyChord, String> {
        let mut ctrl = false;
        let mut alt = false;
        let mut shift = false;
        let mut rest = text;
        loop {
            let lower = rest.to_ascii_lowercase();
            if let Some(stripped) = ["ctrl-", "c-"].iter().find_map(|p| lower.strip_prefix(p)) {
                ctrl = true;
                rest = &rest[rest.len() - stripped.len()..];
            } else if let Some(stripped) = ["alt-", "m-"].iter().find_map(|p| lower.strip_prefix(p))
            {
                alt = true;
                rest = &rest[rest.len() - stripped.len()..];
            } else if let Some(stripped) = lower.strip_prefix("shift-") {
                shift = true;
                rest = &rest[rest.len() - stripped.len()..];
            } else {
                break;
            }
        }
        let mut chars = rest.chars();
        let code = match (chars.next(), chars.next()) {
            (Some(ch), None) => {
                let ch = if ctrl { ch.to_ascii_lowercase() } else { ch };
                KeyCode::Char(if shift { ch.to_ascii_uppercase() } else { ch })
            }
            _ => match rest.to_ascii_lowercase().as_str() {
                "enter" | "return" => KeyCode::Enter,
                "esc" | "escape" => KeyCode::Esc,
                "tab" if shift => KeyCode::BackTab,
                "tab" => KeyCode::Tab,
                "backtab" => KeyCode::BackTab,
                "backspace" => KeyCode::Backspace,
                "delete" | "del" => KeyCode::Delete,
                "insert" | "ins" => KeyCode::Insert,
                "up" => KeyCode::Up,
                "down" => KeyCode::Down,
                "left" => KeyCode::Left,
                "right" => KeyCode::Right,
                "home" => KeyCode::Home,
                "end" => KeyCode::End,
                "pageup" | "pgup" => KeyCode::PageUp,
                "pagedown" | "pgdn" => KeyCode::PageDown,
                "space" => KeyCode::Char(' '),
                name => match name.strip_prefix('f').and_then(|n| n.parse::<u8>().ok()) {
                    Some(n @ 1..=24) => KeyCode::F(n),
                    _ => {
                        return Err(format!(
                            "unknown key `{text}`{FIX_SEPARATOR}write a single character (`q`, `?`), a name (enter, esc, tab, space, up, down, left, right, home, end, pageup, pagedown, backspace, delete, f1..f24), optionally with ctrl-, alt- or shift-"
                        ));
                    }
                },
            },
        };
        Ok(KeyChord { code, ctrl, alt })
    }
}

impl fmt::Display for KeyChord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.ctrl {
            f.write_str("Ctrl-")?;
        }
        if self.alt {
            f.write_str("Alt-")?;
        }
        match self.code {
            KeyCode::Char(' ') => f.write_str("Space"),
            KeyCode::Char(ch) if self.ctrl => write!(f, "{}", ch.to_ascii_uppercase()),
            KeyCode::Char(ch) => write!(f, "{ch}"),
            KeyCode::F(n) => write!(f, "F{n}"),
            KeyCode::Enter => f.write_str("Enter"),
            KeyCode::Esc => f.write_str("Esc"),
            KeyCode::Tab => f.write_str("Tab"),
            KeyCode::BackTab => f.write_str("Shift-Tab"),
            KeyCode::Backspace => f.write_str("Backspace"),
            KeyCode::Delete => f.write_str("Delete"),
            KeyCode::Insert => f.write_str("Insert"),
            KeyCode::Up => f.write_str("↑"),
            KeyCode::Down => f.write_str("↓"),
            KeyCode::Left => f.write_str("←"),
            KeyCode::Right => f.write_str("→"),
            KeyCode::Home => f.write_str("Home"),
            KeyCode::End => f.write_str("End"),
            KeyCode::PageUp => f.write_str("PgUp"),
            KeyCode::PageDown => f.write_str("PgDn"),
        }
    }
}

/// One or more keys for an action: `quit = "q"` or `quit = ["q", "ctrl-c"]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyList(pub Vec<KeyChord>);

impl<'de> Deserialize<'de> for KeyList {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct KeyListVisitor;
        impl<'de> Visitor<'de> for KeyListVisitor {
            type Value = KeyList;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a key name or a list of key names")
            }
            fn visit_str<E: de::Error>(self, value: &str) -> Result<KeyList, E> {
                KeyChord::parse(value)
                    .map(|key| KeyList(vec![key]))
                    .map_err(E::custom)
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<KeyList, A::Error> {
                let mut keys = Vec::new();
                while let Some(name) = seq.next_element::<String>()? {
                    keys.push(KeyChord::parse(&name).map_err(de::Error::custom)?);
                }
                Ok(KeyList(keys))
            }
        }
        deserializer.deserialize_any(KeyListVisitor)
    }
}

fn default_keys(action: Action) -> Vec<KeyChord> {
    let ch = |c| KeyChord::plain(KeyCode::Char(c));
    let key = KeyChord::plain;
    match action {
        Action::Quit => vec![ch('q')],
        Action::Help => vec![ch('?'), key(KeyCode::F(1))],
        Action::Refresh => vec![ch('r')],
        Action::NextPane => vec![key(KeyCode::Tab)],
        Action::PrevPane => vec![key(KeyCode::BackTab)],
        Action::Up => vec![key(KeyCode::Up), ch('k')],
        Action::Down => vec![key(KeyCode::Down), ch('j')],
        Action::PageUp => vec![key(KeyCode::PageUp)],
        Action::PageDown => vec![key(KeyCode::PageDown)],
        Action::Top => vec![key(KeyCode::Home), ch('g')],
        Action::Bottom => vec![key(KeyCode::End), ch('G')],
        Action::Close => vec![key(KeyCode::Esc)],
        Action::RunTask => vec![key(KeyCode::Enter)],
        Action::PlanTask => vec![ch('d')],
        Action::CancelTask => vec![ch('c')],
        Action::History => vec![ch('h')],
        Action::Confirm => vec![ch('y')],
        Action::Filter => vec![ch('/')],
        Action::Sort => vec![ch('s')],
        Action::Recheck => vec![ch('e')],
        Action::NextView => vec![ch('v')],
        Action::NextDatabase => vec![ch('b')],
        Action::Mark => vec![ch(' ')],
        Action::CancelQuery => vec![ch('x')],
        Action::TerminateSession => vec![ch('X')],
        Action::VerifyBackup => vec![ch('i')],
        Action::PruneBackups => vec![ch('p')],
        Action::RestoreTest => vec![ch('t')],
        Action::CreateBackup => vec![ch('n')],
        Action::SkipItem => vec![ch('-')],
        Action::Zoom => vec![ch('z')],
        Action::Palette => vec![ch(':')],
        Action::NoteItem => vec![ch('m')],
        Action::SignOff => vec![ch('O')],
        // Capital letters are left to task keys (the example config's `restart-app` is `R`):
        // `w` for a workaround in place, `f` for fixed.
        Action::Acknowledge => vec![ch('a')],
        Action::Mitigate => vec![ch('w')],
        Action::Resolve => vec![ch('f')],
        // `-` skips a checklist item, so the pair is the shifted `+` and `_`.
        Action::RaiseLevel => vec![ch('+')],
        Action::LowerLevel => vec![ch('_')],
        // `i` verifies a backup and `I` is a task's in the example config: `o` opens one.
        Action::DeclareIncident => vec![ch('o')],
        // `c` cancels a task: `l` takes the lead, `u` adds a follow-up item.
        Action::TakeCommand => vec![ch('l')],
        Action::AddActionItem => vec![ch('u')],
        // Every letter is taken: the log keys share the incident keys' letters, each meaning
        // its own action in its own pane (see `Action::home`).
        Action::LogWindow => vec![ch('w')],
        Action::Follow => vec![ch('f')],
        Action::AttachFinding => vec![ch('a')],
        Action::TimeSpan => vec![ch('Z')],
        // Capitals the example config's task keys leave free: rEstart, stoP, Up.
        Action::RestartContainer => vec![ch('E')],
        Action::StopContainer => vec![ch('P')],
        Action::StartContainer => vec![ch('U')],
    }
}

/// The effective bindings: defaults, with each action the config names replaced by its keys.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Keymap {
    bindings: Vec<(Action, Vec<KeyChord>)>,
}

impl Keymap {
    pub fn new(overrides: &BTreeMap<Action, KeyList>) -> Keymap {
        Keymap {
            bindings: Action::ALL
                .iter()
                .map(|&action| {
                    let keys = overrides
                        .get(&action)
                        .map_or_else(|| default_keys(action), |list| list.0.clone());
                    (action, keys)
                })
                .collect(),
        }
    }

    pub fn resolve(&self, key: KeyChord) -> Option<Action> {
        self.bindings
            .iter()
            .find(|(_, keys)| keys.contains(&key))
            .map(|(action, _)| *action)
    }

    /// The action `key` means where `home` has the keys: an action of that home first, then one
    /// that works everywhere, then the first bound (which then says where it works).
    pub fn resolve_in(&self, key: KeyChord, home: Option<Home>) -> Option<Action> {
        let bound: Vec<Action> = self
            .bindings
            .iter()
            .filter(|(_, keys)| keys.contains(&key))
            .map(|(action, _)| *action)
            .collect();
        bound
            .iter()
            .find(|action| home.is_some() && action.home() == home)
            .or_else(|| bound.iter().find(|action| action.home().is_none()))
            .or_else(|| bound.first())
            .copied()
    }

    pub fn keys_for(&self, action: Action) -> &[KeyChord] {
        self.bindings
            .iter()
            .find(|(bound, _)| *bound == action)
            .map_or(&[], |(_, keys)| keys.as_slice())
    }

    pub fn bindings(&self) -> impl Iterator<Item = (Action, &[KeyChord])> {
        self.bindings
            .iter()
            .map(|(action, keys)| (*action, keys.as_slice()))
    }

    /// Keys bound to two actions that can mean something in the same place, so one of them never
    /// fires (actions of two different panes may share a key).
    pub fn conflicts(&self) -> Vec<(KeyChord, Action, Action)> {
        let mut conflicts = Vec::new();
        for (index, (first, keys)) in self.bindings.iter().enumerate() {
            for (second, other_keys) in &self.bindings[index + 1..] {
                if let (Some(one), Some(other)) = (first.home(), second.home())
                    && one != other
                {
                    continue;
                }
                for key in keys.iter().filter(|key| other_keys.contains(key)) {
                    conflicts.push((*key, *first, *second));
                }
            }
        }
        conflicts
    }
}

impl Default for Keymap {
    fn default() -> Self {
        Keymap::new(&BTreeMap::new())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_names_and_modifiers() {
        assert_eq!(
            KeyChord::parse("q"),
            Ok(KeyChord::plain(KeyCode::Char('q')))
        );
        let ctrl_r = KeyChord::parse("Ctrl-R").unwrap();
        assert!(ctrl_r.ctrl && ctrl_r.code == KeyCode::Char('r'));
        assert_eq!(KeyChord::parse("shift-tab").unwrap().code, KeyCode::BackTab);
        assert_eq!(KeyChord::parse("shift-g").unwrap().code, KeyCode::Char('G'));
        assert_eq!(KeyChord::parse("f12").unwrap().code, KeyCode::F(12));
        assert!(KeyChord::parse("hyper-x").is_err());
    }

    #[test]
    fn defaults_avoid_tmux_keys_and_ctrl_c() {
        let keymap = Keymap::default();
        for letter in ['a', 'b', 'd', 'k', 'c'] {
            let chord = KeyChord {
                code: KeyCode::Char(letter),
                ctrl: true,
                alt: false,
            };
            assert_eq!(keymap.resolve(chord), None, "Ctrl-{letter} is bound");
        }
        assert!(keymap.conflicts().is_empty());
    }

    #[test]
    fn an_override_replaces_only_its_action() {
        let mut overrides = BTreeMap::new();
        overrides.insert(
            Action::Quit,
            KeyList(vec![KeyChord::parse("ctrl-c").unwrap()]),
        );
        let keymap = Keymap::new(&overrides);
        assert_eq!(
            keymap.resolve(KeyChord::parse("ctrl-c").unwrap()),
            Some(Action::Quit)
        );
        assert_eq!(keymap.resolve(KeyChord::parse("q").unwrap()), None);
        assert_eq!(
            keymap.resolve(KeyChord::parse("?").unwrap()),
            Some(Action::Help)
        );
    }

    #[test]
    fn a_shared_key_means_the_action_of_the_pane_with_the_keys() {
        let keymap = Keymap::default();
        let a = KeyChord::parse("a").unwrap();
        assert_eq!(
            keymap.resolve_in(a, Some(Home::Logs)),
            Some(Action::AttachFinding)
        );
        assert_eq!(
            keymap.resolve_in(a, Some(Home::Incidents)),
            Some(Action::Acknowledge)
        );
        // Elsewhere the first bound, which says it works in the incidents pane.
        assert_eq!(keymap.resolve_in(a, None), Some(Action::Acknowledge));
        assert_eq!(
            keymap.resolve_in(KeyChord::parse("/").unwrap(), Some(Home::Logs)),
            Some(Action::Filter)
        );
        // Two actions of one pane on one key still clash, as do a pane's and a global one.
        let mut overrides = BTreeMap::new();
        overrides.insert(Action::Follow, KeyList(vec![KeyChord::parse("w").unwrap()]));
        overrides.insert(Action::Zoom, KeyList(vec![KeyChord::parse("f").unwrap()]));
        let clashes = Keymap::new(&overrides).conflicts();
        let w = KeyChord::parse("w").unwrap();
        assert!(
            clashes.contains(&(w, Action::LogWindow, Action::Follow)),
            "{clashes:?}"
        );
        let f = KeyChord::parse("f").unwrap();
        assert!(
            clashes.contains(&(f, Action::Zoom, Action::Resolve)),
            "{clashes:?}"
        );
        assert!(
            !clashes
                .iter()
                .any(|(_, one, other)| *one == Action::Mitigate && *other == Action::Follow)
        );
    }
}
