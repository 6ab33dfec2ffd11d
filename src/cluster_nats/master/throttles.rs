//! Cluster-wide throttles: the master owns each throttle's rate, pause and ramp, gives the
//! workers their shares (see [`shares`](crate::cluster_nats::shares)), and emits the
//! cluster-wide `[amoc, throttle, rate]` itself (as Amoc's master does), so the monitor shows
//! the rate of the whole cluster, not one worker's share.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use super::Master;
use crate::cluster_nats::wire::{self, PROTOCOL, SetShares};
use crate::engine::events::THROTTLE_RATE;
use crate::telemetry::{Field, Key, Value};

/// How often a ramp moves the cluster-wide rate.
const RAMP_STEP: Duration = Duration::from_millis(100);

/// A gradual change of a cluster-wide rate in progress.
struct Ramp {
    task: tokio::task::AbortHandle,
    target: u64,
    ends: Instant,
}

/// Throttle state the master owns besides the rates.
#[derive(Default)]
pub(super) struct Control {
    paused: BTreeSet<String>,
    ramps: BTreeMap<String, Ramp>,
}

impl Master {
    /// Splits every cluster-wide rate again over the ready workers and sends the shares that
    /// changed (with the throttles paused cluster-wide).
    pub(super) async fn rebalance(&self) {
        let nodes = self.table().ready_names();
        let changed = self.shares().rebalance(&nodes);
        let paused = self.paused();
        for (node, shares) in changed {
            self.send_shares(&node, shares, paused.clone()).await;
        }
    }

    async fn send_shares(&self, node: &str, shares: Vec<(String, u64, u64)>, paused: Vec<String>) {
        let msg = SetShares {
            v: PROTOCOL,
            shares,
            paused,
        };
        let _ = self
            .shared
            .client
            .publish(self.shared.subjects.shares(node), wire::encode(&msg))
            .await;
    }

    fn paused(&self) -> Vec<String> {
        self.control().paused.iter().cloned().collect()
    }

    /// The cluster-wide rate of `name` (`None`: unlimited) and its interval.
    fn cluster_rate(&self, name: &str) -> Result<(Option<u64>, u64), String> {
        self.shares()
            .rate(name)
            .ok_or_else(|| format!("no throttle {name:?} on the workers"))
    }

    /// Emits the cluster-wide `[amoc, throttle, rate]` of `name` on the master.
    pub(super) fn emit_rate(&self, name: &str) {
        let Some((rate, interval)) = self.shares().rate(name) else {
            return;
        };
        let mut md: Vec<Field> = vec![
            (Key::new_static("name"), Value::from(name)),
            (
                Key::new_static("paused"),
                Value::from(self.control().paused.contains(name)),
            ),
        ];
        let ramp = self
            .control()
            .ramps
            .get(name)
            .map(|r| (r.target, r.ends.saturating_duration_since(Instant::now())));
        md.push((Key::new_static("ramping"), Value::from(ramp.is_some())));
        if let Some((target, left)) = ramp {
            md.push((Key::new_static("ramp_target"), Value::from(target)));
            let ms = u64::try_from(left.as_millis()).unwrap_or(u64::MAX);
            md.push((Key::new_static("ramp_ends_in_ms"), Value::from(ms)));
        }
        let rate = rate.map_or(Value::atom("infinity"), Value::from);
        self.shared.emitter.emit(
            &THROTTLE_RATE,
            &[
                (Key::new_static("rate"), rate),
                (Key::new_static("interval"), Value::from(interval)),
            ],
            &md,
        );
    }

    /// Sets a throttle's cluster-wide rate (`None`: unlimited); in force on every worker as
    /// soon as its new share arrives. `interval_ms: None` keeps the interval. A ramp in
    /// progress ends.
    pub async fn set_rate(
        &self,
        name: &str,
        rate: Option<u64>,
        interval_ms: Option<u64>,
    ) -> Result<(), String> {
        self.end_ramp(name);
        self.apply_rate(name, rate, interval_ms).await
    }

    async fn apply_rate(
        &self,
        name: &str,
        rate: Option<u64>,
        interval_ms: Option<u64>,
    ) -> Result<(), String> {
        let (_, interval) = self.cluster_rate(name)?;
        self.shares()
            .set_rate(name, rate, interval_ms.unwrap_or(interval));
        self.rebalance().await;
        self.emit_rate(name);
        Ok(())
    }

    /// Pauses (`true`) or resumes a throttle on every worker.
    pub async fn set_paused(&self, name: &str, paused: bool) -> Result<(), String> {
        self.cluster_rate(name)?;
        let changed = {
            let mut c = self.control();
            if paused {
                c.paused.insert(name.to_owned())
            } else {
                c.paused.remove(name)
            }
        };
        if !changed {
            let state = if paused { "paused" } else { "not paused" };
            return Err(format!("{name} is {state} already"));
        }
        let (nodes, paused_now) = (self.table().ready_names(), self.paused());
        for node in nodes {
            self.send_shares(&node, Vec::new(), paused_now.clone())
                .await;
        }
        self.emit_rate(name);
        Ok(())
    }

    /// Changes a throttle's cluster-wide rate gradually to `to` over `duration` (a step every
    /// 100 ms), from the rate it has now; replaces a ramp in progress.
    pub async fn ramp(&self, name: &str, to: u64, duration: Duration) -> Result<(), String> {
        let (Some(from), _) = self.cluster_rate(name)? else {
            return Err(format!("{name} is unlimited: set a rate before a ramp"));
        };
        self.end_ramp(name);
        let m = self.clone();
        let throttle = name.to_owned();
        let started = Instant::now();
        let task = tokio::spawn(async move {
            let mut tick =
                tokio::time::interval_at(tokio::time::Instant::now() + RAMP_STEP, RAMP_STEP);
            loop {
                tick.tick().await;
                let f =
                    (started.elapsed().as_secs_f64() / duration.as_secs_f64().max(1e-3)).min(1.0);
                let rate = (from as f64 + (to as f64 - from as f64) * f).round() as u64;
                if f >= 1.0 {
                    m.control().ramps.remove(&throttle);
                }
                let _ = m.apply_rate(&throttle, Some(rate), None).await;
                if f >= 1.0 {
                    return;
                }
            }
        });
        self.control().ramps.insert(
            name.to_owned(),
            Ramp {
                task: task.abort_handle(),
                target: to,
                ends: started + duration,
            },
        );
        self.emit_rate(name);
        Ok(())
    }

    /// Ends the ramp of `name` where it is; an error if it has none.
    pub fn cancel_ramp(&self, name: &str) -> Result<(), String> {
        if self.end_ramp(name) {
            self.emit_rate(name);
            Ok(())
        } else {
            Err(format!("{name} is not ramping"))
        }
    }

    fn end_ramp(&self, name: &str) -> bool {
        match self.control().ramps.remove(name) {
            Some(r) => {
                r.task.abort();
                true
            }
            None => false,
        }
    }
}
