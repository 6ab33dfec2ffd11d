//! Several logs (one per node, as a cluster records them) merged into one stream by time.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::path::PathBuf;

use chrono::{DateTime, Utc};

use super::reader::{LogReader, ReadOptions, ReadStats};
use super::{LogError, LoggedEvent};

/// A k-way merge of logs by time. Each log's `t_us` is shifted so that all are measured from
/// the earliest `started_at`; ties keep file order. Memory: one pending event per file.
#[derive(Debug)]
pub struct MergedReader {
    readers: Vec<LogReader>,
    /// Microseconds added to each reader's `t_us`.
    offsets: Vec<u64>,
    heap: BinaryHeap<Reverse<(u64, usize)>>,
    /// The next event of each reader (valid while its index is in `heap`).
    pending: Vec<LoggedEvent>,
    started_at: DateTime<Utc>,
    primed: bool,
}

impl MergedReader {
    /// Opens every file and reads their headers.
    pub fn open(paths: &[PathBuf], options: ReadOptions) -> Result<MergedReader, LogError> {
        let readers = paths
            .iter()
            .map(|p| LogReader::open(p, options))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Self::new(readers))
    }

    /// Merges already opened readers.
    pub fn new(readers: Vec<LogReader>) -> MergedReader {
        let started_at = readers
            .iter()
            .map(|r| r.header().started_at)
            .min()
            .unwrap_or_else(Utc::now);
        let offsets = readers
            .iter()
            .map(|r| {
                (r.header().started_at - started_at)
                    .num_microseconds()
                    .map_or(0, |us| us.max(0) as u64)
            })
            .collect();
        let n = readers.len();
        MergedReader {
            readers,
            offsets,
            heap: BinaryHeap::with_capacity(n),
            pending: (0..n).map(|_| LoggedEvent::placeholder()).collect(),
            started_at,
            primed: false,
        }
    }

    /// The earliest `started_at`: `t_us = 0` of the merged stream.
    pub fn started_at(&self) -> DateTime<Utc> {
        self.started_at
    }

    /// The readers (for their headers and paths).
    pub fn readers(&self) -> &[LogReader] {
        &self.readers
    }

    fn pull(&mut self, i: usize) -> Result<(), LogError> {
        let ev = &mut self.pending[i];
        if self.readers[i].next_into(ev)? {
            ev.t_us = ev.t_us.saturating_add(self.offsets[i]);
            self.heap.push(Reverse((ev.t_us, i)));
        }
        Ok(())
    }

    /// The next event of the merged stream, `Ok(None)` when every file is done.
    #[allow(clippy::should_implement_trait)]
    pub fn next(&mut self) -> Result<Option<LoggedEvent>, LogError> {
        let mut ev = LoggedEvent::placeholder();
        Ok(self.next_into(&mut ev)?.then_some(ev))
    }

    /// The next event into `out` (its buffers are swapped with the reader's, so a loop reusing
    /// one event allocates nothing for them); `Ok(false)` when every file is done.
    pub fn next_into(&mut self, out: &mut LoggedEvent) -> Result<bool, LogError> {
        if !self.primed {
            self.primed = true;
            for i in 0..self.readers.len() {
                self.pull(i)?;
            }
        }
        let Some(Reverse((_, i))) = self.heap.pop() else {
            return Ok(false);
        };
        std::mem::swap(out, &mut self.pending[i]);
        self.pull(i)?;
        Ok(true)
    }

    /// The first file whose `.gz` data went on after its compressed stream with data that is
    /// not gzip (see [`ReadStats::trailing`]).
    pub fn trailing(&self) -> Option<&super::TrailingData> {
        self.readers
            .iter()
            .find_map(|r| r.stats().trailing.as_ref())
    }

    /// Warnings so far over every file (cheap: no copy).
    pub fn warning_count(&self) -> u64 {
        self.readers.iter().map(|r| r.stats().warning_count()).sum()
    }

    /// Warnings and counts of all files together.
    pub fn stats(&self) -> ReadStats {
        let mut s = ReadStats::default();
        for r in &self.readers {
            s.absorb(r.stats());
        }
        s
    }
}
