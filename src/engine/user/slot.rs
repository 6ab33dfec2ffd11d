//! The part of a user its controller shares with its task: the id and the lifecycle flags.
//!
//! Every change of a flag is one atomic read-modify-write on one byte, so the task and the
//! controller agree on who came first: a user that sets [`STARTED`] and sees [`SELECTED`]
//! already set was picked while waiting and does not start; a removal that sets `SELECTED`
//! and sees `STARTED` already set treats the user as running.

use std::sync::atomic::{AtomicU8, Ordering};

use futures::task::AtomicWaker;

/// Passed `user_rate` and entered the scenario's `start`.
pub(crate) const STARTED: u8 = 1;
/// Picked for removal (soft or forced, or by a stop); never picked twice.
pub(crate) const SELECTED: u8 = 2;
/// The removal signal has been sent.
pub(crate) const REMOVE: u8 = 4;
/// The task has ended (or was dropped).
pub(crate) const ENDED: u8 = 8;

/// One user's id and flags.
#[derive(Debug)]
pub(crate) struct UserSlot {
    pub(crate) id: u64,
    flags: AtomicU8,
    waker: AtomicWaker,
}

impl UserSlot {
    pub(crate) fn new(id: u64) -> UserSlot {
        UserSlot {
            id,
            flags: AtomicU8::new(0),
            waker: AtomicWaker::new(),
        }
    }

    pub(crate) fn has(&self, flag: u8) -> bool {
        self.flags.load(Ordering::Acquire) & flag != 0
    }

    /// Sets `flag`; returns the flags as they were before.
    pub(crate) fn set(&self, flag: u8) -> u8 {
        self.flags.fetch_or(flag, Ordering::AcqRel)
    }

    /// Clears `flag`.
    pub(crate) fn clear(&self, flag: u8) {
        self.flags.fetch_and(!flag, Ordering::AcqRel);
    }

    /// Sends the soft-removal signal.
    pub(crate) fn signal_removal(&self) {
        self.set(REMOVE);
        self.waker.wake();
    }

    /// Registers the waker of a task waiting for the removal signal.
    pub(crate) fn register(&self, waker: &std::task::Waker) {
        self.waker.register(waker);
    }
}
