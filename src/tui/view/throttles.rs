//! State → the throttles table. Rates shown are the engine's (the last rate event); a request
//! not yet confirmed is only a marker in the state column.

use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::widgets::Widget;
use rookery_widgets::throttles::Rate as ShownRate;
use rookery_widgets::{Styles, ThrottleRow, ThrottleState, ThrottleTable};

use crate::monitor::{MonitorState, RateReading, ThrottleView};
use crate::tui::app::App;
use crate::tui::rates::{RATE_SPAN, now_sec, recent_rate};

/// Seconds of history behind each row's sparkline.
const HISTORY_S: usize = 60;

/// Draws the pane into `area`.
pub fn render(area: Rect, buf: &mut Buffer, app: &App, state: &MonitorState, styles: &Styles) {
    // Only the rows that can be visible need their series merged.
    let selected = app.selected_throttle(state);
    let visible = area.height.saturating_sub(3) as usize;
    let first = match selected {
        Some(s) if s >= visible && visible > 0 => s + 1 - visible,
        _ => 0,
    };
    let views: Vec<_> = state.throttles().skip(first).take(visible.max(1)).collect();
    // Every window ends at the screen's "now", so a throttle that went quiet shows zeros.
    let now = now_sec(state);
    let data: Vec<(Vec<u64>, Vec<u64>, Option<String>)> = views
        .iter()
        .map(|t| {
            (
                t.request_window(now, RATE_SPAN),
                t.execute_window(now, HISTORY_S),
                app.pending.marker(t.name()),
            )
        })
        .collect();
    let rows: Vec<ThrottleRow> = views
        .iter()
        .zip(&data)
        .map(|(t, (req, exec, pending))| ThrottleRow {
            name: t.name(),
            rate: match t.rate() {
                None => ShownRate::Unknown,
                Some(RateReading::Infinity) => ShownRate::Infinity,
                Some(RateReading::Finite(r)) => ShownRate::Finite(r.max(0.0).round() as u64),
            },
            interval_ms: t.interval_ms().map(|i| i.max(0) as u64),
            requests_per_s: recent_rate(req, now),
            executes_per_s: recent_rate(&exec[exec.len().saturating_sub(RATE_SPAN)..], now),
            backlog: t.backlog(),
            state: state_of(t, app),
            pending: pending.clone(),
            history: exec,
        })
        .collect();
    // The widget counts all throttles in its title; pass the window and fix the count.
    ThrottleTable {
        rows: &rows,
        selected: selected.map(|s| s - first),
        focused: !app.log_focused,
        styles,
        total: state.throttle_states().len(),
    }
    .render(area, buf);
}

/// What the state column says: the engine's flags first (paused, ramping), then rate 0 as
/// `closed`. A ramp started from this monitor adds its target and time left.
fn state_of(t: &ThrottleView<'_>, app: &App) -> ThrottleState {
    let track = app.ramps.get(t.name());
    let engine = (t.state.ramp_target, t.state.ramp_ends_us);
    if t.paused() == Some(true) {
        ThrottleState::Paused
    } else if t.ramping() == Some(true) || track.is_some() {
        // The engine's figures first (Rookery's engine sends them), else the monitor's own.
        let to = match engine.0 {
            Some(RateReading::Finite(r)) => Some(r.max(0.0).round() as u64),
            _ => track.map(|r| r.to),
        };
        let ends = engine.1.or(track.map(|r| r.ends_us));
        ThrottleState::Ramping {
            to,
            left_s: ends.map(|e| e.saturating_sub(app.now_us()).div_ceil(1_000_000)),
        }
    } else if matches!(t.rate(), Some(RateReading::Finite(r)) if r <= 0.0) {
        ThrottleState::Closed
    } else {
        ThrottleState::Running
    }
}
