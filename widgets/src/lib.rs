//! Pure ratatui widgets for Rookery's terminal monitor.
//!
//! Every widget here takes plain data (numbers, names, small row structs) and a [`Styles`]
//! value, and draws into a [`ratatui::buffer::Buffer`]. None of them knows the monitor state,
//! the engine, the keymap or the theme files: the application maps those onto these inputs.
//! That boundary keeps the widgets testable without tokio or a terminal.

pub mod coordinators;
pub mod dialog;
pub mod events;
pub mod fmt;
pub mod help;
pub mod http;
pub mod latency;
pub mod logs;
pub mod nodes;
pub mod pane;
pub mod prompt;
pub mod spark;
pub mod status;
pub mod styles;
pub mod table;
pub mod thresholds;
pub mod throttles;
pub mod too_small;
pub mod users;

pub use coordinators::{CoordinatorRow, CoordinatorTable};
pub use dialog::Dialog;
pub use events::{EventRow, EventTable};
pub use help::{HelpEntry, HelpOverlay};
pub use http::{HTTP_LINES, HttpData, HttpPane};
pub use latency::{LatencyRow, LatencyTable};
pub use logs::{Severity, WarningLine, WarningList};
pub use nodes::{NodeRow, NodeTable};
pub use prompt::InputPrompt;
pub use status::{KeyHint, StatusBar};
pub use styles::Styles;
pub use thresholds::{ThresholdItem, ThresholdLine};
pub use throttles::{Rate, ThrottleRow, ThrottleState, ThrottleTable};
pub use too_small::TooSmall;
pub use users::{UserCounts, UsersPane};

#[cfg(test)]
pub(crate) mod test_util {
    use ratatui::buffer::Buffer;
    use ratatui::layout::Rect;
    use ratatui::widgets::Widget;

    /// Renders `w` into a fresh buffer of `width`×`height` and returns its text, one line per row.
    pub fn render_text(w: impl Widget, width: u16, height: u16) -> String {
        let area = Rect::new(0, 0, width, height);
        let mut buf = Buffer::empty(area);
        w.render(area, &mut buf);
        buffer_text(&buf)
    }

    /// The buffer's symbols, row by row.
    pub fn buffer_text(buf: &Buffer) -> String {
        let area = buf.area;
        let mut out = String::new();
        for y in area.top()..area.bottom() {
            let mut skip = 0usize;
            for x in area.left()..area.right() {
                if skip > 0 {
                    skip -= 1;
                    continue;
                }
                let sym = buf[(x, y)].symbol();
                skip = unicode_width(sym).saturating_sub(1);
                out.push_str(sym);
            }
            out.push('\n');
        }
        out
    }

    fn unicode_width(s: &str) -> usize {
        ratatui::text::Span::raw(s).width()
    }
}
