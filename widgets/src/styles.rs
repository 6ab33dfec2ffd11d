//! The styles every widget draws with. The application fills them from a theme file; the
//! default is an uncoloured set that still shows selection and emphasis (what `NO_COLOR` gets).

use ratatui::style::{Modifier, Style};

/// Named styles shared by all widgets. Each widget uses the subset it needs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Styles {
    /// Base text and background of the screen.
    pub base: Style,
    /// Borders of panes that do not have the keyboard focus.
    pub border: Style,
    /// Border of the pane with the keyboard focus.
    pub border_focused: Style,
    /// Pane titles.
    pub title: Style,
    /// Table headers.
    pub header: Style,
    /// The selected row.
    pub selected: Style,
    /// Secondary text (units, zero values, hints).
    pub dim: Style,
    /// Healthy or "up" values.
    pub ok: Style,
    /// Warnings, paused throttles, pending requests.
    pub warn: Style,
    /// Errors, failures, nodes down.
    pub error: Style,
    /// Emphasis (rates, the master node, ramping).
    pub accent: Style,
    /// Sparklines.
    pub spark: Style,
    /// The status bar background.
    pub status: Style,
    /// Key names in hints and in the help overlay.
    pub key: Style,
    /// Notices in the status bar (a sent command, a refusal): must read well on `status`.
    pub notice: Style,
}

impl Default for Styles {
    fn default() -> Self {
        Styles {
            base: Style::new(),
            border: Style::new(),
            border_focused: Style::new().add_modifier(Modifier::BOLD),
            title: Style::new().add_modifier(Modifier::BOLD),
            header: Style::new().add_modifier(Modifier::UNDERLINED),
            selected: Style::new().add_modifier(Modifier::REVERSED),
            dim: Style::new(),
            ok: Style::new(),
            warn: Style::new().add_modifier(Modifier::BOLD),
            error: Style::new().add_modifier(Modifier::BOLD),
            accent: Style::new(),
            spark: Style::new(),
            status: Style::new().add_modifier(Modifier::REVERSED),
            key: Style::new().add_modifier(Modifier::BOLD),
            notice: Style::new().add_modifier(Modifier::BOLD | Modifier::REVERSED),
        }
    }
}
