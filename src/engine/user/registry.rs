//! The registry of one controller's users: who exists, who runs, who was picked for removal,
//! and the "last one out" signal.
//!
//! Users are kept in id order. A removal picks the lowest ids among the users that run and
//! have not been picked before (Amoc takes "roughly the oldest" and may pick the same users
//! twice in quick calls; Rookery never does), then users still waiting on `user_rate`, which
//! are cancelled at once since they have not started.
//!
//! A user that starts while a removal walks the registry cannot escape it: the second pass
//! claims every user it counts with one atomic `SELECTED` mark and reads in the same step
//! whether the user had started. One that had (it started between the passes) is handled as
//! a running user, signalled and, for a forced removal or a stop, cancelled after the grace
//! period; one that had not can no longer start (it sees `SELECTED` when it tries).

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use tokio::sync::Notify;
use tokio::task::AbortHandle;

use super::slot::{ENDED, SELECTED, STARTED, UserSlot};
use super::task::Outcome;

struct Entry {
    slot: Arc<UserSlot>,
    abort: AbortHandle,
}

/// The users of one controller.
#[derive(Default)]
pub(crate) struct Users {
    map: Mutex<BTreeMap<u64, Entry>>,
    /// Added and not started: spawned and waiting on `user_rate`, or not spawned yet (a long
    /// add spawns in chunks).
    waiting: AtomicU64,
    running: AtomicU64,
    /// Users that started and ended, by [`Outcome`] (returned, failed, cancelled).
    ended: [AtomicU64; 3],
    /// Notified when the number of live users drops to 0.
    last_out: Notify,
    /// The users a stop took out of the registry, kept until they are all out so that a halt
    /// meanwhile still cancels them.
    leaving: Mutex<Vec<Entry>>,
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

    /// `n` expected users will never be spawned (their add was interrupted).
    pub(crate) fn unexpect(&self, n: u64) {
        if n > 0 {
            self.waiting.fetch_sub(n, Ordering::SeqCst);
            self.check_last_out();
        }
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

    /// Users still waiting on `user_rate` (or not spawned yet).
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

    /// Completes when no user is live (at once if none is).
    pub(crate) async fn all_out(&self) {
        loop {
            let notified = self.last_out.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if self.live() == 0 {
                return;
            }
            notified.await;
        }
    }

    fn check_last_out(&self) {
        if self.live() == 0 {
            self.last_out.notify_waiters();
        }
    }

    /// A waiting user got its turn; false if it was picked for removal meanwhile.
    pub(crate) fn started(&self, slot: &UserSlot) -> bool {
        let prev = slot.set(STARTED);
        if prev & SELECTED != 0 {
            slot.clear(STARTED);
            return false;
        }
        self.running.fetch_add(1, Ordering::SeqCst);
        self.waiting.fetch_sub(1, Ordering::SeqCst);
        true
    }

    /// A user ended; the last one out wakes [`all_out`](Self::all_out).
    pub(crate) fn ended(&self, slot: &UserSlot, outcome: Outcome) {
        slot.set(ENDED);
        self.lock().remove(&slot.id);
        if slot.has(STARTED) {
            self.ended[outcome as usize].fetch_add(1, Ordering::SeqCst);
            self.running.fetch_sub(1, Ordering::SeqCst);
        } else {
            self.waiting.fetch_sub(1, Ordering::SeqCst);
        }
        self.check_last_out();
    }

    /// Picks up to `count` users for removal (see the module docs). Tasks are cancelled only
    /// after the registry is unlocked: a task dropped at once (its runtime is shutting down)
    /// unregisters itself.
    pub(crate) fn select(&self, count: u64, force: bool) -> Selection {
        let mut abort_now = Vec::new();
        let sel = self.pick(count, force, &mut abort_now, || {});
        for h in abort_now {
            h.abort();
        }
        sel
    }

    /// The two passes of a removal; `between` runs between them (tests use it to start a
    /// user at the worst moment).
    fn pick(
        &self,
        count: u64,
        force: bool,
        abort_now: &mut Vec<AbortHandle>,
        between: impl FnOnce(),
    ) -> Selection {
        let map = self.lock();
        let mut sel = Selection {
            picked: 0,
            abort_later: Vec::new(),
        };
        let running = |e: &Entry, sel: &mut Selection| {
            e.slot.signal_removal();
            if force {
                sel.abort_later.push(e.abort.clone());
            }
            sel.picked += 1;
        };
        for e in map.values() {
            if sel.picked == count {
                break;
            }
            if e.slot.has(STARTED) && !e.slot.has(SELECTED) {
                e.slot.set(SELECTED);
                running(e, &mut sel);
            }
        }
        between();
        for e in map.values() {
            if sel.picked == count {
                break;
            }
            let prev = e.slot.set(SELECTED);
            if prev & SELECTED != 0 {
                continue;
            }
            if prev & STARTED != 0 {
                // Started after the first pass looked at it: a running user now.
                running(e, &mut sel);
            } else {
                // Waiting: it cannot start any more (it sees SELECTED); cancel it now.
                e.slot.signal_removal();
                abort_now.push(e.abort.clone());
                sel.picked += 1;
            }
        }
        sel
    }

    /// A stop: every user is asked to leave, whether or not an earlier removal picked it
    /// (a user picked by a soft removal that ignores the signal is still cancelled after the
    /// grace period). Users that have not started are cancelled at once and can no longer
    /// start. The registry is emptied in one step (the users' ends then find nothing to
    /// remove), its entries kept until [`clear_leaving`](Self::clear_leaving).
    pub(crate) fn select_all(&self) -> Selection {
        let map = std::mem::take(&mut *self.lock());
        let mut sel = Selection {
            picked: 0,
            abort_later: Vec::new(),
        };
        let mut abort_now = Vec::new();
        let mut leaving = Vec::with_capacity(map.len());
        for e in map.into_values() {
            let prev = e.slot.set(SELECTED);
            e.slot.signal_removal();
            if prev & STARTED != 0 {
                sel.abort_later.push(e.abort.clone());
            } else {
                abort_now.push(e.abort.clone());
            }
            if prev & SELECTED == 0 {
                sel.picked += 1;
            }
            leaving.push(e);
        }
        self.leaving
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .extend(leaving);
        for h in abort_now {
            h.abort();
        }
        sel
    }

    /// Forgets the users a stop took out (they are all out).
    pub(crate) fn clear_leaving(&self) {
        let gone = std::mem::take(&mut *self.leaving.lock().unwrap_or_else(|e| e.into_inner()));
        drop(gone);
    }

    /// Cancels every user now.
    pub(crate) fn abort_all(&self) {
        let mark = |e: &Entry| {
            e.slot.set(SELECTED);
            e.abort.clone()
        };
        let mut handles: Vec<AbortHandle> = self.lock().values().map(mark).collect();
        let leaving = self.leaving.lock().unwrap_or_else(|e| e.into_inner());
        handles.extend(leaving.iter().map(mark));
        drop(leaving);
        for h in handles {
            h.abort();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Registers `n` users (ids 1..=n) whose tasks never run, as if waiting on `user_rate`.
    fn users(rt: &tokio::runtime::Runtime, n: u64) -> (Users, Vec<Arc<UserSlot>>) {
        let users = Users::default();
        users.expect(n);
        let slots: Vec<Arc<UserSlot>> = (1..=n).map(|id| Arc::new(UserSlot::new(id))).collect();
        let spawned = slots
            .iter()
            .map(|s| {
                let h = rt.spawn(std::future::pending::<()>()).abort_handle();
                (s.clone(), h)
            })
            .collect();
        users.insert(spawned);
        (users, slots)
    }

    fn rt() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("a runtime")
    }

    /// Issue 12 item 6: a user that starts between the two passes of a stop's pick used to be
    /// left unpicked (and the stop then waited for it forever).
    #[test]
    fn a_user_starting_between_the_passes_of_a_stop_is_picked() {
        let rt = rt();
        let (users, slots) = users(&rt, 3);
        assert!(users.started(&slots[0]), "user 1 runs before the stop");
        let mut abort_now = Vec::new();
        let sel = users.pick(u64::MAX, true, &mut abort_now, || {
            // User 2 gets its turn on user_rate right between the passes.
            assert!(users.started(&slots[1]));
        });
        assert_eq!(sel.picked, 3, "every user is picked");
        for s in &slots {
            assert!(
                s.has(SELECTED) && s.has(super::super::slot::REMOVE),
                "{}",
                s.id
            );
        }
        assert_eq!(
            sel.abort_later.len(),
            2,
            "both running users are cancelled after the grace period"
        );
        assert_eq!(abort_now.len(), 1, "the waiting user is cancelled at once");
        assert!(
            !users.started(&slots[2]),
            "a picked waiting user never starts"
        );
    }

    #[test]
    fn a_soft_removal_counts_a_user_that_started_between_the_passes_once() {
        let rt = rt();
        let (users, slots) = users(&rt, 4);
        assert!(users.started(&slots[3]));
        let mut abort_now = Vec::new();
        let sel = users.pick(2, false, &mut abort_now, || {
            assert!(users.started(&slots[0]));
        });
        assert_eq!(sel.picked, 2);
        assert!(slots[3].has(SELECTED), "the running user is picked first");
        assert!(
            slots[0].has(SELECTED),
            "then the one that started meanwhile"
        );
        assert!(abort_now.is_empty() && sel.abort_later.is_empty());
        assert!(!slots[1].has(SELECTED) && !slots[2].has(SELECTED));
        let again = users.select(10, false);
        assert_eq!(again.picked, 2, "never picked twice: only the two left");
    }

    /// A user picked by a soft removal that ignores the signal is still cancelled by a stop.
    #[test]
    fn a_stop_also_cancels_users_an_earlier_soft_removal_picked() {
        let rt = rt();
        let (users, slots) = users(&rt, 3);
        assert!(users.started(&slots[0]));
        assert!(users.started(&slots[1]));
        assert_eq!(users.select(1, false).picked, 1);
        let stop = users.select_all();
        assert_eq!(stop.picked, 2, "two users were not picked before");
        assert_eq!(
            stop.abort_later.len(),
            2,
            "both running users, the one picked before included, are cancelled after the grace"
        );
        assert!(!users.started(&slots[2]), "the waiting user never starts");
        assert!(
            users.lock().is_empty(),
            "the registry is emptied in one step"
        );
    }

    #[test]
    fn the_last_one_out_is_signalled() {
        let rt = rt();
        let (users, slots) = users(&rt, 2);
        rt.block_on(async {
            let mut out = Box::pin(users.all_out());
            assert!(futures::poll!(out.as_mut()).is_pending());
            users.ended(&slots[0], Outcome::Cancelled);
            assert!(futures::poll!(out.as_mut()).is_pending());
            assert!(users.started(&slots[1]));
            users.ended(&slots[1], Outcome::Returned);
            assert!(futures::poll!(out.as_mut()).is_ready());
            assert_eq!(users.ended_with(Outcome::Returned), 1);
            assert_eq!(users.live(), 0);
        });
    }
}
