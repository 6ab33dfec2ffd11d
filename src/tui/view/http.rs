//! State → the HTTP pane (shown once the built-in `http` scenario's events arrive).

use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::widgets::Widget;
use rookery_widgets::{HTTP_LINES, HttpData, HttpPane, Styles};

use crate::http::ErrorClass;
use crate::monitor::{MonitorState, WINDOW_SECONDS};
use crate::tui::app::App;
use crate::tui::rates::{RATE_SPAN, now_sec, recent_rate};

/// The pane's height when `state` has HTTP events (0 otherwise).
pub fn height(state: &MonitorState) -> u16 {
    if state.http().is_some() {
        HTTP_LINES + 2
    } else {
        0
    }
}

/// Draws the pane into `area` (nothing without HTTP events).
pub fn render(area: Rect, buf: &mut Buffer, _app: &App, state: &MonitorState, styles: &Styles) {
    let Some(h) = state.http() else {
        return;
    };
    let now = now_sec(state);
    let mut status: Vec<(u16, u64)> = h.status().iter().map(|(c, n)| (*c, *n)).collect();
    status.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    let errors: Vec<(&str, u64)> = ErrorClass::ALL
        .iter()
        .map(|c| (c.as_str(), h.errors(*c)))
        .collect();
    let width = area.width as usize;
    let rate_history = h.request_series().window(now, width);
    // The current second is still filling: its p99 is not known yet.
    let p99_history = h.latency_series().1.window(now.saturating_sub(1), width);
    let split = |p: Option<(u64, u64)>| (p.map(|p| p.0), p.map(|p| p.1));
    let (window_p50_us, window_p99_us) = split(h.window_p50_p99(now));
    let (latency_p50_us, latency_p99_us) = split(h.latency_p50_p99());
    let (service_p50_us, service_p99_us) = split(h.service_p50_p99());
    let data = HttpData {
        requests: h.requests(),
        per_s: recent_rate(&h.request_series().window(now, RATE_SPAN), now),
        in_flight: h.in_flight(),
        status: &status,
        errors: &errors,
        window_s: WINDOW_SECONDS as u64,
        window_p50_us,
        window_p99_us,
        latency_p50_us,
        latency_p99_us,
        service_p50_us,
        service_p99_us,
        bytes_in: h.bytes_in(),
        bytes_in_per_s: recent_rate(&h.bytes_in_series().window(now, RATE_SPAN), now),
        bytes_out: h.bytes_out(),
        late_starts: h.late_starts(),
        backlog: h.backlog(),
        backlog_unserved: h.backlog_unserved(),
        rate_history: &rate_history,
        p99_history: &p99_history,
    };
    HttpPane {
        data: &data,
        focused: false,
        styles,
    }
    .render(area, buf);
}
