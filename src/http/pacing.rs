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

/// Waits for the throttle's next release and returns the instant it was due.
pub(crate) async fn next_due(throttle: &ThrottleHandle) -> Result<Instant, ThrottleError> {
    Ok(throttle.wait_permit().await?.scheduled())
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
