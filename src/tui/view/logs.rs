//! The warnings and logs pane: config and throttle warnings from the state (deterministic,
//! from events) above the engine's `log` records (tui-logger).

use ratatui::buffer::Buffer;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::widgets::Widget;
use rookery_widgets::logs::Severity;
use rookery_widgets::{Styles, WarningLine, WarningList, pane};
use tui_logger::{TuiLoggerLevelOutput, TuiLoggerSmartWidget, TuiLoggerWidget};

use crate::monitor::MonitorState;
use crate::tui::app::App;

fn severity(level: &str) -> Severity {
    match level {
        "emergency" | "alert" | "critical" | "error" => Severity::Error,
        "warning" | "warn" => Severity::Warning,
        _ => Severity::Info,
    }
}

/// Draws the pane into `area`.
pub fn render(area: Rect, buf: &mut Buffer, app: &App, state: &MonitorState, styles: &Styles) {
    let title = format!("Warnings ({}) & engine log", state.warnings_total());
    let block = pane::block(&title, app.log_focused, styles);
    let inner = block.inner(area);
    block.render(area, buf);
    let names: Vec<String> = state
        .warnings()
        .iter()
        .map(|w| {
            let ev = w.event.dotted();
            let short = ev.strip_prefix("amoc.").unwrap_or(ev).to_owned();
            match &w.setting {
                Some(s) => format!("{short} {s}"),
                None => short,
            }
        })
        .collect();
    let lines: Vec<WarningLine> = state
        .warnings()
        .iter()
        .zip(&names)
        .map(|(w, source)| WarningLine {
            at_s: w.t_us as f64 / 1e6,
            severity: severity(&w.level),
            level: &w.level,
            source,
            message: &w.msg,
        })
        .collect();
    let warn_h = (lines.len().max(1) as u16).min(inner.height / 2).max(1);
    let [warn_a, log_a] =
        Layout::vertical([Constraint::Length(warn_h), Constraint::Fill(1)]).areas(inner);
    WarningList {
        lines: &lines,
        total: state.warnings_total(),
        styles,
    }
    .render(warn_a, buf);
    if log_a.height == 0 {
        return;
    }
    if app.log_focused {
        TuiLoggerSmartWidget::default()
            .style(styles.base)
            .style_error(styles.error)
            .style_warn(styles.warn)
            .style_info(styles.base)
            .style_debug(styles.dim)
            .style_trace(styles.dim)
            .border_style(styles.border)
            .output_timestamp(Some("%H:%M:%S".to_owned()))
            .output_level(Some(TuiLoggerLevelOutput::Abbreviated))
            .output_target(true)
            .output_file(false)
            .output_line(false)
            .state(&app.log_state)
            .render(log_a, buf);
    } else {
        TuiLoggerWidget::default()
            .style(styles.base)
            .style_error(styles.error)
            .style_warn(styles.warn)
            .style_info(styles.base)
            .style_debug(styles.dim)
            .style_trace(styles.dim)
            .output_timestamp(Some("%H:%M:%S".to_owned()))
            .output_level(Some(TuiLoggerLevelOutput::Abbreviated))
            .output_target(true)
            .output_file(false)
            .output_line(false)
            .output_separator(' ')
            .state(&app.log_state)
            .render(log_a, buf);
    }
}
