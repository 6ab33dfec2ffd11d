//! The monitor's threshold line: the state's results mapped onto
//! [`rookery_widgets::ThresholdLine`].

use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::widgets::Widget;
use rookery_widgets::{Styles, ThresholdItem, ThresholdLine};

use crate::monitor::MonitorState;

/// Draws the line (nothing when the run has no thresholds).
pub fn render(area: Rect, buf: &mut Buffer, state: &MonitorState, styles: &Styles) {
    if area.height == 0 {
        return;
    }
    let items: Vec<ThresholdItem> = state
        .threshold_results()
        .into_iter()
        .map(|r| ThresholdItem {
            expr: r.expr,
            value: r.value.map(|v| format!("{v}")),
            ok: r.ok,
        })
        .collect();
    ThresholdLine {
        items: &items,
        styles,
    }
    .render(area, buf);
}
