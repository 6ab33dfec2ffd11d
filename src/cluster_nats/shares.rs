//! Cluster-wide throttles: one rate per name for the whole cluster, given to the workers as
//! shares by their demand.
//!
//! A permit round trip per request (Amoc's way, its throttle processes live on the master) does
//! not scale over a broker. Instead each worker keeps its local throttle, running at its share
//! of the cluster rate, and reports each throttle's load in its heartbeats: the requests made
//! so far and the requests waiting. From two heartbeats the master knows what a node asks for,
//! per interval of the throttle: the requests it made since the previous heartbeat plus the
//! requests waiting now (as if they were to go within one heartbeat), both scaled to the
//! throttle's interval.
//!
//! The rate is then split like one central throttle's queue would serve it ([`allot`]):
//! **every waiting request in the cluster gets the same rate**, so a node's part is in
//! proportion to its waiting requests (weighted max-min fairness with the backlog plus one as
//! weight), and a node asking for less than its part gets just what it asks for, the rest
//! going to the others. A node whose share is too small for its users piles up waiting
//! requests, which raise its part at the next heartbeat; a node that asks for less is given
//! less, so no share lies idle on a node that cannot use it (an idle share is a lost part of
//! the cluster rate: the throttle does not lend). Weighting by the queue rather than splitting
//! evenly matters for bursty nodes: a node whose users all asked at once drains its queue at a
//! share that shrinks with the queue, so little of its share is left idle when its queue runs
//! empty between two heartbeats. If the nodes ask for less than the rate altogether, the rest
//! goes to the nodes with waiting requests (by their backlog), else in proportion to what they
//! ask, else evenly. Shares are integers that add up to the rate exactly (largest remainder),
//! at least 1 each when the rate allows, so an idle node can start.
//!
//! The split is redone on every heartbeat round, at once when the rate is changed (key or API),
//! and when a node goes down (its share goes to the others); the master sends a node its new
//! shares only when they changed. Each worker runs its share with a small catch-up
//! ([`catch_up`]): instants that came due while its scheduler was late, or just before a
//! share change re-timed the throttle, are owed rather than lost.

use std::collections::BTreeMap;
use std::time::Instant;

/// How much of its own share a worker's throttle may owe, in milliseconds of that share: a
/// scheduler late by up to this much (or a share change that lands between two releases)
/// loses no instant.
pub const CATCH_UP_MS: u64 = 50;

/// The catch-up (instants owed at most) for a share of `rate` per `interval_ms`: the instants
/// of [`CATCH_UP_MS`], at least 1.
pub fn catch_up(rate: u64, interval_ms: u64) -> u64 {
    let owed = u128::from(rate) * u128::from(CATCH_UP_MS) / u128::from(interval_ms.max(1));
    u64::try_from(owed).unwrap_or(u64::MAX).max(1)
}

/// Whole shares adding up to `total` from the real-valued `exact` (which add up to `total`
/// within rounding): floors, then one more to the largest remainders.
fn integers(total: u64, exact: &[f64]) -> Vec<u64> {
    let n = exact.len();
    let mut shares: Vec<u64> = exact.iter().map(|e| e.max(0.0).floor() as u64).collect();
    let given: u64 = shares.iter().sum();
    if given > total {
        // Rounding pushed the floors over: take back from the largest.
        let mut over = given - total;
        while over > 0 {
            let Some(i) = (0..n).max_by_key(|&i| shares[i]) else {
                break;
            };
            shares[i] -= 1;
            over -= 1;
        }
        return shares;
    }
    let mut left = total - given;
    let mut order: Vec<usize> = (0..n).collect();
    order.sort_by(|&a, &b| {
        let (ra, rb) = (exact[a] - exact[a].floor(), exact[b] - exact[b].floor());
        rb.total_cmp(&ra).then(a.cmp(&b))
    });
    while left > 0 {
        for &i in &order {
            if left == 0 {
                break;
            }
            shares[i] += 1;
            left -= 1;
        }
    }
    shares
}

/// What one node asks of a throttle, per interval of the throttle.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Ask {
    /// Requests per interval (made, plus waiting ones as if due within one heartbeat).
    pub want: f64,
    /// Requests waiting now.
    pub backlog: u64,
}

/// Splits `rate` over nodes asking `asks`, by their waiting requests (see the module docs);
/// the shares add up to `rate`, at least 1 each when `rate` allows.
pub fn allot(rate: u64, asks: &[Ask]) -> Vec<u64> {
    let n = asks.len();
    if n == 0 {
        return Vec::new();
    }
    let floor = u64::from(rate >= n as u64);
    let spare = (rate - floor * n as u64) as f64;
    // Weighted water filling: a node's part of what is left is in proportion to its waiting
    // requests (plus one); the nodes asking least for their weight are served first and get
    // at most their ask.
    let weight = |i: usize| asks[i].backlog as f64 + 1.0;
    let ask = |i: usize| (asks[i].want - floor as f64).max(0.0);
    let mut order: Vec<usize> = (0..n).collect();
    order.sort_by(|&a, &b| {
        (ask(a) / weight(a))
            .total_cmp(&(ask(b) / weight(b)))
            .then(a.cmp(&b))
    });
    let mut exact = vec![0.0; n];
    let mut left = spare;
    let mut weights: f64 = (0..n).map(weight).sum();
    for &i in &order {
        // The floor of 1 is part of what it asked for.
        let give = ask(i).min(left * weight(i) / weights);
        exact[i] = give;
        left -= give;
        weights -= weight(i);
    }
    if left > 1e-9 {
        // Everyone got what it asked for: the rest to those with requests waiting, else by
        // their asks, else evenly.
        let backlog: f64 = asks.iter().map(|a| a.backlog as f64).sum();
        let asked: f64 = asks.iter().map(|a| a.want.max(0.0)).sum();
        for (i, a) in asks.iter().enumerate() {
            exact[i] += left
                * if backlog > 0.0 {
                    a.backlog as f64 / backlog
                } else if asked > 0.0 {
                    a.want.max(0.0) / asked
                } else {
                    1.0 / n as f64
                };
        }
    }
    integers(spare as u64, &exact)
        .into_iter()
        .map(|s| s + floor)
        .collect()
}

/// One throttle's load on one node, as its last heartbeats told.
#[derive(Clone, Debug, Default)]
struct Load {
    requests: u64,
    at: Option<Instant>,
    ask: Ask,
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
        let interval_s = load.interval_ms.max(1) as f64 / 1000.0;
        let want = match l.at {
            Some(at) if now > at => {
                let dt = (now - at).as_secs_f64();
                let made = load.requests.saturating_sub(l.requests) as f64;
                (made + load.backlog as f64) / dt * interval_s
            }
            _ => 0.0,
        };
        l.requests = load.requests;
        l.at = Some(now);
        l.ask = Ask {
            want,
            backlog: load.backlog,
        };
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
            let asks: Vec<Ask> = nodes
                .iter()
                .map(|n| {
                    self.loads
                        .get(&(n.clone(), name.clone()))
                        .map_or(Ask::default(), |l| l.ask)
                })
                .collect();
            for (node, share) in nodes.iter().zip(allot(rate, &asks)) {
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

    fn ask(want: f64, backlog: u64) -> Ask {
        Ask { want, backlog }
    }

    #[test]
    fn parts_follow_the_waiting_requests_and_small_asks_are_met() {
        // Every waiting request gets the same rate: parts by backlog (plus one).
        let hungry = |b| ask(1e9, b);
        assert_eq!(
            allot(100, &[ask(10.0, 0), hungry(50), hungry(50)]),
            vec![2, 49, 49]
        );
        assert_eq!(allot(100, &[hungry(10), hungry(30)]), vec![27, 73]);
        // A node asking less than its part gets its ask; the rest goes to the others.
        assert_eq!(allot(1000, &[ask(50.0, 20), hungry(20)]), vec![50, 950]);
        assert_eq!(
            allot(10_000, &[ask(900.0, 30), ask(20.0, 0), ask(9_500.0, 100)]),
            vec![900, 20, 9_080]
        );
    }

    #[test]
    fn what_nobody_asked_for_goes_to_the_waiting_then_by_asks_then_evenly() {
        assert_eq!(
            allot(100, &[ask(10.0, 0), ask(10.0, 3), ask(10.0, 1)]),
            vec![10, 63, 27]
        );
        assert_eq!(allot(100, &[ask(10.0, 0), ask(30.0, 0)]), vec![25, 75]);
        assert_eq!(allot(100, &[ask(0.0, 0); 3]), vec![34, 33, 33]);
        // At least 1 each when the rate allows, and never more than the rate.
        assert_eq!(
            allot(10, &[ask(100.0, 5), ask(0.0, 0), ask(0.0, 0)]),
            vec![8, 1, 1]
        );
        assert_eq!(allot(2, &[ask(1.0, 0); 3]).iter().sum::<u64>(), 2);
        assert!(allot(5, &[]).is_empty());
    }

    #[test]
    fn shares_always_add_up_to_the_rate() {
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut next = move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        for _ in 0..2_000 {
            let n = 1 + (next() % 6) as usize;
            let rate = next() % 1_000_000;
            let asks: Vec<Ask> = (0..n)
                .map(|_| ask((next() % 2_000_000) as f64 / 3.0, next() % 4))
                .collect();
            let shares = allot(rate, &asks);
            assert_eq!(shares.iter().sum::<u64>(), rate, "{rate} over {asks:?}");
            if rate >= n as u64 {
                assert!(shares.iter().all(|&s| s >= 1), "{shares:?}");
            }
        }
    }

    #[test]
    fn catch_up_is_50_ms_of_the_share() {
        assert_eq!(catch_up(10_000 * 60, 60_000), 500);
        assert_eq!(catch_up(100, 1000), 5);
        assert_eq!(catch_up(1, 60_000), 1);
        assert_eq!(catch_up(u64::MAX, 1), u64::MAX);
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
