//! The keymap: embedded defaults (`assets/keymap.toml`), overridden by the user's file
//! (`$XDG_CONFIG_HOME/rookery/keymap.toml`, else `~/.config/rookery/keymap.toml`).
//!
//! A file has up to four tables, `[global]`, `[live]`, `[replay]` and `[log]`, each mapping a
//! key name to an action name (`"+" = "rate_up"`), or to `"none"` to unbind a default key.
//! A bad key, an unknown action, or an action in the wrong table is an error naming the file and
//! line. Ctrl-C always quits, whatever the files say.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use rookery_widgets::{HelpEntry, KeyHint};
use toml::Spanned;

use super::action::{KeyAction, Section};
use super::keys::KeyChord;

/// The default keymap, compiled in.
pub const DEFAULT_KEYMAP: &str = include_str!("../../assets/keymap.toml");

/// Why a keymap could not be loaded.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum KeymapError {
    #[error("{file}:{line}: {message}")]
    Invalid {
        file: String,
        line: usize,
        message: String,
    },
    #[error("{file}: {message}")]
    Syntax { file: String, message: String },
    #[error("cannot read keymap {file}: {message}")]
    Io { file: String, message: String },
}

type RawFile = BTreeMap<Spanned<String>, BTreeMap<Spanned<String>, Spanned<String>>>;

/// Key bindings per section.
#[derive(Clone, Debug, Default)]
pub struct Keymap {
    bindings: BTreeMap<(Section, KeyChord), KeyAction>,
}

/// The sections consulted, in order, for each input mode of the monitor.
pub fn sections_for(live: bool, log_focused: bool) -> Vec<Section> {
    let mut v = Vec::with_capacity(3);
    if log_focused {
        v.push(Section::Log);
    }
    v.push(if live { Section::Live } else { Section::Replay });
    v.push(Section::Global);
    v
}

/// The snake_case name of `action`, as keymap files spell it.
fn serde_name(action: KeyAction) -> String {
    serde_json::to_value(action)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_else(|| format!("{action:?}"))
}

fn line_of(text: &str, offset: usize) -> usize {
    text[..offset.min(text.len())].matches('\n').count() + 1
}

impl Keymap {
    /// The built-in keymap.
    pub fn defaults() -> Result<Keymap, KeymapError> {
        let mut k = Keymap::default();
        k.apply_toml(DEFAULT_KEYMAP, "assets/keymap.toml (built in)")?;
        Ok(k)
    }

    /// The defaults overridden by `user` when that file exists (a missing file is fine).
    pub fn load(user: Option<&Path>) -> Result<Keymap, KeymapError> {
        let mut k = Keymap::defaults()?;
        if let Some(path) = user {
            match std::fs::read_to_string(path) {
                Ok(text) => k.apply_toml(&text, &path.display().to_string())?,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => {
                    return Err(KeymapError::Io {
                        file: path.display().to_string(),
                        message: e.to_string(),
                    });
                }
            }
        }
        Ok(k)
    }

    /// The user's keymap path: `$XDG_CONFIG_HOME/rookery/keymap.toml`, else
    /// `$HOME/.config/rookery/keymap.toml`.
    pub fn user_path() -> Option<PathBuf> {
        config_dir().map(|d| d.join("keymap.toml"))
    }

    /// Applies one keymap file's bindings over the current ones.
    pub fn apply_toml(&mut self, text: &str, file: &str) -> Result<(), KeymapError> {
        let raw: RawFile = toml::from_str(text).map_err(|e| KeymapError::Syntax {
            file: file.to_owned(),
            message: e.to_string().trim_end().replace('\n', " "),
        })?;
        let invalid = |span: std::ops::Range<usize>, message: String| KeymapError::Invalid {
            file: file.to_owned(),
            line: line_of(text, span.start),
            message,
        };
        // Bindings this file made in [global], [live] or [replay], checked once the whole file
        // is applied (a later line may unbind the other one).
        let mut made: Vec<(Section, KeyChord, std::ops::Range<usize>)> = Vec::new();
        for (table, entries) in raw {
            let section = Section::ALL
                .into_iter()
                .find(|s| s.name() == table.get_ref())
                .ok_or_else(|| {
                    invalid(
                        table.span(),
                        format!(
                            "unknown table [{}] (expected global, live, replay or log)",
                            table.get_ref()
                        ),
                    )
                })?;
            for (key_name, action_name) in entries {
                let key =
                    KeyChord::parse(key_name.get_ref()).map_err(|m| invalid(key_name.span(), m))?;
                if action_name.get_ref() == "none" {
                    self.bindings.remove(&(section, key));
                    continue;
                }
                let action: KeyAction = serde_json::from_value(serde_json::Value::String(
                    action_name.get_ref().clone(),
                ))
                .map_err(|_| {
                    invalid(
                        action_name.span(),
                        format!("unknown action `{}` for key `{key}`", action_name.get_ref()),
                    )
                })?;
                if action.section() != section {
                    return Err(invalid(
                        action_name.span(),
                        format!(
                            "action `{}` belongs in [{}], not [{}]",
                            action_name.get_ref(),
                            action.section().name(),
                            section.name()
                        ),
                    ));
                }
                self.bindings.insert((section, key), action);
                if section != Section::Log {
                    made.push((section, key, key_name.span()));
                }
            }
        }
        for (section, key, span) in made {
            let others: &[Section] = match section {
                Section::Global => &[Section::Live, Section::Replay],
                _ => &[Section::Global],
            };
            let (Some(mine), Some((other, theirs))) = (
                self.bindings.get(&(section, key)),
                others
                    .iter()
                    .find_map(|o| self.bindings.get(&(*o, key)).map(|a| (*o, a))),
            ) else {
                continue;
            };
            return Err(invalid(
                span,
                format!(
                    "key `{key}` is bound in both [{}] ({}) and [{}] ({}): bind it in one, or \
                     unbind the other with \"none\"",
                    section.name(),
                    serde_name(*mine),
                    other.name(),
                    serde_name(*theirs),
                ),
            ));
        }
        Ok(())
    }

    /// The action bound to `key`, looking in `sections` in order. Ctrl-C is always `Quit`.
    pub fn lookup(&self, sections: &[Section], key: KeyChord) -> Option<KeyAction> {
        if key.is_ctrl_c() {
            return Some(KeyAction::Quit);
        }
        sections
            .iter()
            .find_map(|s| self.bindings.get(&(*s, key)).copied())
    }

    /// The keys bound to `action` (in its own section): plain keys first, then by key.
    pub fn keys_for(&self, action: KeyAction) -> Vec<KeyChord> {
        let mut keys: Vec<KeyChord> = self
            .bindings
            .iter()
            .filter(|((s, _), a)| **a == action && *s == action.section())
            .map(|((_, k), _)| *k)
            .collect();
        keys.sort_by_key(|k| (k.mods, k.code));
        keys
    }

    /// Help lines for every bound action of `sections`, grouped by section.
    pub fn help_entries(&self, sections: &[Section]) -> Vec<HelpEntry> {
        let mut out = Vec::new();
        for section in Section::ALL {
            if !sections.contains(&section) {
                continue;
            }
            for action in KeyAction::ALL
                .into_iter()
                .filter(|a| a.section() == section)
            {
                let keys = self.keys_for(action);
                if keys.is_empty() {
                    continue;
                }
                let keys: Vec<String> = keys.iter().map(KeyChord::to_string).collect();
                out.push(HelpEntry {
                    section: section.title().to_owned(),
                    keys: keys.join(", "),
                    description: action.description().to_owned(),
                });
            }
        }
        out
    }

    /// Status-bar hints for `actions`: the first key bound to each, skipping unbound ones.
    pub fn hints(&self, actions: &[KeyAction]) -> Vec<KeyHint> {
        actions
            .iter()
            .filter_map(|a| {
                self.keys_for(*a).first().map(|k| KeyHint {
                    key: k.to_string(),
                    label: a.label().to_owned(),
                })
            })
            .collect()
    }
}

impl Keymap {
    /// The bindings as a Markdown table (for the README): section, keys, what they do.
    pub fn markdown_table(&self) -> String {
        let mut out = String::from("| where | keys | action |\n|---|---|---|\n");
        let entries = self.help_entries(&Section::ALL);
        for e in entries {
            let keys: Vec<String> = e.keys.split(", ").map(|k| format!("`{k}`")).collect();
            out.push_str(&format!(
                "| {} | {} | {} |\n",
                e.section,
                keys.join(" "),
                e.description.replace('|', "\\|")
            ));
        }
        out
    }
}

/// Rookery's configuration directory: `$XDG_CONFIG_HOME/rookery`, else `$HOME/.config/rookery`.
pub fn config_dir() -> Option<PathBuf> {
    let non_empty = |v: &str| {
        std::env::var_os(v)
            .filter(|s| !s.is_empty())
            .map(PathBuf::from)
    };
    non_empty("XDG_CONFIG_HOME")
        .or_else(|| non_empty("HOME").map(|h| h.join(".config")))
        .map(|d| d.join("rookery"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(s: &str) -> KeyChord {
        KeyChord::parse(s).expect("valid key")
    }

    #[test]
    fn defaults_parse_and_cover_every_action() {
        let k = Keymap::defaults().expect("built-in keymap parses");
        for a in KeyAction::ALL {
            assert!(!k.keys_for(a).is_empty(), "{a:?} has no default key");
        }
        let live = sections_for(true, false);
        assert_eq!(k.lookup(&live, key("q")), Some(KeyAction::Quit));
        assert_eq!(k.lookup(&live, key("+")), Some(KeyAction::RateUp));
        assert_eq!(k.lookup(&sections_for(false, false), key("+")), None);
    }

    #[test]
    fn user_file_overrides_and_unbinds() {
        let mut k = Keymap::defaults().expect("defaults");
        k.apply_toml(
            "[live]\n\"ctrl-up\" = \"rate_up\"\n\"+\" = \"none\"\n",
            "user.toml",
        )
        .expect("valid override");
        let live = sections_for(true, false);
        assert_eq!(k.lookup(&live, key("ctrl-up")), Some(KeyAction::RateUp));
        assert_eq!(k.lookup(&live, key("+")), None);
        assert_eq!(k.lookup(&live, key("ctrl-c")), Some(KeyAction::Quit));
    }

    #[test]
    fn errors_name_file_and_line() {
        let mut k = Keymap::default();
        let e = k
            .apply_toml(
                "[live]\n\"+\" = \"rate_up\"\n\"x\" = \"rate_sideways\"\n",
                "my.toml",
            )
            .unwrap_err();
        assert_eq!(
            e.to_string(),
            "my.toml:3: unknown action `rate_sideways` for key `x`"
        );
        let e = k
            .apply_toml("[global]\n\n\"hyper-q\" = \"quit\"\n", "my.toml")
            .unwrap_err();
        assert!(
            e.to_string()
                .starts_with("my.toml:3: unknown key `hyper-q`"),
            "{e}"
        );
        let e = k
            .apply_toml("[replay]\nq = \"rate_up\"\n", "my.toml")
            .unwrap_err();
        assert_eq!(
            e.to_string(),
            "my.toml:2: action `rate_up` belongs in [live], not [replay]"
        );
        let e = k
            .apply_toml("[bogus]\nq = \"quit\"\n", "my.toml")
            .unwrap_err();
        assert!(
            e.to_string()
                .starts_with("my.toml:1: unknown table [bogus]"),
            "{e}"
        );
        let e = k.apply_toml("[live\nq = 1", "my.toml").unwrap_err();
        assert!(matches!(e, KeymapError::Syntax { .. }));
        assert!(e.to_string().contains("line 1"), "{e}");
    }

    #[test]
    fn a_key_in_both_global_and_live_is_an_error_with_its_line() {
        let mut k = Keymap::defaults().expect("defaults");
        // `a` adds users in the defaults' [live].
        let e = k
            .apply_toml(
                "[global]
z = \"help\"
a = \"cycle_theme\"
",
                "my.toml",
            )
            .unwrap_err();
        assert_eq!(
            e.to_string(),
            "my.toml:3: key `a` is bound in both [global] (cycle_theme) and [live] (add_users): \
             bind it in one, or unbind the other with \"none\""
        );
        // Unbinding the live one in the same file makes it fine, whatever the table order.
        let mut k = Keymap::defaults().expect("defaults");
        k.apply_toml(
            "[live]
a = \"none\"
[global]
a = \"cycle_theme\"
",
            "my.toml",
        )
        .expect("no conflict once unbound");
        let mut k = Keymap::default();
        let e = k
            .apply_toml(
                "[live]
w = \"add_users\"
[global]
w = \"help\"
",
                "two.toml",
            )
            .unwrap_err();
        assert!(e.to_string().starts_with("two.toml:4: key `w`"), "{e}");
    }

    #[test]
    fn load_reads_a_user_file_and_ignores_a_missing_one() {
        let dir = tempfile::tempdir().expect("tempdir");
        let missing = dir.path().join("nope.toml");
        assert!(Keymap::load(Some(&missing)).is_ok());
        let bad = dir.path().join("keymap.toml");
        std::fs::write(&bad, "[global]\nq = \"quit\"\nw = \"warp\"\n").expect("write");
        let e = Keymap::load(Some(&bad)).unwrap_err();
        assert!(
            e.to_string()
                .ends_with("keymap.toml:3: unknown action `warp` for key `w`"),
            "{e}"
        );
    }

    #[test]
    fn markdown_table_lists_every_binding() {
        let k = Keymap::defaults().expect("defaults");
        let t = k.markdown_table();
        assert!(
            t.contains("| Live engine | `+` `=` | raise the selected throttle's rate"),
            "{t}"
        );
        assert!(
            t.contains("| Replay | `space` | pause or resume the replay |"),
            "{t}"
        );
        assert_eq!(t.lines().count(), 2 + k.help_entries(&Section::ALL).len());
    }

    #[test]
    fn help_and_hints_come_from_the_bindings() {
        let mut k = Keymap::defaults().expect("defaults");
        k.apply_toml("[global]\nQ = \"quit\"\n", "user.toml")
            .expect("ok");
        let help = k.help_entries(&[Section::Global]);
        let quit = help
            .iter()
            .find(|e| e.description.starts_with("quit"))
            .expect("quit listed");
        assert!(
            quit.keys.contains('Q') && quit.keys.contains('q'),
            "{quit:?}"
        );
        let hints = k.hints(&[KeyAction::Help]);
        assert_eq!(hints[0].label, "help");
    }
}
