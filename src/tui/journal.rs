//! The engine's life as log lines: what changed in the [`MonitorState`] since the last frame
//! (nodes up and down, failed users, ramps started and finished, coordinator timeouts, drops,
//! handler failures), the driver's outcomes, and the process's `log` records. The state's own
//! warnings are not copied here: the log pane merges them in by time.
//!
//! Lines are derived from the state, so a replay tells the same story as the live run.
//! The journal keeps the newest [`KEEP_LINES`] lines.

use std::collections::{BTreeMap, VecDeque};

use rookery_widgets::Severity;

use crate::monitor::MonitorState;

/// Lines kept (older ones go; the count goes on).
pub const KEEP_LINES: usize = 1000;

/// One line of the log pane.
#[derive(Clone, Debug, PartialEq)]
pub struct JournalLine {
    /// Screen time (µs since the start) when it was noticed.
    pub t_us: u64,
    pub severity: Severity,
    /// What it is about: `node`, `users`, `ramp`, `coordinator`, a warning's event …
    pub source: String,
    pub message: String,
}

/// What was seen so far, to tell what is new.
#[derive(Default, Debug)]
struct Seen {
    nodes: BTreeMap<String, bool>,
    user_failures: usize,
    exceptions: u64,
    ramping: BTreeMap<String, bool>,
    coord_timeouts: BTreeMap<String, u64>,
    failures: u64,
    dropped: u64,
    recorder_dropped: u64,
    /// HTTP error classes whose first failure was told.
    http_errors: [bool; 4],
    /// The last `log` record taken.
    log_seq: u64,
}

/// The log pane's lines.
#[derive(Default, Debug)]
pub struct Journal {
    lines: VecDeque<JournalLine>,
    total: u64,
    /// Lines ever added at warning or error severity.
    warnings: u64,
    seen: Seen,
}

/// The severity of a warning's `log_level`.
pub fn level_severity(level: &str) -> Severity {
    match level {
        "emergency" | "alert" | "critical" | "error" => Severity::Error,
        "warning" | "warn" => Severity::Warning,
        _ => Severity::Info,
    }
}

impl Journal {
    /// Adds a line. Lines are kept in time order: an earlier `t_us` than the last line's is
    /// taken as the last line's.
    pub fn push(
        &mut self,
        t_us: u64,
        severity: Severity,
        source: impl Into<String>,
        message: impl Into<String>,
    ) {
        if self.lines.len() >= KEEP_LINES {
            self.lines.pop_front();
        }
        let t_us = t_us.max(self.lines.back().map_or(0, |l| l.t_us));
        self.lines.push_back(JournalLine {
            t_us,
            severity,
            source: source.into(),
            message: message.into(),
        });
        self.total += 1;
        if severity != Severity::Info {
            self.warnings += 1;
        }
    }

    /// Lines kept, oldest first.
    pub fn lines(&self) -> &VecDeque<JournalLine> {
        &self.lines
    }

    /// Lines ever added.
    pub fn total(&self) -> u64 {
        self.total
    }

    /// Lines ever added at warning or error severity (nodes down, failed users, drops, ...):
    /// the log pane's title counts them with the state's own warnings.
    pub fn warnings_total(&self) -> u64 {
        self.warnings
    }

    /// Forgets everything (a replay seeked back and starts over).
    pub fn reset(&mut self) {
        *self = Journal::default();
    }

    /// Adds a line for everything that changed in `state` since the last call.
    pub fn observe(&mut self, state: &MonitorState) {
        let now = state.last_t_us();
        self.nodes(state, now);
        self.users(state, now);
        self.http(state, now);
        self.ramps(state, now);
        self.coordinators(state, now);
        self.losses(state, now);
        self.logs(now);
    }

    /// Takes the `log` records logged since the last call.
    pub fn logs(&mut self, now: u64) {
        for r in super::logging::since(self.seen.log_seq) {
            let sev = match r.level {
                log::Level::Error => Severity::Error,
                log::Level::Warn => Severity::Warning,
                _ => Severity::Info,
            };
            self.seen.log_seq = r.seq;
            self.push(now, sev, r.target, r.message);
        }
    }

    fn nodes(&mut self, state: &MonitorState, now: u64) {
        let master = state.master().map(|m| m.name.clone());
        for n in state.nodes() {
            let before = self.seen.nodes.insert(n.name.to_string(), n.up);
            let is_master = master.as_ref() == Some(&n.name);
            let msg = match (before, n.up) {
                (None, true) => {
                    format!("{} up{}", n.name, if is_master { " (master)" } else { "" })
                }
                (Some(false), true) => format!("{} up again", n.name),
                (Some(true) | None, false) if is_master => {
                    format!("{} down: the master is gone, the test ends", n.name)
                }
                (Some(true) | None, false) => format!("{} down", n.name),
                _ => continue,
            };
            let sev = if n.up {
                Severity::Info
            } else if is_master {
                Severity::Error
            } else {
                Severity::Warning
            };
            self.push(now, sev, "node", msg);
        }
    }

    fn users(&mut self, state: &MonitorState, now: u64) {
        let firsts = state.first_user_failures();
        for f in &firsts[self.seen.user_failures.min(firsts.len())..] {
            let on = f
                .node
                .as_ref()
                .map(|n| format!(" on {n}"))
                .unwrap_or_default();
            let why = if f.reason.is_empty() {
                "no reason given".to_owned()
            } else {
                f.reason.to_string()
            };
            self.push(
                now,
                Severity::Warning,
                "users",
                format!("a user failed{on}: {why}"),
            );
        }
        self.seen.user_failures = firsts.len();
        let total = state.users().exceptions;
        let new = total.saturating_sub(self.seen.exceptions);
        // The first ones were told one by one above; the rest as counts.
        let told = (firsts.len() as u64).max(self.seen.exceptions);
        if total > told && new > 0 {
            let more = total - told;
            self.push(
                now,
                Severity::Warning,
                "users",
                format!("{more} more users failed ({total} in all)"),
            );
        }
        self.seen.exceptions = total;
    }

    /// The first failure of each HTTP error class, with its reason (the pane has the counts).
    fn http(&mut self, state: &MonitorState, now: u64) {
        let Some(h) = state.http() else { return };
        for class in crate::http::ErrorClass::ALL {
            let told = &mut self.seen.http_errors[class as usize];
            if *told {
                continue;
            }
            if let Some(reason) = h.first_reason(class) {
                *told = true;
                let msg = format!("first {} error: {reason}", class.as_str());
                self.push(now, Severity::Warning, "http", msg);
            }
        }
    }

    fn ramps(&mut self, state: &MonitorState, now: u64) {
        for t in state.throttles() {
            let ramping = t.ramping() == Some(true);
            let before = self.seen.ramping.insert(t.name().to_string(), ramping);
            let rate = match t.rate() {
                Some(crate::monitor::RateReading::Finite(r)) => {
                    format!("{}", r.max(0.0).round() as u64)
                }
                Some(crate::monitor::RateReading::Infinity) => "infinity".to_owned(),
                None => "?".to_owned(),
            };
            match (before.unwrap_or(false), ramping) {
                (false, true) => self.push(
                    now,
                    Severity::Info,
                    "ramp",
                    format!("{} started a gradual rate change (now {rate})", t.name()),
                ),
                (true, false) => self.push(
                    now,
                    Severity::Info,
                    "ramp",
                    format!("{} ended at {rate}", t.name()),
                ),
                _ => {}
            }
        }
    }

    fn coordinators(&mut self, state: &MonitorState, now: u64) {
        for c in state.coordinators() {
            let before = self
                .seen
                .coord_timeouts
                .insert(c.name.to_string(), c.timeout)
                .unwrap_or(0);
            if c.timeout > before {
                self.push(
                    now,
                    Severity::Warning,
                    "coordinator",
                    format!(
                        "{} timed out ({} time{} in all)",
                        c.name,
                        c.timeout,
                        if c.timeout == 1 { "" } else { "s" }
                    ),
                );
            }
        }
    }

    fn losses(&mut self, state: &MonitorState, now: u64) {
        let failures = state.handler_failures();
        if failures > self.seen.failures {
            let fresh = (failures - self.seen.failures) as usize;
            let kept = state.failures();
            let lines: Vec<String> = kept
                .iter()
                .skip(kept.len().saturating_sub(fresh))
                .map(|f| {
                    format!(
                        "handler {} failed on {} and was detached: {}",
                        f.handler_id, f.event, f.reason
                    )
                })
                .collect();
            for l in lines {
                self.push(now, Severity::Error, "telemetry", l);
            }
            self.seen.failures = failures;
        }
        let recorder = state.recorder_dropped();
        if recorder > self.seen.recorder_dropped {
            self.push(
                now,
                Severity::Error,
                "recorder",
                format!("the recorder lost {recorder} events in all"),
            );
            self.seen.recorder_dropped = recorder;
        }
        let dropped = state.dropped();
        if dropped > self.seen.dropped {
            self.push(
                now,
                Severity::Error,
                "monitor",
                format!("the monitor's queue was full: {dropped} events dropped in all"),
            );
            self.seen.dropped = dropped;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::monitor::EventRef;
    use crate::telemetry::{EventName, Key, Value};

    fn ev(s: &mut MonitorState, t_us: u64, node: &str, name: &[&str], md: Vec<(Key, Value)>) {
        let m = vec![(Key::new("duration"), Value::Int(5))];
        s.apply(&EventRef {
            t_us,
            node: Some(node),
            name: &EventName::new(name).expect("name"),
            measurements: &m,
            metadata: &md,
        });
    }

    #[test]
    fn failed_users_first_with_reason_then_as_counts() {
        let mut s = MonitorState::new();
        let mut j = Journal::default();
        for i in 0..8u64 {
            ev(
                &mut s,
                i * 1000,
                "node2",
                &["amoc", "scenario", "start", "exception"],
                vec![(Key::new("reason"), Value::from(format!("boom {i}")))],
            );
            if i == 2 || i == 7 {
                j.observe(&s);
            }
        }
        j.observe(&s);
        // Six warning lines (five users and a count); `node2 up` is information.
        assert_eq!(j.warnings_total(), 6);
        let text: Vec<String> = j.lines().iter().map(|l| l.message.clone()).collect();
        assert_eq!(
            text,
            vec![
                "node2 up",
                "a user failed on node2: boom 0",
                "a user failed on node2: boom 1",
                "a user failed on node2: boom 2",
                "a user failed on node2: boom 3",
                "a user failed on node2: boom 4",
                "3 more users failed (8 in all)",
            ]
        );
    }

    #[test]
    fn the_first_http_failure_of_each_class_is_told_with_its_reason() {
        let mut s = MonitorState::new();
        let mut j = Journal::default();
        let fail = |s: &mut MonitorState, t: u64, class: &str, reason: &str| {
            ev(
                s,
                t,
                "node1",
                &["http", "request", "exception"],
                vec![
                    (Key::new("class"), Value::from(class)),
                    (Key::new("reason"), Value::from(reason)),
                ],
            )
        };
        fail(
            &mut s,
            1_000,
            "tls",
            "invalid peer certificate: UnknownIssuer",
        );
        j.observe(&s);
        fail(
            &mut s,
            2_000,
            "tls",
            "invalid peer certificate: UnknownIssuer",
        );
        fail(&mut s, 3_000, "connect", "connection refused");
        j.observe(&s);
        j.observe(&s);
        let text: Vec<String> = j
            .lines()
            .iter()
            .filter(|l| l.message.starts_with("first"))
            .map(|l| l.message.clone())
            .collect();
        assert_eq!(
            text,
            vec![
                "first tls error: invalid peer certificate: UnknownIssuer",
                "first connect error: connection refused",
            ]
        );
    }

    #[test]
    fn nodes_ramps_and_coordinator_timeouts_are_told_once() {
        let mut s = MonitorState::new();
        let mut j = Journal::default();
        let name = |n: &str| vec![(Key::new("name"), Value::from(n.to_owned()))];
        ev(
            &mut s,
            1,
            "node1",
            &["amoc", "cluster", "connect_nodes"],
            vec![
                (Key::new("nodes"), Value::from("node2")),
                (Key::new("master"), Value::from("node1")),
            ],
        );
        ev(&mut s, 2, "node1", &["amoc", "throttle", "rate"], {
            let mut md = name("m");
            md.push((Key::new("ramping"), Value::Bool(true)));
            md
        });
        j.observe(&s);
        ev(
            &mut s,
            3,
            "node1",
            &["amoc", "cluster", "nodedown"],
            vec![(Key::new("nodes"), Value::from("node2"))],
        );
        ev(
            &mut s,
            4,
            "node1",
            &["amoc", "coordinator", "timeout"],
            name("pairs"),
        );
        ev(&mut s, 5, "node1", &["amoc", "throttle", "rate"], {
            let mut md = name("m");
            md.push((Key::new("ramping"), Value::Bool(false)));
            md
        });
        j.observe(&s);
        j.observe(&s);
        let text: Vec<(Severity, String)> = j
            .lines()
            .iter()
            .map(|l| (l.severity, l.message.clone()))
            .collect();
        assert_eq!(
            text,
            vec![
                (Severity::Info, "node1 up (master)".to_owned()),
                (Severity::Info, "node2 up".to_owned()),
                (
                    Severity::Info,
                    "m started a gradual rate change (now ?)".to_owned()
                ),
                (Severity::Warning, "node2 down".to_owned()),
                (Severity::Info, "m ended at ?".to_owned()),
                (
                    Severity::Warning,
                    "pairs timed out (1 time in all)".to_owned()
                ),
            ]
        );
    }
}
