//! The nodes pane: the cluster's nodes, the master, up or down, users on each.

use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::widgets::Widget;

use crate::fmt::count;
use crate::table::{Cell, draw_row, scroll_offset};
use crate::{Styles, pane};

/// One node.
#[derive(Clone, Debug)]
pub struct NodeRow<'a> {
    pub name: &'a str,
    pub master: bool,
    pub up: bool,
    /// Users running on it.
    pub users: u64,
}

/// The nodes table, with an optional selected node (the target of "kill node").
pub struct NodeTable<'a> {
    pub rows: &'a [NodeRow<'a>],
    pub selected: Option<usize>,
    pub focused: bool,
    pub styles: &'a Styles,
}

impl Widget for NodeTable<'_> {
    fn render(self, area: Rect, buf: &mut Buffer) {
        let s = self.styles;
        let title = format!("Nodes ({})", self.rows.len());
        let block = pane::block(&title, self.focused, s);
        let inner = block.inner(area);
        block.render(area, buf);
        if inner.height == 0 {
            return;
        }
        if self.rows.is_empty() {
            draw_row(
                buf,
                inner,
                inner.y,
                &[Cell::left("no node seen yet", 0, s.dim)],
                s.base,
            );
            return;
        }
        let name_w = inner.width.saturating_sub(1 + 5 + 1 + 6 + 1).max(4);
        let offset = scroll_offset(self.selected, self.rows.len(), inner.height as usize);
        for (i, row) in self
            .rows
            .iter()
            .enumerate()
            .skip(offset)
            .take(inner.height as usize)
        {
            let y = inner.y + (i - offset) as u16;
            let (status, status_style) = if row.up {
                ("up", s.ok)
            } else {
                ("down", s.error)
            };
            let cells = [
                Cell::left(if row.master { "*" } else { " " }, 1, s.accent),
                Cell::left(row.name, name_w, s.base),
                Cell::left(status, 5, status_style),
                Cell::right(count(row.users), 6, s.base),
            ];
            let selected = self.selected == Some(i);
            draw_row(buf, inner, y, &cells, s.base);
            if selected {
                buf.set_style(Rect::new(inner.x, y, inner.width, 1), s.selected);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_util::render_text;

    #[test]
    fn master_marker_and_down_nodes() {
        let styles = Styles::default();
        let rows = [
            NodeRow {
                name: "node1",
                master: true,
                up: true,
                users: 40,
            },
            NodeRow {
                name: "node2",
                master: false,
                up: false,
                users: 0,
            },
        ];
        let t = NodeTable {
            rows: &rows,
            selected: Some(1),
            focused: false,
            styles: &styles,
        };
        let text = render_text(t, 30, 4);
        insta::assert_snapshot!(text);
        assert!(text.contains("* node1"));
        assert!(text.contains("down"));
    }
}
