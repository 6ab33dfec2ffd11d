//! The HTTP pane (a load of a URL): requests and their rate, status codes, errors by class,
//! latency (from the due instant) and service time (from the send) over a rolling window and
//! since the start, bytes, late starts and the backlog, with sparklines of requests/s and of
//! latency p99 per second.

use ratatui::buffer::Buffer;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Sparkline, Widget};

use crate::fmt::{count, per_sec};
use crate::latency::micros;
use crate::{Styles, pane};

/// A duration, or `–` when there is none (no request answered): never a made-up `0µs`.
fn maybe_micros(us: Option<u64>) -> String {
    us.map_or_else(|| "–".to_owned(), micros)
}

/// What the pane shows. Durations are in µs.
#[derive(Clone, Debug, Default)]
pub struct HttpData<'a> {
    /// Answered plus failed.
    pub requests: u64,
    /// Recent requests per second.
    pub per_s: f64,
    /// Sent, not yet answered.
    pub in_flight: u64,
    /// Answers by status code, in the order to show (most first).
    pub status: &'a [(u16, u64)],
    /// Failures by class name, in the order to show.
    pub errors: &'a [(&'a str, u64)],
    /// Latency percentiles over the last `window_s` seconds; `None` (shown as `–`) when no
    /// request was answered in it.
    pub window_s: u64,
    pub window_p50_us: Option<u64>,
    pub window_p99_us: Option<u64>,
    /// Latency (from the due instant) since the start; `None` until a request is answered.
    pub latency_p50_us: Option<u64>,
    pub latency_p99_us: Option<u64>,
    /// Service time (from the send) since the start; `None` until a request is answered.
    pub service_p50_us: Option<u64>,
    pub service_p99_us: Option<u64>,
    pub bytes_in: u64,
    /// Recent response bytes per second.
    pub bytes_in_per_s: f64,
    pub bytes_out: u64,
    /// Requests that started late (their users were all busy when they came due).
    pub late_starts: u64,
    /// Requests due and not yet started.
    pub backlog: u64,
    /// The users cannot serve the backlog: it keeps growing or reached its bound.
    pub backlog_unserved: bool,
    /// Requests per second, oldest first.
    pub rate_history: &'a [u64],
    /// Latency p99 per second (µs), oldest first.
    pub p99_history: &'a [u64],
}

/// The HTTP pane.
pub struct HttpPane<'a> {
    pub data: &'a HttpData<'a>,
    pub focused: bool,
    pub styles: &'a Styles,
}

/// Lines the pane shows at most (its height is this plus 2 for the border).
pub const HTTP_LINES: u16 = 8;

/// Bytes in at most six columns: `999B`, `12.3kB`, `4.5MB`, `1.2GB`.
pub fn bytes(n: u64) -> String {
    match n {
        0..=999 => format!("{n}B"),
        1_000..=999_999 => format!("{:.1}kB", n as f64 / 1e3),
        1_000_000..=999_999_999 => format!("{:.1}MB", n as f64 / 1e6),
        _ => format!("{:.1}GB", n as f64 / 1e9),
    }
}

fn status_style(code: u16, s: &Styles) -> Style {
    match code {
        200..=299 => s.ok,
        400..=499 => s.warn,
        500..=599 => s.error,
        _ => s.base,
    }
}

/// Text columns the figures need; wider panes get the sparklines beside them.
const TEXT_W: u16 = 60;
/// The narrowest sparkline column worth drawing.
const MIN_SPARK_W: u16 = 12;

impl HttpPane<'_> {
    fn lines(&self) -> Vec<Line<'static>> {
        let (d, s) = (self.data, self.styles);
        let label = |t: &str| Span::styled(format!("{t:<9}"), s.dim);
        let mut lines = Vec::new();
        lines.push(Line::from(vec![
            label("requests"),
            Span::styled(count(d.requests), s.accent),
            Span::styled(format!("  {}/s", per_sec(d.per_s)), s.base),
            Span::styled("  in flight ", s.dim),
            Span::styled(count(d.in_flight), s.base),
        ]));
        if d.backlog_unserved {
            lines.push(Line::styled(
                format!(
                    "⚠ backlog {} unserved: users cannot keep up (raise --users)",
                    count(d.backlog)
                ),
                s.error,
            ));
        }
        let mut status = vec![label("status")];
        if d.status.is_empty() {
            status.push(Span::styled("none yet", s.dim));
        }
        for (code, n) in d.status {
            status.push(Span::styled(format!("{code} "), status_style(*code, s)));
            status.push(Span::styled(format!("{}  ", count(*n)), s.base));
        }
        lines.push(Line::from(status));
        let mut errors = vec![label("errors")];
        for (class, n) in d.errors {
            let style = if *n > 0 { s.error } else { s.dim };
            errors.push(Span::styled(format!("{class} "), s.dim));
            errors.push(Span::styled(format!("{}  ", count(*n)), style));
        }
        lines.push(Line::from(errors));
        lines.push(Line::from(vec![
            label("latency"),
            Span::styled(
                format!("p50 {:>6}", maybe_micros(d.window_p50_us)),
                s.accent,
            ),
            Span::styled(
                format!(" p99 {:>6}", maybe_micros(d.window_p99_us)),
                s.accent,
            ),
            Span::styled(format!(" ({} s)", d.window_s), s.dim),
            Span::styled("  all ", s.dim),
            Span::styled(
                format!(
                    "{} / {}",
                    maybe_micros(d.latency_p50_us),
                    maybe_micros(d.latency_p99_us)
                ),
                s.base,
            ),
        ]));
        lines.push(Line::from(vec![
            label("service"),
            Span::styled(format!("p50 {:>6}", maybe_micros(d.service_p50_us)), s.base),
            Span::styled(
                format!(" p99 {:>6}", maybe_micros(d.service_p99_us)),
                s.base,
            ),
            Span::styled("  (from the send)", s.dim),
        ]));
        let late_style = if d.late_starts > 0 { s.warn } else { s.dim };
        let backlog_style = match (d.backlog_unserved, d.backlog) {
            (true, _) => s.error,
            (false, 0) => s.dim,
            _ => s.warn,
        };
        lines.push(Line::from(vec![
            label("late"),
            Span::styled(count(d.late_starts), late_style),
            Span::styled(" starts  backlog ", s.dim),
            Span::styled(count(d.backlog), backlog_style),
        ]));
        lines.push(Line::from(vec![
            label("bytes"),
            Span::styled("in ", s.dim),
            Span::styled(bytes(d.bytes_in), s.base),
            Span::styled(
                format!(" {}/s", bytes(d.bytes_in_per_s.max(0.0) as u64)),
                s.dim,
            ),
            Span::styled("  out ", s.dim),
            Span::styled(bytes(d.bytes_out), s.base),
        ]));
        lines
    }
}

impl Widget for HttpPane<'_> {
    fn render(self, area: Rect, buf: &mut Buffer) {
        let s = self.styles;
        let block = pane::block("HTTP", self.focused, s);
        let inner = block.inner(area);
        block.render(area, buf);
        if inner.height == 0 {
            return;
        }
        let spark_w = inner.width.saturating_sub(TEXT_W + 1);
        let (text_area, spark_area) = if spark_w >= MIN_SPARK_W {
            let [t, _, g] = Layout::horizontal([
                Constraint::Length(TEXT_W),
                Constraint::Length(1),
                Constraint::Fill(1),
            ])
            .areas(inner);
            (t, Some(g))
        } else {
            (inner, None)
        };
        for (i, line) in self.lines().into_iter().enumerate() {
            if i as u16 >= text_area.height {
                break;
            }
            buf.set_line(text_area.x, text_area.y + i as u16, &line, text_area.width);
        }
        let Some(g) = spark_area else {
            return;
        };
        let d = self.data;
        let half = g.height / 2;
        let [rate_label, rate_spark, p99_label, p99_spark] = Layout::vertical([
            Constraint::Length(1),
            Constraint::Length(half.saturating_sub(1)),
            Constraint::Length(1),
            Constraint::Fill(1),
        ])
        .areas(g);
        let peak = |v: &[u64]| v.iter().copied().max().unwrap_or(0);
        let w = g.width as usize;
        let rate_tail = &d.rate_history[d.rate_history.len().saturating_sub(w)..];
        let p99_tail = &d.p99_history[d.p99_history.len().saturating_sub(w)..];
        buf.set_line(
            rate_label.x,
            rate_label.y,
            &Line::styled(
                format!("requests/s (peak {})", count(peak(rate_tail))),
                s.dim,
            ),
            rate_label.width,
        );
        Sparkline::default()
            .data(rate_tail)
            .style(s.spark)
            .render(rate_spark, buf);
        buf.set_line(
            p99_label.x,
            p99_label.y,
            &Line::styled(
                format!("latency p99 (peak {})", micros(peak(p99_tail))),
                s.dim,
            ),
            p99_label.width,
        );
        Sparkline::default()
            .data(p99_tail)
            .style(s.accent)
            .render(p99_spark, buf);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_util::render_text;

    fn data<'a>(
        status: &'a [(u16, u64)],
        errors: &'a [(&'a str, u64)],
        rates: &'a [u64],
        p99: &'a [u64],
    ) -> HttpData<'a> {
        HttpData {
            requests: 123_456,
            per_s: 4_980.0,
            in_flight: 50,
            status,
            errors,
            window_s: 10,
            window_p50_us: Some(1_250),
            window_p99_us: Some(905_000),
            latency_p50_us: Some(1_100),
            latency_p99_us: Some(850_000),
            service_p50_us: Some(900),
            service_p99_us: Some(4_200),
            bytes_in: 12_345_678,
            bytes_in_per_s: 612_000.0,
            bytes_out: 0,
            late_starts: 4_321,
            backlog: 0,
            backlog_unserved: false,
            rate_history: rates,
            p99_history: p99,
        }
    }

    const STATUS: [(u16, u64); 3] = [(200, 120_000), (404, 3_000), (503, 456)];
    const ERRORS: [(&str, u64); 4] = [("connect", 0), ("timeout", 12), ("tls", 0), ("other", 0)];

    #[test]
    fn bytes_fit_six_columns() {
        assert_eq!(bytes(999), "999B");
        assert_eq!(bytes(12_345), "12.3kB");
        assert_eq!(bytes(4_500_000), "4.5MB");
        assert_eq!(bytes(1_200_000_000), "1.2GB");
    }

    #[test]
    fn wide_pane_shows_figures_and_sparklines() {
        let styles = Styles::default();
        let rates: Vec<u64> = (0..40).map(|i| 4_000 + i * 25).collect();
        let p99: Vec<u64> = (0..40)
            .map(|i| if i == 30 { 905_000 } else { 4_000 })
            .collect();
        let d = data(&STATUS, &ERRORS, &rates, &p99);
        let text = render_text(
            HttpPane {
                data: &d,
                focused: false,
                styles: &styles,
            },
            100,
            10,
        );
        insta::assert_snapshot!(text);
        assert!(text.contains("123k") && text.contains("4980/s"), "{text}");
        assert!(text.contains("200 120k") && text.contains("503 456"));
        assert!(text.contains("timeout 12"));
        assert!(text.contains("p99  905ms") && text.contains("(10 s)"));
        assert!(text.contains("4321 starts"));
        assert!(text.contains("12.3MB") && text.contains("612.0kB/s"));
        assert!(text.contains("latency p99 (peak 905ms)"));
    }

    #[test]
    fn an_unserved_backlog_is_said_and_narrow_panes_drop_the_sparklines() {
        let styles = Styles::default();
        let mut d = data(&STATUS, &ERRORS, &[], &[]);
        d.backlog = 25_000;
        d.backlog_unserved = true;
        let text = render_text(
            HttpPane {
                data: &d,
                focused: false,
                styles: &styles,
            },
            60,
            10,
        );
        insta::assert_snapshot!(text);
        assert!(text.contains("⚠ backlog 25000 unserved"), "{text}");
        assert!(!text.contains("requests/s"));
    }
}
