//! Latency of every span prefix: `prefix ++ [stop]` and `prefix ++ [exception]` events that
//! carry a `duration` measurement (nanoseconds, as telemetry spans and Amoc emit it).
//!
//! Each prefix keeps an HDR histogram of its stop durations in microseconds, its stop and
//! exception counts, the exact largest stop duration and a per-second stop series (for a rate).
//! Memory per prefix is fixed at creation (the histogram's bounds and the series ring), so it
//! stays the same however many events a run has; the table grows only with distinct prefixes.
//!
//! Rules:
//! * A duration is converted from ns to µs rounding **up**, so any non-zero sub-microsecond
//!   duration counts as 1 µs and only a zero duration is 0 µs. Negative durations count as 0.
//! * Durations above [`SPAN_MAX_US`] (one hour) are recorded as one hour (saturating); the
//!   exact maximum is kept beside the histogram, so `max_us` is never clamped or rounded.
//! * Exceptions are counted but their durations are not recorded: the percentiles are the
//!   latency of operations that completed.
//! * A stop or exception without a `duration` measurement is not a span event (e.g.
//!   `[amoc, coordinator, stop]`): it creates no prefix and is only counted in `by_event`.
//! * At most [`MAX_SPAN_PREFIXES`] prefixes are kept, the first ones seen.

use hdrhistogram::Histogram;
use rustc_hash::FxHashMap;
use smol_str::SmolStr;

use super::series::Series;
use super::span_window::SpanSeconds;
use crate::telemetry::{EventName, Fields, Value};

/// The largest duration the histograms tell apart, in µs (one hour). Longer ones saturate.
pub const SPAN_MAX_US: u64 = 3_600_000_000;

/// How many span prefixes are kept (about 190 KB each: a 3-digit histogram up to one hour
/// plus a per-second series). Stops of further prefixes are only counted in `by_event`.
pub const MAX_SPAN_PREFIXES: usize = 256;

/// Significant decimal digits the histograms keep (a value is known to within 0.1 %).
pub const SPAN_SIGFIG: u8 = 3;

/// Which end of a span an event is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum SpanEnd {
    Stop,
    Exception,
}

/// What a reducer slot knows about its name as a span event. Decided once per name.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum SpanLink {
    /// Not a `stop` / `exception` name.
    None,
    /// A `stop` / `exception` name whose prefix has no entry yet (no `duration` seen so far).
    Pending(SpanEnd),
    /// Linked to entry `.1` of the span table.
    Linked(SpanEnd, u32),
}

impl SpanLink {
    /// The link of a newly seen name: pending when its last segment is `stop` or
    /// `exception` and it has a prefix.
    pub(crate) fn of(name: &EventName) -> SpanLink {
        match name.segments() {
            [_, .., "stop"] => SpanLink::Pending(SpanEnd::Stop),
            [_, .., "exception"] => SpanLink::Pending(SpanEnd::Exception),
            _ => SpanLink::None,
        }
    }
}

/// `name` without its last segment, dotted: a slice of the interned dotted name.
fn prefix_of(name: &EventName) -> &str {
    let dotted = name.dotted();
    let last = name.segments().last().map_or(0, |s| s.len());
    dotted
        .get(..dotted.len().saturating_sub(last + 1))
        .unwrap_or(dotted)
}

/// A `duration` measurement in ns as whole µs, rounded up; `None` when absent or not a number.
#[inline]
fn duration_us(m: &[crate::telemetry::Field]) -> Option<u64> {
    let ns = match m.lookup("duration")? {
        Value::Int(i) => *i,
        Value::Float(f) if f.is_finite() => f.ceil() as i64,
        _ => return None,
    };
    Some((ns.max(0) as u64).div_ceil(1_000))
}

/// Latency of one span prefix.
#[derive(Clone, Debug)]
pub struct SpanStats {
    name: SmolStr,
    stops: u64,
    exceptions: u64,
    max_us: u64,
    hist: Histogram<u64>,
    stop_series: Series,
    seconds: SpanSeconds,
}

impl SpanStats {
    /// An empty entry for the dotted prefix `name`.
    pub fn new(name: &str) -> SpanStats {
        SpanStats {
            name: SmolStr::new(name),
            stops: 0,
            exceptions: 0,
            max_us: 0,
            hist: empty_histogram(),
            stop_series: Series::counter(),
            seconds: SpanSeconds::default(),
        }
    }

    /// The dotted prefix, e.g. `http.request`.
    pub fn name(&self) -> &str {
        &self.name
    }
    /// Stop events with a duration.
    pub fn count(&self) -> u64 {
        self.stops
    }
    /// Exception events with a duration.
    pub fn exceptions(&self) -> u64 {
        self.exceptions
    }
    /// The exact largest stop duration, µs (0 before the first stop).
    pub fn max_us(&self) -> u64 {
        self.max_us
    }
    /// The stop duration at quantile `q` (0.0–1.0), µs, to within the histogram's precision
    /// (the highest value equivalent to the bucket it falls in, never above [`Self::max_us`]);
    /// 0 before the first stop.
    pub fn quantile_us(&self, q: f64) -> u64 {
        if self.hist.is_empty() {
            return 0;
        }
        self.hist.value_at_quantile(q).min(self.max_us)
    }
    /// The histogram of stop durations, µs.
    pub fn histogram(&self) -> &Histogram<u64> {
        &self.hist
    }
    /// Stops per second.
    pub fn stop_series(&self) -> &Series {
        &self.stop_series
    }
    /// Latency second by second, for windows (e.g. the last 10 s).
    pub fn seconds(&self) -> &SpanSeconds {
        &self.seconds
    }

    /// Adds `other`'s counts and histogram into this one (e.g. per-node states of one run).
    /// The per-second series is not merged: series are per state.
    pub fn merge(&mut self, other: &SpanStats) {
        self.stops = self.stops.saturating_add(other.stops);
        self.exceptions = self.exceptions.saturating_add(other.exceptions);
        self.max_us = self.max_us.max(other.max_us);
        // Both histograms have the same fixed bounds, so adding cannot fail.
        if self.hist.add(&other.hist).is_err() {
            for v in other.hist.iter_recorded() {
                self.hist
                    .saturating_record_n(v.value_iterated_to(), v.count_at_value());
            }
        }
    }

    #[inline]
    fn record(&mut self, end: SpanEnd, us: u64, sec: u64) {
        match end {
            SpanEnd::Stop => {
                self.stops = self.stops.saturating_add(1);
                self.max_us = self.max_us.max(us);
                self.hist.saturating_record(us);
                self.stop_series.add(sec, 1);
                self.seconds.record(sec, us);
            }
            SpanEnd::Exception => {
                self.exceptions = self.exceptions.saturating_add(1);
                self.seconds.record_exception(sec);
            }
        }
    }
}

fn empty_histogram() -> Histogram<u64> {
    // Constant bounds the crate accepts (1 ≤ low, high ≥ 2·low, sigfig ≤ 5): cannot fail.
    Histogram::new_with_bounds(1, SPAN_MAX_US, SPAN_SIGFIG).expect("constant histogram bounds")
}

/// Every span prefix seen, in order of first appearance.
#[derive(Clone, Debug, Default)]
pub(crate) struct SpanTable {
    entries: Vec<SpanStats>,
    idx: FxHashMap<SmolStr, u32>,
}

impl SpanTable {
    pub(crate) fn entries(&self) -> &[SpanStats] {
        &self.entries
    }

    pub(crate) fn get(&self, prefix: &str) -> Option<&SpanStats> {
        self.idx.get(prefix).map(|&i| &self.entries[i as usize])
    }

    /// Records a span event of `name` whose slot has `link`; returns the new link when the
    /// slot should change (its prefix entry was just made).
    #[inline]
    pub(crate) fn apply(
        &mut self,
        name: &EventName,
        link: SpanLink,
        measurements: &[crate::telemetry::Field],
        sec: u64,
    ) -> Option<SpanLink> {
        let us = duration_us(measurements)?;
        match link {
            SpanLink::None => None,
            SpanLink::Linked(end, i) => {
                self.entries[i as usize].record(end, us, sec);
                None
            }
            SpanLink::Pending(end) => match self.index(prefix_of(name)) {
                Some(i) => {
                    self.entries[i as usize].record(end, us, sec);
                    Some(SpanLink::Linked(end, i))
                }
                // The table is full: this name is no longer looked at.
                None => Some(SpanLink::None),
            },
        }
    }

    #[cold]
    fn index(&mut self, prefix: &str) -> Option<u32> {
        if let Some(&i) = self.idx.get(prefix) {
            return Some(i);
        }
        if self.entries.len() >= MAX_SPAN_PREFIXES {
            return None;
        }
        let i = self.entries.len() as u32;
        self.entries.push(SpanStats::new(prefix));
        self.idx.insert(SmolStr::new(prefix), i);
        Some(i)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{event_name, fields};

    #[test]
    fn prefixes_and_links() {
        let stop = event_name!("http", "request", "stop");
        assert_eq!(prefix_of(&stop), "http.request");
        assert_eq!(SpanLink::of(&stop), SpanLink::Pending(SpanEnd::Stop));
        assert_eq!(
            SpanLink::of(&event_name!("a", "exception")),
            SpanLink::Pending(SpanEnd::Exception)
        );
        assert_eq!(SpanLink::of(&event_name!("stop")), SpanLink::None);
        assert_eq!(
            SpanLink::of(&event_name!("http", "request", "start")),
            SpanLink::None
        );
    }

    #[test]
    fn durations_round_up_to_microseconds() {
        assert_eq!(duration_us(&fields! {"duration" => 0}), Some(0));
        assert_eq!(duration_us(&fields! {"duration" => 1}), Some(1));
        assert_eq!(duration_us(&fields! {"duration" => 1_000}), Some(1));
        assert_eq!(duration_us(&fields! {"duration" => 1_001}), Some(2));
        assert_eq!(duration_us(&fields! {"duration" => -5}), Some(0));
        assert_eq!(duration_us(&fields! {"duration" => 2_500.5}), Some(3));
        assert_eq!(duration_us(&fields! {"count" => 1}), None);
        assert_eq!(duration_us(&fields! {"duration" => "x"}), None);
    }

    #[test]
    fn saturates_above_an_hour_but_keeps_the_exact_max() {
        let mut s = SpanStats::new("x");
        s.record(SpanEnd::Stop, SPAN_MAX_US * 3, 0);
        assert_eq!(s.max_us(), SPAN_MAX_US * 3);
        assert!(s.histogram().max() <= SPAN_MAX_US + SPAN_MAX_US / 1000);
        assert_eq!(s.count(), 1);
    }

    #[test]
    fn merging_adds_counts_and_samples() {
        let (mut a, mut b) = (SpanStats::new("x"), SpanStats::new("x"));
        for v in 1..=100 {
            a.record(SpanEnd::Stop, v, 0);
            b.record(SpanEnd::Stop, v + 100, 0);
        }
        b.record(SpanEnd::Exception, 7, 0);
        a.merge(&b);
        assert_eq!(a.count(), 200);
        assert_eq!(a.exceptions(), 1);
        assert_eq!(a.max_us(), 200);
        assert_eq!(a.quantile_us(0.5), 100);
        assert_eq!(a.quantile_us(0.99), 198);
    }
}
