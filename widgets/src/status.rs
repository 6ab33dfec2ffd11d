//! The status bar: mode, elapsed event time, event rate, drops, and key hints.

use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::Widget;

use crate::Styles;
use crate::fmt::{count, elapsed, per_sec};

/// A key hint: the key as the user types it and what it does.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyHint {
    pub key: String,
    pub label: String,
}

/// One-line status bar.
pub struct StatusBar<'a> {
    /// `LIVE`, `REPLAY 2x`, `REPLAY paused` …
    pub mode: &'a str,
    /// Seconds of event time since the first event.
    pub elapsed_s: f64,
    pub events_per_s: f64,
    pub events_total: u64,
    /// Events the monitor could not keep (its queue was full, or the recorder's).
    pub dropped: u64,
    /// Telemetry handlers that failed (and were detached).
    pub failures: u64,
    /// Extra notice (a command error, the theme name); drawn before the hints.
    pub notice: Option<&'a str>,
    pub hints: &'a [KeyHint],
    pub styles: &'a Styles,
}

impl Widget for StatusBar<'_> {
    fn render(self, area: Rect, buf: &mut Buffer) {
        if area.height == 0 {
            return;
        }
        let s = self.styles;
        buf.set_style(area, s.status);
        let mut spans = vec![
            Span::styled(format!(" {} ", self.mode), s.key),
            Span::raw(format!(
                " {}  {} ev  {} ev/s ",
                elapsed(self.elapsed_s),
                count(self.events_total),
                per_sec(self.events_per_s)
            )),
        ];
        if self.dropped > 0 {
            spans.push(Span::styled(
                format!(" dropped {} ", count(self.dropped)),
                s.error,
            ));
        }
        if self.failures > 0 {
            spans.push(Span::styled(
                format!(" handler failures {} ", count(self.failures)),
                s.error,
            ));
        }
        if let Some(n) = self.notice {
            spans.push(Span::styled(format!(" {n} "), s.notice));
        }
        spans.push(Span::raw(" │"));
        for h in self.hints {
            spans.push(Span::styled(format!(" {}", h.key), s.key));
            spans.push(Span::raw(format!(" {}", h.label)));
        }
        // Whole hints only: one that does not fit is left out, and `…` says so.
        let width = area.width as usize;
        let mut used = 0;
        let mut kept = Vec::with_capacity(spans.len());
        let mut cut = false;
        for sp in spans {
            let w = sp.width();
            if used + w > width.saturating_sub(1) {
                cut = true;
                break;
            }
            used += w;
            kept.push(sp);
        }
        if cut {
            // A hint's key without its label is useless: drop a dangling key.
            if kept.last().is_some_and(|sp| sp.style == s.key) {
                kept.pop();
            }
            kept.push(Span::raw(" …"));
        }
        let line = Line::from(kept).style(s.status);
        buf.set_line(area.x, area.y, &line, area.width);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_util::render_text;

    #[test]
    fn shows_mode_rate_drops_and_hints() {
        let styles = Styles::default();
        let hints = vec![
            KeyHint {
                key: "q".into(),
                label: "quit".into(),
            },
            KeyHint {
                key: "?".into(),
                label: "help".into(),
            },
        ];
        let bar = StatusBar {
            mode: "LIVE",
            elapsed_s: 75.2,
            events_per_s: 1520.0,
            events_total: 123_456,
            dropped: 3,
            failures: 1,
            notice: None,
            hints: &hints,
            styles: &styles,
        };
        let text = render_text(bar, 80, 1);
        insta::assert_snapshot!(text);
        assert!(text.contains("dropped 3"));
        assert!(text.contains("handler failures 1"));
        assert!(text.contains("? help"));
    }
}
