//! Per-coordinator state and execute statistics.

use smol_str::SmolStr;

/// Statistics of `[amoc, coordinator, execute]` events of one kind.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ExecStats {
    /// Execute events.
    pub events: u64,
    /// Sum of their `count` (users in the batch).
    pub users: u64,
    /// Smallest and largest batch seen (0 before the first).
    pub min_batch: u64,
    pub max_batch: u64,
}

impl ExecStats {
    #[inline]
    pub(crate) fn record(&mut self, batch: u64) {
        if self.events == 0 || batch < self.min_batch {
            self.min_batch = batch;
        }
        self.max_batch = self.max_batch.max(batch);
        self.events = self.events.saturating_add(1);
        self.users = self.users.saturating_add(batch);
    }

    /// Mean users per batch (0 when no event).
    pub fn mean_batch(&self) -> f64 {
        if self.events == 0 {
            0.0
        } else {
            self.users as f64 / self.events as f64
        }
    }
}

/// The kinds of execute Amoc reports (`event` metadata), plus anything else seen.
pub const EXEC_KINDS: [&str; 4] = ["coordinate", "reset", "timeout", "stop"];

/// Execute statistics by kind.
#[derive(Clone, Debug, Default)]
pub struct ExecByKind {
    /// Indexed like [`EXEC_KINDS`].
    pub known: [ExecStats; 4],
    /// Kinds outside [`EXEC_KINDS`] (bounded: at most 16 distinct, then folded into `"?"`).
    pub other: Vec<(SmolStr, ExecStats)>,
}

impl ExecByKind {
    #[inline]
    pub(crate) fn record(&mut self, kind: &str, batch: u64) {
        if let Some(i) = EXEC_KINDS.iter().position(|k| *k == kind) {
            self.known[i].record(batch);
            return;
        }
        let kind = if self.other.len() >= 16 && !self.other.iter().any(|(k, _)| k == kind) {
            "?"
        } else {
            kind
        };
        match self.other.iter_mut().find(|(k, _)| k == kind) {
            Some((_, s)) => s.record(batch),
            None => {
                let mut s = ExecStats::default();
                s.record(batch);
                self.other.push((SmolStr::new(kind), s));
            }
        }
    }

    /// Every kind with its statistics: the four Amoc kinds always, then others seen.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &ExecStats)> {
        EXEC_KINDS
            .iter()
            .copied()
            .zip(self.known.iter())
            .chain(self.other.iter().map(|(k, s)| (k.as_str(), s)))
    }

    /// Total execute events of all kinds.
    pub fn events(&self) -> u64 {
        self.iter()
            .fold(0u64, |a, (_, s)| a.saturating_add(s.events))
    }
}

/// Everything known about one coordinator.
#[derive(Clone, Debug)]
pub struct CoordinatorState {
    pub name: SmolStr,
    pub start: u64,
    pub stop: u64,
    pub add: u64,
    pub reset: u64,
    pub timeout: u64,
    /// Executes attributed to this coordinator (see `MonitorState::apply` for the rule).
    pub executes: ExecByKind,
}

impl CoordinatorState {
    pub(crate) fn new(name: SmolStr) -> Self {
        CoordinatorState {
            name,
            start: 0,
            stop: 0,
            add: 0,
            reset: 0,
            timeout: 0,
            executes: ExecByKind::default(),
        }
    }

    /// Started more often than stopped.
    pub fn running(&self) -> bool {
        self.start > self.stop
    }
}
