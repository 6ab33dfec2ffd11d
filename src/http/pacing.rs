//! When a request was due, and what the throttle owes: the open model's bookkeeping.
//!
//! The `requests` throttle is started with a catch-up bound ([`CATCH_UP`]): instants that come
//! due while every user is busy are owed, not lost, and the next free users are released at
//! once with the owed (earlier) instants. A request's latency is measured from that instant.
//! The node that started the throttle reports what is owed once a second as
//! `[http, backlog]` (measurement `overdue`, metadata `catch_up`: the bound).

use std::time::Duration;

use tokio::task::AbortHandle;
use tokio::time::Instant;

use crate::engine::events::Emitter;
use crate::engine::throttle::{ThrottleError, ThrottleHandle, Throttles};
use crate::telemetry::{Key, StaticName, Value};

/// The most instants the `requests` throttle owes; beyond it the oldest are dropped, and the
/// monitor says the backlog is unserved.
pub const CATCH_UP: u64 = 10_000_000;
/// `[http, backlog]`.
pub static BACKLOG: StaticName = StaticName::new(&["http", "backlog"]);
/// How often the backlog is reported.
pub const BACKLOG_EVERY: Duration = Duration::from_secs(1);

/// Requests a user lets pass on its own before it reports them to an open throttle.
pub const OPEN_BATCH: u64 = 64;
/// The longest a user keeps requests that passed an open throttle unreported.
pub const OPEN_REPORT_EVERY: Duration = Duration::from_millis(50);

/// One user's way past the `requests` throttle.
///
/// A finite rate (the open model) waits for each release ([`ThrottleHandle::wait_permit`]) and
/// keeps its scheduled instant. While the throttle is *open* (rate infinity: the closed model)
/// a request passes at once, so the user asks nothing but whether it is still open (one atomic
/// load) and hands the throttle its count in batches ([`ThrottleHandle::passed_open`]): at most
/// [`OPEN_BATCH`] requests or [`OPEN_REPORT_EVERY`] late, and the rest when the rate becomes
/// finite or the user ends. The throttle's `requests` and `executes` stay exact; its
/// `[amoc, throttle, request | execute]` events carry `count = n` for those batches.
pub(crate) struct Gate {
    throttle: ThrottleHandle,
    /// Requests passed open and not yet reported.
    owed: u64,
    /// When the oldest of them passed.
    since: Instant,
}

impl Gate {
    pub(crate) fn new(throttle: ThrottleHandle) -> Gate {
        Gate {
            throttle,
            owed: 0,
            since: Instant::now(),
        }
    }

    /// Waits until the next request may go and returns the instant it was due (now, when the
    /// throttle is open).
    pub(crate) async fn next_due(&mut self) -> Result<Instant, ThrottleError> {
        if self.throttle.is_open() {
            let now = Instant::now();
            if self.owed == 0 {
                self.since = now;
            }
            self.owed += 1;
            if self.owed >= OPEN_BATCH || now.duration_since(self.since) >= OPEN_REPORT_EVERY {
                self.report();
            }
            return Ok(now);
        }
        self.report();
        Ok(self.throttle.wait_permit().await?.scheduled())
    }

    /// Hands what passed open to the throttle.
    fn report(&mut self) {
        self.throttle.passed_open(std::mem::take(&mut self.owed));
    }
}

impl Drop for Gate {
    fn drop(&mut self) {
        self.report();
    }
}

/// Starts the once-a-second `[http, backlog]` report of throttle `name` on the current
/// runtime (none without one); it ends when the throttle is gone or the handle is aborted.
pub(crate) fn report_backlog(
    throttles: Throttles,
    name: &'static str,
    emitter: Emitter,
) -> Option<AbortHandle> {
    let rt = tokio::runtime::Handle::try_current().ok()?;
    let task = rt.spawn(async move {
        let mut tick = tokio::time::interval(BACKLOG_EVERY);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            let Ok(owed) = throttles.overdue(name) else {
                return;
            };
            let m = [(
                Key::new_static("overdue"),
                Value::Int(i64::try_from(owed).unwrap_or(i64::MAX)),
            )];
            let md = [(
                Key::new_static("catch_up"),
                Value::Int(i64::try_from(CATCH_UP).unwrap_or(i64::MAX)),
            )];
            emitter.emit(&BACKLOG, &m, &md);
        }
    });
    Some(task.abort_handle())
}
