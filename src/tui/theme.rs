//! Colour themes: TOML files in `themes/` (built in with `include_str!`), chosen with `--theme`
//! (a built-in name or a path) and cycled with a key. `NO_COLOR` drops every colour and keeps
//! bold/reverse so selection stays visible.

use std::path::Path;

use ratatui::style::{Color, Modifier, Style};
use rookery_widgets::Styles;
use serde::Deserialize;

/// The built-in themes, in cycling order: (name, file text).
pub const BUILTIN: [(&str, &str); 3] = [
    ("dark", include_str!("../../themes/dark.toml")),
    ("light", include_str!("../../themes/light.toml")),
    (
        "high-contrast",
        include_str!("../../themes/high-contrast.toml"),
    ),
];

/// Why a theme could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum ThemeError {
    #[error("theme {file}: {message}")]
    Invalid { file: String, message: String },
    #[error("cannot read theme {file}: {message}")]
    Io { file: String, message: String },
    #[error(
        "unknown theme `{0}` (built in: dark, light, high-contrast; or a path to a .toml file)"
    )]
    Unknown(String),
}

#[derive(Deserialize, Clone, Copy, Default)]
#[serde(deny_unknown_fields)]
struct StyleSpec {
    fg: Option<Color>,
    bg: Option<Color>,
    #[serde(default)]
    bold: bool,
    #[serde(default)]
    italic: bool,
    #[serde(default)]
    underlined: bool,
    #[serde(default)]
    reversed: bool,
    #[serde(default)]
    dim: bool,
}

impl StyleSpec {
    fn style(self, colour: bool) -> Style {
        let mut s = Style::new();
        if colour {
            if let Some(fg) = self.fg {
                s = s.fg(fg);
            }
            if let Some(bg) = self.bg {
                s = s.bg(bg);
            }
        }
        for (on, m) in [
            (self.bold, Modifier::BOLD),
            (self.italic, Modifier::ITALIC),
            (self.underlined, Modifier::UNDERLINED),
            (self.reversed, Modifier::REVERSED),
            (self.dim, Modifier::DIM),
        ] {
            if on {
                s = s.add_modifier(m);
            }
        }
        s
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct StyleTable {
    base: StyleSpec,
    border: StyleSpec,
    border_focused: StyleSpec,
    title: StyleSpec,
    header: StyleSpec,
    selected: StyleSpec,
    dim: StyleSpec,
    ok: StyleSpec,
    warn: StyleSpec,
    error: StyleSpec,
    accent: StyleSpec,
    spark: StyleSpec,
    status: StyleSpec,
    key: StyleSpec,
    /// Optional in user files: the status style in bold when absent.
    #[serde(default)]
    notice: Option<StyleSpec>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ThemeFile {
    name: String,
    styles: StyleTable,
}

/// A parsed theme.
#[derive(Clone, Debug)]
pub struct Theme {
    pub name: String,
    /// Styles with colours.
    coloured: Styles,
    /// The same styles without colours (`NO_COLOR`).
    plain: Styles,
}

impl Theme {
    /// Parses a theme file's text; `file` names it in errors.
    pub fn parse(text: &str, file: &str) -> Result<Theme, ThemeError> {
        let f: ThemeFile = toml::from_str(text).map_err(|e| ThemeError::Invalid {
            file: file.to_owned(),
            message: e.to_string().trim_end().replace('\n', " "),
        })?;
        let build = |colour: bool| {
            let t = &f.styles;
            Styles {
                base: t.base.style(colour),
                border: t.border.style(colour),
                border_focused: t.border_focused.style(colour),
                title: t.title.style(colour),
                header: t.header.style(colour),
                selected: if colour {
                    t.selected.style(true)
                } else {
                    // Without colours a selection must still show.
                    t.selected.style(false).add_modifier(Modifier::REVERSED)
                },
                dim: t.dim.style(colour),
                ok: t.ok.style(colour),
                warn: t.warn.style(colour),
                error: t.error.style(colour),
                accent: t.accent.style(colour),
                spark: t.spark.style(colour),
                status: if colour {
                    t.status.style(true)
                } else {
                    t.status.style(false).add_modifier(Modifier::REVERSED)
                },
                key: t.key.style(colour),
                notice: match &t.notice {
                    Some(n) => n.style(colour),
                    None if colour => t.status.style(true).add_modifier(Modifier::BOLD),
                    None => t.status.style(false).add_modifier(Modifier::BOLD),
                },
            }
        };
        Ok(Theme {
            name: f.name.clone(),
            coloured: build(true),
            plain: build(false),
        })
    }

    /// A built-in theme by name.
    pub fn builtin(name: &str) -> Result<Theme, ThemeError> {
        let (n, text) = BUILTIN
            .iter()
            .find(|(n, _)| *n == name)
            .ok_or_else(|| ThemeError::Unknown(name.to_owned()))?;
        Theme::parse(text, &format!("themes/{n}.toml (built in)"))
    }

    /// What `--theme` accepts: a built-in name, or a path to a theme file.
    pub fn resolve(arg: &str) -> Result<Theme, ThemeError> {
        if BUILTIN.iter().any(|(n, _)| *n == arg) {
            return Theme::builtin(arg);
        }
        let path = Path::new(arg);
        if arg.ends_with(".toml") || path.exists() {
            let text = std::fs::read_to_string(path).map_err(|e| ThemeError::Io {
                file: arg.to_owned(),
                message: e.to_string(),
            })?;
            return Theme::parse(&text, arg);
        }
        Err(ThemeError::Unknown(arg.to_owned()))
    }

    /// The styles to draw with; without colours when `colour` is false.
    pub fn styles(&self, colour: bool) -> &Styles {
        if colour { &self.coloured } else { &self.plain }
    }
}

/// All built-in themes, in cycling order.
pub fn builtin_themes() -> Result<Vec<Theme>, ThemeError> {
    BUILTIN.iter().map(|(n, _)| Theme::builtin(n)).collect()
}

/// True when colours are allowed: `NO_COLOR` unset or empty (<https://no-color.org>).
pub fn colour_enabled() -> bool {
    std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_file_in_themes_dir_parses_and_is_built_in() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("themes");
        let mut names = Vec::new();
        for entry in std::fs::read_dir(&dir).expect("themes dir") {
            let path = entry.expect("entry").path();
            if path.extension().is_some_and(|e| e == "toml") {
                let text = std::fs::read_to_string(&path).expect("read");
                let t = Theme::parse(&text, &path.display().to_string())
                    .unwrap_or_else(|e| panic!("{e}"));
                let stem = path.file_stem().and_then(|s| s.to_str()).unwrap_or("");
                assert_eq!(t.name, stem, "theme name matches its file name");
                names.push(t.name);
            }
        }
        names.sort();
        let mut builtin: Vec<&str> = BUILTIN.iter().map(|(n, _)| *n).collect();
        builtin.sort();
        assert_eq!(names, builtin, "every theme file is built in");
    }

    #[test]
    fn no_color_strips_colours_but_keeps_selection() {
        let t = Theme::builtin("dark").expect("dark");
        assert_eq!(t.styles(true).selected.bg, Some(Color::Cyan));
        let plain = t.styles(false);
        for s in [plain.base, plain.selected, plain.error, plain.status] {
            assert_eq!((s.fg, s.bg), (None, None));
        }
        assert!(plain.selected.add_modifier.contains(Modifier::REVERSED));
    }

    #[test]
    fn broken_theme_is_a_clear_error() {
        let text = BUILTIN[0]
            .1
            .replace("fg = \"cyan\", bold", "fg = \"cyann\", bold");
        let e = Theme::parse(&text, "mine.toml").unwrap_err().to_string();
        assert!(
            e.starts_with("theme mine.toml: TOML parse error at line"),
            "{e}"
        );
        let e = Theme::parse("name = \"x\"\n[styles]\nbase = {}\n", "short.toml")
            .unwrap_err()
            .to_string();
        assert!(e.contains("missing field"), "{e}");
        let e = Theme::resolve("solarized").unwrap_err().to_string();
        assert!(e.contains("unknown theme `solarized`"), "{e}");
        let e = Theme::resolve("/nonexistent/t.toml")
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with("cannot read theme /nonexistent/t.toml"),
            "{e}"
        );
    }

    #[test]
    fn resolve_reads_a_path() {
        let dir = tempfile::tempdir().expect("tempdir");
        let p = dir.path().join("mine.toml");
        std::fs::write(
            &p,
            BUILTIN[1].1.replace("name = \"light\"", "name = \"mine\""),
        )
        .expect("write");
        let t = Theme::resolve(&p.display().to_string()).expect("valid");
        assert_eq!(t.name, "mine");
    }
}
