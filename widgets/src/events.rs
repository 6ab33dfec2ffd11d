//! The events pane: every event name seen, with its count and recent rate.

use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::widgets::Widget;

use crate::fmt::{count, per_sec};
use crate::table::{Cell, draw_row, draw_rows};
use crate::{Styles, pane};

/// One event name.
#[derive(Clone, Debug)]
pub struct EventRow<'a> {
    /// Dotted name, e.g. `amoc.throttle.request`.
    pub name: &'a str,
    pub count: u64,
    pub per_s: f64,
}

/// The events table (rows in the order given; the caller sorts).
pub struct EventTable<'a> {
    pub rows: &'a [EventRow<'a>],
    pub focused: bool,
    pub styles: &'a Styles,
}

impl Widget for EventTable<'_> {
    fn render(self, area: Rect, buf: &mut Buffer) {
        let s = self.styles;
        let title = format!("Events ({})", self.rows.len());
        let block = pane::block(&title, self.focused, s);
        let inner = block.inner(area);
        block.render(area, buf);
        if inner.height == 0 {
            return;
        }
        let name_w = inner.width.saturating_sub(6 + 1 + 6 + 1).max(4);
        let body = inner;
        draw_rows(
            buf,
            body,
            self.rows,
            None,
            (s.dim, s.base),
            |buf, row, y| {
                let name = row.name.strip_prefix("amoc.").unwrap_or(row.name);
                let cells = [
                    Cell::left(name, name_w, s.base),
                    Cell::right(count(row.count), 6, s.base),
                    Cell::right(per_sec(row.per_s), 6, s.dim),
                ];
                draw_row(buf, inner, y, &cells, s.base);
            },
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_util::render_text;

    #[test]
    fn strips_amoc_prefix_and_keeps_user_events() {
        let styles = Styles::default();
        let rows = [
            EventRow {
                name: "amoc.throttle.request",
                count: 90,
                per_s: 7.5,
            },
            EventRow {
                name: "shop.order",
                count: 3,
                per_s: 0.25,
            },
        ];
        let t = EventTable {
            rows: &rows,
            focused: false,
            styles: &styles,
        };
        let text = render_text(t, 34, 4);
        insta::assert_snapshot!(text);
        assert!(text.contains("throttle.request"));
        assert!(text.contains("shop.order"));
    }
}
