//! The users pane: totals, users per node and a sparkline of running users over time.

use ratatui::buffer::Buffer;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Sparkline, Widget};

use crate::fmt::{count, truncate};
use crate::{Styles, pane};

/// User totals since the start of the run.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct UserCounts {
    /// Users whose scenario is running now.
    pub running: u64,
    /// Users added by the controller.
    pub added: u64,
    /// Users removed by the controller.
    pub removed: u64,
    /// Users whose scenario ended with an exception.
    pub failed: u64,
}

/// The users pane.
pub struct UsersPane<'a> {
    pub counts: UserCounts,
    /// Running users per node, in display order.
    pub per_node: &'a [(&'a str, u64)],
    /// Running users per time bucket, oldest first.
    pub history: &'a [u64],
    pub focused: bool,
    pub styles: &'a Styles,
}

impl Widget for UsersPane<'_> {
    fn render(self, area: Rect, buf: &mut Buffer) {
        let s = self.styles;
        let block = pane::block("Users", self.focused, s);
        let inner = block.inner(area);
        block.render(area, buf);
        if inner.height == 0 {
            return;
        }
        let c = self.counts;
        let failed_style = if c.failed > 0 { s.error } else { s.dim };
        let mut lines = vec![
            Line::from(vec![
                Span::styled("running ", s.dim),
                Span::styled(count(c.running), s.accent),
                Span::styled("  added ", s.dim),
                Span::styled(count(c.added), s.base),
            ]),
            Line::from(vec![
                Span::styled("removed ", s.dim),
                Span::styled(count(c.removed), s.base),
                Span::styled("  failed ", s.dim),
                Span::styled(count(c.failed), failed_style),
            ]),
        ];
        let spark_h: u16 = if inner.height >= 6 { 2 } else { 0 };
        let node_rows = inner.height.saturating_sub(2 + spark_h) as usize;
        let name_w = (inner.width as usize).saturating_sub(8).max(4);
        for (i, (node, n)) in self.per_node.iter().enumerate() {
            if i >= node_rows {
                break;
            }
            let more = self.per_node.len() - i;
            if i + 1 == node_rows && more > 1 {
                lines.push(Line::styled(format!("+{more} nodes"), s.dim));
                break;
            }
            lines.push(Line::from(vec![
                Span::styled(format!("{:<name_w$}", truncate(node, name_w)), s.base),
                Span::styled(format!("{:>7}", count(*n)), s.base),
            ]));
        }
        let [text_area, spark_area] =
            Layout::vertical([Constraint::Fill(1), Constraint::Length(spark_h)]).areas(inner);
        for (i, line) in lines.into_iter().enumerate() {
            if i as u16 >= text_area.height {
                break;
            }
            buf.set_line(text_area.x, text_area.y + i as u16, &line, text_area.width);
        }
        if spark_h > 0 {
            let tail =
                &self.history[self.history.len().saturating_sub(spark_area.width as usize)..];
            Sparkline::default()
                .data(tail)
                .style(s.spark)
                .render(spark_area, buf);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_util::render_text;

    #[test]
    fn shows_totals_nodes_and_history() {
        let styles = Styles::default();
        let nodes = [("node1", 40), ("node2", 35), ("node3", 0)];
        let hist: Vec<u64> = (0..40).map(|i| i * 2).collect();
        let pane = UsersPane {
            counts: UserCounts {
                running: 75,
                added: 100,
                removed: 20,
                failed: 5,
            },
            per_node: &nodes,
            history: &hist,
            focused: false,
            styles: &styles,
        };
        let text = render_text(pane, 30, 9);
        insta::assert_snapshot!(text);
        assert!(text.contains("failed 5"));
        assert!(text.contains("node2"));
    }
}
