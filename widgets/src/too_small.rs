//! What the screen shows when the terminal is smaller than the layout needs.

use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::text::Line;
use ratatui::widgets::{Paragraph, Widget, Wrap};

use crate::Styles;

/// "Terminal too small" with the current and the needed size.
pub struct TooSmall<'a> {
    pub width: u16,
    pub height: u16,
    pub min_width: u16,
    pub min_height: u16,
    pub styles: &'a Styles,
}

impl Widget for TooSmall<'_> {
    fn render(self, area: Rect, buf: &mut Buffer) {
        let s = self.styles;
        buf.set_style(area, s.base);
        let lines = vec![
            Line::styled("Terminal too small", s.error),
            Line::styled(
                format!(
                    "{}x{}, need at least {}x{}",
                    self.width, self.height, self.min_width, self.min_height
                ),
                s.base,
            ),
            Line::styled("enlarge the window, or q to quit", s.dim),
        ];
        let top = area.height.saturating_sub(lines.len() as u16) / 2;
        let rect = Rect::new(area.x, area.y + top, area.width, area.height - top);
        Paragraph::new(lines)
            .centered()
            .wrap(Wrap { trim: true })
            .render(rect, buf);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_util::render_text;

    #[test]
    fn names_current_and_needed_size() {
        let styles = Styles::default();
        let w = TooSmall {
            width: 60,
            height: 20,
            min_width: 80,
            min_height: 24,
            styles: &styles,
        };
        let text = render_text(w, 60, 7);
        insta::assert_snapshot!(text);
        assert!(text.contains("Terminal too small"));
        assert!(text.contains("60x20, need at least 80x24"));
    }
}
