//! The internal `user_rate` pacer: how fast new users may start, cluster-wide.
//!
//! **Temporary.** This is a small stand-in for the real throttle
//! (`crate::engine::throttle::Throttles`, built separately). Its interface is deliberately the
//! throttle's, reduced to one name:
//!
//! | here | with the throttle |
//! |---|---|
//! | [`Pacer::new`] + [`Pacer::change_rate`] at scenario start | `throttles.start("user_rate", cfg)` |
//! | [`Pacer::wait`] in `user.rs` (marked `SWAP POINT`) | `throttles.wait("user_rate")` |
//! | [`Pacer::change_rate`] | `throttles.change_rate("user_rate", cfg)` |
//! | [`Pacer::shutdown`] | stopping the throttle |
//!
//! Semantics: a [`UserRate`] is users per minute. `PerMinute(0)` holds every waiter until the
//! rate changes; `Infinity` releases everybody at once (and later waiters pass without
//! queueing). Releases are spread evenly (one every `60 s / rate`; several per timer tick when
//! the interval is under a millisecond). Unused capacity is not banked: after an idle period the
//! first waiter goes at once and the next ones at the configured pace. A rate change applies at
//! once to the users already waiting. After [`Pacer::shutdown`] every wait fails.

use std::fmt;
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use tokio::runtime::Handle;

use crate::telemetry::{Key, Value};

use super::events::{Emitter, THROTTLE_RATE};
use tokio::sync::{Notify, Semaphore};
use tokio::time::Instant;

/// `user_rate`: users per minute, or no limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UserRate {
    /// At most this many users start per minute; 0 starts nobody.
    PerMinute(u64),
    /// Everybody starts at once.
    Infinity,
}

impl Default for UserRate {
    /// Amoc's default: 1200 users per minute.
    fn default() -> Self {
        UserRate::PerMinute(1200)
    }
}

impl fmt::Display for UserRate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            UserRate::PerMinute(n) => write!(f, "{n}/min"),
            UserRate::Infinity => f.write_str("infinity"),
        }
    }
}

/// Why a [`Pacer::wait`] failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum PacingError {
    #[error("the user_rate pacer has shut down")]
    ShutDown,
}

/// The `user_rate` pacer. Cheap to share behind an `Arc`.
#[derive(Debug)]
pub struct Pacer {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    permits: Semaphore,
    /// Callers inside `wait` that hold no permit yet.
    waiting: AtomicUsize,
    infinite: AtomicBool,
    closed: AtomicBool,
    rate: Mutex<UserRate>,
    changed: Notify,
}

impl Pacer {
    /// A pacer at `rate`; its release task runs on `runtime`.
    pub fn new(runtime: &Handle, rate: UserRate) -> Pacer {
        let inner = Arc::new(Inner {
            permits: Semaphore::new(0),
            waiting: AtomicUsize::new(0),
            infinite: AtomicBool::new(rate == UserRate::Infinity),
            closed: AtomicBool::new(false),
            rate: Mutex::new(rate),
            changed: Notify::new(),
        });
        runtime.spawn(release_loop(inner.clone()));
        Pacer { inner }
    }

    /// The current rate.
    pub fn rate(&self) -> UserRate {
        *lock(&self.inner.rate)
    }

    /// How many callers are waiting now.
    pub fn waiting(&self) -> usize {
        self.inner.waiting.load(Ordering::SeqCst)
    }

    /// Waits for this caller's turn.
    pub async fn wait(&self) -> Result<(), PacingError> {
        let inner = &*self.inner;
        if inner.closed.load(Ordering::SeqCst) {
            return Err(PacingError::ShutDown);
        }
        // Count ourselves before looking at `infinite`: a concurrent switch to infinity then
        // either sees us (and adds our permit) or we see the switch.
        inner.waiting.fetch_add(1, Ordering::SeqCst);
        let _count = WaitingGuard(&inner.waiting);
        if inner.infinite.load(Ordering::SeqCst) {
            return Ok(());
        }
        inner.changed.notify_one();
        match inner.permits.acquire().await {
            Ok(permit) => {
                permit.forget();
                Ok(())
            }
            Err(_) => Err(PacingError::ShutDown),
        }
    }

    /// Changes the rate; waiting callers are paced by the new rate at once.
    pub fn change_rate(&self, rate: UserRate) {
        let inner = &*self.inner;
        *lock(&inner.rate) = rate;
        match rate {
            UserRate::Infinity => {
                if !inner.infinite.swap(true, Ordering::SeqCst) {
                    let n = inner.waiting.load(Ordering::SeqCst);
                    inner.permits.add_permits(n.min(Semaphore::MAX_PERMITS / 2));
                }
            }
            UserRate::PerMinute(_) => {
                if inner.infinite.swap(false, Ordering::SeqCst) {
                    inner
                        .permits
                        .forget_permits(inner.permits.available_permits());
                }
            }
        }
        inner.changed.notify_one();
    }

    /// Stops the pacer: every current and future wait fails.
    pub fn shutdown(&self) {
        self.inner.closed.store(true, Ordering::SeqCst);
        self.inner.permits.close();
        self.inner.changed.notify_one();
    }
}

impl Drop for Pacer {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// Emits `[amoc, throttle, rate]` for `user_rate` (measurements `rate` and `interval` in ms,
/// or `rate => infinity`; metadata `name`), as the throttle does on the master at start and on
/// every change. Goes away with the pacer when the real throttle takes over.
pub fn emit_rate(master: &Emitter, rate: UserRate) {
    let name = [(Key::new_static("name"), Value::atom("user_rate"))];
    match rate {
        UserRate::PerMinute(n) => master.emit(
            &THROTTLE_RATE,
            &[
                (
                    Key::new_static("rate"),
                    Value::Int(i64::try_from(n).unwrap_or(i64::MAX)),
                ),
                (Key::new_static("interval"), Value::Int(60_000)),
            ],
            &name,
        ),
        UserRate::Infinity => master.emit(
            &THROTTLE_RATE,
            &[(Key::new_static("rate"), Value::atom("infinity"))],
            &name,
        ),
    }
}

struct WaitingGuard<'a>(&'a AtomicUsize);

impl Drop for WaitingGuard<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

fn interval_of(per_minute: u64) -> Duration {
    Duration::from_nanos((60_000_000_000 / per_minute.max(1)).max(1))
}

async fn release_loop(inner: Arc<Inner>) {
    let mut next = Instant::now();
    let mut was_idle = true;
    loop {
        if inner.closed.load(Ordering::SeqCst) {
            return;
        }
        let changed = inner.changed.notified();
        let rate = *lock(&inner.rate);
        let need = inner
            .waiting
            .load(Ordering::SeqCst)
            .saturating_sub(inner.permits.available_permits());
        let per_minute = match rate {
            UserRate::PerMinute(n) if n > 0 && need > 0 => n,
            _ => {
                was_idle = true;
                changed.await;
                continue;
            }
        };
        let interval = interval_of(per_minute);
        let now = Instant::now();
        if was_idle {
            // Unused capacity is not banked.
            next = next.max(now);
            was_idle = false;
        }
        if next <= now {
            let due = 1 + (now - next).as_nanos() / interval.as_nanos();
            let n = usize::try_from(due).unwrap_or(usize::MAX).min(need);
            inner.permits.add_permits(n);
            next += interval * u32::try_from(n).unwrap_or(u32::MAX);
            continue;
        }
        tokio::select! {
            _ = tokio::time::sleep_until(next) => {}
            _ = changed => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicU64;

    fn spawn_waiters(p: &Arc<Pacer>, n: usize) -> Arc<AtomicU64> {
        let done = Arc::new(AtomicU64::new(0));
        for _ in 0..n {
            let (p, d) = (p.clone(), done.clone());
            tokio::spawn(async move {
                if p.wait().await.is_ok() {
                    d.fetch_add(1, Ordering::SeqCst);
                }
            });
        }
        done
    }

    #[tokio::test(start_paused = true)]
    async fn paces_evenly_at_the_rate() {
        let p = Arc::new(Pacer::new(&Handle::current(), UserRate::PerMinute(60)));
        let done = spawn_waiters(&p, 10);
        tokio::time::sleep(Duration::from_millis(10)).await;
        assert_eq!(done.load(Ordering::SeqCst), 1, "first goes at once");
        tokio::time::sleep(Duration::from_millis(4000)).await;
        assert_eq!(done.load(Ordering::SeqCst), 5);
        tokio::time::sleep(Duration::from_secs(60)).await;
        assert_eq!(done.load(Ordering::SeqCst), 10);
    }

    #[tokio::test(start_paused = true)]
    async fn rate_zero_holds_until_changed() {
        let p = Arc::new(Pacer::new(&Handle::current(), UserRate::PerMinute(0)));
        let done = spawn_waiters(&p, 100);
        tokio::time::sleep(Duration::from_secs(600)).await;
        assert_eq!(done.load(Ordering::SeqCst), 0);
        assert_eq!(p.waiting(), 100);
        p.change_rate(UserRate::Infinity);
        tokio::time::sleep(Duration::from_millis(1)).await;
        assert_eq!(done.load(Ordering::SeqCst), 100);
    }

    #[tokio::test(start_paused = true)]
    async fn high_rates_release_in_batches_and_do_not_bank() {
        let p = Arc::new(Pacer::new(&Handle::current(), UserRate::PerMinute(600_000)));
        let done = spawn_waiters(&p, 1000);
        // 10,000 per second: 1000 take about 100 ms.
        tokio::time::sleep(Duration::from_millis(50)).await;
        let half = done.load(Ordering::SeqCst);
        assert!((400..=600).contains(&half), "{half}");
        tokio::time::sleep(Duration::from_millis(60)).await;
        assert_eq!(done.load(Ordering::SeqCst), 1000);
        // Idle for a minute, then 100 more: not all at once.
        tokio::time::sleep(Duration::from_secs(60)).await;
        let more = spawn_waiters(&p, 100);
        tokio::time::sleep(Duration::from_millis(2)).await;
        assert!(more.load(Ordering::SeqCst) < 50);
    }

    #[tokio::test(start_paused = true)]
    async fn back_from_infinity_paces_again_and_shutdown_fails_waits() {
        let p = Arc::new(Pacer::new(&Handle::current(), UserRate::Infinity));
        assert_eq!(p.wait().await, Ok(()));
        p.change_rate(UserRate::PerMinute(0));
        let done = spawn_waiters(&p, 3);
        tokio::time::sleep(Duration::from_secs(5)).await;
        assert_eq!(done.load(Ordering::SeqCst), 0);
        p.shutdown();
        assert_eq!(p.wait().await, Err(PacingError::ShutDown));
        tokio::time::sleep(Duration::from_millis(1)).await;
        assert_eq!(p.waiting(), 0);
    }
}
