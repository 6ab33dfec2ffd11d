//! The registry of one controller's users: who exists, who runs, who was picked for removal.
//!
//! Users are kept in id order. A removal picks the lowest ids among the users that run and
//! have not been picked before (Amoc takes "roughly the oldest" and may pick the same users
//! twice in quick calls; Rookery never does), then users still waiting on `user_rate`, which
//! are cancelled at once since they have not started.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use tokio::task::AbortHandle;

use super::user::{ENDED, Outcome, SELECTED, STARTED, UserSlot};

struct Entry {
    slot: Arc<UserSlot>,
    abort: AbortHandle,
}

/// The users of one controller.
#[derive(Default)]
pub(crate) struct Users {
    map: Mutex<BTreeMap<u64, Entry>>,
    waiting: AtomicU64,
    running: AtomicU64,
    /// Users that started and ended, by [`Outcome`] (returned, failed, cancelled).
    ended: [AtomicU64; 3],
}

/// Users picked by a removal.
pub(crate) struct Selection {
    pub(crate) picked: u64,
    /// Running users to cancel when the grace period ends (forced removals only).
    pub(crate) abort_later: Vec<AbortHandle>,
}

impl Users {
    fn lock(&self) -> MutexGuard<'_, BTreeMap<u64, Entry>> {
        self.map.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Counts `n` new waiting users, before their tasks are spawned.
    pub(crate) fn expect(&self, n: u64) {
        self.waiting.fetch_add(n, Ordering::SeqCst);
    }

    /// Registers spawned users. The registry is not locked while spawning (a task spawned on
    /// a runtime that is shutting down is dropped at once and unregisters itself), so a user
    /// that already ended is skipped.
    pub(crate) fn insert(&self, spawned: Vec<(Arc<UserSlot>, AbortHandle)>) {
        let mut map = self.lock();
        for (slot, abort) in spawned {
            if !slot.has(ENDED) {
                map.insert(slot.id, Entry { slot, abort });
            }
        }
    }

    /// Users still waiting on `user_rate`.
    pub(crate) fn waiting(&self) -> u64 {
        self.waiting.load(Ordering::SeqCst)
    }

    /// Users running the scenario.
    pub(crate) fn running(&self) -> u64 {
        self.running.load(Ordering::SeqCst)
    }

    /// Users that started and then ended with `outcome`.
    pub(crate) fn ended_with(&self, outcome: Outcome) -> u64 {
        self.ended[outcome as usize].load(Ordering::SeqCst)
    }

    /// Waiting plus running.
    pub(crate) fn live(&self) -> u64 {
        self.waiting() + self.running()
    }

    /// A waiting user got its turn; false if it was picked for removal meanwhile.
    pub(crate) fn started(&self, slot: &UserSlot) -> bool {
        let prev = slot.flags.fetch_or(STARTED, Ordering::AcqRel);
        if prev & SELECTED != 0 {
            slot.flags.fetch_and(!STARTED, Ordering::AcqRel);
            return false;
        }
        self.running.fetch_add(1, Ordering::SeqCst);
        self.waiting.fetch_sub(1, Ordering::SeqCst);
        true
    }

    /// A user ended; returns how many users are left.
    pub(crate) fn ended(&self, slot: &UserSlot, outcome: Outcome) -> u64 {
        slot.flags.fetch_or(ENDED, Ordering::AcqRel);
        self.lock().remove(&slot.id);
        if slot.has(STARTED) {
            self.ended[outcome as usize].fetch_add(1, Ordering::SeqCst);
            self.running.fetch_sub(1, Ordering::SeqCst);
        } else {
            self.waiting.fetch_sub(1, Ordering::SeqCst);
        }
        self.live()
    }

    /// Picks up to `count` users for removal (see the module docs). Tasks are cancelled only
    /// after the registry is unlocked: a task dropped at once (its runtime is shutting down)
    /// unregisters itself.
    pub(crate) fn select(&self, count: u64, force: bool) -> Selection {
        let mut abort_now = Vec::new();
        let sel = self.pick(count, force, &mut abort_now);
        for h in abort_now {
            h.abort();
        }
        sel
    }

    fn pick(&self, count: u64, force: bool, abort_now: &mut Vec<AbortHandle>) -> Selection {
        let map = self.lock();
        let mut sel = Selection {
            picked: 0,
            abort_later: Vec::new(),
        };
        for e in map.values() {
            if sel.picked == count {
                break;
            }
            if e.slot.has(STARTED) && !e.slot.has(SELECTED) {
                e.slot.flags.fetch_or(SELECTED, Ordering::AcqRel);
                e.slot.signal_removal();
                if force {
                    sel.abort_later.push(e.abort.clone());
                }
                sel.picked += 1;
            }
        }
        for e in map.values() {
            if sel.picked == count {
                break;
            }
            let prev = e.slot.flags.fetch_or(SELECTED, Ordering::AcqRel);
            if prev & (SELECTED | STARTED) == 0 {
                e.slot.signal_removal();
                abort_now.push(e.abort.clone());
                sel.picked += 1;
            } else if prev & SELECTED == 0 {
                // Started between the two passes: leave it for a later removal.
                e.slot.flags.fetch_and(!SELECTED, Ordering::AcqRel);
            }
        }
        sel
    }

    /// Cancels every user now.
    pub(crate) fn abort_all(&self) {
        let handles: Vec<AbortHandle> = self
            .lock()
            .values()
            .map(|e| {
                e.slot.flags.fetch_or(SELECTED, Ordering::AcqRel);
                e.abort.clone()
            })
            .collect();
        for h in handles {
            h.abort();
        }
    }
}
