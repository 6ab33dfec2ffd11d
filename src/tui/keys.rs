//! Key names as written in keymap files (`q`, `+`, `ctrl-c`, `shift-up`, `pagedown`, `f1`) and
//! their matching against crossterm key events.

use std::fmt;

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

/// A key with modifiers, normalised so that a typed character matches however the terminal
/// reports shift (`K` is `K`, not `shift-k`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct KeyChord {
    pub code: KeyCodeOrd,
    pub mods: u8,
}

/// `KeyCode` subset with an ordering (for stable help output).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum KeyCodeOrd {
    Char(char),
    F(u8),
    Up,
    Down,
    Left,
    Right,
    PageUp,
    PageDown,
    Home,
    End,
    Enter,
    Esc,
    Tab,
    BackTab,
    Backspace,
    Delete,
    Insert,
}

const CTRL: u8 = 1;
const ALT: u8 = 2;
const SHIFT: u8 = 4;

const NAMED: [(&str, KeyCodeOrd); 17] = [
    ("up", KeyCodeOrd::Up),
    ("down", KeyCodeOrd::Down),
    ("left", KeyCodeOrd::Left),
    ("right", KeyCodeOrd::Right),
    ("pageup", KeyCodeOrd::PageUp),
    ("pagedown", KeyCodeOrd::PageDown),
    ("home", KeyCodeOrd::Home),
    ("end", KeyCodeOrd::End),
    ("enter", KeyCodeOrd::Enter),
    ("esc", KeyCodeOrd::Esc),
    ("tab", KeyCodeOrd::Tab),
    ("backtab", KeyCodeOrd::BackTab),
    ("backspace", KeyCodeOrd::Backspace),
    ("delete", KeyCodeOrd::Delete),
    ("insert", KeyCodeOrd::Insert),
    ("space", KeyCodeOrd::Char(' ')),
    ("minus", KeyCodeOrd::Char('-')),
];

impl KeyChord {
    /// Parses a key name. Modifiers come first, joined by `-`: `ctrl-c`, `alt-shift-up`. A lone
    /// `-` is the minus key.
    pub fn parse(text: &str) -> Result<KeyChord, String> {
        if text.is_empty() {
            return Err("empty key name".to_owned());
        }
        let mut rest = text;
        let mut mods = 0u8;
        loop {
            let lower = rest.to_ascii_lowercase();
            let (m, len) = if lower.starts_with("ctrl-") && rest.len() > 5 {
                (CTRL, 5)
            } else if lower.starts_with("alt-") && rest.len() > 4 {
                (ALT, 4)
            } else if lower.starts_with("shift-") && rest.len() > 6 {
                (SHIFT, 6)
            } else {
                break;
            };
            mods |= m;
            rest = &rest[len..];
        }
        let mut chars = rest.chars();
        let code = match (chars.next(), chars.next()) {
            (Some(c), None) => KeyCodeOrd::Char(c),
            _ => {
                let lower = rest.to_ascii_lowercase();
                if let Some((_, code)) = NAMED.iter().find(|(n, _)| *n == lower) {
                    *code
                } else if let Some(n) = lower.strip_prefix('f').and_then(|n| n.parse::<u8>().ok())
                    && (1..=12).contains(&n)
                {
                    KeyCodeOrd::F(n)
                } else {
                    return Err(format!(
                        "unknown key `{text}` (expected a character, a name such as up, pagedown, \
                         enter, esc, tab, space, f1..f12, with optional ctrl-/alt-/shift- prefixes)"
                    ));
                }
            }
        };
        Ok(KeyChord::normalise(code, mods))
    }

    fn normalise(code: KeyCodeOrd, mut mods: u8) -> KeyChord {
        let code = match code {
            KeyCodeOrd::Char(c) => {
                // A typed character already says whether shift was down.
                if mods & SHIFT != 0 && c.is_ascii_lowercase() {
                    mods &= !SHIFT;
                    KeyCodeOrd::Char(c.to_ascii_uppercase())
                } else {
                    mods &= !SHIFT;
                    KeyCodeOrd::Char(c)
                }
            }
            KeyCodeOrd::Tab if mods & SHIFT != 0 => {
                mods &= !SHIFT;
                KeyCodeOrd::BackTab
            }
            KeyCodeOrd::BackTab => {
                mods &= !SHIFT;
                KeyCodeOrd::BackTab
            }
            other => other,
        };
        KeyChord { code, mods }
    }

    /// The key a crossterm event stands for, or `None` for keys keymaps cannot name.
    pub fn from_event(ev: &KeyEvent) -> Option<KeyChord> {
        let code = match ev.code {
            KeyCode::Char(c) => KeyCodeOrd::Char(c),
            KeyCode::F(n) => KeyCodeOrd::F(n),
            KeyCode::Up => KeyCodeOrd::Up,
            KeyCode::Down => KeyCodeOrd::Down,
            KeyCode::Left => KeyCodeOrd::Left,
            KeyCode::Right => KeyCodeOrd::Right,
            KeyCode::PageUp => KeyCodeOrd::PageUp,
            KeyCode::PageDown => KeyCodeOrd::PageDown,
            KeyCode::Home => KeyCodeOrd::Home,
            KeyCode::End => KeyCodeOrd::End,
            KeyCode::Enter => KeyCodeOrd::Enter,
            KeyCode::Esc => KeyCodeOrd::Esc,
            KeyCode::Tab => KeyCodeOrd::Tab,
            KeyCode::BackTab => KeyCodeOrd::BackTab,
            KeyCode::Backspace => KeyCodeOrd::Backspace,
            KeyCode::Delete => KeyCodeOrd::Delete,
            KeyCode::Insert => KeyCodeOrd::Insert,
            _ => return None,
        };
        let mut mods = 0;
        if ev.modifiers.contains(KeyModifiers::CONTROL) {
            mods |= CTRL;
        }
        if ev.modifiers.contains(KeyModifiers::ALT) {
            mods |= ALT;
        }
        if ev.modifiers.contains(KeyModifiers::SHIFT) {
            mods |= SHIFT;
        }
        Some(KeyChord::normalise(code, mods))
    }

    /// True for Ctrl-C, which always quits whatever the keymap says.
    pub fn is_ctrl_c(&self) -> bool {
        self.mods == CTRL && matches!(self.code, KeyCodeOrd::Char('c') | KeyCodeOrd::Char('C'))
    }
}

impl fmt::Display for KeyChord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.mods & CTRL != 0 {
            f.write_str("ctrl-")?;
        }
        if self.mods & ALT != 0 {
            f.write_str("alt-")?;
        }
        if self.mods & SHIFT != 0 {
            f.write_str("shift-")?;
        }
        match self.code {
            KeyCodeOrd::Char(' ') => f.write_str("space"),
            KeyCodeOrd::Char(c) => write!(f, "{c}"),
            KeyCodeOrd::F(n) => write!(f, "f{n}"),
            other => {
                let name = NAMED
                    .iter()
                    .find(|(_, c)| *c == other)
                    .map_or("?", |(n, _)| n);
                f.write_str(name)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(code: KeyCode, mods: KeyModifiers) -> KeyChord {
        KeyChord::from_event(&KeyEvent::new(code, mods)).expect("nameable key")
    }

    #[test]
    fn parses_and_matches_events() {
        assert_eq!(
            KeyChord::parse("q"),
            Ok(ev(KeyCode::Char('q'), KeyModifiers::NONE))
        );
        assert_eq!(
            KeyChord::parse("ctrl-c"),
            Ok(ev(KeyCode::Char('c'), KeyModifiers::CONTROL))
        );
        assert_eq!(
            KeyChord::parse("K"),
            Ok(ev(KeyCode::Char('K'), KeyModifiers::SHIFT))
        );
        assert_eq!(KeyChord::parse("shift-k"), KeyChord::parse("K"));
        assert_eq!(KeyChord::parse("shift-tab"), KeyChord::parse("backtab"));
        assert_eq!(
            KeyChord::parse("backtab"),
            Ok(ev(KeyCode::BackTab, KeyModifiers::SHIFT))
        );
        assert_eq!(
            KeyChord::parse("-"),
            Ok(ev(KeyCode::Char('-'), KeyModifiers::NONE))
        );
        assert_eq!(
            KeyChord::parse("PageDown"),
            Ok(ev(KeyCode::PageDown, KeyModifiers::NONE))
        );
        assert_eq!(
            KeyChord::parse("f5"),
            Ok(ev(KeyCode::F(5), KeyModifiers::NONE))
        );
        assert!(KeyChord::parse("ctrl-c").is_ok_and(|k| k.is_ctrl_c()));
    }

    #[test]
    fn rejects_unknown_names() {
        assert!(KeyChord::parse("").is_err());
        assert!(
            KeyChord::parse("hyper-x")
                .unwrap_err()
                .contains("unknown key `hyper-x`")
        );
        assert!(KeyChord::parse("f13").is_err());
    }

    #[test]
    fn display_round_trips() {
        for name in [
            "q", "ctrl-c", "space", "pagedown", "f1", "alt-up", "+", "backtab",
        ] {
            let k = KeyChord::parse(name).expect(name);
            assert_eq!(k.to_string(), name);
            assert_eq!(KeyChord::parse(&k.to_string()), Ok(k));
        }
    }
}
