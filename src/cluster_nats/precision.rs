//! Measuring a cluster-wide throttle as the master sees it: every `[amoc, throttle, execute]`
//! of one throttle, by node and time (each worker's release time, mapped onto the master's
//! clock), counted in one-second windows.
//!
//! A window is only as good as the workers' ability to run on time: a worker that could not
//! run for a while releases late, and its late releases land in the next window, or never
//! happen if the process stays short of CPU. So each window also says whether it was
//! **starved**, judged on the workers whose throttle always has requests waiting (so that
//! they release at their share's spacing whenever they run):
//! * one shows a gap between two consecutive releases longer than [`STALL`] plus twice its
//!   mean spacing in that window (a stall of `STALL` moves about 1 % of a window's releases
//!   into the next one), or
//! * its threads waited for a CPU (runnable, not running) longer than [`RUN_QUEUE_WAIT`]
//!   altogether in that window, as Linux's `/proc/PID/task/*/schedstat` tells ([`RunQueue`]).
//!
//! Other workers are not judged by their gaps: their users' think times make gaps of their
//! own.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::engine::events::THROTTLE_EXECUTE;
use crate::telemetry::{Fields, Telemetry, Value};

/// A gap in a busy worker's releases that counts as a stall (the process could not run).
pub const STALL: Duration = Duration::from_millis(10);

/// One release: when (ns on the `monotonic_time` clock) and on which node.
pub type Release = (i64, Arc<str>);
/// One run-queue sample: when (ns) and the process's total wait so far (ns).
type Sample = (i64, u64);

/// The releases of one throttle, recorded from the master's registry.
#[derive(Clone)]
pub struct ReleaseLog {
    seen: Arc<Mutex<Vec<Release>>>,
}

/// One window of one second.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Window {
    /// Its start (ns on the `monotonic_time` clock).
    pub start_ns: i64,
    /// Releases in it, cluster-wide.
    pub total: u64,
    /// Releases in it, by node.
    pub per_node: BTreeMap<String, u64>,
    /// Judged workers whose longest gap in this window exceeded [`STALL`], with that gap.
    pub stalled: Vec<(String, Duration)>,
    /// Judged workers that waited for a CPU longer than [`RUN_QUEUE_WAIT`] in this window
    /// (their threads, runnable but not running), with that wait; see [`RunQueue`].
    pub waited: Vec<(String, Duration)>,
}

impl Window {
    /// Whether a judged worker could not run in it (a stall or a long wait for a CPU).
    pub fn starved(&self) -> bool {
        !self.stalled.is_empty() || !self.waited.is_empty()
    }

    /// Notes the judged workers that waited for a CPU too long in this window.
    pub fn note_waits(&mut self, run_queue: &RunQueue, judged: &[&str]) {
        for n in judged {
            let end = self.start_ns + 1_000_000_000;
            if let Some(w) = run_queue.waited(n, self.start_ns, end)
                && w > RUN_QUEUE_WAIT
            {
                self.waited.push((n.to_string(), w));
            }
        }
    }
}

/// How long a judged worker's threads may wait for a CPU in one window, all together, before
/// the window counts as starved: as long as the window. A worker runs several threads (the
/// runtime's, the event forwarder, the NATS client). Measured with debug builds on a 2-core
/// machine at a load average of 10 to 14 (`tests/nats_throttle.rs` at 10k/s): windows whose
/// judged worker waited 0.6 to 0.95 s in all, without a stall, held the rate within ±0.7 %;
/// windows where it waited 1.1 s or more lost up to 45 % of it.
pub const RUN_QUEUE_WAIT: Duration = Duration::from_secs(1);

/// Run-queue waits of worker processes, sampled from `/proc/PID/task/*/schedstat` (Linux):
/// the time their threads were runnable but did not get a CPU.
#[derive(Clone, Default)]
pub struct RunQueue {
    samples: Arc<Mutex<BTreeMap<String, Vec<Sample>>>>,
}

/// The total run-queue wait (ns) of the threads of process `pid` so far, if `/proc` tells.
pub fn run_delay_ns(pid: u32) -> Option<u64> {
    let tasks = std::fs::read_dir(format!("/proc/{pid}/task")).ok()?;
    let mut total = 0u64;
    for task in tasks.flatten() {
        let text = std::fs::read_to_string(task.path().join("schedstat")).unwrap_or_default();
        let waited: u64 = text
            .split_whitespace()
            .nth(1)
            .and_then(|w| w.parse().ok())
            .unwrap_or(0);
        total = total.saturating_add(waited);
    }
    Some(total)
}

impl RunQueue {
    /// Samples `node`'s process `pid` now (`at_ns` on the `monotonic_time` clock); false if
    /// `/proc` does not tell.
    pub fn sample(&self, node: &str, pid: u32, at_ns: i64) -> bool {
        let Some(total) = run_delay_ns(pid) else {
            return false;
        };
        self.samples
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .entry(node.to_owned())
            .or_default()
            .push((at_ns, total));
        true
    }

    /// `node`'s run-queue wait from the last sample at or before `a_ns` to the first at or
    /// after `b_ns`, if sampled on both sides.
    pub fn waited(&self, node: &str, a_ns: i64, b_ns: i64) -> Option<Duration> {
        let samples = self.samples.lock().unwrap_or_else(|e| e.into_inner());
        let s = samples.get(node)?;
        let before = s.iter().rev().find(|(t, _)| *t <= a_ns)?;
        let after = s.iter().find(|(t, _)| *t >= b_ns)?;
        Some(Duration::from_nanos(after.1.saturating_sub(before.1)))
    }
}

impl ReleaseLog {
    /// Records every release of throttle `name` that `telemetry` sees (the handler is named
    /// `handler`).
    pub fn attach(telemetry: &Telemetry, handler: &str, name: &str) -> Result<ReleaseLog, String> {
        let log = ReleaseLog {
            seen: Arc::new(Mutex::new(Vec::new())),
        };
        let seen = log.seen.clone();
        let throttle: Arc<str> = Arc::from(name);
        let nodes: Mutex<BTreeMap<String, Arc<str>>> = Mutex::new(BTreeMap::new());
        telemetry
            .attach(
                handler,
                THROTTLE_EXECUTE.get(),
                move |_, _, md, _| {
                    if md.get_str("name") != Some(&*throttle) {
                        return;
                    }
                    let Some(Value::Int(t)) = md.lookup("monotonic_time") else {
                        return;
                    };
                    let node = md.get_str("node").unwrap_or("");
                    let node = {
                        let mut nodes = nodes.lock().unwrap_or_else(|e| e.into_inner());
                        match nodes.get(node) {
                            Some(n) => n.clone(),
                            None => {
                                let n: Arc<str> = Arc::from(node);
                                nodes.insert(node.to_owned(), n.clone());
                                n
                            }
                        }
                    };
                    seen.lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .push((*t, node));
                },
                Value::Null,
            )
            .map_err(|e| format!("attaching {handler}: {e}"))?;
        Ok(log)
    }

    /// Releases recorded so far.
    pub fn len(&self) -> usize {
        self.seen.lock().unwrap_or_else(|e| e.into_inner()).len()
    }

    /// Whether none were recorded.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The time of the latest release recorded (ns), if any.
    pub fn latest(&self) -> Option<i64> {
        let seen = self.seen.lock().unwrap_or_else(|e| e.into_inner());
        seen.iter().map(|(t, _)| *t).max()
    }

    /// `count` one-second windows from `from_ns`, judging the gaps of `judged` nodes.
    pub fn windows(&self, from_ns: i64, count: usize, judged: &[&str]) -> Vec<Window> {
        let mut seen = self.seen.lock().unwrap_or_else(|e| e.into_inner()).clone();
        seen.sort_by_key(|(t, _)| *t);
        windows(&seen, from_ns, count, judged)
    }
}

/// [`ReleaseLog::windows`] over `(time ns, node)` sorted by time.
pub fn windows(seen: &[Release], from_ns: i64, count: usize, judged: &[&str]) -> Vec<Window> {
    const SECOND: i64 = 1_000_000_000;
    (0..count as i64)
        .map(|k| {
            let (a, b) = (from_ns + k * SECOND, from_ns + (k + 1) * SECOND);
            let mut per_node: BTreeMap<String, u64> = BTreeMap::new();
            // Longest gap by node, from its last release before the window on.
            let mut last: BTreeMap<&str, i64> = BTreeMap::new();
            let mut gap: BTreeMap<&str, i64> = BTreeMap::new();
            let first = seen.partition_point(|(t, _)| *t < a);
            if let Some(before) = first.checked_sub(1) {
                // The last release of each node before the window (looking back one window).
                for (t, n) in seen[..=before].iter().rev() {
                    if *t < a - SECOND {
                        break;
                    }
                    last.entry(n).or_insert(*t);
                }
            }
            for (t, n) in seen[first..].iter().take_while(|(t, _)| *t < b) {
                *per_node.entry(n.to_string()).or_default() += 1;
                if let Some(prev) = last.insert(n, *t) {
                    let g = gap.entry(n).or_default();
                    *g = (*g).max(t - prev);
                }
            }
            let mut stalled = Vec::new();
            for (n, g) in gap {
                // Twice its mean spacing in this window (a share change may re-time one
                // release by up to a spacing), plus the stall.
                let count = per_node.get(n).copied().unwrap_or(1).max(1);
                let spacing = Duration::from_nanos(SECOND as u64 / count);
                let g = Duration::from_nanos(g.max(0) as u64);
                if judged.contains(&n) && g > 2 * spacing + STALL {
                    stalled.push((n.to_owned(), g));
                }
            }
            Window {
                start_ns: a,
                total: per_node.values().sum(),
                per_node,
                stalled,
                waited: Vec::new(),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(ms: &[(i64, &str)]) -> Vec<(i64, Arc<str>)> {
        ms.iter()
            .map(|(t, n)| (t * 1_000_000, Arc::from(*n)))
            .collect()
    }

    #[test]
    fn counts_by_window_and_node() {
        let seen = at(&[(0, "a"), (10, "b"), (999, "a"), (1000, "a"), (2500, "b")]);
        let w = windows(&seen, 0, 3, &[]);
        assert_eq!(w.iter().map(|w| w.total).collect::<Vec<_>>(), vec![3, 1, 1]);
        assert_eq!(w[0].per_node["a"], 2);
        assert_eq!(w[0].per_node["b"], 1);
        assert!(
            w.iter().all(|w| w.stalled.is_empty()),
            "quiet nodes are not judged"
        );
    }

    #[test]
    fn a_judged_node_with_a_long_gap_starves_its_window() {
        // 1000 releases a second on "a", one per ms, except a 30 ms hole in the second window
        // (a stall: more than 2 × 1 ms + 10 ms).
        let mut ms: Vec<(i64, &str)> = (0..2000).map(|t| (t, "a")).collect();
        ms.retain(|(t, _)| !(1400..1430).contains(t));
        let w = windows(&at(&ms), 0, 2, &["a"]);
        assert!(w[0].stalled.is_empty(), "{:?}", w[0].stalled);
        assert_eq!(w[1].stalled.len(), 1);
        assert_eq!(w[1].stalled[0].0, "a");
        assert_eq!(w[1].stalled[0].1, Duration::from_millis(31));
        // A hole across the boundary counts in the window where it ends.
        let ms: Vec<(i64, &str)> = (0..2000)
            .filter(|t| !(990..1015).contains(t))
            .map(|t| (t, "a"))
            .collect();
        let w = windows(&at(&ms), 0, 2, &["a"]);
        assert!(w[0].stalled.is_empty());
        assert_eq!(w[1].stalled[0].1, Duration::from_millis(26));
    }
}
