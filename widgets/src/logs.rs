//! Configuration warnings and engine log-shaped events (level + message), newest last.

use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::Widget;

use crate::Styles;
use crate::fmt::elapsed;

/// How serious a warning line is (drives its style).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Severity {
    Error,
    Warning,
    Info,
}

/// One warning: event time in seconds, severity, the level as the engine spelled it, source and
/// message.
#[derive(Clone, Debug)]
pub struct WarningLine<'a> {
    pub at_s: f64,
    pub severity: Severity,
    pub level: &'a str,
    pub source: &'a str,
    pub message: &'a str,
}

/// The newest warnings that fit, oldest at the top (no border: the caller frames it).
pub struct WarningList<'a> {
    pub lines: &'a [WarningLine<'a>],
    /// Total warnings, which may be more than `lines`.
    pub total: u64,
    pub styles: &'a Styles,
}

impl Widget for WarningList<'_> {
    fn render(self, area: Rect, buf: &mut Buffer) {
        let s = self.styles;
        if area.height == 0 {
            return;
        }
        if self.lines.is_empty() {
            buf.set_line(
                area.x,
                area.y,
                &Line::styled("no warnings", s.dim),
                area.width,
            );
            return;
        }
        let shown = self.lines.len().min(area.height as usize);
        let skip = self.lines.len() - shown;
        for (i, w) in self.lines[skip..].iter().enumerate() {
            let style = match w.severity {
                Severity::Error => s.error,
                Severity::Warning => s.warn,
                Severity::Info => s.base,
            };
            let line = Line::from(vec![
                Span::styled(format!("{:>6} ", elapsed(w.at_s)), s.dim),
                Span::styled(format!("{:<7} ", w.level), style),
                Span::styled(format!("{} ", w.source), s.accent),
                Span::styled(w.message, s.base),
            ]);
            buf.set_line(area.x, area.y + i as u16, &line, area.width);
        }
        let hidden = self.total.saturating_sub(shown as u64);
        if hidden > 0 && area.width > 12 {
            let tag = format!("+{hidden} older");
            let x = area.right().saturating_sub(tag.len() as u16);
            buf.set_string(x, area.y, tag, s.dim);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_util::render_text;

    #[test]
    fn newest_lines_fit_and_older_are_counted() {
        let styles = Styles::default();
        let lines = [
            WarningLine {
                at_s: 0.03,
                severity: Severity::Error,
                level: "error",
                source: "config.env",
                message: "cannot parse AMOC_POSTS_PER_USER",
            },
            WarningLine {
                at_s: 61.0,
                severity: Severity::Warning,
                level: "warning",
                source: "throttle.process",
                message: "rate too high",
            },
        ];
        let w = WarningList {
            lines: &lines,
            total: 5,
            styles: &styles,
        };
        let text = render_text(w, 70, 2);
        insta::assert_snapshot!(text);
        assert!(text.contains("cannot parse"));
        assert!(text.contains("+3 older"));
    }
}
