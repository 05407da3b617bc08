//! Translating crossterm input into the key vocabulary of the keymap, and those keys into the
//! text editor's (the note editor and the forms' fields).

use crossterm::event::{KeyCode as TermKey, KeyEvent, KeyEventKind, KeyModifiers};

use crate::config::keymap::{KeyChord, KeyCode};

/// `None` for key releases and keys opsdeck has no name for.
pub fn chord(event: &KeyEvent) -> Option<KeyChord> {
    if event.kind == KeyEventKind::Release {
        return None;
    }
    let code = match event.code {
        TermKey::Char(ch) => KeyCode::Char(if event.modifiers.contains(KeyModifiers::CONTROL) {
            ch.to_ascii_lowercase()
        } else {
            ch
        }),
        TermKey::F(n) => KeyCode::F(n),
        TermKey::Enter => KeyCode::Enter,
        TermKey::Esc => KeyCode::Esc,
        TermKey::Tab if event.modifiers.contains(KeyModifiers::SHIFT) => KeyCode::BackTab,
        TermKey::Tab => KeyCode::Tab,
        TermKey::BackTab => KeyCode::BackTab,
        TermKey::Backspace => KeyCode::Backspace,
        TermKey::Delete => KeyCode::Delete,
        TermKey::Insert => KeyCode::Insert,
        TermKey::Up => KeyCode::Up,
        TermKey::Down => KeyCode::Down,
        TermKey::Left => KeyCode::Left,
        TermKey::Right => KeyCode::Right,
        TermKey::Home => KeyCode::Home,
        TermKey::End => KeyCode::End,
        TermKey::PageUp => KeyCode::PageUp,
        TermKey::PageDown => KeyCode::PageDown,
        _ => return None,
    };
    Some(KeyChord {
        code,
        ctrl: event.modifiers.contains(KeyModifiers::CONTROL),
        alt: event.modifiers.contains(KeyModifiers::ALT),
    })
}

/// A key as the text editor (a note, a form's field) understands it.
pub fn textarea_input(key: KeyChord) -> tui_textarea::Input {
    use tui_textarea::Key;
    let code = match key.code {
        KeyCode::Char(ch) => Key::Char(ch),
        KeyCode::F(number) => Key::F(number),
        KeyCode::Enter => Key::Enter,
        KeyCode::Esc => Key::Esc,
        KeyCode::Tab | KeyCode::BackTab => Key::Tab,
        KeyCode::Backspace => Key::Backspace,
        KeyCode::Delete => Key::Delete,
        KeyCode::Insert => Key::Null,
        KeyCode::Up => Key::Up,
        KeyCode::Down => Key::Down,
        KeyCode::Left => Key::Left,
        KeyCode::Right => Key::Right,
        KeyCode::Home => Key::Home,
        KeyCode::End => Key::End,
        KeyCode::PageUp => Key::PageUp,
        KeyCode::PageDown => Key::PageDown,
    };
    tui_textarea::Input {
        key: code,
        ctrl: key.ctrl,
        alt: key.alt,
        shift: false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shifted_characters_match_their_config_names() {
        let event = KeyEvent::new(TermKey::Char('G'), KeyModifiers::SHIFT);
        assert_eq!(chord(&event), Some(KeyChord::parse("G").unwrap()));
        let event = KeyEvent::new(TermKey::Char('c'), KeyModifiers::CONTROL);
        assert_eq!(chord(&event), Some(KeyChord::parse("ctrl-c").unwrap()));
        let event = KeyEvent::new(TermKey::BackTab, KeyModifiers::SHIFT);
        assert_eq!(chord(&event), Some(KeyChord::parse("shift-tab").unwrap()));
    }
}
