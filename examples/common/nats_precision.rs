//! A cluster-wide throttle under uneven demand, measured: a master in this process (the
//! library's `Master`) and three `rookery node` worker processes running the demo's users, whose
//! messages pass the `messages` throttle. The workers differ only in their users' think time:
//! `w1` 0 (asks as fast as it is released), `w2` 100 ms (at most 10 messages/s a user), `w3`
//! 5 s (0.2/s a user). The master records every release by node and time (each worker's
//! release time on the master's clock) and every share a worker applies.
//!
//! Shared by `examples/nats_throttle_precision.rs` and `tests/nats_throttle.rs` (included
//! with `#[path]`); the caller starts the NATS server and the worker processes.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rookery::cluster_nats::precision::{ReleaseLog, RunQueue, Window, judged};
use rookery::cluster_nats::{Master, MasterOptions};
use rookery::telemetry::{Fields, Telemetry, Value, monotonic_time};

/// The three workers: name and think time.
pub const WORKERS: [(&str, &str); 3] = [("w1", "0s"), ("w2", "100ms"), ("w3", "5s")];
/// The workers whose gaps between releases tell a stall: `w1`'s users never think, so its
/// throttle always has requests waiting and releases every fraction of a millisecond (above
/// 100/s) whenever its process runs.
pub const JUDGED: [&str; 1] = ["w1"];
/// Users per worker (`ROOKERY_PRECISION_USERS` changes it).
pub const USERS_PER_WORKER: u64 = 100;

/// Users per worker: [`USERS_PER_WORKER`], or `ROOKERY_PRECISION_USERS` when set.
pub fn users_per_worker() -> u64 {
    std::env::var("ROOKERY_PRECISION_USERS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(USERS_PER_WORKER)
}

/// Shares applied by the workers (`[amoc, throttle, rate]` of `messages`) in arrival order:
/// when (the worker's `monotonic_time` on the master's clock, ns), node, share.
type Shares = Arc<Mutex<Vec<(i64, String, u64)>>>;

/// A running measurement.
pub struct Precision {
    pub master: Master,
    pub releases: ReleaseLog,
    pub run_queue: RunQueue,
    sampler: tokio::task::JoinHandle<()>,
    shares: Shares,
    _telemetry: Telemetry,
}

impl Precision {
    /// Starts the master of run `run` on `url` at `per_s` messages a second cluster-wide,
    /// waits for the three workers (the caller starts them, e.g. with [`WORKERS`]) and gives
    /// each [`USERS_PER_WORKER`] users. `judged` are the process ids of the [`JUDGED`]
    /// workers, whose waits for a CPU are sampled every 50 ms.
    pub async fn start(
        url: &str,
        run: &str,
        per_s: u64,
        judged: &[(&str, u32)],
    ) -> Result<Precision, String> {
        let telemetry = Telemetry::new();
        let releases = ReleaseLog::attach(&telemetry, "precision-releases", "messages")?;
        let shares: Shares = Arc::default();
        let s = shares.clone();
        telemetry
            .attach(
                "precision-shares",
                rookery::engine::events::THROTTLE_RATE.get(),
                move |_, m, md, _| {
                    if md.get_str("name") != Some("messages") {
                        return;
                    }
                    let at = match md.lookup("monotonic_time").or(m.lookup("monotonic_time")) {
                        Some(Value::Int(t)) => *t,
                        _ => monotonic_time(),
                    };
                    if let Some(Value::Int(r)) = m.lookup("rate") {
                        let node = md.get_str("node").unwrap_or("").to_owned();
                        s.lock().unwrap_or_else(|e| e.into_inner()).push((
                            at,
                            node,
                            (*r).max(0) as u64,
                        ));
                    }
                },
                Value::Null,
            )
            .map_err(|e| e.to_string())?;
        let master = Master::start(
            MasterOptions::at(
                url,
                run,
                "demo",
                &[
                    &format!("message_rate={}", per_s * 60),
                    "login_rate=6000000",
                    "user_rate=infinity",
                    // Users meet in the `pairs` coordinator (a round trip to the master on a
                    // real cluster) only every billionth message: the throttle alone is measured.
                    "pair_every=1000000000",
                ],
            ),
            telemetry.clone(),
            Instant::now(),
        )
        .await?;
        master
            .wait_nodes(WORKERS.len(), Duration::from_secs(60))
            .await?;
        master
            .add_users(users_per_worker() * WORKERS.len() as u64)
            .await?;
        let run_queue = RunQueue::default();
        let (rq, pids): (RunQueue, Vec<(String, u32)>) = (
            run_queue.clone(),
            judged.iter().map(|(n, p)| (n.to_string(), *p)).collect(),
        );
        for (n, p) in &pids {
            if !rq.sample(n, *p, monotonic_time()) {
                return Err(format!("no /proc/{p}/task/*/schedstat for {n}"));
            }
        }
        let sampler = tokio::spawn(async move {
            loop {
                tokio::time::sleep(Duration::from_millis(50)).await;
                for (n, p) in &pids {
                    rq.sample(n, *p, monotonic_time());
                }
            }
        });
        Ok(Precision {
            master,
            releases,
            run_queue,
            sampler,
            shares,
            _telemetry: telemetry,
        })
    }

    /// Waits `settle`, then measures one-second windows until `judged` of them had `w1`
    /// running (see [`JUDGED`]) or `most` windows passed.
    pub async fn measure(&self, settle: Duration, judged: usize, most: usize) -> Vec<Window> {
        tokio::time::sleep(settle).await;
        let from = monotonic_time();
        let mut count = 0;
        loop {
            count += 1;
            let end = from + count as i64 * 1_000_000_000;
            let wait = end - monotonic_time();
            if wait > 0 {
                tokio::time::sleep(Duration::from_nanos(wait as u64)).await;
            }
            // The master receives releases in batches, a little later: wait for the window's
            // last ones (at most 10 s).
            let give_up = Instant::now() + Duration::from_secs(10);
            while self.releases.latest().is_none_or(|t| t < end) && Instant::now() < give_up {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
            let mut windows = self.releases.windows(from, count, &JUDGED);
            for w in &mut windows {
                w.note_waits(&self.run_queue, &JUDGED);
            }
            if fed(&windows).len() >= judged || count >= most {
                return windows;
            }
        }
    }

    /// Sets the cluster rate to `per_s` a second; returns when it was asked (`monotonic_time`).
    pub async fn set_rate(&self, per_s: u64) -> Result<i64, String> {
        let at = monotonic_time();
        self.master
            .set_rate("messages", Some(per_s * 60), None)
            .await?;
        Ok(at)
    }

    /// How long after `since` (`monotonic_time`) the shares that `nodes` applied last first
    /// added up to `per_min` (the whole cluster rate in the throttle's per-minute unit), by
    /// the workers' clocks. Waits up to `limit` for their rate events to reach the master.
    pub async fn shares_whole_after(
        &self,
        since: i64,
        nodes: &[&str],
        per_min: u64,
        limit: Duration,
    ) -> Option<Duration> {
        let give_up = Instant::now() + limit;
        loop {
            let found = {
                let s = self.shares.lock().unwrap_or_else(|e| e.into_inner());
                let mut last: BTreeMap<&str, u64> = BTreeMap::new();
                let mut found = None;
                for (t, node, share) in s.iter() {
                    if nodes.contains(&node.as_str()) {
                        last.insert(node, *share);
                    }
                    if *t >= since
                        && last.len() == nodes.len()
                        && last.values().sum::<u64>() == per_min
                    {
                        found = Some(Duration::from_nanos((*t - since) as u64));
                        break;
                    }
                }
                found
            };
            if found.is_some() || Instant::now() >= give_up {
                return found;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Ends the run: the rate goes down to 10/s until the master has caught up with the
    /// releases, then users stop and workers are told to exit.
    pub async fn finish(self) -> Result<(), String> {
        self.sampler.abort();
        // Let the master catch up with the events in flight (it re-emits every one; at 10k/s
        // a debug build lags behind), slowly: then the stop's last batches arrive in time.
        self.set_rate(10).await?;
        let asked = monotonic_time();
        let give_up = Instant::now() + Duration::from_secs(60);
        while self.releases.latest().is_none_or(|t| t < asked) && Instant::now() < give_up {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        self.master.stop(Duration::from_secs(15)).await?;
        self.master.end().await;
        Ok(())
    }
}

/// Windows that can be judged (see `precision::judged`).
pub fn fed(windows: &[Window]) -> Vec<&Window> {
    judged(windows).into_iter().map(|(_, w)| w).collect()
}

/// One line per window: total, deviation from `per_s`, by node, and any stall.
pub fn report(label: &str, per_s: u64, windows: &[Window]) -> String {
    let mut out = String::new();
    for (i, w) in windows.iter().enumerate() {
        let dev = (w.total as f64 - per_s as f64) / per_s as f64 * 100.0;
        let nodes: Vec<String> = w.per_node.iter().map(|(n, c)| format!("{n} {c}")).collect();
        let stalled: Vec<String> =
            w.stalled
                .iter()
                .map(|(n, g)| format!("{n} stalled {:.0} ms", g.as_secs_f64() * 1000.0))
                .chain(w.waited.iter().map(|(n, g)| {
                    format!("{n} waited {:.0} ms for a CPU", g.as_secs_f64() * 1000.0)
                }))
                .collect();
        let note = if !stalled.is_empty() {
            format!(" excluded: {}", stalled.join(", "))
        } else if i > 0 && windows[i - 1].starved() {
            " excluded: follows a starved window".to_string()
        } else {
            String::new()
        };
        out.push_str(&format!(
            "{label} window {i}: {} ({dev:+.2}%) [{}]{note}\n",
            w.total,
            nodes.join(", "),
        ));
    }
    out
}
