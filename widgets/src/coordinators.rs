//! The coordinators pane: adds, executes by kind, batch sizes and timeouts.

use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::widgets::Widget;

use crate::fmt::{count, per_sec};
use crate::table::{Cell, draw_row, draw_table};
use crate::{Styles, pane};

/// One coordinator.
#[derive(Clone, Debug, Default)]
pub struct CoordinatorRow<'a> {
    pub name: &'a str,
    /// Users added to it.
    pub adds: u64,
    /// `coordinate` executions (a full batch).
    pub coordinate: u64,
    /// `timeout` executions.
    pub timeout: u64,
    /// `reset` executions.
    pub reset: u64,
    /// `stop` executions.
    pub stop: u64,
    /// Mean users per executed batch.
    pub avg_batch: f64,
    /// `[amoc, coordinator, timeout]` events (a batch timed out waiting for users).
    pub timeouts: u64,
    /// Whether the coordinator was stopped.
    pub stopped: bool,
}

/// The coordinators table.
pub struct CoordinatorTable<'a> {
    pub rows: &'a [CoordinatorRow<'a>],
    pub focused: bool,
    pub styles: &'a Styles,
}

impl Widget for CoordinatorTable<'_> {
    fn render(self, area: Rect, buf: &mut Buffer) {
        let s = self.styles;
        let title = format!("Coordinators ({})", self.rows.len());
        let block = pane::block(&title, self.focused, s);
        let inner = block.inner(area);
        block.render(area, buf);
        if inner.height == 0 {
            return;
        }
        // The name gives way first so the figures fit at 80 columns.
        let name_w = inner.width.saturating_sub(7 + 14 + 6 + 8 + 5).clamp(8, 16);
        let header = [
            Cell::left("name", name_w, s.header),
            Cell::right("adds", 7, s.header),
            Cell::right("exec c/t/r/s", 14, s.header),
            Cell::right("batch", 6, s.header),
            Cell::right("timeouts", 8, s.header),
            Cell::left("", 0, s.header),
        ];
        draw_table(
            buf,
            inner,
            &header,
            self.rows,
            Some("no coordinator yet"),
            (s.dim, s.base),
            |buf, row, y| {
                let timeout_style = if row.timeouts > 0 { s.warn } else { s.dim };
                let executes = format!(
                    "{}/{}/{}/{}",
                    count(row.coordinate),
                    count(row.timeout),
                    count(row.reset),
                    count(row.stop)
                );
                let cells = [
                    Cell::left(row.name, name_w, s.base),
                    Cell::right(count(row.adds), 7, s.base),
                    Cell::right(executes, 14, s.accent),
                    Cell::right(per_sec(row.avg_batch), 6, s.base),
                    Cell::right(count(row.timeouts), 8, timeout_style),
                    Cell::left(if row.stopped { "stopped" } else { "" }, 0, s.dim),
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
    fn rows_and_overflow_marker() {
        let styles = Styles::default();
        let rows: Vec<CoordinatorRow> = ["rooms", "pairs", "trios", "quads"]
            .iter()
            .enumerate()
            .map(|(i, n)| CoordinatorRow {
                name: n,
                adds: 18 * (i as u64 + 1),
                coordinate: 4,
                timeout: i as u64,
                reset: 0,
                stop: 1,
                avg_batch: 3.5,
                timeouts: i as u64 * 2,
                stopped: i == 0,
            })
            .collect();
        let t = CoordinatorTable {
            rows: &rows,
            focused: false,
            styles: &styles,
        };
        let text = render_text(t, 72, 6);
        insta::assert_snapshot!(text);
        assert!(text.contains("… 2 more"));
    }
}
