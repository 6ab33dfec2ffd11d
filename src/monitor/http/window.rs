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

    fn quantile(&self, q: f64) -> u64 {
        self.quantiles([q])[0]
    }

    /// Quantiles `qs` (ascending) in one pass over the histogram (what `value_at_quantile`
    /// gives for each, without a pass per quantile): the pane asks for several every frame.
    pub(super) fn quantiles<const N: usize>(&self, qs: [f64; N]) -> [u64; N] {
        let mut out = [0; N];
        let total = self.h.len();
        if total == 0 {
            return out;
        }
        let rank = |q: f64| ((q.clamp(0.0, 1.0) * total as f64).ceil() as u64).max(1);
        let mut next = 0;
        let mut seen = 0u64;
        for v in self.h.iter_recorded() {
            seen += v.count_since_last_iteration();
            while next < N && seen >= rank(qs[next]) {
                out[next] = v.value_iterated_to().min(self.max);
                next += 1;
            }
            if next == N {
                break;
            }
        }
        for o in out.iter_mut().skip(next) {
            *o = self.max;
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
    last: Option<u64>,
    pub(super) p50: Series,
    pub(super) p99: Series,
}

impl Window {
    pub(super) fn new() -> Window {
        Window {
            secs: [None; WINDOW_SECONDS],
            hists: (0..WINDOW_SECONDS).map(|_| Hist::new(2)).collect(),
            last: None,
            p50: Series::new(SeriesKind::Counter, DEFAULT_SECONDS),
            p99: Series::new(SeriesKind::Counter, DEFAULT_SECONDS),
        }
    }

    fn slot(sec: u64) -> usize {
        (sec % WINDOW_SECONDS as u64) as usize
    }

    pub(super) fn record(&mut self, sec: u64, us: u64) {
        if let Some(last) = self.last
            && sec > last
        {
            // `last` has ended: its figures join the per-second series.
            let h = &self.hists[Window::slot(last)];
            self.p50.set(last, h.quantile(0.5));
            self.p99.set(last, h.quantile(0.99));
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
        self.last = Some(self.last.map_or(sec, |l| l.max(sec)));
    }

    /// The window's quantiles `qs` as of second `now` (the seconds `now - W + 1 ..= now`).
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
    fn one_pass_quantiles_agree_with_the_histogram() {
        let mut h = Hist::new(SPAN_SIGFIG);
        for v in (1..=10_000u64).map(|i| i * i % 97_001 + 1) {
            h.record(v);
        }
        let qs = [0.0, 0.1, 0.5, 0.9, 0.99, 0.999, 1.0];
        let got = h.quantiles(qs);
        for (q, g) in qs.iter().zip(got) {
            assert_eq!(g, h.h.value_at_quantile(*q).min(h.max), "q {q}");
        }
    }
}
