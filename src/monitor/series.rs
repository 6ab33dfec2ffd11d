//! Per-second buckets in a fixed ring: the data behind sparklines. Memory is bounded by the
//! capacity, however long the run.

/// How many seconds a series keeps by default (ten minutes).
pub const DEFAULT_SECONDS: usize = 600;

/// How a skipped second is filled in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SeriesKind {
    /// Events per second: a second with no event is 0.
    Counter,
    /// A level (e.g. running users): a second with no event keeps the last value.
    Gauge,
}

/// A ring of per-second values ending at the latest second seen.
#[derive(Clone, Debug)]
pub struct Series {
    kind: SeriesKind,
    buckets: Box<[u64]>,
    /// The latest second written (index `head % len`), or `None` before the first value.
    head: Option<u64>,
    /// `head % len`, kept so the common case (same second again) needs no division.
    head_idx: usize,
    /// Seconds written since the first one, capped at the capacity.
    filled: usize,
}

impl Series {
    /// An empty series keeping `seconds` buckets (at least one).
    pub fn new(kind: SeriesKind, seconds: usize) -> Series {
        Series {
            kind,
            buckets: vec![0; seconds.max(1)].into_boxed_slice(),
            head: None,
            head_idx: 0,
            filled: 0,
        }
    }

    /// A counter keeping [`DEFAULT_SECONDS`].
    pub fn counter() -> Series {
        Series::new(SeriesKind::Counter, DEFAULT_SECONDS)
    }

    /// A gauge keeping [`DEFAULT_SECONDS`].
    pub fn gauge() -> Series {
        Series::new(SeriesKind::Gauge, DEFAULT_SECONDS)
    }

    #[inline]
    fn slot(&self, sec: u64) -> usize {
        (sec % self.buckets.len() as u64) as usize
    }

    /// Moves the head forward to `sec`, filling the seconds in between. Returns false when
    /// `sec` is older than the head (the value then goes to its bucket if still kept).
    #[inline]
    fn advance(&mut self, sec: u64) {
        match self.head {
            None => {
                self.head = Some(sec);
                self.filled = 1;
                self.head_idx = self.slot(sec);
                self.buckets[self.head_idx] = 0;
            }
            Some(h) if sec > h => self.advance_slow(h, sec),
            Some(_) => {}
        }
    }

    #[cold]
    fn advance_slow(&mut self, head: u64, sec: u64) {
        let cap = self.buckets.len() as u64;
        let fill = match self.kind {
            SeriesKind::Counter => 0,
            SeriesKind::Gauge => self.buckets[self.slot(head)],
        };
        let steps = (sec - head).min(cap);
        for s in (sec + 1 - steps)..=sec {
            let i = self.slot(s);
            self.buckets[i] = fill;
        }
        self.filled = (self.filled as u64 + (sec - head)).min(cap) as usize;
        self.head = Some(sec);
        self.head_idx = self.slot(sec);
    }

    /// Adds `n` to second `sec` (a counter). Values older than the kept window are ignored.
    #[inline]
    pub fn add(&mut self, sec: u64, n: u64) {
        if self.head == Some(sec) {
            let i = self.head_idx;
            self.buckets[i] = self.buckets[i].saturating_add(n);
            return;
        }
        self.advance(sec);
        if let Some(h) = self.head
            && h - sec.min(h) < self.filled as u64
        {
            let i = self.slot(sec.min(h));
            self.buckets[i] = self.buckets[i].saturating_add(n);
        }
    }

    /// Sets the value of second `sec` (a gauge): it holds until the next set.
    #[inline]
    pub fn set(&mut self, sec: u64, value: u64) {
        self.advance(sec);
        if let Some(h) = self.head
            && sec >= h
        {
            self.buckets[self.head_idx] = value;
        }
    }

    /// The latest second written, if any.
    pub fn last_second(&self) -> Option<u64> {
        self.head
    }

    /// The value of the latest second (0 when empty).
    pub fn latest(&self) -> u64 {
        self.head.map_or(0, |h| self.buckets[self.slot(h)])
    }

    /// Up to `n` most recent seconds, oldest first, ending at the latest second written.
    pub fn last(&self, n: usize) -> Vec<u64> {
        let Some(h) = self.head else {
            return Vec::new();
        };
        let n = n.min(self.filled) as u64;
        ((h + 1 - n)..=h)
            .map(|s| self.buckets[self.slot(s)])
            .collect()
    }

    /// The `n` seconds ending at `end_sec` (inclusive), oldest first, as a live view wants
    /// them: seconds after the latest written are 0 for a counter and the latest value for a
    /// gauge; seconds before the kept window, before the first value or before second 0
    /// are 0. Always `n` values, `n` capped at the capacity.
    pub fn window(&self, end_sec: u64, n: usize) -> Vec<u64> {
        let n = n.min(self.buckets.len());
        let first = end_sec as i128 + 1 - n as i128;
        (first..=end_sec as i128)
            .map(|sec| u64::try_from(sec).map_or(0, |s| self.at(s)))
            .collect()
    }

    /// The value of one absolute second (see [`window`](Self::window) for the fill rules).
    pub fn at(&self, sec: u64) -> u64 {
        match self.head {
            Some(h) if sec > h => match self.kind {
                SeriesKind::Counter => 0,
                SeriesKind::Gauge => self.latest(),
            },
            Some(h) if h - sec < self.filled as u64 => self.buckets[self.slot(sec)],
            _ => 0,
        }
    }

    /// Every kept second, oldest first.
    pub fn values(&self) -> Vec<u64> {
        self.last(self.buckets.len())
    }

    /// The number of seconds the ring keeps.
    pub fn capacity(&self) -> usize {
        self.buckets.len()
    }

    /// The second-by-second sum of several series (used to total per-node series), aligned on
    /// absolute seconds, at most `n` seconds ending at the latest head.
    pub fn merged(series: &[&Series], n: usize) -> Vec<u64> {
        let Some(head) = series.iter().filter_map(|s| s.head).max() else {
            return Vec::new();
        };
        let first = series
            .iter()
            .filter_map(|s| s.head.map(|h| h + 1 - s.filled as u64))
            .min()
            .unwrap_or(head);
        let start = first.max((head + 1).saturating_sub(n as u64));
        (start..=head)
            .map(|sec| {
                series
                    .iter()
                    .map(|s| match s.head {
                        Some(h) if sec <= h && h - sec < s.filled as u64 => s.buckets[s.slot(sec)],
                        Some(h) if sec > h && s.kind == SeriesKind::Gauge => s.latest(),
                        _ => 0,
                    })
                    .fold(0u64, u64::saturating_add)
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counter_fills_gaps_with_zero_and_stays_bounded() {
        let mut s = Series::new(SeriesKind::Counter, 4);
        s.add(10, 1);
        s.add(10, 2);
        s.add(12, 5);
        assert_eq!(s.values(), vec![3, 0, 5]);
        s.add(100, 1);
        assert_eq!(s.values(), vec![0, 0, 0, 1]);
        s.add(99, 7); // late but inside the window
        s.add(10, 7); // too old: ignored
        assert_eq!(s.last(2), vec![7, 1]);
    }

    #[test]
    fn gauge_carries_the_last_value() {
        let mut s = Series::new(SeriesKind::Gauge, 8);
        s.set(1, 5);
        s.set(4, 2);
        assert_eq!(s.values(), vec![5, 5, 5, 2]);
        assert_eq!(s.latest(), 2);
    }

    #[test]
    fn window_fills_past_the_head() {
        let mut c = Series::new(SeriesKind::Counter, 8);
        c.add(5, 2);
        assert_eq!(c.window(7, 4), vec![0, 2, 0, 0]);
        let mut g = Series::new(SeriesKind::Gauge, 8);
        g.set(5, 3);
        assert_eq!(g.window(7, 4), vec![0, 3, 3, 3]);
        assert_eq!(g.window(1, 3), vec![0, 0, 0]);
    }

    #[test]
    fn merged_sums_aligned_seconds() {
        let mut a = Series::new(SeriesKind::Counter, 8);
        let mut b = Series::new(SeriesKind::Counter, 8);
        a.add(3, 1);
        a.add(4, 1);
        b.add(4, 2);
        b.add(5, 3);
        assert_eq!(Series::merged(&[&a, &b], 8), vec![1, 3, 3]);
    }
}
