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
/// The longest a user keeps requests that passed an open throttle unreported: one frame of
/// the monitor, which redraws for new events at most 10 times a second.
pub const OPEN_REPORT_EVERY: Duration = Duration::from_millis(100);

/// A user's wait before it connects again after a connect error (refused, unreachable); it
/// doubles with every connect error in a row, up to [`BACKOFF_MAX`], and a connection made
/// ends it. Without it a closed port was tried as fast as the loop goes (two users made 52k
/// attempts in 2 s).
pub const BACKOFF_FIRST: Duration = Duration::from_millis(1);
/// The longest wait between two connect attempts of one user.
pub const BACKOFF_MAX: Duration = Duration::from_millis(250);

/// One user's way past the `requests` throttle.
///
/// A finite rate (the open model) waits for each release ([`ThrottleHandle::wait_permit`]) and
/// keeps its scheduled instant. While the throttle is *open* (rate infinity: the closed model)
/// a request passes at once, so the user asks nothing but whether it is still open (one atomic
/// load) and hands the throttle its count in batches ([`ThrottleHandle::passed_open`]): at most
/// [`OPEN_BATCH`] requests or [`OPEN_REPORT_EVERY`] late, and the rest when the rate becomes
/// finite or the user ends. The throttle's `requests` and `executes` stay exact; its
/// `[amoc, throttle, request | execute]` events carry `count = n` for those batches.
///
/// After a connect error ([`Gate::connect_failed`]) the next request waits out the user's
/// backoff ([`BACKOFF_FIRST`] doubling to [`BACKOFF_MAX`]) before it takes its turn: at a
/// finite rate the instants that come due meanwhile are owed, and sent late, as when every
/// user is busy.
pub(crate) struct Gate {
    throttle: ThrottleHandle,
    /// Requests passed open and not yet reported.
    owed: u64,
    /// When the oldest of them passed.
    since: Instant,
    /// The last wait after a connect error, while they come in a row.
    backoff: Option<Duration>,
    /// When the next request may connect, after a connect error.
    resume_at: Option<Instant>,
}

impl Gate {
    pub(crate) fn new(throttle: ThrottleHandle) -> Gate {
        Gate {
            throttle,
            owed: 0,
            since: Instant::now(),
            backoff: None,
            resume_at: None,
        }
    }

    /// The last request failed to connect: the next one waits first (see [`Gate`]).
    pub(crate) fn connect_failed(&mut self) {
        let wait = self
            .backoff
            .map_or(BACKOFF_FIRST, |w| (w * 2).min(BACKOFF_MAX));
        self.backoff = Some(wait);
        self.resume_at = Some(Instant::now() + wait);
    }

    /// The last request did not fail to connect (an answer, or an error of another class):
    /// the backoff ends.
    pub(crate) fn reset_backoff(&mut self) {
        self.backoff = None;
        self.resume_at = None;
    }

    /// Waits until the next request may go and returns the instant it was due, and whether
    /// that instant is now (the throttle is open: the clock was just read, no need to read it
    /// again).
    pub(crate) async fn next_due(&mut self) -> Result<(Instant, bool), ThrottleError> {
        if let Some(at) = self.resume_at.take() {
            // Boxed: rare, and the request loop's future stays small without it.
            Box::pin(tokio::time::sleep_until(at)).await;
        }
        if self.throttle.is_open() {
            let now = Instant::now();
            if self.owed == 0 {
                self.since = now;
            }
            self.owed += 1;
            if self.owed >= OPEN_BATCH || now.duration_since(self.since) >= OPEN_REPORT_EVERY {
                self.report();
            }
            return Ok((now, true));
        }
        self.report();
        Ok((self.throttle.wait_permit().await?.scheduled(), false))
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

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use super::*;
    use crate::engine::events::{Emitter, THROTTLE_EXECUTE};
    use crate::engine::throttle::{Rate, ThrottleConfig};
    use crate::telemetry::{Fields, Telemetry};

    /// A `requests` throttle at `rate`, and the `count` of every execute event it emits.
    fn throttle(rate: Rate) -> (Throttles, ThrottleHandle, Arc<Mutex<Vec<i64>>>) {
        let telemetry = Telemetry::new();
        let counts = Arc::new(Mutex::new(Vec::new()));
        let into = counts.clone();
        telemetry
            .attach(
                "test-executes",
                THROTTLE_EXECUTE.get(),
                move |_, m, _, _| into.lock().unwrap().extend(m.get_i64("count")),
                Value::Null,
            )
            .expect("attach");
        let t = Throttles::new(Emitter::new(telemetry, "master"));
        t.start("requests", ThrottleConfig::new(rate, 1000))
            .expect("start");
        let h = t.handle("requests").expect("handle");
        (t, h, counts)
    }

    /// How many requests `gate` lets go, each failing to connect, until one goes `secs` or more
    /// of (virtual) time after `start` (that one counted; at most 100,000: without a backoff,
    /// time never passes).
    async fn failing_attempts(gate: &mut Gate, start: Instant, secs: f64) -> u64 {
        let mut attempts = 0;
        while start.elapsed() < Duration::from_secs_f64(secs) && attempts < 100_000 {
            gate.next_due().await.expect("passes");
            attempts += 1;
            gate.connect_failed();
        }
        attempts
    }

    #[tokio::test(start_paused = true)]
    async fn a_dead_port_is_tried_a_bounded_number_of_times_with_a_capped_backoff() {
        // The closed model: nothing else holds a user back.
        let (t, h, _) = throttle(Rate::Infinity);
        let mut gate = Gate::new(h);
        let start = Instant::now();
        // Attempts at 0, 1, 3, 7, ..., 127, 255 ms (the wait doubling from 1 ms), then every
        // 250 ms: 505, 755, ..., 1755, 2005 ms.
        assert_eq!(failing_attempts(&mut gate, start, 2.0).await, 16);
        let start = Instant::now();
        assert_eq!(
            failing_attempts(&mut gate, start, 10.0).await,
            40,
            "capped at one per 250 ms"
        );
        // A connection made ends the backoff: the next request goes at once, and a connect
        // error after it waits 1 ms again.
        gate.reset_backoff();
        let before = Instant::now();
        gate.next_due().await.expect("passes");
        assert_eq!(Instant::now(), before);
        gate.connect_failed();
        gate.next_due().await.expect("passes");
        assert_eq!(Instant::now() - before, BACKOFF_FIRST);
        drop(gate);
        // Every attempt passed the throttle (and is a request, failed or not).
        assert_eq!(t.info("requests").expect("info").executes, 16 + 40 + 2);
    }

    #[tokio::test(start_paused = true)]
    async fn at_a_fixed_rate_the_instants_missed_while_backing_off_are_sent_late() {
        let t = Throttles::new(Emitter::new(Telemetry::new(), "master"));
        t.start(
            "requests",
            ThrottleConfig::new(Rate::Finite(1000), 1000).catch_up(CATCH_UP),
        )
        .expect("start");
        let mut gate = Gate::new(t.handle("requests").expect("handle"));
        let start = Instant::now();
        // A second of a closed port: a dozen attempts (the last at 1.005 s), not a thousand.
        let failed = failing_attempts(&mut gate, start, 1.0).await;
        assert_eq!(failed, 12);
        assert!(t.overdue("requests").expect("overdue") > 900);
        // The port opens: every instant owed goes, late, then the rate's own pace.
        let mut late = 0;
        let mut sent = 0;
        while start.elapsed() < Duration::from_millis(1500) {
            let (due, _) = gate.next_due().await.expect("released");
            gate.reset_backoff();
            sent += 1;
            if Instant::now() - due >= Duration::from_millis(10) {
                late += 1;
            }
        }
        let total = failed + sent;
        assert!((1499..=1502).contains(&total), "{failed} + {sent}");
        assert!(late > 900, "{late} late of {sent}");
        assert_eq!(t.overdue("requests").expect("overdue"), 0);
    }

    #[tokio::test(start_paused = true)]
    async fn an_open_throttle_is_told_in_batches_and_counts_stay_exact() {
        let (t, h, counts) = throttle(Rate::Infinity);
        let mut gate = Gate::new(h.clone());
        for _ in 0..OPEN_BATCH * 2 + 5 {
            gate.next_due().await.expect("passes");
        }
        // Two full batches reported; 5 owed until the report period has passed or it ends.
        assert_eq!(*counts.lock().unwrap(), [64, 64]);
        assert_eq!(h.info().executes, OPEN_BATCH * 2);
        tokio::time::advance(OPEN_REPORT_EVERY).await;
        gate.next_due().await.expect("passes");
        assert_eq!(*counts.lock().unwrap(), [64, 64, 6]);
        gate.next_due().await.expect("passes");
        drop(gate);
        assert_eq!(*counts.lock().unwrap(), [64, 64, 6, 1]);
        let info = t.info("requests").expect("info");
        assert_eq!((info.requests, info.executes), (135, 135));
    }

    #[tokio::test(start_paused = true)]
    async fn a_finite_rate_waits_for_each_release_after_reporting_what_passed_open() {
        let (t, h, counts) = throttle(Rate::Infinity);
        let mut gate = Gate::new(h);
        let (due, now) = gate.next_due().await.expect("passes");
        assert!(now, "open: due now");
        assert_eq!(due, Instant::now());
        t.change_rate("requests", ThrottleConfig::new(Rate::Finite(10), 1000))
            .expect("a finite rate");
        let start = Instant::now();
        for _ in 0..5 {
            let (_, now) = gate.next_due().await.expect("released");
            assert!(!now, "a release carries its scheduled instant");
        }
        // The open request is reported first; then 10/s: 5 releases take about 0.4 s.
        assert_eq!(counts.lock().unwrap().first(), Some(&1));
        assert!(
            start.elapsed() >= Duration::from_millis(390),
            "{:?}",
            start.elapsed()
        );
        let info = t.info("requests").expect("info");
        assert_eq!(info.executes, 6);
    }
}
