//! The latency pane: one row per span prefix with its stop count, recent rate and duration
//! percentiles in human units, since the start and over a rolling window (the last 10 s).

use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::widgets::Widget;

use crate::fmt::{count, per_sec, truncate_start};
use crate::table::{Cell, draw_row, draw_table};
use crate::{Styles, pane};

/// One span prefix. Durations are in microseconds.
#[derive(Clone, Debug, Default)]
pub struct LatencyRow<'a> {
    /// Dotted prefix, e.g. `http.request`.
    pub name: &'a str,
    /// Completed spans (stop events).
    pub count: u64,
    /// Recent stops per second.
    pub per_s: f64,
    pub p50_us: u64,
    pub p90_us: u64,
    pub p99_us: u64,
    pub max_us: u64,
    /// Spans that ended in an exception.
    pub exceptions: u64,
    /// p50 and p99 over the rolling window ([`LatencyTable::window_s`]); `None` when no span
    /// ended in it.
    pub recent_p50_us: Option<u64>,
    pub recent_p99_us: Option<u64>,
}

/// The latency table (rows in the order given; the caller sorts).
pub struct LatencyTable<'a> {
    pub rows: &'a [LatencyRow<'a>],
    /// The rolling window's length in seconds (the `p50 10s` and `p99 10s` columns).
    pub window_s: u64,
    pub focused: bool,
    pub styles: &'a Styles,
}

/// A duration in µs in at most six columns: `850µs`, `1.25ms`, `12.5ms`, `250ms`, `1.50s`,
/// `12.5s`, `4m05s`, `2h10m`. Digits are truncated, never rounded up into the next unit.
pub fn micros(us: u64) -> String {
    match us {
        0..=999 => format!("{us}µs"),
        1_000..=9_999 => format!("{}.{:02}ms", us / 1_000, us % 1_000 / 10),
        10_000..=99_999 => format!("{}.{}ms", us / 1_000, us % 1_000 / 100),
        100_000..=999_999 => format!("{}ms", us / 1_000),
        1_000_000..=9_999_999 => format!("{}.{:02}s", us / 1_000_000, us % 1_000_000 / 10_000),
        10_000_000..=59_999_999 => format!("{}.{}s", us / 1_000_000, us % 1_000_000 / 100_000),
        60_000_000..=3_599_999_999 => {
            let s = us / 1_000_000;
            format!("{}m{:02}s", s / 60, s % 60)
        }
        _ => {
            let m = us / 60_000_000;
            format!("{}h{:02}m", m / 60, m % 60)
        }
    }
}

/// Columns after the name, and which of them give way (`exc`, then `p90`, then the rolling
/// window's pair) on narrow panes.
const COL_W: u16 = 6;
/// The rolling window's columns (`p99 10s`).
const WIN_W: u16 = 7;
/// The name keeps at least this many columns before optional figures are dropped.
const MIN_NAME_W: u16 = 12;
/// Wider panes leave blank space on the right rather than stretch the name column.
const MAX_NAME_W: u16 = 40;

impl Widget for LatencyTable<'_> {
    fn render(self, area: Rect, buf: &mut Buffer) {
        let s = self.styles;
        let title = format!("Latency ({})", self.rows.len());
        let block = pane::block(&title, self.focused, s);
        let inner = block.inner(area);
        block.render(area, buf);
        if inner.height == 0 {
            return;
        }
        // count, /s, p50, p99, max always; then, while the name keeps MIN_NAME_W, the
        // rolling window's p50 and p99, p90, exc.
        let fixed = 5 * (COL_W + 1);
        let room = inner.width.saturating_sub(fixed);
        let win_need = 2 * (WIN_W + 1);
        let show_win = room >= MIN_NAME_W + win_need;
        let after_win = room.saturating_sub(if show_win { win_need } else { 0 });
        let show_p90 = after_win > MIN_NAME_W + COL_W;
        let show_exc = after_win >= MIN_NAME_W + 2 * (COL_W + 1);
        let extra = (show_p90 as u16 + show_exc as u16) * (COL_W + 1);
        let name_w = after_win.saturating_sub(extra).clamp(4, MAX_NAME_W);
        let win_p50 = format!("p50 {}s", self.window_s);
        let win_p99 = format!("p99 {}s", self.window_s);

        let mut header = vec![
            Cell::left("span", name_w, s.header),
            Cell::right("count", COL_W, s.header),
            Cell::right("/s", COL_W, s.header),
        ];
        if show_win {
            header.push(Cell::right(win_p50, WIN_W, s.header));
            header.push(Cell::right(win_p99, WIN_W, s.header));
        }
        header.push(Cell::right("p50", COL_W, s.header));
        if show_p90 {
            header.push(Cell::right("p90", COL_W, s.header));
        }
        header.push(Cell::right("p99", COL_W, s.header));
        header.push(Cell::right("max", COL_W, s.header));
        if show_exc {
            header.push(Cell::right("exc", COL_W, s.header));
        }
        draw_table(
            buf,
            inner,
            &header,
            self.rows,
            Some("no span yet"),
            (s.dim, s.base),
            |buf, row, y| {
                let name = row.name.strip_prefix("amoc.").unwrap_or(row.name);
                let mut cells = vec![
                    Cell::left(truncate_start(name, name_w as usize), name_w, s.base),
                    Cell::right(count(row.count), COL_W, s.base),
                    Cell::right(per_sec(row.per_s), COL_W, s.dim),
                ];
                if show_win {
                    let recent = |us: Option<u64>| us.map_or_else(|| "–".to_owned(), micros);
                    cells.push(Cell::right(recent(row.recent_p50_us), WIN_W, s.accent));
                    cells.push(Cell::right(recent(row.recent_p99_us), WIN_W, s.accent));
                }
                cells.push(Cell::right(micros(row.p50_us), COL_W, s.accent));
                if show_p90 {
                    cells.push(Cell::right(micros(row.p90_us), COL_W, s.accent));
                }
                cells.push(Cell::right(micros(row.p99_us), COL_W, s.accent));
                cells.push(Cell::right(micros(row.max_us), COL_W, s.base));
                if show_exc {
                    let style = if row.exceptions > 0 { s.warn } else { s.dim };
                    cells.push(Cell::right(count(row.exceptions), COL_W, style));
                }
                draw_row(buf, inner, y, &cells, s.base);
            },
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_util::render_text;

    fn rows() -> Vec<LatencyRow<'static>> {
        vec![
            LatencyRow {
                name: "http.request",
                count: 123_456,
                per_s: 812.4,
                p50_us: 850,
                p90_us: 4_321,
                p99_us: 25_600,
                max_us: 1_250_000,
                exceptions: 0,
                recent_p50_us: Some(1_020),
                recent_p99_us: Some(48_300),
            },
            LatencyRow {
                name: "amoc.scenario.start",
                count: 14,
                per_s: 0.5,
                p50_us: 4_603_903,
                p90_us: 5_459_967,
                p99_us: 5_482_845,
                max_us: 5_482_845,
                exceptions: 2,
                recent_p50_us: None,
                recent_p99_us: None,
            },
            LatencyRow {
                name: "db.query",
                count: 3,
                per_s: 0.0,
                p50_us: 3,
                p90_us: 3,
                p99_us: 3,
                max_us: 3,
                exceptions: 0,
                recent_p50_us: Some(3),
                recent_p99_us: Some(3),
            },
        ]
    }

    #[test]
    fn human_units() {
        assert_eq!(micros(0), "0µs");
        assert_eq!(micros(999), "999µs");
        assert_eq!(micros(1_000), "1.00ms");
        assert_eq!(micros(9_999), "9.99ms");
        assert_eq!(micros(12_345), "12.3ms");
        assert_eq!(micros(999_999), "999ms");
        assert_eq!(micros(1_500_000), "1.50s");
        assert_eq!(micros(59_999_999), "59.9s");
        assert_eq!(micros(245_000_000), "4m05s");
        assert_eq!(micros(7_800_000_000), "2h10m");
        for us in [
            0,
            999,
            9_999,
            99_999,
            999_999,
            9_999_999,
            59_999_999,
            3_599_999_999,
        ] {
            assert!(micros(us).chars().count() <= 6, "{us}: {}", micros(us));
        }
    }

    /// The sample rows in a pane of `width` x `height`, with a 10 s rolling window.
    fn table_text(width: u16, height: u16) -> String {
        let styles = Styles::default();
        let rows = rows();
        let t = LatencyTable {
            rows: &rows,
            window_s: 10,
            focused: false,
            styles: &styles,
        };
        render_text(t, width, height)
    }

    #[test]
    fn wide_pane_shows_every_column() {
        let text = table_text(88, 6);
        insta::assert_snapshot!(text);
        assert!(text.contains("p90") && text.contains("exc"));
        assert!(text.contains("p50 10s") && text.contains("p99 10s"));
        assert!(text.contains("scenario.start"));
        assert!(text.contains("850µs") && text.contains("1.25s"));
        // The rolling window's figures, and a dash where no span ended in it.
        assert!(text.contains("1.02ms") && text.contains("48.3ms"));
        let quiet = text
            .lines()
            .find(|l| l.contains("scenario.start"))
            .unwrap_or("");
        assert_eq!(quiet.matches('–').count(), 2, "{quiet}");
    }

    #[test]
    fn narrow_pane_drops_p90_and_marks_overflow() {
        let text = table_text(50, 5);
        insta::assert_snapshot!(text);
        assert!(!text.contains("p90") && !text.contains("10s"));
        assert!(text.contains("p99"));
        assert!(text.contains("… 2 more"));
    }

    #[test]
    fn medium_pane_keeps_the_rolling_window_before_p90_and_exc() {
        let text = table_text(66, 5);
        assert!(
            text.contains("p50 10s") && text.contains("p99 10s"),
            "{text}"
        );
        assert!(!text.contains("exc"), "{text}");
    }

    #[test]
    fn empty_table_says_so() {
        let styles = Styles::default();
        let t = LatencyTable {
            rows: &[],
            window_s: 10,
            focused: false,
            styles: &styles,
        };
        assert!(render_text(t, 50, 4).contains("no span yet"));
    }
}
