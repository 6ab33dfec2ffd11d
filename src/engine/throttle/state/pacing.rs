//! Paced releases: the evenly spaced instants, and the window of actual release times that
//! keeps a late scheduler from bunching them.

use std::time::{Duration, Instant};

use super::super::config::Mode;
use super::{State, WINDOW_MAX};

/// `at + ⌈k · interval / rate⌉`, or `None` if it lies beyond any representable instant.
pub(super) fn slot_time(at: Instant, k: u64, rate: u64, interval_ns: u128) -> Option<Instant> {
    let off = u128::from(k)
        .checked_mul(interval_ns)?
        .div_ceil(u128::from(rate));
    at.checked_add(Duration::from_nanos(u64::try_from(off).ok()?))
}

impl State {
    pub(super) fn rebase(&mut self, at: Instant) {
        self.anchor = at;
        self.k = 0;
        self.next_slot = Some(at);
    }

    /// Restarts the paced sequence after a change: next release at `max(now, last + period)`,
    /// with an empty window (releases made before the change do not count against the new
    /// rate).
    pub(super) fn reanchor(&mut self, now: Instant) {
        self.window.clear();
        if let Mode::Paced { rate, interval_ns } = self.config.mode() {
            let base = self
                .last
                .and_then(|l| slot_time(l, 1, rate, interval_ns))
                .map_or(now, |t| t.max(now));
            self.rebase(base);
        }
    }

    /// The earliest instant at which a paced release may happen: the next evenly spaced
    /// instant, and not before the `rate`-th last release is one interval old.
    pub(super) fn paced_gate(&self, rate: u64, interval_ns: u128) -> Option<Instant> {
        let slot = self.next_slot?;
        if rate > WINDOW_MAX || (self.window.len() as u64) < rate {
            return Some(slot);
        }
        let front = u128::from(*self.window.front()?);
        let at = u64::try_from(front + interval_ns).ok()?;
        Some(slot.max(self.epoch.checked_add(Duration::from_nanos(at))?))
    }

    /// Books a paced release made at `now` for the instant `slot`.
    pub(super) fn paced_release(
        &mut self,
        now: Instant,
        slot: Instant,
        rate: u64,
        interval_ns: u128,
    ) {
        self.last = Some(slot);
        self.k += 1;
        self.next_slot = slot_time(self.anchor, self.k, rate, interval_ns);
        if rate <= WINDOW_MAX {
            let ns = u64::try_from(now.duration_since(self.epoch).as_nanos()).unwrap_or(u64::MAX);
            self.window.push_back(ns);
            while self.window.len() as u64 > rate {
                self.window.pop_front();
            }
        }
    }
}
