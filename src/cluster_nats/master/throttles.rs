//! Cluster-wide throttles: the master owns each rate and gives the workers their shares.

use super::Master;
use crate::cluster_nats::wire::{self, PROTOCOL, SetShares};

impl Master {
    /// Splits every cluster-wide rate again over the ready workers and sends the shares that
    /// changed.
    pub(super) async fn rebalance(&self) {
        let nodes = self.table().ready_names();
        let changed = self.shares().rebalance(&nodes);
        for (node, shares) in changed {
            let msg = SetShares {
                v: PROTOCOL,
                shares,
            };
            let _ = self
                .shared
                .client
                .publish(self.shared.subjects.shares(&node), wire::encode(&msg))
                .await;
        }
    }

    /// Sets a throttle's cluster-wide rate (`None`: unlimited); in force on every worker as
    /// soon as its new share arrives. `interval_ms: None` keeps the interval.
    pub async fn set_rate(
        &self,
        name: &str,
        rate: Option<u64>,
        interval_ms: Option<u64>,
    ) -> Result<(), String> {
        {
            let mut sh = self.shares();
            let Some((_, interval)) = sh.rate(name) else {
                return Err(format!("no throttle {name:?} on the workers"));
            };
            sh.set_rate(name, rate, interval_ms.unwrap_or(interval));
        }
        self.rebalance().await;
        Ok(())
    }
}
