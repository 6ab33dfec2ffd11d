//! A span's latency second by second, for windows: "p99 over the last 10 s".
//!
//! The second being filled is a [`DenseBins`]; when a later second starts it becomes a
//! [`SparseHist`] in a ring of the last [`RECENT_SECONDS`] seconds. Any window inside that
//! ring (the open second included) merges into one histogram.

use std::collections::VecDeque;

use super::bins::{DenseBins, SparseHist};

/// How many seconds of per-second span histograms are kept: the longest window a threshold or
/// a view can ask for.
pub const RECENT_SECONDS: u64 = 300;

/// Per-second latency deltas of one span prefix.
#[derive(Clone, Debug, Default)]
pub struct SpanSeconds {
    open_sec: Option<u64>,
    open: DenseBins,
    /// Closed seconds that had events, oldest first, none older than [`RECENT_SECONDS`]
    /// before the open second.
    recent: VecDeque<(u64, SparseHist)>,
}

impl SpanSeconds {
    #[inline]
    fn roll(&mut self, sec: u64) {
        if self.open_sec == Some(sec) {
            return;
        }
        self.roll_slow(sec);
    }

    #[cold]
    fn roll_slow(&mut self, sec: u64) {
        if let Some(s) = self.open_sec
            && !self.open.is_empty()
        {
            self.recent.push_back((s, self.open.take()));
        }
        self.open_sec = Some(sec);
        while self
            .recent
            .front()
            .is_some_and(|(s, _)| s + RECENT_SECONDS <= sec)
        {
            self.recent.pop_front();
        }
    }

    /// Records a stop duration (µs) in second `sec`.
    #[inline]
    pub(crate) fn record(&mut self, sec: u64, us: u64) {
        self.roll(sec);
        self.open.record(us);
    }

    /// Records an exception in second `sec`.
    #[inline]
    pub(crate) fn record_exception(&mut self, sec: u64) {
        self.roll(sec);
        self.open.record_exception();
    }

    /// The histogram of one second (empty when nothing happened or it is no longer kept).
    pub fn second(&self, sec: u64) -> SparseHist {
        if self.open_sec == Some(sec) {
            return self.open.to_sparse();
        }
        self.recent
            .iter()
            .rev()
            .find(|(s, _)| *s == sec)
            .map(|(_, h)| h.clone())
            .unwrap_or_default()
    }

    /// The `n` seconds ending at `end_sec` (inclusive) merged; seconds no longer kept count as
    /// empty.
    pub fn window(&self, end_sec: u64, n: u64) -> SparseHist {
        let first = (end_sec + 1).saturating_sub(n);
        let mut out = SparseHist::default();
        for (s, h) in self.recent.iter().rev() {
            if *s < first {
                break;
            }
            if *s <= end_sec {
                out.merge(h);
            }
        }
        if let Some(s) = self.open_sec
            && (first..=end_sec).contains(&s)
        {
            out.merge(&self.open.to_sparse());
        }
        out
    }

    /// Heap bytes held (the dense open second and the kept seconds).
    pub fn heap_bytes(&self) -> usize {
        super::bins::BINS * 4
            + self.recent.capacity() * std::mem::size_of::<(u64, SparseHist)>()
            + self
                .recent
                .iter()
                .map(|(_, h)| h.heap_bytes())
                .sum::<usize>()
    }
}

/// The rolling window the latency pane shows beside the since-start figures.
pub const ROLLING_SECONDS: u64 = 10;

impl super::MonitorState {
    /// The latency of span `prefix` over the last `seconds` seconds of event time, ending
    /// with the open second (the latency pane's rolling window, [`ROLLING_SECONDS`]); `None`
    /// for an unknown prefix. At most [`RECENT_SECONDS`] are kept.
    pub fn span_recent(&self, prefix: &str, seconds: u64) -> Option<SparseHist> {
        let end = self.open_second()?;
        Some(self.span(prefix)?.seconds().window(end, seconds))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_merge_kept_seconds_and_the_open_one() {
        let mut s = SpanSeconds::default();
        s.record(10, 100);
        s.record(11, 200);
        s.record_exception(11);
        s.record(12, 300);
        let w = s.window(12, 2);
        assert_eq!(w.count(), 2);
        assert_eq!(w.exceptions(), 1);
        assert_eq!(w.max_us(), 300);
        assert_eq!(s.window(12, 10).count(), 3);
        assert_eq!(s.second(11).count(), 1);
        assert_eq!(s.second(9).count(), 0);
        s.record(10 + RECENT_SECONDS + 5, 1);
        assert_eq!(s.window(12, 3).count(), 0, "old seconds are dropped");
    }
}
