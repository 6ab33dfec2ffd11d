//! The bordered block every pane sits in.

use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, BorderType, Borders};

use crate::Styles;

/// A bordered block titled `title`, with the focused border style when `focused`.
pub fn block<'a>(title: &'a str, focused: bool, styles: &Styles) -> Block<'a> {
    let border = if focused {
        styles.border_focused
    } else {
        styles.border
    };
    Block::default()
        .borders(Borders::ALL)
        .border_type(if focused {
            BorderType::Thick
        } else {
            BorderType::Plain
        })
        .border_style(border)
        .title(Line::from(Span::styled(format!(" {title} "), styles.title)))
        .style(styles.base)
}
