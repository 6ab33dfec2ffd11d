//! Fixed-width column layout shared by the table widgets: cheaper than ratatui's `Table` for
//! hundreds of rows per frame, and it never reflows columns between frames.

use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::style::Style;

use crate::fmt::truncate;

/// Horizontal alignment of a cell's text.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Align {
    Left,
    Right,
}

/// One cell: text, width in columns (0 = the rest of the row), alignment and style.
pub struct Cell {
    pub text: String,
    pub width: u16,
    pub align: Align,
    pub style: Style,
}

impl Cell {
    pub fn left(text: impl Into<String>, width: u16, style: Style) -> Cell {
        Cell {
            text: text.into(),
            width,
            align: Align::Left,
            style,
        }
    }

    pub fn right(text: impl Into<String>, width: u16, style: Style) -> Cell {
        Cell {
            text: text.into(),
            width,
            align: Align::Right,
            style,
        }
    }
}

/// Draws `cells` on row `y` of `area`, one space between cells, clipping at the right edge.
/// `row_style` is applied to the whole row first (selection highlight).
pub fn draw_row(buf: &mut Buffer, area: Rect, y: u16, cells: &[Cell], row_style: Style) {
    if y >= area.bottom() {
        return;
    }
    buf.set_style(Rect::new(area.x, y, area.width, 1), row_style);
    let mut x = area.x;
    for cell in cells {
        if x >= area.right() {
            break;
        }
        let room = area.right() - x;
        let width = if cell.width == 0 {
            room
        } else {
            cell.width.min(room)
        };
        let text = truncate(&cell.text, width as usize);
        let len = text.chars().count() as u16;
        let start = match cell.align {
            Align::Left => x,
            Align::Right => x + width.saturating_sub(len),
        };
        buf.set_stringn(start, y, &text, width as usize, cell.style);
        x = x.saturating_add(width).saturating_add(1);
    }
}

/// The first row index to show so that `selected` is visible in `height` rows, keeping the
/// view at the top while it fits.
pub fn scroll_offset(selected: Option<usize>, rows: usize, height: usize) -> usize {
    match selected {
        Some(sel) if height > 0 && sel >= height => (sel + 1 - height).min(rows - height.min(rows)),
        _ => 0,
    }
}

/// Draws `rows` one per line from the top of `area`: `draw(buf, row, y)` draws one. When they
/// do not all fit, the last line says how many more there are; with no rows, `empty` (if any)
/// is shown dimmed.
pub fn draw_rows<T>(
    buf: &mut Buffer,
    area: Rect,
    rows: &[T],
    empty: Option<&str>,
    (dim, base): (Style, Style),
    mut draw: impl FnMut(&mut Buffer, &T, u16),
) {
    if rows.is_empty() {
        if let Some(msg) = empty {
            draw_row(buf, area, area.y, &[Cell::left(msg, 0, dim)], base);
        }
        return;
    }
    let body = area.height as usize;
    for (i, row) in rows.iter().take(body).enumerate() {
        let y = area.y + i as u16;
        if i + 1 == body && rows.len() > body {
            let more = rows.len() - i;
            draw_row(
                buf,
                area,
                y,
                &[Cell::left(format!("… {more} more"), 0, dim)],
                base,
            );
            break;
        }
        draw(buf, row, y);
    }
}

/// A table: the `header` row at the top of `area`, then [`draw_rows`] below it.
pub fn draw_table<T>(
    buf: &mut Buffer,
    area: Rect,
    header: &[Cell],
    rows: &[T],
    empty: Option<&str>,
    (dim, base): (Style, Style),
    draw: impl FnMut(&mut Buffer, &T, u16),
) {
    draw_row(buf, area, area.y, header, base);
    let body = Rect {
        y: area.y + 1,
        height: area.height.saturating_sub(1),
        ..area
    };
    draw_rows(buf, body, rows, empty, (dim, base), draw);
}

#[cfg(test)]
mod tests {
    use super::scroll_offset;

    #[test]
    fn keeps_selection_visible() {
        assert_eq!(scroll_offset(None, 100, 10), 0);
        assert_eq!(scroll_offset(Some(3), 100, 10), 0);
        assert_eq!(scroll_offset(Some(10), 100, 10), 1);
        assert_eq!(scroll_offset(Some(99), 100, 10), 90);
        assert_eq!(scroll_offset(Some(5), 3, 0), 0);
    }
}
