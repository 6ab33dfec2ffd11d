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

use super::user::{SELECTED, STARTED, UserSlot};

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
}

/// The registry, locked while a batch of users is spawned.
pub(crate) struct Batch<'a> {
    map: MutexGuard<'a, BTreeMap<u64, Entry>>,
}

impl Batch<'_> {
    pub(crate) fn insert(&mut self, slot: Arc<UserSlot>, abort: AbortHandle) {
        self.map.insert(slot.id, Entry { slot, abort });
    }
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

    /// Counts `n` new waiting users and locks the registry to insert them.
    pub(crate) fn batch(&self, n: u64) -> Batch<'_> {
        self.waiting.fetch_add(n, Ordering::SeqCst);
        Batch { map: self.lock() }
    }

    /// Users still waiting on `user_rate`.
    pub(crate) fn waiting(&self) -> u64 {
        self.waiting.load(Ordering::SeqCst)
    }

    /// Users running the scenario.
    pub(crate) fn running(&self) -> u64 {
        self.running.load(Ordering::SeqCst)
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
    pub(crate) fn ended(&self, slot: &UserSlot) -> u64 {
        self.lock().remove(&slot.id);
        if slot.has(STARTED) {
            self.running.fetch_sub(1, Ordering::SeqCst);
        } else {
            self.waiting.fetch_sub(1, Ordering::SeqCst);
        }
        self.live()
    }

    /// Picks up to `count` users for removal (see the module docs).
    pub(crate) fn select(&self, count: u64, force: bool) -> Selection {
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
                e.slot
                    .flags
                    .fetch_or(SELECTED, std::sync::atomic::Ordering::AcqRel);
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
                e.abort.abort();
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
        for e in self.lock().values() {
            e.slot.flags.fetch_or(SELECTED, Ordering::AcqRel);
            e.abort.abort();
        }
    }
}
