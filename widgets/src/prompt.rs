//! A one-line input prompt drawn over the bottom of an area (typing an exact rate, a ramp).

use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Clear, Widget};

use crate::fmt::truncate;
use crate::{Styles, pane};

/// A boxed prompt: `label`, the text typed so far with a cursor, and an optional error.
pub struct InputPrompt<'a> {
    pub label: &'a str,
    pub text: &'a str,
    pub hint: &'a str,
    pub error: Option<&'a str>,
    pub styles: &'a Styles,
}

impl Widget for InputPrompt<'_> {
    fn render(self, area: Rect, buf: &mut Buffer) {
        let s = self.styles;
        let h = 4.min(area.height);
        let w = area.width.min(90);
        let rect = Rect::new(
            area.x + (area.width - w) / 2,
            area.y + (area.height - h) / 2,
            w,
            h,
        );
        Clear.render(rect, buf);
        let block = pane::block(self.label, true, s);
        let inner = block.inner(rect);
        block.render(rect, buf);
        if inner.height == 0 {
            return;
        }
        let room = (inner.width as usize).saturating_sub(self.text.chars().count() + 3);
        let spans = vec![
            Span::styled(self.text, s.accent),
            Span::styled("▏", s.key),
            Span::raw("  "),
            Span::styled(truncate(self.hint, room), s.dim),
        ];
        buf.set_line(inner.x, inner.y, &Line::from(spans), inner.width);
        if let Some(e) = self.error
            && inner.height > 1
        {
            let e = truncate(e, inner.width as usize);
            buf.set_line(inner.x, inner.y + 1, &Line::styled(e, s.error), inner.width);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_util::render_text;

    #[test]
    fn shows_text_and_error() {
        let styles = Styles::default();
        let p = InputPrompt {
            label: "Rate for messages",
            text: "12x",
            hint: "Enter sets, Esc cancels",
            error: Some("not a number"),
            styles: &styles,
        };
        let text = render_text(p, 50, 5);
        insta::assert_snapshot!(text);
        assert!(text.contains("12x▏  Enter sets"));
        assert!(text.contains("not a number"));
    }
}
