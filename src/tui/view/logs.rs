//! The log pane: the engine's life as the [`Journal`](crate::tui::journal::Journal) tells it
//! (nodes, failed users, ramps, coordinator timeouts, warnings, drops, command outcomes and
//! `log` records), newest at the bottom; it scrolls when focused.

use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::widgets::Widget;
use rookery_widgets::logs::Severity;
use rookery_widgets::{Styles, WarningLine, WarningList, pane};

use crate::monitor::MonitorState;
use crate::tui::app::App;
use crate::tui::journal::level_severity;

fn level(s: Severity) -> &'static str {
    match s {
        Severity::Error => "error",
        Severity::Warning => "warning",
        Severity::Info => "info",
    }
}

/// Draws the pane into `area`.
pub fn render(area: Rect, buf: &mut Buffer, app: &App, state: &MonitorState, styles: &Styles) {
    // Every warning or error line counts: the state's warnings and the journal's (a node
    // down, failed users), not only the former.
    let title = format!(
        "Warnings ({}) & engine log",
        state
            .warnings_total()
            .saturating_add(app.journal.warnings_total())
    );
    let block = pane::block(&title, app.log_focused, styles);
    let inner = block.inner(area);
    block.render(area, buf);
    // The state's warnings and the journal's lines, merged by time (warnings first on a tie).
    let warnings: Vec<(u64, Severity, String, &str)> = state
        .warnings()
        .iter()
        .map(|w| {
            let ev = w.event.dotted();
            let short = ev.strip_prefix("amoc.").unwrap_or(ev);
            let source = match &w.setting {
                Some(s) => format!("{short} {s}"),
                None => short.to_owned(),
            };
            (w.t_us, level_severity(&w.level), source, w.msg.as_str())
        })
        .collect();
    let journal = app.journal.lines();
    let mut lines: Vec<WarningLine> = Vec::with_capacity(warnings.len() + journal.len());
    let (mut wi, mut ji) = (0, 0);
    while wi < warnings.len() || ji < journal.len() {
        let take_warning = match (warnings.get(wi), journal.get(ji)) {
            (Some(w), Some(j)) => w.0 <= j.t_us,
            (Some(_), None) => true,
            _ => false,
        };
        let line = if take_warning {
            let (t, sev, source, msg) = &warnings[wi];
            wi += 1;
            WarningLine {
                at_s: *t as f64 / 1e6,
                severity: *sev,
                level: level(*sev),
                source,
                message: msg,
            }
        } else {
            let l = &journal[ji];
            ji += 1;
            WarningLine {
                at_s: l.t_us as f64 / 1e6,
                severity: l.severity,
                level: level(l.severity),
                source: &l.source,
                message: &l.message,
            }
        };
        // Severity orders Error < Warning < Info: keep what is at least as severe as asked.
        if line.severity <= app.log_level {
            lines.push(line);
        }
    }
    let total = if app.log_level == Severity::Info {
        app.journal.total() + state.warnings_total()
    } else {
        lines.len() as u64
    };
    WarningList {
        lines: &lines,
        total,
        offset: app.log_scroll,
        sources: app.log_sources,
        empty: "no warnings; the engine's events show here",
        styles,
    }
    .render(inner, buf);
}

#[cfg(test)]
mod tests {
    use crate::monitor::{EventRef, MonitorState};
    use crate::telemetry::{EventName, Key, Value};
    use crate::tui::app::{App, AppOptions};
    use crate::tui::capture;
    use crate::tui::keymap::Keymap;
    use crate::tui::theme::builtin_themes;

    #[test]
    fn the_title_counts_the_warning_lines_the_pane_shows() {
        let mut state = MonitorState::new();
        let name = EventName::new(&["amoc", "scenario", "start", "exception"]).expect("name");
        for i in 0..3u64 {
            let m = vec![(Key::new("duration"), Value::Int(5))];
            let md = vec![(Key::new("reason"), Value::from("killed"))];
            state.apply(&EventRef {
                t_us: i * 1000,
                node: Some("node3"),
                name: &name,
                measurements: &m,
                metadata: &md,
            });
        }
        let mut app = App::new(
            AppOptions {
                keymap: Keymap::defaults().expect("built-in keymap"),
                themes: builtin_themes().expect("built-in themes"),
                colour: false,
                users_step: 10,
            },
            None,
        );
        app.observe(&state);
        let screen = capture::text(&app, &state, 120, 36);
        let shown = screen
            .lines()
            .filter(|l| l.contains("warning users a user failed on node3: killed"))
            .count();
        assert_eq!(shown, 3, "{screen}");
        assert!(
            screen.contains("Warnings (3) & engine log"),
            "three warning lines shown, three counted: {screen}"
        );
    }
}
