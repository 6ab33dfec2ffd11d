//! The events pane: every event name seen, with its count and recent rate.

use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::widgets::Widget;

use crate::fmt::{count, per_sec, truncate_start};
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
    /// Rows scrolled past at the top (clamped so the last row can still show).
    pub offset: usize,
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
        let offset = self
            .offset
            .min(self.rows.len().saturating_sub(inner.height as usize));
        if offset > 0 && inner.width > 12 {
            let tag = format!("↑{offset}");
            let x = area.right().saturating_sub(tag.chars().count() as u16 + 2);
            buf.set_string(x, area.y, tag, s.dim);
        }
        draw_rows(
            buf,
            body,
            &self.rows[offset..],
            None,
            (s.dim, s.base),
            |buf, row, y| {
                let name = row.name.strip_prefix("amoc.").unwrap_or(row.name);
                let cells = [
                    Cell::left(truncate_start(name, name_w as usize), name_w, s.base),
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
            offset: 0,
            focused: false,
            styles: &styles,
        };
        let text = render_text(t, 34, 4);
        insta::assert_snapshot!(text);
        assert!(text.contains("throttle.request"));
        assert!(text.contains("shop.order"));
    }

    #[test]
    fn cut_names_keep_their_end_and_the_pane_scrolls() {
        let styles = Styles::default();
        let names: Vec<String> = (0..8).map(|i| format!("demo.message.kind{i}")).collect();
        let mut rows: Vec<EventRow> = names
            .iter()
            .map(|n| EventRow {
                name: n,
                count: 1,
                per_s: 0.0,
            })
            .collect();
        rows.push(EventRow {
            name: "demo.message.start",
            count: 1,
            per_s: 0.0,
        });
        rows.push(EventRow {
            name: "demo.message.stop",
            count: 1,
            per_s: 0.0,
        });
        let t = EventTable {
            rows: &rows,
            offset: 100,
            focused: true,
            styles: &styles,
        };
        let text = render_text(t, 28, 5);
        assert!(text.contains("…ssage.start"), "{text}");
        assert!(text.contains("…essage.stop"), "{text}");
        assert!(text.contains("↑7"), "scrolled to the end: {text}");
    }
}
