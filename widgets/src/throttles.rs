//! The throttles pane: one row per throttle.

use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::widgets::Widget;

use crate::fmt::{count, interval_ms, per_sec};
use crate::table::{Cell, draw_row, scroll_offset};
use crate::{Styles, pane, spark};

/// A throttle's configured rate as last confirmed by the engine.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Rate {
    /// No `[amoc, throttle, rate]` event seen yet.
    Unknown,
    /// `rate` executions per interval.
    Finite(u64),
    /// Unlimited.
    Infinity,
}

/// What a throttle is doing, when known.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum ThrottleState {
    #[default]
    Running,
    Paused,
    /// A gradual change: its target and seconds left, when known.
    Ramping {
        to: Option<u64>,
        left_s: Option<u64>,
    },
    /// Rate 0: nothing passes.
    Closed,
}

impl ThrottleState {
    /// The state column's text: `running`, `paused`, `closed`, `ramping → 3000 25s`.
    pub fn text(self) -> String {
        match self {
            ThrottleState::Running => "running".to_owned(),
            ThrottleState::Paused => "paused".to_owned(),
            ThrottleState::Closed => "closed".to_owned(),
            ThrottleState::Ramping { to, left_s } => {
                let mut t = "ramping".to_owned();
                if let Some(to) = to {
                    t.push_str(&format!(" → {}", count(to)));
                }
                if let Some(left) = left_s {
                    t.push_str(&format!(" {}", crate::fmt::elapsed(left as f64)));
                }
                t
            }
        }
    }
}

/// One throttle, already reduced to what the row shows.
#[derive(Clone, Debug)]
pub struct ThrottleRow<'a> {
    pub name: &'a str,
    pub rate: Rate,
    /// Interval in milliseconds, when known.
    pub interval_ms: Option<u64>,
    pub requests_per_s: f64,
    pub executes_per_s: f64,
    /// Requests not yet executed.
    pub backlog: u64,
    pub state: ThrottleState,
    /// A change the user asked for that the engine has not confirmed yet (e.g. `→700`).
    pub pending: Option<String>,
    /// Executions per time bucket, oldest first.
    pub history: &'a [u64],
}

/// The throttles table, with an optional selected row that is kept in view.
pub struct ThrottleTable<'a> {
    pub rows: &'a [ThrottleRow<'a>],
    pub selected: Option<usize>,
    pub focused: bool,
    pub styles: &'a Styles,
    /// Throttles in all (the title's count); `rows` may be only the visible window.
    pub total: usize,
}

const NAME_W: u16 = 16;
/// The state column when wide. A longer state (`ramping → 1200 0:25`) takes room from the
/// row's sparkline.
const STATE_W: u16 = 9;
/// Inner width from which the table shows every column.
const WIDE: u16 = 75;

impl Widget for ThrottleTable<'_> {
    fn render(self, area: Rect, buf: &mut Buffer) {
        let title = format!("Throttles ({})", self.total.max(self.rows.len()));
        let block = pane::block(&title, self.focused, self.styles);
        let inner = block.inner(area);
        block.render(area, buf);
        if inner.height == 0 {
            return;
        }
        let s = self.styles;
        // Below WIDE columns the rate and its interval share a cell, requests/s go, and the
        // name narrows, so that state, executes/s and backlog stay visible at 80 columns.
        let wide = inner.width >= WIDE;
        let name_w = if wide { NAME_W } else { 10 };
        let header: Vec<Cell> = if wide {
            vec![
                Cell::left("", 1, s.header),
                Cell::left("name", name_w, s.header),
                Cell::right("rate", 7, s.header),
                Cell::left("per", 5, s.header),
                Cell::right("req/s", 7, s.header),
                Cell::right("exec/s", 7, s.header),
                Cell::right("backlog", 7, s.header),
                Cell::left("state", STATE_W, s.header),
                Cell::left("releases", 0, s.header),
            ]
        } else {
            vec![
                Cell::left("", 1, s.header),
                Cell::left("name", name_w, s.header),
                Cell::right("rate", 9, s.header),
                Cell::left("state", 8, s.header),
                Cell::right("exec/s", 6, s.header),
                Cell::right("backlog", 7, s.header),
                Cell::left("releases", 0, s.header),
            ]
        };
        draw_row(buf, inner, inner.y, &header, s.base);
        if self.rows.is_empty() {
            draw_row(
                buf,
                inner,
                inner.y + 1,
                &[Cell::left("no throttle yet", 0, s.dim)],
                s.base,
            );
            return;
        }
        let body = inner.height.saturating_sub(1) as usize;
        let offset = scroll_offset(self.selected, self.rows.len(), body);
        let fixed: u16 = header.iter().map(|c| c.width + 1).sum();
        let spark_w = inner.width.saturating_sub(fixed) as usize;
        for (i, row) in self.rows.iter().enumerate().skip(offset).take(body) {
            let y = inner.y + 1 + (i - offset) as u16;
            let selected = self.selected == Some(i);
            let (rate, rate_style) = match row.rate {
                Rate::Unknown => ("?".to_owned(), s.dim),
                Rate::Finite(r) => (count(r), s.accent),
                Rate::Infinity => ("∞".to_owned(), s.accent),
            };
            let per = row
                .interval_ms
                .map(|ms| format!("/{}", interval_ms(ms)))
                .unwrap_or_default();
            let (state, state_style) = match (&row.pending, row.state) {
                (Some(p), _) => (p.clone(), s.warn),
                (None, st @ (ThrottleState::Paused | ThrottleState::Closed)) => (st.text(), s.warn),
                (None, st @ ThrottleState::Ramping { .. }) => (st.text(), s.accent),
                (None, st @ ThrottleState::Running) => (st.text(), s.ok),
            };
            let backlog_style = if row.backlog > 0 { s.warn } else { s.dim };
            let marker = Cell::left(if selected { "▶" } else { " " }, 1, s.accent);
            let name = Cell::left(row.name, name_w, s.base);
            let exec = per_sec(row.executes_per_s);
            let backlog = Cell::right(count(row.backlog), 7, backlog_style);
            let state_w = state.chars().count() as u16;
            let spark_w = spark_w.saturating_sub(state_w.saturating_sub(STATE_W) as usize);
            let spark = Cell::left(spark::text(row.history, spark_w), 0, s.spark);
            let cells = if wide {
                vec![
                    marker,
                    name,
                    Cell::right(rate, 7, rate_style),
                    Cell::left(per, 5, s.dim),
                    Cell::right(per_sec(row.requests_per_s), 7, s.base),
                    Cell::right(exec, 7, s.base),
                    backlog,
                    Cell::left(state, state_w.max(STATE_W), state_style),
                    spark,
                ]
            } else {
                vec![
                    marker,
                    name,
                    Cell::right(format!("{rate}{per}"), 9, rate_style),
                    Cell::left(state, state_w.max(8), state_style),
                    Cell::right(exec, 6, s.base),
                    backlog,
                    spark,
                ]
            };
            let row_style = if selected { s.selected } else { s.base };
            draw_row(buf, inner, y, &cells, row_style);
            if selected {
                // Keep the selection visible over the cell styles.
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
    fn rows_show_rate_state_and_selection_scrolls() {
        let hist = [1, 2, 4, 8, 4, 2, 1, 0];
        let rows: Vec<ThrottleRow> = (0..6)
            .map(|i| ThrottleRow {
                name: [
                    "user_rate",
                    "messages",
                    "login",
                    "post",
                    "a_very_long_throttle_name",
                    "x",
                ][i],
                rate: match i {
                    0 => Rate::Finite(6000),
                    1 => Rate::Infinity,
                    2 => Rate::Unknown,
                    _ => Rate::Finite(i as u64 * 100),
                },
                interval_ms: if i == 2 { None } else { Some(60_000) },
                requests_per_s: 10.0 * i as f64,
                executes_per_s: 9.5 * i as f64,
                backlog: i as u64,
                state: match i {
                    3 => ThrottleState::Paused,
                    4 => ThrottleState::Ramping {
                        to: Some(1200),
                        left_s: Some(25),
                    },
                    _ => ThrottleState::Running,
                },
                pending: (i == 5).then(|| "→700".to_owned()),
                history: &hist,
            })
            .collect();
        let styles = Styles::default();
        let table = ThrottleTable {
            rows: &rows,
            selected: Some(5),
            focused: true,
            styles: &styles,
            total: 0,
        };
        let text = render_text(table, 90, 6);
        insta::assert_snapshot!(text);
        assert!(text.contains("→700"), "pending change shown");
        assert!(!text.contains("user_rate"), "scrolled past the first row");
        let narrow = ThrottleTable {
            rows: &rows,
            selected: Some(0),
            focused: false,
            styles: &styles,
            total: 6,
        };
        let text = render_text(narrow, 50, 6);
        insta::assert_snapshot!("narrow", text);
        assert!(text.contains("▶ user_rate    6000/1m running"), "{text}");
    }
}
