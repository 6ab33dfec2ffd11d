//! The latency histograms of the HTTP stats: [`Hist`], an HDR histogram with its exact
//! maximum and one-pass quantiles, and [`Window`], the per-second histograms of the last
//! [`WINDOW_SECONDS`] behind the rolling p50 / p99 and their per-second series.

use hdrhistogram::Histogram;

use super::super::series::{DEFAULT_SECONDS, Series, SeriesKind};
use super::super::spans::SPAN_MAX_US;
use super::{Percentiles, WINDOW_SECONDS};

/// A histogram with its exact maximum.
#[derive(Clone, Debug)]
pub(super) struct Hist {
    h: Histogram<u64>,
    max: u64,
}

impl Hist {
    pub(super) fn new(sigfig: u8) -> Hist {
        Hist {
            // Constant bounds the crate accepts: cannot fail.
            h: Histogram::new_with_bounds(1, SPAN_MAX_US, sigfig).expect("constant bounds"),
            max: 0,
        }
    }

    pub(super) fn record(&mut self, us: u64) {
        self.max = self.max.max(us);
        self.h.saturating_record(us);
    }

    /// Quantiles `qs` (ascending), each what `value_at_quantile` gives (never above the exact
    /// maximum), in one pass over the counts: the HTTP pane asks for several every frame.
    /// (The crate's recorded-value iterator costs about ten times more per bin.)
    pub(super) fn quantiles<const N: usize>(&self, qs: [f64; N]) -> [u64; N] {
        let mut out = [0; N];
        if self.h.is_empty() {
            return out;
        }
        let mut values = self.h.value_at_quantiles(qs);
        for o in &mut out {
            // Quantiles out of order end the crate's pass: those left are the maximum.
            *o = values.next().unwrap_or(self.max).min(self.max);
        }
        out
    }

    pub(super) fn percentiles(&self) -> Percentiles {
        let [p50, p90, p99, p999] = self.quantiles([0.5, 0.9, 0.99, 0.999]);
        Percentiles {
            p50,
            p90,
            p99,
            p999,
            max: self.max,
        }
    }
}

/// Per-second latency histograms of the last [`WINDOW_SECONDS`], and the p50 / p99 of every
/// second that ended.
#[derive(Clone, Debug)]
pub(super) struct Window {
    secs: [Option<u64>; WINDOW_SECONDS],
    hists: Vec<Hist>,
    /// The latest second recorded, and its slot.
    last: Option<u64>,
    last_slot: usize,
    pub(super) p50: Series,
    pub(super) p99: Series,
}

impl Window {
    pub(super) fn new() -> Window {
        Window {
            secs: [None; WINDOW_SECONDS],
            hists: (0..WINDOW_SECONDS).map(|_| Hist::new(2)).collect(),
            last: None,
            last_slot: 0,
            p50: Series::new(SeriesKind::Counter, DEFAULT_SECONDS),
            p99: Series::new(SeriesKind::Counter, DEFAULT_SECONDS),
        }
    }

    fn slot(sec: u64) -> usize {
        (sec % WINDOW_SECONDS as u64) as usize
    }

    #[inline]
    pub(super) fn record(&mut self, sec: u64, us: u64) {
        if self.last == Some(sec) {
            // The common case: the latest second again, its slot known.
            self.hists[self.last_slot].record(us);
            return;
        }
        self.record_slow(sec, us);
    }

    #[cold]
    fn record_slow(&mut self, sec: u64, us: u64) {
        if let Some(last) = self.last
            && sec > last
        {
            // `last` has ended: its figures join the per-second series.
            let h = &self.hists[Window::slot(last)];
            let [p50, p99] = h.quantiles([0.5, 0.99]);
            self.p50.set(last, p50);
            self.p99.set(last, p99);
        }
        let i = Window::slot(sec);
        if self.secs[i] != Some(sec) {
            if self.secs[i].is_some_and(|s| s > sec) {
                return; // older than the window
            }
            self.hists[i].h.reset();
            self.hists[i].max = 0;
            self.secs[i] = Some(sec);
        }
        self.hists[i].record(us);
        if self.last.is_none_or(|l| sec >= l) {
            self.last = Some(sec);
            self.last_slot = i;
        }
    }

    /// The window's quantiles `qs` as of second `now` (the seconds `now - W + 1 ..= now`).
    /// No latency was recorded in the window that ends at second `now`.
    pub(super) fn is_empty_at(&self, now: u64) -> bool {
        let lo = now.saturating_sub(WINDOW_SECONDS as u64 - 1);
        !self
            .secs
            .iter()
            .zip(&self.hists)
            .any(|(s, h)| s.is_some_and(|s| s >= lo && s <= now) && !h.h.is_empty())
    }

    pub(super) fn quantiles<const N: usize>(&self, now: u64, qs: [f64; N]) -> [u64; N] {
        let lo = now.saturating_sub(WINDOW_SECONDS as u64 - 1);
        let mut merged = Hist::new(2);
        for (s, h) in self.secs.iter().zip(&self.hists) {
            if s.is_some_and(|s| s >= lo && s <= now) {
                let _ = merged.h.add(&h.h);
                merged.max = merged.max.max(h.max);
            }
        }
        merged.quantiles(qs)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::monitor::spans::SPAN_SIGFIG;

    #[test]
    fn one_pass_quantiles_agree_with_the_histogram_and_the_exact_values() {
        let mut h = Hist::new(SPAN_SIGFIG);
        let mut exact: Vec<u64> = (1..=10_000u64).map(|i| i * i % 97_001 + 1).collect();
        for &v in &exact {
            h.record(v);
        }
        exact.sort_unstable();
        let qs = [0.1, 0.5, 0.9, 0.99, 0.999, 1.0];
        let got = h.quantiles(qs);
        for (q, g) in qs.iter().zip(got) {
            assert_eq!(g, h.h.value_at_quantile(*q).min(h.max), "q {q}");
            // Within the 3 digits kept of the value at that rank, never above the maximum.
            let rank = ((q * exact.len() as f64).ceil() as usize).max(1);
            let want = exact[rank - 1];
            assert!(
                g >= want && g <= want + want / 1_000 + 1,
                "q {q}: {g} vs {want}"
            );
            assert!(g <= h.max);
        }
        assert_eq!(
            h.quantiles([0.99, 0.5]),
            [got[3], h.max],
            "out of order: the rest is max"
        );
        assert_eq!(Hist::new(2).quantiles([0.5, 0.99]), [0, 0], "empty");
    }

    #[test]
    fn a_late_record_goes_to_its_own_second_and_the_latest_stays() {
        let mut w = Window::new();
        w.record(4, 100);
        w.record(5, 200);
        w.record(4, 300); // late: second 4 is still in the window
        w.record(5, 250);
        assert_eq!(w.quantiles(4, [1.0]), [300]);
        assert_eq!(w.quantiles(5, [0.5, 1.0]), [200, 300]);
        // Second 4 ended when 5 began: its p99 was taken then, without the late record.
        assert_eq!(w.p99.at(4), 100);
        w.record(6, 1);
        assert_eq!(w.p99.at(5), 250);
        // Older than the window: dropped.
        w.record(6 + WINDOW_SECONDS as u64, 7);
        w.record(6, 9_000);
        assert_eq!(w.quantiles(6 + WINDOW_SECONDS as u64, [1.0]), [7]);
    }
}
