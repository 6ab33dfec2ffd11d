//! The threshold line: one row with every threshold's pass/fail and value, failed ones first.

use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::Widget;

use crate::Styles;

/// One threshold as the line shows it.
#[derive(Clone, Debug, PartialEq)]
pub struct ThresholdItem {
    /// The expression, e.g. `http.request p99[10s] < 400ms`.
    pub expr: String,
    /// The value so far, formatted (`None`: nothing to judge yet).
    pub value: Option<String>,
    pub ok: bool,
}

/// `thresholds 2 ok 1 failed │ ✗ expr (value) ✓ expr (value) …`, cut at the width.
pub struct ThresholdLine<'a> {
    pub items: &'a [ThresholdItem],
    pub styles: &'a Styles,
}

impl Widget for ThresholdLine<'_> {
    fn render(self, area: Rect, buf: &mut Buffer) {
        if area.height == 0 || self.items.is_empty() {
            return;
        }
        let s = self.styles;
        let failed = self.items.iter().filter(|i| !i.ok).count();
        let mut spans = vec![Span::styled(" thresholds ", s.header)];
        spans.push(Span::styled(
            format!("{} ok ", self.items.len() - failed),
            s.ok,
        ));
        if failed > 0 {
            spans.push(Span::styled(format!("{failed} failed "), s.error));
        }
        spans.push(Span::raw("│"));
        let mut ordered: Vec<&ThresholdItem> = self.items.iter().collect();
        ordered.sort_by_key(|i| i.ok);
        for i in ordered {
            let (mark, style) = if i.ok {
                ("✓", s.ok)
            } else {
                ("✗", s.error)
            };
            spans.push(Span::styled(format!(" {mark} "), style));
            spans.push(Span::raw(i.expr.clone()));
            if let Some(v) = &i.value {
                spans.push(Span::styled(format!(" ({v})"), s.dim));
            }
            spans.push(Span::raw(" "));
        }
        let line = Line::from(spans).style(s.base);
        buf.set_line(area.x, area.y, &line, area.width);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_util::render_text;

    #[test]
    fn failed_first_with_counts_and_values() {
        let styles = Styles::default();
        let items = vec![
            ThresholdItem {
                expr: "users failed == 0".into(),
                value: Some("0".into()),
                ok: true,
            },
            ThresholdItem {
                expr: "http.request p99[10s] < 400ms".into(),
                value: Some("912".into()),
                ok: false,
            },
        ];
        let text = render_text(
            ThresholdLine {
                items: &items,
                styles: &styles,
            },
            100,
            1,
        );
        assert!(
            text.starts_with(" thresholds 1 ok 1 failed │ ✗ http.request p99[10s] < 400ms (912)")
        );
        assert!(text.contains("✓ users failed == 0 (0)"));
        let empty = render_text(
            ThresholdLine {
                items: &[],
                styles: &styles,
            },
            20,
            1,
        );
        assert_eq!(empty.trim(), "");
    }
}
