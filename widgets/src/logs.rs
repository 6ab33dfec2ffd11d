//! Configuration warnings and engine log-shaped events (level + message), newest last.

use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::Widget;

use crate::Styles;
use crate::fmt::{elapsed, truncate};

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

/// The newest lines that fit, oldest at the top (no border: the caller frames it), or older
/// ones when scrolled back. A line too long for the width ends in `…`.
pub struct WarningList<'a> {
    pub lines: &'a [WarningLine<'a>],
    /// Total lines, which may be more than `lines`.
    pub total: u64,
    /// Rows scrolled back from the newest (clamped).
    pub offset: usize,
    /// Show the source column.
    pub sources: bool,
    /// What to say when there is no line.
    pub empty: &'a str,
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
                &Line::styled(truncate(self.empty, area.width as usize), s.dim),
                area.width,
            );
            return;
        }
        let height = area.height as usize;
        let offset = self.offset.min(self.lines.len().saturating_sub(height));
        let end = self.lines.len() - offset;
        let start = end.saturating_sub(height);
        for (i, w) in self.lines[start..end].iter().enumerate() {
            let style = match w.severity {
                Severity::Error => s.error,
                Severity::Warning => s.warn,
                Severity::Info => s.base,
            };
            let mut spans = vec![
                Span::styled(format!("{:>6} ", elapsed(w.at_s)), s.dim),
                Span::styled(format!("{:<7} ", w.level), style),
            ];
            if self.sources {
                spans.push(Span::styled(format!("{} ", w.source), s.accent));
            }
            let used: usize = spans.iter().map(|sp| sp.width()).sum();
            let room = (area.width as usize).saturating_sub(used);
            spans.push(Span::styled(truncate(w.message, room), s.base));
            buf.set_line(area.x, area.y + i as u16, &Line::from(spans), area.width);
        }
        let older = self.total.saturating_sub((end - start + offset) as u64);
        let mut tags = Vec::new();
        if older > 0 {
            tags.push(format!("+{older} older"));
        }
        if offset > 0 {
            tags.push(format!("↓{offset} newer"));
        }
        let tag = tags.join(" ");
        if !tag.is_empty() && area.width as usize > tag.chars().count() + 12 {
            let x = area.right().saturating_sub(tag.chars().count() as u16);
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
            offset: 0,
            sources: true,
            empty: "no warnings",
            styles: &styles,
        };
        let text = render_text(w, 70, 2);
        insta::assert_snapshot!(text);
        assert!(text.contains("cannot parse"));
        assert!(text.contains("+3 older"));
    }

    #[test]
    fn scrolls_back_and_cuts_with_an_ellipsis() {
        let styles = Styles::default();
        let msgs: Vec<String> = (0..30)
            .map(|i| format!("warning number {i} is here"))
            .collect();
        let lines: Vec<WarningLine> = msgs
            .iter()
            .map(|m| WarningLine {
                at_s: 1.0,
                severity: Severity::Warning,
                level: "warning",
                source: "config.env",
                message: m,
            })
            .collect();
        let list = |offset| WarningList {
            lines: &lines,
            total: 30,
            offset,
            sources: true,
            empty: "",
            styles: &styles,
        };
        let newest = render_text(list(0), 60, 3);
        assert!(newest.contains("warning number 29 is here"), "{newest}");
        let back = render_text(list(27), 60, 3);
        assert!(back.contains("warning number 0 is here"), "{back}");
        assert!(back.contains("↓27 newer"), "{back}");
        assert!(!back.contains("number 29"), "{back}");
        let narrow = render_text(list(0), 40, 3);
        assert!(narrow.contains("warning numbe…"), "{narrow}");
    }
}
