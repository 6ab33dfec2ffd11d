//! The status bar: mode, elapsed event time, event rate, drops, and key hints.

use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::Widget;

use crate::Styles;
use crate::fmt::{count, elapsed, per_sec, truncate};

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

/// What the bar says before the hints, in the order it is drawn, each with its rank: on a bar
/// too narrow for all of it the highest ranks give way first (see [`fit`]).
const RANK_MODE: u8 = 0;
const RANK_LOSSES: u8 = 1;
const RANK_NOTICE: u8 = 2;
const RANK_TIME: u8 = 3;

impl Widget for StatusBar<'_> {
    fn render(self, area: Rect, buf: &mut Buffer) {
        if area.height == 0 {
            return;
        }
        let s = self.styles;
        buf.set_style(area, s.status);
        let part = |rank, cut, span| Part { rank, cut, span };
        let mut parts = vec![
            part(
                RANK_MODE,
                true,
                Span::styled(format!(" {} ", self.mode), s.key),
            ),
            part(
                RANK_TIME,
                false,
                Span::raw(format!(
                    " {}  {} ev  {} ev/s ",
                    elapsed(self.elapsed_s),
                    count(self.events_total),
                    per_sec(self.events_per_s)
                )),
            ),
        ];
        if self.dropped > 0 {
            parts.push(part(
                RANK_LOSSES,
                false,
                Span::styled(format!(" dropped {} ", count(self.dropped)), s.error),
            ));
        }
        if self.failures > 0 {
            parts.push(part(
                RANK_LOSSES,
                false,
                Span::styled(
                    format!(" handler failures {} ", count(self.failures)),
                    s.error,
                ),
            ));
        }
        if let Some(n) = self.notice {
            parts.push(part(
                RANK_NOTICE,
                true,
                Span::styled(format!(" {n} "), s.notice),
            ));
        }
        // The last column stays free.
        let room = (area.width as usize).saturating_sub(1);
        let (mut kept, used, whole) = fit(parts, room);
        // The hints only after everything else, whole hints only: one that does not fit is
        // left out, and `…` says so.
        if whole {
            let mut hints = vec![Span::raw(" │")];
            for h in self.hints {
                hints.push(Span::styled(format!(" {}", h.key), s.key));
                hints.push(Span::raw(format!(" {}", h.label)));
            }
            let mut used = used;
            let mut cut = false;
            for sp in hints {
                let w = sp.width();
                if used + w > room {
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
        }
        let line = Line::from(kept).style(s.status);
        buf.set_line(area.x, area.y, &line, area.width);
    }
}

/// One part of the bar before the hints.
struct Part {
    rank: u8,
    /// Text (the mode, the notice) is cut with `…` when it does not fit whole; a figure is
    /// left out whole rather than cut into a wrong number.
    cut: bool,
    span: Span<'static>,
}

/// The parts that fit in `room` columns, most important (lowest rank) first, drawn in their
/// own order. The first text that does not fit whole is cut with `…` to the room left (if two
/// columns or more are), and nothing is added after it; a figure that does not fit is left out
/// and ` …` ends the bar. Returns the spans, the columns they take, and whether every part was
/// kept whole.
fn fit(parts: Vec<Part>, room: usize) -> (Vec<Span<'static>>, usize, bool) {
    let mut order: Vec<usize> = (0..parts.len()).collect();
    order.sort_by_key(|&i| parts[i].rank);
    let mut slots: Vec<Option<Span<'static>>> = vec![None; parts.len()];
    let mut left = room;
    let mut whole = true;
    let mut cut = false;
    for i in order {
        let p = &parts[i];
        let w = p.span.width();
        if w <= left {
            slots[i] = Some(p.span.clone());
            left -= w;
            continue;
        }
        whole = false;
        if p.cut && left >= 2 {
            let text = truncate(&p.span.content, left);
            left -= Span::raw(text.as_str()).width();
            slots[i] = Some(Span::styled(text, p.span.style));
            cut = true;
            break;
        }
    }
    let mut spans: Vec<Span<'static>> = slots.into_iter().flatten().collect();
    if !whole && !cut && left >= 2 {
        spans.push(Span::raw(" …"));
        left -= 2;
    }
    (spans, room - left, whole)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_util::render_text;

    fn hints() -> Vec<KeyHint> {
        [("q", "quit"), ("?", "help"), ("p", "pause")]
            .into_iter()
            .map(|(key, label)| KeyHint {
                key: key.into(),
                label: label.into(),
            })
            .collect()
    }

    /// A bar with the figures of 75 s and 123,456 events, and three key hints, at `width`.
    fn bar(mode: &str, dropped: u64, failures: u64, notice: Option<&str>, width: u16) -> String {
        let styles = Styles::default();
        let hints = hints();
        let bar = StatusBar {
            mode,
            elapsed_s: 75.2,
            events_per_s: 1520.0,
            events_total: 123_456,
            dropped,
            failures,
            notice,
            hints: &hints,
            styles: &styles,
        };
        render_text(bar, width, 1)
    }

    /// The bar of a replay that stopped on an error, with a notice and lost events, at `width`.
    fn narrow(width: u16) -> String {
        bar(
            "REPLAY error (see the log pane)",
            3,
            0,
            Some("theme: high-contrast"),
            width,
        )
    }

    #[test]
    fn a_mode_wider_than_the_bar_is_cut_with_an_ellipsis_not_dropped() {
        let text = narrow(20);
        assert_eq!(text.trim_end(), " REPLAY error (see…");
        assert_eq!(narrow(8).trim_end(), " REPLA…");
        // Too narrow for any of it: nothing, not a lone ellipsis.
        assert_eq!(narrow(2).trim_end(), "");
    }

    #[test]
    fn a_narrow_bar_keeps_the_mode_then_losses_then_the_notice_then_the_figures() {
        // The mode and the lost events fit; the notice is cut; the time is left out.
        let text = narrow(60);
        insta::assert_snapshot!("narrow_60", text);
        assert!(
            text.starts_with(" REPLAY error (see the log pane)  dropped 3  theme: high-c…"),
            "{text}"
        );
        assert!(!text.contains("ev/s") && !text.contains("quit"), "{text}");
        // Wide enough for all but the time: the figures give way whole, and ` …` says so.
        let text = bar("LIVE 0:42 left", 0, 2, None, 40);
        insta::assert_snapshot!("narrow_40_figures_left_out", text);
        assert_eq!(text.trim_end(), " LIVE 0:42 left  handler failures 2  …");
        // Everything fits: drawn in its own order, with the hints.
        let text = narrow(120);
        assert!(
            text.starts_with(
                " REPLAY error (see the log pane)  1:15  123k ev  1520 ev/s  dropped 3  \
                 theme: high-contrast  │ q quit ? help p pause"
            ),
            "{text}"
        );
    }

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
