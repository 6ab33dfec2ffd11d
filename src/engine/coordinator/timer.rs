//! The coordinator timeout: fires once, the given time after the last add; disarmed by reset.
//!
//! An add only stores its time and, when the timer is idle, arms it; the timer task sleeps
//! until `last add + timeout`, and when it wakes checks whether a later add moved the deadline.
//! So an add costs a clock read and two atomics, not a timer reset.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::SeqCst};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use tokio::sync::Notify;
use tokio::time::{Instant, sleep_until};

/// The shared half of a timeout: touched by adds, read by the task.
pub(crate) struct Timer {
    timeout: Duration,
    base: Instant,
    /// Nanoseconds after `base` of the last add.
    last: AtomicU64,
    armed: AtomicBool,
    /// Bumped by every disarm, so a timeout decided just before a reset is dropped.
    epoch: AtomicU64,
    /// Serialises arming and disarming against the task's fire decision.
    gate: Mutex<()>,
    wake: Notify,
}

impl Timer {
    pub fn new(timeout: Duration) -> Timer {
        Timer {
            timeout,
            base: Instant::now(),
            last: AtomicU64::new(0),
            armed: AtomicBool::new(false),
            epoch: AtomicU64::new(0),
            gate: Mutex::new(()),
            wake: Notify::new(),
        }
    }

    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    fn gate(&self) -> std::sync::MutexGuard<'_, ()> {
        self.gate.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn now_nanos(&self) -> u64 {
        u64::try_from(
            Instant::now()
                .saturating_duration_since(self.base)
                .as_nanos(),
        )
        .unwrap_or(u64::MAX)
    }

    /// Records an add: the timeout now fires `timeout` after this moment.
    pub fn touch(&self) {
        self.last.store(self.now_nanos(), SeqCst);
        if !self.armed.load(SeqCst) {
            let _g = self.gate();
            if !self.armed.load(SeqCst) {
                self.armed.store(true, SeqCst);
                self.wake.notify_one();
            }
        }
    }

    /// Disarms the timeout until the next add (reset).
    pub fn disarm(&self) {
        let _g = self.gate();
        self.armed.store(false, SeqCst);
        self.epoch.fetch_add(1, SeqCst);
    }

    /// The number of disarms so far; a timeout fires only if it is unchanged since the
    /// timer decided to fire.
    pub fn epoch(&self) -> u64 {
        self.epoch.load(SeqCst)
    }

    fn deadline(&self) -> Instant {
        self.base + Duration::from_nanos(self.last.load(SeqCst)) + self.timeout
    }

    /// Waits until armed.
    async fn armed(&self) {
        loop {
            if self.armed.load(SeqCst) {
                return;
            }
            // A notify between the check and the wait leaves a permit, so nothing is missed;
            // a stale permit only makes us check again.
            self.wake.notified().await;
        }
    }

    /// Sleeps until the timeout is due and returns the epoch it is due in; `None` when it
    /// was disarmed meanwhile.
    async fn due(&self) -> Option<u64> {
        loop {
            sleep_until(self.deadline()).await;
            let _g = self.gate();
            if !self.armed.load(SeqCst) {
                return None;
            }
            // Disarm first, then look at the last add: an add racing with us either is seen
            // here (we sleep again) or sees the timer disarmed and arms it again.
            self.armed.store(false, SeqCst);
            if self.deadline() > Instant::now() {
                self.armed.store(true, SeqCst);
                continue;
            }
            return Some(self.epoch.load(SeqCst));
        }
    }
}

/// The task behind a coordinator's timeout: calls `fire` each time the timeout is due, until
/// the owner is gone (the owner also aborts it on stop and drop).
pub(crate) async fn run<T: Send + Sync + 'static>(
    timer: Arc<Timer>,
    owner: Weak<T>,
    fire: impl Fn(&T, u64) + Send + 'static,
) {
    loop {
        timer.armed().await;
        if let Some(epoch) = timer.due().await {
            let Some(o) = owner.upgrade() else { return };
            fire(&o, epoch);
        }
    }
}
