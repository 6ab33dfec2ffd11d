//! The whole run over time, in bounded memory: one [`Point`] per bucket of seconds.
//!
//! Every second, when the reducer sees the first event of a later one, the second that ended
//! is gathered from the state (events, running users in total and per node, users started
//! and failed, each throttle's requests, executes and set rate, each span's latency
//! histogram delta) and added to the timeline. Buckets start one second wide; when there are
//! [`TIMELINE_POINTS`] of them, neighbours are merged in pairs and the width doubles. A 24-hour
//! run keeps at most [`TIMELINE_POINTS`] buckets of 256 s, whatever its event rate: the memory
//! grows with the number of buckets, nodes, throttles and span bins, never with events.
//!
//! Time is event time (`t_us`), so a replay of a recorded run gives the same timeline as the
//! run itself.

use super::MonitorState;
use super::bins::SparseHist;
use super::throttle::RateReading;

/// The most buckets a timeline keeps (the charts' resolution).
pub const TIMELINE_POINTS: usize = 512;

/// One throttle in one bucket.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ThrottlePoint {
    pub requests: u64,
    pub executes: u64,
    /// The set rate in executions per second at the end of the bucket (`None` while unknown
    /// or unlimited).
    pub rate_per_s: Option<f64>,
}

/// A bucket of seconds: counters are sums over it, levels (users, rates, nodes up) are the
/// values at its end.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Point {
    /// First second of the bucket (seconds since the run started).
    pub start_sec: u64,
    /// Seconds added into it so far.
    pub seconds: u64,
    pub events: u64,
    /// Running users.
    pub users: u64,
    /// Users started and users failed (exceptions).
    pub started: u64,
    pub failed: u64,
    /// Running users per node, by node index.
    pub nodes: Vec<u64>,
    /// Nodes up.
    pub nodes_up: u64,
    /// By throttle index.
    pub throttles: Vec<ThrottlePoint>,
    /// Latency deltas by span index.
    pub spans: Vec<SparseHist>,
}

impl Point {
    /// Adds `later` (the seconds right after this bucket's) into it.
    fn merge(&mut self, later: &Point) {
        self.seconds += later.seconds;
        self.events += later.events;
        self.users = later.users;
        self.started += later.started;
        self.failed += later.failed;
        self.nodes_up = later.nodes_up;
        if self.nodes.len() < later.nodes.len() {
            self.nodes.resize(later.nodes.len(), 0);
        }
        for (a, b) in self.nodes.iter_mut().zip(&later.nodes) {
            *a = *b;
        }
        if self.throttles.len() < later.throttles.len() {
            self.throttles
                .resize(later.throttles.len(), ThrottlePoint::default());
        }
        for (a, b) in self.throttles.iter_mut().zip(&later.throttles) {
            a.requests += b.requests;
            a.executes += b.executes;
            a.rate_per_s = b.rate_per_s;
        }
        if self.spans.len() < later.spans.len() {
            self.spans.resize(later.spans.len(), SparseHist::default());
        }
        for (a, b) in self.spans.iter_mut().zip(&later.spans) {
            a.merge(b);
        }
    }

    /// The same levels with every counter at zero: what an idle second looks like.
    fn idle(&self) -> Point {
        Point {
            start_sec: self.start_sec,
            seconds: 1,
            events: 0,
            users: self.users,
            started: 0,
            failed: 0,
            nodes: self.nodes.clone(),
            nodes_up: self.nodes_up,
            throttles: self
                .throttles
                .iter()
                .map(|t| ThrottlePoint {
                    requests: 0,
                    executes: 0,
                    rate_per_s: t.rate_per_s,
                })
                .collect(),
            spans: Vec::new(),
        }
    }

    fn heap_bytes(&self) -> usize {
        self.nodes.capacity() * 8
            + self.throttles.capacity() * std::mem::size_of::<ThrottlePoint>()
            + self.spans.capacity() * std::mem::size_of::<SparseHist>()
            + self.spans.iter().map(SparseHist::heap_bytes).sum::<usize>()
    }
}

/// The run in at most [`TIMELINE_POINTS`] buckets of `width` seconds each.
#[derive(Clone, Debug, Default)]
pub struct Timeline {
    origin: Option<u64>,
    width: u64,
    points: Vec<Point>,
}

impl Timeline {
    /// Seconds per bucket (a power of two; 1 until the run outgrows [`TIMELINE_POINTS`] s).
    pub fn width(&self) -> u64 {
        self.width.max(1)
    }

    /// The buckets, oldest first.
    pub fn points(&self) -> &[Point] {
        &self.points
    }

    /// Heap bytes held (for the memory bound's test).
    pub fn heap_bytes(&self) -> usize {
        self.points.capacity() * std::mem::size_of::<Point>()
            + self.points.iter().map(Point::heap_bytes).sum::<usize>()
    }

    /// Adds `seconds` seconds starting at `sec` that all look like `p` (one real second, or a
    /// run of idle ones).
    fn push(&mut self, sec: u64, p: &Point) {
        let origin = *self.origin.get_or_insert(sec);
        if self.width == 0 {
            self.width = 1;
        }
        let idx = (sec.saturating_sub(origin)) / self.width;
        let start = origin + idx * self.width;
        match self.points.last_mut() {
            Some(last) if last.start_sec == start => last.merge(p),
            _ => {
                let mut q = p.clone();
                q.start_sec = start;
                self.points.push(q);
                if self.points.len() > TIMELINE_POINTS {
                    self.downsample(origin);
                }
            }
        }
    }

    /// Adds the idle seconds `from..=to` (levels as in `idle`), a bucket at a time.
    fn push_idle(&mut self, from: u64, to: u64, idle: &Point) {
        let mut s = from;
        while s <= to {
            let origin = *self.origin.get_or_insert(s);
            let w = self.width();
            let bucket_end = origin + ((s - origin) / w + 1) * w - 1;
            let e = bucket_end.min(to);
            let mut p = idle.clone();
            p.seconds = e - s + 1;
            self.push(s, &p);
            s = e + 1;
        }
    }

    #[cold]
    fn downsample(&mut self, origin: u64) {
        self.width *= 2;
        let old = std::mem::take(&mut self.points);
        for p in old {
            let start = origin + (p.start_sec - origin) / self.width * self.width;
            match self.points.last_mut() {
                Some(last) if last.start_sec == start => last.merge(&p),
                _ => {
                    let mut q = p;
                    q.start_sec = start;
                    self.points.push(q);
                }
            }
        }
    }
}

/// A throttle's set rate in executions per second at the end of second `sec`.
fn rate_at(t: &super::ThrottleState, sec: u64) -> Option<f64> {
    let end_us = (sec + 1).saturating_mul(1_000_000);
    let rate = t
        .rate_history
        .iter()
        .rev()
        .find(|(at, _)| *at < end_us)
        .map(|(_, r)| *r)?;
    match (rate, t.interval_ms) {
        (RateReading::Finite(r), Some(i)) if i > 0 => Some(r * 1000.0 / i as f64),
        // Amoc's interval 0 means "no pacing, only parallelism": no rate per second.
        _ => None,
    }
}

impl MonitorState {
    /// What second `sec` looked like (its counters and its levels at the end), read from the
    /// state's per-second rings. `sec` must not be older than the rings keep (the reducer asks
    /// for the second that just ended).
    pub(crate) fn second_point(&self, sec: u64) -> Point {
        Point {
            start_sec: sec,
            seconds: 1,
            events: self.event_series.at(sec),
            users: self.users.running_series.at(sec),
            started: self.users.started_series.at(sec),
            failed: self.users.exception_series.at(sec),
            nodes: self
                .nodes
                .iter()
                .map(|n| n.running_series.at(sec))
                .collect(),
            nodes_up: self.nodes.iter().filter(|n| n.up).count() as u64,
            throttles: self
                .throttles()
                .zip(&self.throttles)
                .map(|(v, t)| ThrottlePoint {
                    requests: v.request_window(sec, 1).first().copied().unwrap_or(0),
                    executes: v.execute_window(sec, 1).first().copied().unwrap_or(0),
                    rate_per_s: rate_at(t, sec),
                })
                .collect(),
            spans: self
                .spans()
                .iter()
                .map(|s| s.seconds().second(sec))
                .collect(),
        }
    }

    /// Called by [`apply`](Self::apply) when an event falls in a later second than the open
    /// one: the seconds in between are closed into the timeline and the windowed thresholds.
    #[cold]
    pub(super) fn roll_seconds(&mut self, sec: u64) {
        let prev = self.open_sec;
        self.open_sec = sec;
        if prev == u64::MAX || sec <= prev {
            return;
        }
        let p = self.second_point(prev);
        self.timeline.push(prev, &p);
        self.close_threshold_windows(prev);
        if sec > prev + 1 {
            self.timeline.push_idle(prev + 1, sec - 1, &p.idle());
            self.close_idle_threshold_windows(prev + 1, sec - 1);
        }
    }

    /// The second events are being added to (`None` before the first event).
    pub fn open_second(&self) -> Option<u64> {
        (self.open_sec != u64::MAX).then_some(self.open_sec)
    }

    /// The run over time: the closed buckets, plus the open second as it is so far.
    pub fn timeline(&self) -> Timeline {
        let mut t = self.timeline.clone();
        if let Some(open) = self.open_second() {
            t.push(open, &self.second_point(open));
        }
        t
    }

    /// The timeline's closed buckets only (no copy).
    pub fn closed_timeline(&self) -> &Timeline {
        &self.timeline
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pt(events: u64, users: u64) -> Point {
        Point {
            seconds: 1,
            events,
            users,
            ..Point::default()
        }
    }

    #[test]
    fn buckets_double_when_full_and_keep_sums() {
        let mut t = Timeline::default();
        let n = TIMELINE_POINTS as u64 * 4 + 3;
        for s in 0..n {
            t.push(s, &pt(2, s));
        }
        assert!(t.points().len() <= TIMELINE_POINTS);
        assert_eq!(t.width(), 4 * 2);
        assert_eq!(t.points().iter().map(|p| p.events).sum::<u64>(), 2 * n);
        assert_eq!(t.points().iter().map(|p| p.seconds).sum::<u64>(), n);
        assert_eq!(
            t.points().last().unwrap().users,
            n - 1,
            "levels keep the last value"
        );
    }

    #[test]
    fn idle_runs_fill_whole_buckets() {
        let mut t = Timeline::default();
        t.push(5, &pt(3, 7));
        t.push_idle(6, 5 + 100_000, &pt(3, 7).idle());
        t.push(5 + 100_001, &pt(1, 0));
        assert!(t.points().len() <= TIMELINE_POINTS);
        assert_eq!(t.points().iter().map(|p| p.seconds).sum::<u64>(), 100_002);
        assert_eq!(t.points().iter().map(|p| p.events).sum::<u64>(), 4);
        assert_eq!(t.points()[0].start_sec, 5);
    }
}
