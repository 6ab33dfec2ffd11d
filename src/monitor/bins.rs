//! Compact latency histograms for windows of time: log-linear bins (64 per power of two, so
//! a value is known to within 1.6 %), kept sparse.
//!
//! The since-start latency of a span is an HDR histogram ([`SpanStats`](super::SpanStats)),
//! about 190 KB each. A per-second delta cannot afford that: a [`SparseHist`] holds only the
//! bins a second touched (8 bytes each, at most [`BINS`]), and any run of seconds merges into
//! one to answer p50/p90/p99/max for that window.

use super::spans::SPAN_MAX_US;

/// Sub-bins per power of two.
const SUB: u64 = 64;
const SUB_BITS: u32 = 6;

/// How many bins there are: values 0–63 exactly, then 64 bins per power of two up to
/// [`SPAN_MAX_US`] (larger values go to the last bin).
pub const BINS: usize = bin_of_unclamped(SPAN_MAX_US) as usize + 1;

const fn bin_of_unclamped(us: u64) -> u16 {
    if us < SUB {
        return us as u16;
    }
    let e = 63 - us.leading_zeros(); // ≥ SUB_BITS
    let shift = e - SUB_BITS;
    let sub = (us >> shift) - SUB; // 0..SUB
    (SUB + (shift as u64) * SUB + sub) as u16
}

/// The bin of a value in µs (values above [`SPAN_MAX_US`] share the last bin).
#[inline]
pub fn bin_of(us: u64) -> u16 {
    bin_of_unclamped(us.min(SPAN_MAX_US))
}

/// The highest value that falls in `bin`, µs.
pub fn bin_high(bin: u16) -> u64 {
    let b = bin as u64;
    if b < SUB {
        return b;
    }
    let shift = (b - SUB) / SUB;
    let sub = (b - SUB) % SUB;
    ((SUB + sub) << shift) + (1u64 << shift) - 1
}

/// A histogram of the bins some values fell in, sorted by bin, plus their count, exact
/// maximum and the exceptions seen beside them.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SparseHist {
    /// `(bin, count)`, sorted by bin, counts > 0.
    bins: Vec<(u16, u32)>,
    count: u64,
    max_us: u64,
    exceptions: u64,
}

impl SparseHist {
    /// Values recorded.
    pub fn count(&self) -> u64 {
        self.count
    }
    /// The exact largest value (0 when empty).
    pub fn max_us(&self) -> u64 {
        self.max_us
    }
    /// Exceptions counted beside the values.
    pub fn exceptions(&self) -> u64 {
        self.exceptions
    }
    /// Distinct bins held (what the memory use grows with, at most [`BINS`]).
    pub fn bins_len(&self) -> usize {
        self.bins.len()
    }

    /// The value at quantile `q` (0–1): the top of the bin it falls in, never above the exact
    /// maximum; `None` when empty.
    pub fn quantile_us(&self, q: f64) -> Option<u64> {
        if self.count == 0 {
            return None;
        }
        let rank = ((q.clamp(0.0, 1.0) * self.count as f64).ceil() as u64).max(1);
        let mut seen = 0u64;
        for &(bin, c) in &self.bins {
            seen += c as u64;
            if seen >= rank {
                return Some(bin_high(bin).min(self.max_us));
            }
        }
        Some(self.max_us)
    }

    /// Adds another histogram into this one (a merge of two sorted lists).
    pub fn merge(&mut self, other: &SparseHist) {
        self.count += other.count;
        self.max_us = self.max_us.max(other.max_us);
        self.exceptions += other.exceptions;
        if other.bins.is_empty() {
            return;
        }
        if self.bins.is_empty() {
            self.bins.clone_from(&other.bins);
            return;
        }
        let mut out = Vec::with_capacity(self.bins.len() + other.bins.len());
        let (mut i, mut j) = (0, 0);
        let (a, b) = (&self.bins, &other.bins);
        while i < a.len() && j < b.len() {
            match a[i].0.cmp(&b[j].0) {
                std::cmp::Ordering::Less => {
                    out.push(a[i]);
                    i += 1;
                }
                std::cmp::Ordering::Greater => {
                    out.push(b[j]);
                    j += 1;
                }
                std::cmp::Ordering::Equal => {
                    out.push((a[i].0, a[i].1.saturating_add(b[j].1)));
                    i += 1;
                    j += 1;
                }
            }
        }
        out.extend_from_slice(&a[i..]);
        out.extend_from_slice(&b[j..]);
        self.bins = out;
    }

    /// Heap bytes held.
    pub fn heap_bytes(&self) -> usize {
        self.bins.capacity() * std::mem::size_of::<(u16, u32)>()
    }
}

/// The bins of the second being filled: a dense array (O(1) per value) and the list of bins
/// touched, turned into a [`SparseHist`] when the second ends.
#[derive(Clone, Debug)]
pub struct DenseBins {
    counts: Box<[u32]>,
    touched: Vec<u16>,
    count: u64,
    max_us: u64,
    exceptions: u64,
}

impl Default for DenseBins {
    fn default() -> Self {
        DenseBins {
            counts: vec![0; BINS].into_boxed_slice(),
            touched: Vec::new(),
            count: 0,
            max_us: 0,
            exceptions: 0,
        }
    }
}

impl DenseBins {
    #[inline]
    pub fn record(&mut self, us: u64) {
        let b = bin_of(us) as usize;
        let c = &mut self.counts[b];
        if *c == 0 {
            self.touched.push(b as u16);
        }
        *c = c.saturating_add(1);
        self.count += 1;
        self.max_us = self.max_us.max(us);
    }

    #[inline]
    pub fn record_exception(&mut self) {
        self.exceptions += 1;
    }

    pub fn is_empty(&self) -> bool {
        self.count == 0 && self.exceptions == 0
    }

    /// The sparse copy, leaving this one as it is.
    pub fn to_sparse(&self) -> SparseHist {
        let mut bins: Vec<(u16, u32)> = self
            .touched
            .iter()
            .map(|&b| (b, self.counts[b as usize]))
            .collect();
        bins.sort_unstable_by_key(|&(b, _)| b);
        SparseHist {
            bins,
            count: self.count,
            max_us: self.max_us,
            exceptions: self.exceptions,
        }
    }

    /// The sparse copy, and this one emptied (only the bins touched are cleared).
    pub fn take(&mut self) -> SparseHist {
        let out = self.to_sparse();
        for &b in &self.touched {
            self.counts[b as usize] = 0;
        }
        self.touched.clear();
        self.count = 0;
        self.max_us = 0;
        self.exceptions = 0;
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bins_are_ordered_and_tight() {
        let mut last = 0;
        for v in [0u64, 1, 63, 64, 65, 127, 128, 1000, 250_000, 3_600_000_000] {
            let b = bin_of(v);
            assert!(b >= last, "bins grow with values");
            last = b;
            let hi = bin_high(b);
            assert!(hi >= v, "{v} within its bin (top {hi})");
            assert!(
                (hi - v) as f64 <= v as f64 / 64.0 + 1.0,
                "{v}: top {hi} too far"
            );
        }
        assert_eq!(bin_of(u64::MAX) as usize, BINS - 1);
        assert_eq!(bin_high(bin_of(64)), 64);
        assert_eq!(bin_high(bin_of(128)), 129);
    }

    #[test]
    fn quantiles_and_merges() {
        let mut d = DenseBins::default();
        for v in 1..=100 {
            d.record(v * 1000);
        }
        d.record_exception();
        let a = d.take();
        assert!(d.is_empty());
        assert_eq!(a.count(), 100);
        assert_eq!(a.exceptions(), 1);
        assert_eq!(a.max_us(), 100_000);
        let p50 = a.quantile_us(0.5).unwrap();
        assert!((50_000..=50_800).contains(&p50), "p50 {p50}");
        assert_eq!(a.quantile_us(1.0), Some(100_000));
        for v in 101..=200 {
            d.record(v * 1000);
        }
        let mut m = a.clone();
        m.merge(&d.take());
        assert_eq!(m.count(), 200);
        let p50 = m.quantile_us(0.5).unwrap();
        assert!((100_000..=101_600).contains(&p50), "p50 {p50}");
        assert_eq!(SparseHist::default().quantile_us(0.5), None);
    }
}
