//! The only place that knows both the state and the widgets: lays the screen out and maps the
//! [`MonitorState`] and the [`App`] onto `rookery-widgets` inputs.

mod http;
mod latency;
mod logs;
mod panes;
mod status;
mod throttles;

/// Each pane on its own, for tests and for embedding: `(area, buffer, app, state, styles)`.
pub mod pane {
    pub use super::http::render as http;
    pub use super::latency::render as latency;
    pub use super::logs::render as logs;
    pub use super::panes::{coordinators, events, nodes, users};
    pub use super::status::render as status;
    pub use super::throttles::render as throttles;
}

use ratatui::Frame;
use ratatui::buffer::Buffer;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::widgets::{Clear, Widget};
use rookery_widgets::{Dialog, HelpOverlay, InputPrompt, TooSmall};

use super::app::{App, Mode};
use crate::monitor::MonitorState;

/// The smallest terminal the layout is drawn in.
pub const MIN_WIDTH: u16 = 80;
pub const MIN_HEIGHT: u16 = 24;

/// Draws the whole screen into a frame.
pub fn draw(frame: &mut Frame<'_>, app: &App, state: &MonitorState) {
    // A frame's buffer starts blank (the terminal resets it after each flush): no `Clear`.
    render_blank(frame.area(), frame.buffer_mut(), app, state);
}

/// Draws the whole screen into `buf` (what [`draw`] does, for callers without a `Frame`).
pub fn render(area: Rect, buf: &mut Buffer, app: &App, state: &MonitorState) {
    Clear.render(area, buf);
    render_blank(area, buf, app, state);
}

/// [`render`] into a buffer whose `area` is blank.
fn render_blank(area: Rect, buf: &mut Buffer, app: &App, state: &MonitorState) {
    let styles = app.styles();
    buf.set_style(area, styles.base);
    if area.width < MIN_WIDTH || area.height < MIN_HEIGHT {
        TooSmall {
            width: area.width,
            height: area.height,
            min_width: MIN_WIDTH,
            min_height: MIN_HEIGHT,
            styles: &styles,
        }
        .render(area, buf);
        return;
    }
    let threshold_h = u16::from(state.thresholds().is_some());
    let [body, threshold_area, status_area] = Layout::vertical([
        Constraint::Fill(1),
        Constraint::Length(threshold_h),
        Constraint::Length(1),
    ])
    .areas(area);
    let left_w = (area.width * 30 / 100).clamp(30, 44);
    let [left, right] =
        Layout::horizontal([Constraint::Length(left_w), Constraint::Fill(1)]).areas(body);

    let nodes_h = (state.nodes().len().clamp(1, 6) + 2) as u16;
    let [users_a, nodes_a, events_a] = Layout::vertical([
        Constraint::Length(9),
        Constraint::Length(nodes_h),
        Constraint::Fill(1),
    ])
    .areas(left);
    let http_h = http::height(state);
    // A load of a URL has no coordinators: its HTTP pane takes their place.
    let coord_h = if http_h > 0 && state.coordinators().is_empty() {
        0
    } else {
        (state.coordinators().len().clamp(1, 5) + 3) as u16
    };
    let logs_h = if app.log_focused {
        right.height / 2
    } else {
        8.min(right.height / 3).max(5)
    };
    let latency_h = (state.spans().len().clamp(1, 5) + 3) as u16;
    let [throttle_a, coord_a, http_a, latency_a, logs_a] = Layout::vertical([
        Constraint::Min(5),
        Constraint::Length(coord_h),
        Constraint::Length(http_h),
        Constraint::Length(latency_h),
        Constraint::Length(logs_h),
    ])
    .areas(right);

    panes::users(users_a, buf, app, state, &styles);
    panes::nodes(nodes_a, buf, app, state, &styles);
    panes::events(events_a, buf, app, state, &styles);
    throttles::render(throttle_a, buf, app, state, &styles);
    panes::coordinators(coord_a, buf, app, state, &styles);
    http::render(http_a, buf, app, state, &styles);
    latency::render(latency_a, buf, app, state, &styles);
    logs::render(logs_a, buf, app, state, &styles);
    crate::report::threshold::view::render(threshold_area, buf, state, &styles);
    status::render(status_area, buf, app, state, &styles);

    match &app.mode {
        Mode::Normal => {}
        Mode::Help => {
            let entries = app.keymap.help_entries(&app.sections_for_help());
            HelpOverlay {
                entries: &entries,
                styles: &styles,
            }
            .render(body, buf);
        }
        Mode::Input(input) => {
            let label = input.kind.label();
            InputPrompt {
                label: &label,
                text: &input.text,
                hint: "Enter sends, Esc cancels",
                error: input.error.as_deref(),
                styles: &styles,
            }
            .render(body, buf);
        }
        Mode::Confirm(c) => {
            let lines = [c.question.clone()];
            Dialog {
                title: "Confirm",
                lines: &lines,
                selected: None,
                hint: "y sends it; any other key cancels",
                max_width: 90,
                styles: &styles,
            }
            .render(body, buf);
        }
        Mode::Settings(view) => {
            let lines: Vec<String> = match &view.rows {
                None => vec!["asking the engine…".to_owned()],
                Some(rows) if rows.is_empty() => vec!["no setting is declared".to_owned()],
                Some(rows) => rows
                    .iter()
                    .map(|r| {
                        format!(
                            "{} {:<18} {:<14} {:<24} {}",
                            if r.updatable { "✎" } else { " " },
                            r.name,
                            r.value,
                            r.source,
                            r.description
                        )
                    })
                    .collect(),
            };
            Dialog {
                title: "Settings (value, source; ✎ updatable)",
                lines: &lines,
                selected: view.rows.as_ref().map(|_| view.selected),
                hint: "↑/↓ select, Enter edits an updatable one, Esc closes",
                max_width: body.width.saturating_sub(4),
                styles: &styles,
            }
            .render(body, buf);
        }
    }
}
