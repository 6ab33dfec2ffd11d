//! A change signal that costs next to nothing when nobody waits: the engine bumps it on every
//! user's start and end, and [`EngineHandle::wait_for`](super::EngineHandle::wait_for) waits on it.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use tokio::sync::Notify;

/// A version number that changes, and wakes the waiters (if any).
#[derive(Debug, Default)]
pub(crate) struct Changes {
    version: AtomicU64,
    waiters: AtomicUsize,
    notify: Notify,
}

impl Changes {
    /// Something changed.
    pub(crate) fn bump(&self) {
        self.version.fetch_add(1, Ordering::SeqCst);
        if self.waiters.load(Ordering::SeqCst) > 0 {
            self.notify.notify_waiters();
        }
    }

    /// The current version.
    pub(crate) fn version(&self) -> u64 {
        self.version.load(Ordering::SeqCst)
    }

    /// Completes when the version differs from `seen` (at once if it already does).
    pub(crate) async fn changed_since(&self, seen: u64) {
        self.waiters.fetch_add(1, Ordering::SeqCst);
        struct Leave<'a>(&'a AtomicUsize);
        impl Drop for Leave<'_> {
            fn drop(&mut self) {
                self.0.fetch_sub(1, Ordering::SeqCst);
            }
        }
        let _leave = Leave(&self.waiters);
        loop {
            let notified = self.notify.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if self.version() != seen {
                return;
            }
            notified.await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_bump_wakes_a_waiter_and_a_missed_one_is_seen() {
        let c = Changes::default();
        let seen = c.version();
        let mut wait = Box::pin(c.changed_since(seen));
        assert!(futures::poll!(wait.as_mut()).is_pending());
        c.bump();
        assert!(futures::poll!(wait.as_mut()).is_ready());
        assert_eq!(c.waiters.load(Ordering::SeqCst), 0, "the waiter left");
        // A bump before the wait starts is not missed.
        c.bump();
        c.changed_since(seen).await;
    }
}
