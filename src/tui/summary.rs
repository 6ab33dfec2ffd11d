//! The short, human-readable summary printed on the normal screen when the monitor quits (as
//! oha does): users, throttles, latency per span, and any extra sections (thresholds plug in
//! here with [`FinalSummary::section`]).

use std::fmt::Write as _;
use std::io::Write as _;

use rookery_widgets::fmt::{count, elapsed};

use crate::monitor::{MonitorState, RateReading};

/// A summary being put together; [`Display`](std::fmt::Display) renders it.
pub struct FinalSummary<'a> {
    state: &'a MonitorState,
    /// `FINISHED`, `stopped at 0:42` …
    headline: String,
    sections: Vec<(String, Vec<String>)>,
}

/// Span latency (µs) as the screen shows it: µs, ms or s.
fn latency(us: u64) -> String {
    match us {
        0..1_000 => format!("{us}µs"),
        1_000..1_000_000 => format!("{:.1}ms", us as f64 / 1e3),
        _ => format!("{:.2}s", us as f64 / 1e6),
    }
}

impl<'a> FinalSummary<'a> {
    /// A summary of `state` under `headline` (what ended: `live run`, `replay` …).
    pub fn new(state: &'a MonitorState, headline: impl Into<String>) -> FinalSummary<'a> {
        FinalSummary {
            state,
            headline: headline.into(),
            sections: Vec::new(),
        }
    }

    /// Adds a section of lines after the built-in ones (thresholds, a report path …).
    pub fn section(mut self, title: impl Into<String>, lines: Vec<String>) -> FinalSummary<'a> {
        self.sections.push((title.into(), lines));
        self
    }

    /// Prints it on stdout; a closed or full stdout is not an error worth failing for.
    pub fn print(&self) {
        let mut out = std::io::stdout().lock();
        let _ = write!(out, "{self}");
        let _ = out.flush();
    }
}

impl std::fmt::Display for FinalSummary<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let s = self.state;
        let secs = s.duration_s();
        let rate = if secs > 0.0 {
            s.events() as f64 / secs
        } else {
            0.0
        };
        writeln!(
            f,
            "rookery: {} after {} — {} events ({:.1}/s)",
            self.headline,
            elapsed(secs),
            count(s.events()),
            rate
        )?;
        let u = s.users();
        writeln!(
            f,
            "  users       {} added, {} removed, {} started, {} failed, {} still running",
            u.added,
            u.removed,
            u.started,
            u.exceptions,
            u.running().max(0)
        )?;
        if u.lost > 0 {
            writeln!(
                f,
                "              {} lost with a node that went down (not counted as running)",
                u.lost
            )?;
        }
        let nodes = s.nodes();
        if !nodes.is_empty() {
            let down = nodes.iter().filter(|n| !n.up).count();
            writeln!(f, "  nodes       {} ({} down)", nodes.len(), down)?;
        }
        let throttles: Vec<_> = s.throttles().collect();
        if !throttles.is_empty() {
            writeln!(
                f,
                "  throttles   name                 rate      requests   executes"
            )?;
            for t in throttles {
                let rate = match t.rate() {
                    None => "?".to_owned(),
                    Some(RateReading::Infinity) => "∞".to_owned(),
                    Some(RateReading::Finite(r)) => {
                        let per = t
                            .interval_ms()
                            .map(|ms| rookery_widgets::fmt::interval_ms(ms.max(0) as u64))
                            .unwrap_or_default();
                        format!("{}/{per}", r.max(0.0).round() as u64)
                    }
                };
                writeln!(
                    f,
                    "              {:<20} {:<9} {:>9} {:>10}",
                    cut(t.name(), 20),
                    rate,
                    t.requests(),
                    t.executes()
                )?;
            }
        }
        let spans = s.spans();
        if !spans.is_empty() {
            writeln!(
                f,
                "  latency     span                    count     p50     p90     p99     max  exc"
            )?;
            for sp in spans {
                let mut line = String::new();
                let _ = write!(
                    line,
                    "              {:<22} {:>7} {:>7} {:>7} {:>7} {:>7} {:>4}",
                    cut(sp.name(), 22),
                    sp.count(),
                    latency(sp.quantile_us(0.50)),
                    latency(sp.quantile_us(0.90)),
                    latency(sp.quantile_us(0.99)),
                    latency(sp.max_us()),
                    sp.exceptions()
                );
                writeln!(f, "{line}")?;
            }
        }
        if let Some(h) = s.http() {
            http_lines(f, &h.summary())?;
        }
        if s.warnings_total() > 0 || s.handler_failures() > 0 {
            writeln!(
                f,
                "  warnings    {} ({} handler failures)",
                s.warnings_total(),
                s.handler_failures()
            )?;
        }
        let lost = s.dropped() + s.recorder_dropped();
        if lost > 0 {
            writeln!(f, "  lost        {lost} events (monitor queue or recorder)")?;
        }
        for (title, lines) in &self.sections {
            for (i, l) in lines.iter().enumerate() {
                let head = if i == 0 { title.as_str() } else { "" };
                writeln!(f, "  {head:<11} {l}")?;
            }
        }
        Ok(())
    }
}

/// `rookery http`'s requests: outcome, then latency (from the due instant) beside service
/// time (from the send), as the headless summary's `http` key has them.
fn http_lines(
    f: &mut std::fmt::Formatter<'_>,
    h: &crate::monitor::HttpSummary,
) -> std::fmt::Result {
    let status: Vec<String> = h.status.iter().map(|(c, n)| format!("{c} {n}")).collect();
    let errors: Vec<String> = h
        .errors
        .iter()
        .filter(|(_, n)| **n > 0)
        .map(|(c, n)| format!("{c} {n}"))
        .collect();
    writeln!(
        f,
        "  http        {} requests; status {}; errors {}; {} late starts",
        h.requests,
        if status.is_empty() {
            "none".to_owned()
        } else {
            status.join(", ")
        },
        if errors.is_empty() {
            "none".to_owned()
        } else {
            errors.join(", ")
        },
        h.late_starts
    )?;
    let failed: u64 = h.errors.values().sum();
    if h.requests > failed {
        for (name, p) in [("latency", &h.latency_us), ("service", &h.service_us)] {
            let Some(p) = p else { continue };
            writeln!(
                f,
                "              {name:<22} {:>7} {:>7} {:>7} {:>7}  (p50 p90 p99 max{})",
                latency(p.p50),
                latency(p.p90),
                latency(p.p99),
                latency(p.max),
                if name == "latency" {
                    ", from the due instant"
                } else {
                    ", from the send"
                }
            )?;
        }
    }
    Ok(())
}

/// `name` cut to `width` characters keeping its distinguishing end (`…message.start`).
fn cut(name: &str, width: usize) -> String {
    rookery_widgets::fmt::truncate_start(name, width)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::monitor::EventRef;
    use crate::telemetry::{EventName, Key, Value};

    #[test]
    fn an_http_run_tells_its_requests_latency_and_service_time() {
        let mut state = MonitorState::new();
        let name = EventName::new(&["http", "request", "stop"]).expect("name");
        for i in 0..20u64 {
            let m = vec![
                (Key::new("duration"), Value::Int(2_000_000)),
                (Key::new("latency"), Value::Int(9_000_000)),
            ];
            let md = vec![(Key::new("status"), Value::Int(404))];
            state.apply(&EventRef {
                t_us: 1_000 + i * 1_000,
                node: Some("node1"),
                name: &name,
                measurements: &m,
                metadata: &md,
            });
        }
        let text = FinalSummary::new(&state, "run finished").to_string();
        assert!(
            text.contains("  http        20 requests; status 404 20; errors none; 0 late starts"),
            "{text}"
        );
        let line = |word: &str| {
            text.lines()
                .find(|l| l.trim_start().starts_with(word) && l.contains("(p50 p90 p99 max"))
                .unwrap_or_else(|| panic!("no {word} line: {text}"))
                .split_whitespace()
                .take(3)
                .collect::<Vec<_>>()
        };
        assert_eq!(line("latency "), ["latency", "9.0ms", "9.0ms"], "{text}");
        assert_eq!(line("service "), ["service", "2.0ms", "2.0ms"], "{text}");
        let quiet = FinalSummary::new(&MonitorState::new(), "run finished").to_string();
        assert!(!quiet.contains("  http "), "{quiet}");
    }
}
