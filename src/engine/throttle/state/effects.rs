//! What the core hands back: grants for released requests, and the events to emit once the
//! throttle's lock is released.

use std::time::Instant;

use tokio::sync::oneshot;

use super::super::config::ThrottleConfig;
use super::super::error::ThrottleError;
use crate::engine::events::LogLevel;
use smallvec::SmallVec;

/// What a released request receives.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Grant {
    /// The instant the release was due (its slot), before any lateness.
    pub scheduled: Instant,
    /// The instant the throttle released it.
    pub released: Instant,
    /// Whether it holds a parallelism place (counted in `in_flight`) until its permit drops.
    pub counted: bool,
}

/// What a queued request's channel carries.
pub(crate) type Delivery = Result<Grant, ThrottleError>;

/// Events to emit once the lock is released, in order.
#[derive(Default)]
pub(crate) struct Effects {
    pub items: SmallVec<[Fx; 4]>,
    /// Whether the scheduler task must look at the state again.
    pub wake: bool,
}

pub(crate) enum Fx {
    Request,
    Execute(u64),
    Rate(Report),
    Log {
        level: LogLevel,
        msg: &'static str,
        backlog: Option<usize>,
        report: Report,
    },
}

/// The throttle's state as its events report it (the metadata keys of `rate` and `process`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Report {
    pub config: ThrottleConfig,
    pub paused: bool,
    /// The running ramp's target rate and the time until its last step, in ms.
    pub ramp: Option<(u64, u64)>,
    /// Instants owed to the next requests (catch-up throttles only).
    pub overdue: Option<u64>,
}

impl Effects {
    pub(crate) fn execute(&mut self) {
        if let Some(Fx::Execute(n)) = self.items.last_mut() {
            *n += 1;
        } else {
            self.items.push(Fx::Execute(1));
        }
    }

    pub(crate) fn log(&mut self, level: LogLevel, msg: &'static str, report: Report) {
        self.items.push(Fx::Log {
            level,
            msg,
            backlog: None,
            report,
        });
    }
}

/// A queued request.
pub(crate) struct Waiter {
    pub tx: oneshot::Sender<Delivery>,
    /// Holds a parallelism place until its permit drops (`run`, `acquire`, `send`).
    pub counted: bool,
}
