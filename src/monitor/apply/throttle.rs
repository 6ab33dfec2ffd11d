//! The throttle events of [`MonitorState::apply`]: `[amoc, throttle, init | rate | process]`,
//! the cluster-wide rate rule, and the paused / ramping flags (structured metadata from
//! Rookery's engine; word matching on Amoc's process messages as the fallback).

use smol_str::SmolStr;

use super::super::kinds::Kind;
use super::super::nodes::{NO_NODE, NodeIdx};
use super::super::throttle::{RateReading, ThrottleState};
use super::super::{EventRef, MonitorState, Warning};
use super::{level_of, push_bounded, text};
use crate::telemetry::{Field, Fields, Value};

impl MonitorState {
    pub(super) fn throttle_event(&mut self, kind: Kind, node: NodeIdx, t: u64, ev: &EventRef<'_>) {
        let md = ev.metadata;
        let Some(name) = md.get_str("name") else {
            if kind == Kind::ThrottleProcess {
                self.warn_process(t, ev, None);
            }
            return;
        };
        if kind == Kind::ThrottleRate && node != NO_NODE && !self.master_explicit {
            // Amoc emits the rate event on the master only.
            self.master = Some(node);
        }
        let rate = ev.measurements.lookup("rate");
        let known = rate.and_then(RateReading::from_value).filter(|r| match r {
            RateReading::Finite(f) => f.is_finite() && *f >= 0.0,
            RateReading::Infinity => true,
        });
        if kind == Kind::ThrottleRate && known.is_none() {
            self.unknown_rate(t, ev, name, rate);
        }
        // A cluster's master reports the cluster-wide rate (Amoc's, a NATS master); a worker
        // that reports its own rate events besides (a NATS worker's share) does not override it.
        let from_master = self.master_explicit && self.master == Some(node) && node != NO_NODE;
        let th = self.throttle_mut(name);
        let shown = kind != Kind::ThrottleRate || from_master || !th.master_rate;
        if shown {
            flags(th, md, t);
        }
        match kind {
            Kind::ThrottleInit => th.inits = th.inits.saturating_add(1),
            Kind::ThrottleRate => {
                th.rate_events = th.rate_events.saturating_add(1);
                th.master_rate |= from_master;
                if let Some(rate) = known
                    && shown
                {
                    th.push_rate(t, rate);
                }
                if let Some(i) = ev.measurements.get_i64("interval")
                    && shown
                {
                    th.interval_ms = Some(i);
                }
            }
            _ => {
                th.process_events = th.process_events.saturating_add(1);
                let msg = md.get_str("msg").unwrap_or("");
                th.last_process_msg = Some(SmolStr::new(msg));
                process_pause(th, md, msg);
                let name = SmolStr::new(name);
                self.warn_process(t, ev, Some(name));
            }
        }
    }

    /// A rate event whose rate is missing or not a number >= 0 or `"infinity"`: the rate
    /// shown stays as it was, and a warning says why.
    #[cold]
    fn unknown_rate(&mut self, t: u64, ev: &EventRef<'_>, throttle: &str, rate: Option<&Value>) {
        let what = match rate {
            None => "no rate".to_owned(),
            Some(v) => format!(
                "unknown rate value {}",
                serde_json::to_string(v).unwrap_or_default()
            ),
        };
        self.warnings_total = self.warnings_total.saturating_add(1);
        push_bounded(
            &mut self.warnings,
            Warning {
                t_us: t,
                node: ev.node.map(SmolStr::new),
                event: ev.name.clone(),
                level: SmolStr::new_static("warning"),
                msg: SmolStr::new(format!("throttle {throttle}: {what}, ignored")),
                setting: Some(SmolStr::new(throttle)),
            },
        );
    }

    fn warn_process(&mut self, t: u64, ev: &EventRef<'_>, throttle: Option<SmolStr>) {
        let level = level_of(ev);
        if matches!(level.as_str(), "debug" | "info" | "notice") {
            return;
        }
        self.warn(t, ev, throttle);
    }
}

/// `paused` / `ramping` flags in a throttle init, rate or process event's metadata.
/// With `ramping`, Rookery's engine sends the ramp's `ramp_target` and `ramp_ends_in_ms`.
fn flags(th: &mut ThrottleState, md: &[Field], t_us: u64) {
    if let Some(Value::Bool(p)) = md.lookup("paused") {
        th.paused = Some(*p);
    }
    if let Some(Value::Bool(r)) = md.lookup("ramping") {
        th.ramping = Some(*r);
        th.ramp_target = md
            .lookup("ramp_target")
            .and_then(RateReading::from_value)
            .filter(|_| *r);
        th.ramp_ends_us = md
            .get_i64("ramp_ends_in_ms")
            .filter(|ms| *r && *ms >= 0)
            .map(|ms| t_us.saturating_add((ms as u64).saturating_mul(1000)));
    }
}

/// Pause detection from `[amoc, throttle, process]`: a `"state update"` whose state has
/// `max_n = 0` and `delay_between_executions = infinity` is a paused process (Amoc's pause);
/// the throttle is paused while any of its processes (`self`) is. A message mentioning pause or
/// resume sets it directly, and one about a gradual change (ramp) sets `ramping`.
fn process_pause(th: &mut ThrottleState, md: &[Field], msg: &str) {
    if let Some(state) = md.lookup("state").and_then(Value::as_map) {
        let paused = state.get_i64("max_n") == Some(0)
            && state.get_str("delay_between_executions") == Some("infinity");
        let who = md
            .lookup("self")
            .map(text)
            .unwrap_or_else(|| SmolStr::new_static("?"));
        let pos = th.paused_procs.iter().position(|p| *p == who);
        match (paused, pos) {
            (true, None) => th.paused_procs.push(who),
            (false, Some(p)) => {
                th.paused_procs.swap_remove(p);
            }
            _ => {}
        }
        if state.has("max_n") {
            th.paused = Some(!th.paused_procs.is_empty());
        }
    }
    let lower = msg.to_ascii_lowercase();
    if lower.contains("resume") {
        th.paused = Some(false);
        th.paused_procs.clear();
    } else if lower.contains("pause") {
        th.paused = Some(true);
    }
    // Rookery's engine reports "gradual rate change finished | cancelled"; any other message
    // about a gradual change means one is under way.
    if lower.contains("gradual") || lower.contains("ramp") {
        let over = ["finish", "cancel", "done", "stop", "complete"]
            .iter()
            .any(|w| lower.contains(w));
        th.ramping = Some(!over);
    }
}
