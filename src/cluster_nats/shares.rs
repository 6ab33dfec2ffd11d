//! Cluster-wide throttles: one rate per name for the whole cluster, given to the workers as
//! shares proportional to their demand.
//!
//! A permit round trip per request (Amoc's way, its throttle processes live on the master) does
//! not scale over a broker. Instead each worker keeps its local throttle, running at its share
//! of the cluster rate, and reports each throttle's load in its heartbeats: the requests made
//! since the previous heartbeat and the requests waiting. The master splits the rate in
//! proportion to that demand (largest remainder, so the shares add up to the rate exactly; at
//! least 1 each so an idle worker can start), and sends a worker its new shares when they
//! changed. The split is redone on every heartbeat round, at once when the rate is changed
//! (key or API), and when a node goes down (its share goes to the others).

use std::collections::BTreeMap;
use std::time::Instant;

/// Splits `rate` over `demands` in proportion (largest remainder; every share at least 1 when
/// `rate` allows). Zero total demand splits evenly.
pub fn split(rate: u64, demands: &[f64]) -> Vec<u64> {
    let n = demands.len();
    if n == 0 {
        return Vec::new();
    }
    let floor = u64::from(rate >= n as u64);
    let spare = rate - floor * n as u64;
    let total: f64 = demands.iter().map(|d| d.max(0.0)).sum();
    let weights: Vec<f64> = if total > 0.0 {
        demands.iter().map(|d| d.max(0.0) / total).collect()
    } else {
        vec![1.0 / n as f64; n]
    };
    let exact: Vec<f64> = weights.iter().map(|w| w * spare as f64).collect();
    let mut shares: Vec<u64> = exact.iter().map(|e| e.floor() as u64).collect();
    let mut left = spare - shares.iter().sum::<u64>().min(spare);
    let mut order: Vec<usize> = (0..n).collect();
    order.sort_by(|&a, &b| {
        let (ra, rb) = (exact[a] - exact[a].floor(), exact[b] - exact[b].floor());
        rb.total_cmp(&ra).then(a.cmp(&b))
    });
    for &i in order.iter().cycle().take(n * 2) {
        if left == 0 {
            break;
        }
        shares[i] += 1;
        left -= 1;
    }
    shares.iter().map(|s| s + floor).collect()
}

/// One throttle's load on one node, as its last heartbeats told.
#[derive(Clone, Debug, Default)]
struct Load {
    requests: u64,
    at: Option<Instant>,
    /// Requests per second (from the last two heartbeats) plus waiting requests.
    demand: f64,
}

/// The master's view of the cluster's throttles.
#[derive(Debug, Default)]
pub struct Shares {
    /// Cluster rate (`None`: unlimited) and interval of each throttle.
    rates: BTreeMap<String, (Option<u64>, u64)>,
    loads: BTreeMap<(String, String), Load>,
    /// Last shares sent: node → throttle → rate.
    sent: BTreeMap<String, BTreeMap<String, u64>>,
}

impl Shares {
    /// A heartbeat's load of throttle `name` on `node`. The first report of a throttle sets
    /// its cluster rate (every worker resolves the same settings).
    pub fn report(
        &mut self,
        node: &str,
        name: &str,
        load: &super::wire::ThrottleLoad,
        now: Instant,
    ) {
        self.rates
            .entry(name.to_owned())
            .or_insert((load.rate, load.interval_ms));
        let l = self
            .loads
            .entry((node.to_owned(), name.to_owned()))
            .or_default();
        let per_s = match l.at {
            Some(at) if now > at => {
                load.requests.saturating_sub(l.requests) as f64 / (now - at).as_secs_f64()
            }
            _ => 0.0,
        };
        l.requests = load.requests;
        l.at = Some(now);
        l.demand = per_s + load.backlog as f64;
    }

    /// Sets a throttle's cluster rate (`None`: unlimited).
    pub fn set_rate(&mut self, name: &str, rate: Option<u64>, interval_ms: u64) {
        self.rates.insert(name.to_owned(), (rate, interval_ms));
    }

    /// The cluster rate of a throttle.
    pub fn rate(&self, name: &str) -> Option<(Option<u64>, u64)> {
        self.rates.get(name).copied()
    }

    /// Forgets a node (it went down).
    pub fn remove(&mut self, node: &str) {
        self.loads.retain(|(n, _), _| n != node);
        self.sent.remove(node);
    }

    /// New shares for `nodes` (the up workers): for each node, the throttles whose share
    /// changed since last sent, as `(name, rate, interval_ms)`. Unlimited throttles are left
    /// alone.
    pub fn rebalance(&mut self, nodes: &[String]) -> BTreeMap<String, Vec<(String, u64, u64)>> {
        let mut out: BTreeMap<String, Vec<(String, u64, u64)>> = BTreeMap::new();
        if nodes.is_empty() {
            return out;
        }
        for (name, &(rate, interval)) in &self.rates {
            let Some(rate) = rate else { continue };
            let demands: Vec<f64> = nodes
                .iter()
                .map(|n| {
                    self.loads
                        .get(&(n.clone(), name.clone()))
                        .map_or(0.0, |l| l.demand)
                })
                .collect();
            for (node, share) in nodes.iter().zip(split(rate, &demands)) {
                let last = self.sent.entry(node.clone()).or_default();
                if last.get(name) != Some(&share) {
                    last.insert(name.clone(), share);
                    out.entry(node.clone())
                        .or_default()
                        .push((name.clone(), share, interval));
                }
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cluster_nats::wire::ThrottleLoad;
    use std::time::Duration;

    #[test]
    fn split_is_proportional_and_exact() {
        assert_eq!(split(100, &[1.0, 1.0, 2.0]), vec![25, 25, 50]);
        assert_eq!(split(100, &[0.0, 0.0, 0.0]), vec![34, 33, 33]);
        assert_eq!(split(10, &[5.0, 0.0, 0.0]), vec![8, 1, 1]);
        for (rate, d) in [(7, vec![0.3, 0.3, 0.4]), (100_000, vec![1.0, 7.0, 13.0])] {
            assert_eq!(split(rate, &d).iter().sum::<u64>(), rate);
        }
        assert_eq!(split(2, &[1.0, 1.0, 1.0]).iter().sum::<u64>(), 2);
        assert!(split(5, &[]).is_empty());
    }

    fn load(requests: u64, backlog: u64) -> ThrottleLoad {
        ThrottleLoad {
            name: "t".into(),
            rate: Some(600),
            interval_ms: 1000,
            requests,
            backlog,
        }
    }

    #[test]
    fn shares_follow_demand_and_a_lost_node_is_given_away() {
        let mut s = Shares::default();
        let t0 = Instant::now();
        let nodes = vec!["a".to_string(), "b".to_string(), "c".to_string()];
        for n in &nodes {
            s.report(n, "t", &load(0, 0), t0);
        }
        let first = s.rebalance(&nodes);
        assert_eq!(first["a"], vec![("t".to_string(), 200, 1000)]);
        let t1 = t0 + Duration::from_secs(1);
        s.report("a", "t", &load(100, 0), t1);
        s.report("b", "t", &load(100, 0), t1);
        s.report("c", "t", &load(400, 0), t1);
        let second = s.rebalance(&nodes);
        let share = |n: &str| second[n][0].1;
        assert_eq!(share("a") + share("b") + share("c"), 600);
        assert!((398..=400).contains(&share("c")), "{second:?}");
        assert!((99..=101).contains(&share("a")), "{second:?}");
        assert!(
            s.rebalance(&nodes).is_empty(),
            "unchanged shares are not sent again"
        );
        s.remove("c");
        let after = s.rebalance(&nodes[..2]);
        assert_eq!(after["a"], vec![("t".to_string(), 300, 1000)]);
        assert_eq!(after["b"], vec![("t".to_string(), 300, 1000)]);
        s.set_rate("t", Some(60), 1000);
        let changed = s.rebalance(&nodes[..2]);
        assert_eq!(changed["a"][0].1 + changed["b"][0].1, 60);
        s.set_rate("t", None, 1000);
        assert!(s.rebalance(&nodes[..2]).is_empty(), "unlimited: no shares");
    }
}
