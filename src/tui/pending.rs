//! Requests sent to the engine and not yet confirmed by its events. The screen shows the
//! engine's figures; a pending request is only a marker next to them.

use std::collections::BTreeMap;

use crate::monitor::{MonitorState, Rate};

/// What was asked of one throttle.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Asked {
    Rate(u64),
    Paused(bool),
    Ramp(u64),
}

#[derive(Clone, Copy, Debug)]
struct Request {
    asked: Asked,
    /// The throttle's rate-event count when the request was sent.
    rate_events: u64,
}

/// Pending throttle requests by throttle name.
#[derive(Clone, Debug, Default)]
pub struct Pending {
    by_throttle: BTreeMap<String, Request>,
}

fn rate_is(rate: Option<Rate>, target: u64) -> bool {
    matches!(rate, Some(Rate::Finite(r)) if (r - target as f64).abs() < 0.5)
}

impl Pending {
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
            Asked::Paused(_) => None,
        }
    }

    /// The request pending for `throttle`.
    pub fn get(&self, throttle: &str) -> Option<Asked> {
        self.by_throttle.get(throttle).map(|r| r.asked)
    }

    /// Drops the requests the engine has answered: a rate request once a rate event arrives
    /// after it (whatever rate it reports: the engine may clamp), a pause request once the
    /// throttle's paused flag matches, a ramp once the throttle reports ramping or the target.
    pub fn reconcile(&mut self, state: &MonitorState) {
        self.by_throttle.retain(|name, req| {
            let Some(t) = state.throttle(name) else {
                return true;
            };
            let answered_rate = t.state.rate_events > req.rate_events;
            match req.asked {
                Asked::Rate(r) => !(answered_rate || rate_is(t.rate(), r)),
                Asked::Paused(p) => t.paused() != Some(p),
                Asked::Ramp(r) => !(t.ramping() == Some(true) || rate_is(t.rate(), r)),
            }
        });
    }

    /// The marker drawn in the throttle's state column.
    pub fn marker(&self, throttle: &str) -> Option<String> {
        Some(match self.get(throttle)? {
            Asked::Rate(r) => format!("→{r}?"),
            Asked::Paused(true) => "→pause?".to_owned(),
            Asked::Paused(false) => "→resume?".to_owned(),
            Asked::Ramp(r) => format!("↗{r}?"),
        })
    }

    pub fn is_empty(&self) -> bool {
        self.by_throttle.is_empty()
    }
}
