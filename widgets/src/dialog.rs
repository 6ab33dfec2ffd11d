//! A boxed list drawn over the middle of an area: a question to confirm, the settings.
//! Lines that do not fit are cut with `…`; with a selection, the list scrolls to keep it
//! in view.

use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::text::Line;
use ratatui::widgets::{Clear, Widget};

use crate::fmt::truncate;
use crate::table::scroll_offset;
use crate::{Styles, pane};

/// A titled box of lines, at most `max_width` wide, with an optional selected line and a
/// dimmed hint at the bottom.
pub struct Dialog<'a> {
    pub title: &'a str,
    pub lines: &'a [String],
    pub selected: Option<usize>,
    pub hint: &'a str,
    pub max_width: u16,
    pub styles: &'a Styles,
}

impl Widget for Dialog<'_> {
    fn render(self, area: Rect, buf: &mut Buffer) {
        let s = self.styles;
        let want_h = self.lines.len() as u16 + 3;
        let h = want_h.min(area.height);
        let w = area.width.min(self.max_width);
        let rect = Rect::new(
            area.x + (area.width - w) / 2,
            area.y + (area.height - h) / 2,
            w,
            h,
        );
        Clear.render(rect, buf);
        buf.set_style(rect, s.base);
        let block = pane::block(self.title, true, s);
        let inner = block.inner(rect);
        block.render(rect, buf);
        if inner.height == 0 {
            return;
        }
        let body = inner.height.saturating_sub(1) as usize;
        let offset = scroll_offset(self.selected, self.lines.len(), body);
        for (i, line) in self.lines.iter().enumerate().skip(offset).take(body) {
            let y = inner.y + (i - offset) as u16;
            let style = if self.selected == Some(i) {
                s.selected
            } else {
                s.base
            };
            let text = truncate(line, inner.width as usize);
            buf.set_style(Rect::new(inner.x, y, inner.width, 1), style);
            buf.set_line(inner.x, y, &Line::styled(text, style), inner.width);
        }
        let hint = truncate(self.hint, inner.width as usize);
        buf.set_line(
            inner.x,
            inner.bottom() - 1,
            &Line::styled(hint, s.dim),
            inner.width,
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_util::render_text;

    #[test]
    fn long_lines_end_in_an_ellipsis_and_the_selection_stays_in_view() {
        let styles = Styles::default();
        let lines: Vec<String> = (0..10)
            .map(|i| format!("setting_{i} = a value long enough to be cut at this width"))
            .collect();
        let d = Dialog {
            title: "Settings",
            lines: &lines,
            selected: Some(8),
            hint: "Enter edits, Esc closes",
            max_width: 40,
            styles: &styles,
        };
        let text = render_text(d, 40, 8);
        assert!(
            text.contains("setting_8 = a value long enough to be…"),
            "{text}"
        );
        assert!(
            !text.contains("setting_0"),
            "scrolled to the selection: {text}"
        );
        assert!(text.contains("Enter edits, Esc closes"), "{text}");
    }
}
