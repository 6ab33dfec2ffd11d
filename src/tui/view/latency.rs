//! State → the latency table: one row per span prefix, the scenario's own spans first.

use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::widgets::Widget;
use rookery_widgets::{LatencyRow, LatencyTable, Styles};

use crate::monitor::{MonitorState, ROLLING_SECONDS, SpanStats};
use crate::tui::app::App;
use crate::tui::rates::{RATE_SPAN, now_sec, recent_rate};

/// Rows for `state`: prefixes outside `amoc.` first, then by name; the rolling columns cover
/// the last [`ROLLING_SECONDS`] of event time.
pub fn rows(state: &MonitorState) -> Vec<LatencyRow<'_>> {
    let now = now_sec(state);
    let end = state.open_second();
    let mut spans: Vec<&SpanStats> = state.spans().iter().collect();
    spans.sort_by_key(|s| (s.name().starts_with("amoc."), s.name()));
    spans
        .into_iter()
        .map(|s| {
            let recent = end.map(|e| s.seconds().window(e, ROLLING_SECONDS));
            let q = |q: f64| recent.as_ref().and_then(|h| h.quantile_us(q));
            LatencyRow {
                name: s.name(),
                count: s.count(),
                per_s: recent_rate(&s.stop_series().window(now, RATE_SPAN), now),
                p50_us: s.quantile_us(0.5),
                p90_us: s.quantile_us(0.9),
                p99_us: s.quantile_us(0.99),
                max_us: s.max_us(),
                exceptions: s.exceptions(),
                recent_p50_us: q(0.5),
                recent_p99_us: q(0.99),
            }
        })
        .collect()
}

/// Draws the pane into `area`.
pub fn render(area: Rect, buf: &mut Buffer, _app: &App, state: &MonitorState, styles: &Styles) {
    let rows = rows(state);
    LatencyTable {
        rows: &rows,
        window_s: ROLLING_SECONDS,
        focused: false,
        styles,
    }
    .render(area, buf);
}
