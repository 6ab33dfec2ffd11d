//! A gradual change in progress: its steps and when they apply.

use std::time::{Duration, Instant};

use super::super::config::{Rate, ThrottleConfig};
use super::super::gradual::GradualPlan;
use super::{Effects, State};
use crate::engine::events::LogLevel;

/// A gradual change in progress.
pub(crate) struct Ramp {
    pub plan: GradualPlan,
    /// Index of the rate in force.
    pub idx: u64,
    started: Instant,
    /// When rate `idx + 1` applies.
    pub next_at: Option<Instant>,
}

impl Ramp {
    fn step_time(&self, i: u64) -> Option<Instant> {
        let ms = self.plan.step_interval_ms.checked_mul(i)?;
        self.started.checked_add(Duration::from_millis(ms))
    }

    /// Time until the last step, in ms (saturating).
    pub fn ends_in_ms(&self, now: Instant) -> u64 {
        self.step_time(self.plan.steps).map_or(u64::MAX, |end| {
            u64::try_from(end.saturating_duration_since(now).as_millis()).unwrap_or(u64::MAX)
        })
    }
}

impl State {
    /// Starts a ramp; a running one is replaced, and returned.
    pub fn start_ramp(
        &mut self,
        plan: GradualPlan,
        now: Instant,
        fx: &mut Effects,
    ) -> Option<Ramp> {
        let first = ThrottleConfig::new(Rate::Finite(plan.from), plan.interval_ms);
        let mut ramp = Ramp {
            plan,
            idx: 0,
            started: now,
            next_at: None,
        };
        ramp.next_at = ramp.step_time(1);
        let old = self.ramp.replace(ramp);
        self.apply_config(first, now, fx, true);
        old
    }

    /// Applies every ramp step that is due.
    pub fn advance_ramp(&mut self, now: Instant, fx: &mut Effects) {
        loop {
            let Some(r) = self.ramp.as_mut() else { return };
            match r.next_at {
                Some(at) if at <= now => {}
                _ => return,
            }
            r.idx += 1;
            let idx = r.idx;
            let plan = r.plan;
            let done = idx >= plan.steps;
            r.next_at = if done { None } else { r.step_time(idx + 1) };
            let rate = plan.rate_at(idx).unwrap_or(plan.to);
            let cfg = ThrottleConfig::new(Rate::Finite(rate), plan.interval_ms);
            if done {
                self.ramp = None;
            }
            self.apply_config(cfg, now, fx, true);
            if done {
                fx.log(
                    LogLevel::Info,
                    "gradual rate change finished",
                    self.report(now),
                );
            }
        }
    }
}
