//! What a coordinator reports to the monitor and the control handle.

use std::time::Duration;

use super::item::ItemSnapshot;
use super::plan::{EventKind, Size};

/// Runs of one kind of event and the users in them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ExecuteTotals {
    /// How many times the actions ran (one per item and event).
    pub runs: u64,
    /// Users in those runs.
    pub users: u64,
}

/// [`ExecuteTotals`] per event kind.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ExecuteCounts {
    pub coordinate: ExecuteTotals,
    pub reset: ExecuteTotals,
    pub timeout: ExecuteTotals,
    pub stop: ExecuteTotals,
}

impl ExecuteCounts {
    /// The totals of one kind.
    pub fn get(&self, kind: EventKind) -> ExecuteTotals {
        match kind {
            EventKind::Coordinate => self.coordinate,
            EventKind::Reset => self.reset,
            EventKind::Timeout => self.timeout,
            EventKind::Stop => self.stop,
        }
    }

    fn get_mut(&mut self, kind: EventKind) -> &mut ExecuteTotals {
        match kind {
            EventKind::Coordinate => &mut self.coordinate,
            EventKind::Reset => &mut self.reset,
            EventKind::Timeout => &mut self.timeout,
            EventKind::Stop => &mut self.stop,
        }
    }

    pub(crate) fn merge(&mut self, other: &ExecuteCounts) {
        for kind in KINDS {
            let (t, o) = (self.get_mut(kind), other.get(kind));
            t.runs += o.runs;
            t.users += o.users;
        }
    }

    pub(crate) fn add(&mut self, runs: &[u64; 4], users: &[u64; 4]) {
        for kind in KINDS {
            let t = self.get_mut(kind);
            t.runs += runs[kind.index()];
            t.users += users[kind.index()];
        }
    }
}

const KINDS: [EventKind; 4] = [
    EventKind::Coordinate,
    EventKind::Reset,
    EventKind::Timeout,
    EventKind::Stop,
];

/// One plan item (normalised order: numbered items first, then `all`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ItemInfo {
    pub size: Size,
    /// The size of the batch being filled (the drawn one for a range); `None` for `all`.
    pub current_size: Option<usize>,
    /// Users held now.
    pub pending: usize,
    pub executes: ExecuteCounts,
    /// Sizes of the `coordinate` batches delivered, `(size, count)`, sorted by size.
    pub batch_sizes: Vec<(usize, u64)>,
    /// Actions that panicked (caught; the coordinator went on).
    pub action_failures: u64,
    /// Users taken out while held because their node went down (a real cluster's master).
    pub forgotten: u64,
}

impl ItemInfo {
    pub(crate) fn from_snapshot(size: Size, s: ItemSnapshot) -> ItemInfo {
        let mut executes = ExecuteCounts::default();
        executes.add(&s.stats.runs, &s.stats.users);
        ItemInfo {
            size,
            current_size: (size != Size::All).then_some(s.required),
            pending: s.pending,
            executes,
            forgotten: s.stats.forgotten,
            batch_sizes: s.stats.batch_sizes,
            action_failures: s.failures,
        }
    }
}

/// A coordinator as the monitor sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CoordinatorInfo {
    pub name: String,
    /// False once stopped.
    pub running: bool,
    /// `None`: no timeout.
    pub timeout: Option<Duration>,
    pub adds: u64,
    pub resets: u64,
    pub timeouts: u64,
    /// Summed over the items.
    pub executes: ExecuteCounts,
    pub items: Vec<ItemInfo>,
}
