//! Catch-up: instants that came due while nobody waited, owed to the next requests.

use std::time::Instant;

use super::super::config::Mode;
use super::{State, slot_time};

/// Owed instants `anchor + ⌈k · interval / rate⌉` for `k` in `from..to` (catch-up).
#[derive(Clone, Copy)]
pub(super) struct Owed {
    anchor: Instant,
    rate: u64,
    interval_ns: u128,
    from: u64,
    to: u64,
}

impl State {
    pub(super) fn catching_up(&self) -> bool {
        self.config.catch_up > 0 && matches!(self.config.mode(), Mode::Paced { .. })
    }

    /// Catch-up: every instant due by `now` becomes owed (at most `catch_up` are kept).
    pub(super) fn accrue(&mut self, now: Instant) {
        let Mode::Paced { rate, interval_ns } = self.config.mode() else {
            return;
        };
        if self.config.catch_up == 0 || !self.releasing() {
            return;
        }
        match self.next_slot {
            Some(next) if next <= now => {}
            _ => return,
        }
        // The last due index: ⌈j · I / r⌉ ≤ x  ⇔  j ≤ ⌊x · r / I⌋.
        let x = now.duration_since(self.anchor).as_nanos();
        let Some(j) = x
            .checked_mul(u128::from(rate))
            .map(|v| v / interval_ns)
            .and_then(|j| u64::try_from(j).ok())
        else {
            return;
        };
        if j < self.k {
            return;
        }
        let cap = self.config.catch_up;
        let to = j.saturating_add(1);
        let from = self.k.max(to.saturating_sub(cap));
        match self.owed.back_mut() {
            Some(b) if b.anchor == self.anchor && b.rate == rate && b.to == from => b.to = to,
            _ => self.owed.push_back(Owed {
                anchor: self.anchor,
                rate,
                interval_ns,
                from,
                to,
            }),
        }
        self.owed_total = self.owed_total.saturating_add(to - from);
        self.last = slot_time(self.anchor, j, rate, interval_ns);
        self.k = to;
        self.next_slot = slot_time(self.anchor, self.k, rate, interval_ns);
        while self.owed_total > cap {
            let Some(front) = self.owed.front_mut() else {
                break;
            };
            let drop = (self.owed_total - cap).min(front.to - front.from);
            front.from += drop;
            self.owed_total -= drop;
            if front.from == front.to {
                self.owed.pop_front();
            }
        }
    }

    /// The oldest owed instant.
    pub(super) fn owed_front(&self) -> Option<Instant> {
        let o = self.owed.front()?;
        slot_time(o.anchor, o.from, o.rate, o.interval_ns)
    }

    pub(super) fn pop_owed(&mut self) {
        if let Some(front) = self.owed.front_mut() {
            front.from += 1;
            self.owed_total -= 1;
            if front.from >= front.to {
                self.owed.pop_front();
            }
        }
    }

    pub(super) fn drop_owed(&mut self) {
        self.owed.clear();
        self.owed_total = 0;
    }

    /// Instants owed to the next requests at `now` (catch-up throttles; 0 otherwise).
    pub fn overdue(&mut self, now: Instant) -> u64 {
        self.accrue(now);
        self.owed_total
    }
}
