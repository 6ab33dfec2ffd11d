//! Text captures of the screen, without a terminal: for the README, bug reports and tests.

use ratatui::Terminal;
use ratatui::backend::TestBackend;
use ratatui::buffer::Buffer;

use super::app::App;
use super::view;
use crate::monitor::MonitorState;

/// Draws the monitor at `width`×`height` into an off-screen buffer.
pub fn buffer(app: &App, state: &MonitorState, width: u16, height: u16) -> Buffer {
    let mut terminal = match Terminal::new(TestBackend::new(width, height)) {
        Ok(t) => t,
        Err(e) => match e {},
    };
    if let Err(e) = terminal.draw(|f| view::draw(f, app, state)) {
        match e {}
    }
    terminal.backend().buffer().clone()
}

/// The monitor at `width`×`height` as plain text, one line per row, trailing spaces trimmed.
pub fn text(app: &App, state: &MonitorState, width: u16, height: u16) -> String {
    buffer_text(&buffer(app, state, width, height))
}

/// A buffer's symbols as text, one line per row, trailing spaces trimmed.
pub fn buffer_text(buf: &Buffer) -> String {
    let area = buf.area;
    let mut out = String::with_capacity((area.width as usize + 1) * area.height as usize);
    for y in area.top()..area.bottom() {
        let mut line = String::new();
        let mut skip = 0usize;
        for x in area.left()..area.right() {
            if skip > 0 {
                skip -= 1;
                continue;
            }
            let sym = buf[(x, y)].symbol();
            skip = ratatui::text::Span::raw(sym).width().saturating_sub(1);
            line.push_str(sym);
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}
