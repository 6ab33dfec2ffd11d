//! Requests sent to the engine and not yet confirmed by its events. The screen shows the
//! engine's figures; a pending request is only a marker next to them.

use std::collections::BTreeMap;

use crate::monitor::{MonitorState, RateReading};

/// What was asked of one throttle.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Asked {
    Rate(u64),
    /// Rate `infinity`.
    Unlimited,
    Paused(bool),
    Ramp(u64),
}

#[derive(Clone, Copy, Debug)]
struct Request {
    asked: Asked,
    /// The throttle's rate-event count when the request was sent.
    rate_events: u64,
}

/// Throttle changes asked for and not yet confirmed by the engine's events, by throttle name.
#[derive(Clone, Debug, Default)]
pub struct PendingChanges {
    by_throttle: BTreeMap<String, Request>,
}

fn rate_is(rate: Option<RateReading>, target: u64) -> bool {
    matches!(rate, Some(RateReading::Finite(r)) if (r - target as f64).abs() < 0.5)
}

impl PendingChanges {
    /// Records a request for `throttle`, replacing an older one.
    pub fn ask(&mut self, throttle: &str, asked: Asked, state: &MonitorState) {
        let rate_events = state.throttle(throttle).map_or(0, |t| t.state.rate_events);
        self.by_throttle
            .insert(throttle.to_owned(), Request { asked, rate_events });
    }

    /// Forgets the request for `throttle` (the command failed).
    pub fn cancel(&mut self, throttle: &str) {
        self.by_throttle.remove(throttle);
    }

    /// The pending rate target, to step from when keys are pressed faster than the engine
    /// confirms.
    pub fn rate_target(&self, throttle: &str) -> Option<u64> {
        match self.by_throttle.get(throttle)?.asked {
            Asked::Rate(r) | Asked::Ramp(r) => Some(r),
            Asked::Paused(_) | Asked::Unlimited => None,
        }
    }

    /// The request pending for `throttle`.
    pub fn get(&self, throttle: &str) -> Option<Asked> {
        self.by_throttle.get(throttle).map(|r| r.asked)
    }

    /// Drops the requests the engine has answered: a rate or ramp request once a rate event
    /// arrives after it (whatever rate it reports: the engine may clamp; a ramp's first step),
    /// a pause request once the throttle's paused state matches (a `paused` flag or the
    /// throttle's "paused"/"resumed" process event).
    pub fn reconcile(&mut self, state: &MonitorState) {
        self.by_throttle.retain(|name, req| {
            let Some(t) = state.throttle(name) else {
                return true;
            };
            let answered_rate = t.state.rate_events > req.rate_events;
            match req.asked {
                Asked::Rate(r) => !(answered_rate || rate_is(t.rate(), r)),
                Asked::Unlimited => !(answered_rate || t.rate() == Some(RateReading::Infinity)),
                Asked::Paused(p) => t.paused() != Some(p),
                // A ramp's first step is a rate event; Rookery's throttle may also flag it.
                Asked::Ramp(r) => {
                    !(answered_rate || t.ramping() == Some(true) || rate_is(t.rate(), r))
                }
            }
        });
    }

    /// The marker drawn in the throttle's state column.
    pub fn marker(&self, throttle: &str) -> Option<String> {
        Some(match self.get(throttle)? {
            Asked::Rate(r) => format!("→{r}?"),
            Asked::Unlimited => "→∞?".to_owned(),
            Asked::Paused(true) => "→pause?".to_owned(),
            Asked::Paused(false) => "→resume?".to_owned(),
            Asked::Ramp(r) => format!("↗{r}?"),
        })
    }

    pub fn is_empty(&self) -> bool {
        self.by_throttle.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::monitor::EventRef;
    use crate::telemetry::{EventName, Key, Value};

    fn ev(s: &mut MonitorState, name: &[&str], m: Vec<(Key, Value)>, md: Vec<(Key, Value)>) {
        let t = s.last_t_us() + 1;
        s.apply(&EventRef {
            t_us: t,
            node: Some("n1"),
            name: &EventName::new(name).expect("name"),
            measurements: &m,
            metadata: &md,
        });
    }

    fn rate(s: &mut MonitorState, r: i64) {
        ev(
            s,
            &["amoc", "throttle", "rate"],
            vec![(Key::new("rate"), Value::Int(r))],
            vec![(Key::new("name"), Value::from("t"))],
        );
    }

    #[test]
    fn answered_by_the_engine_events() {
        let mut s = MonitorState::new();
        rate(&mut s, 100);
        let mut p = PendingChanges::default();
        p.ask("t", Asked::Rate(110), &s);
        p.reconcile(&s);
        assert_eq!(p.marker("t").as_deref(), Some("→110?"));
        rate(&mut s, 105); // the engine settled elsewhere: still an answer
        p.reconcile(&s);
        assert!(p.is_empty());

        p.ask("t", Asked::Ramp(500), &s);
        p.reconcile(&s);
        assert_eq!(p.rate_target("t"), Some(500));
        rate(&mut s, 150); // first ramp step
        p.reconcile(&s);
        assert!(p.is_empty());

        // Rookery's throttle reports a pause as a process event with this message.
        p.ask("t", Asked::Paused(true), &s);
        p.reconcile(&s);
        assert_eq!(p.marker("t").as_deref(), Some("→pause?"));
        ev(
            &mut s,
            &["amoc", "throttle", "process"],
            vec![(Key::new("info"), Value::Int(1))],
            vec![
                (Key::new("name"), Value::from("t")),
                (Key::new("log_level"), Value::from("info")),
                (Key::new("msg"), Value::from("throttle paused")),
            ],
        );
        p.reconcile(&s);
        assert!(p.is_empty());
        p.ask("t", Asked::Paused(false), &s);
        p.cancel("t");
        assert!(p.is_empty());
    }
}
