//! Cluster-wide coordinators over NATS: the master (this test's process, the library's
//! `Master`) owns the demo's `pairs` coordinator; three `rookery node` workers forward their
//! users' adds. One user per worker, each adding itself once: one pair across two processes,
//! one user left over and handed back on the timeout; a fourth user left over at the stop.

mod nats_support;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use nats_support::*;
use rookery::cluster_nats::{ClusterAddr, Master, MasterOptions};
use rookery::telemetry::{Fields, Telemetry, Value};

/// An event the master saw: name, the node it names, `event` metadata, `users` metadata.
#[derive(Clone, Debug)]
struct Seen {
    name: String,
    node: String,
    event: String,
    users: Vec<i64>,
}

fn users(v: Option<&Value>) -> Vec<i64> {
    match v {
        Some(Value::List(l)) => l.iter().filter_map(Value::as_i64).collect(),
        _ => Vec::new(),
    }
}

/// Waits (polling every 20 ms, at most `limit`) until `cond` holds on what was seen.
async fn wait_for(
    seen: &Mutex<Vec<Seen>>,
    limit: Duration,
    cond: impl Fn(&[Seen]) -> bool,
) -> bool {
    let end = Instant::now() + limit;
    while Instant::now() < end {
        if cond(&seen.lock().unwrap()) {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    cond(&seen.lock().unwrap())
}

fn count(seen: &[Seen], name: &str, event: &str) -> usize {
    seen.iter()
        .filter(|s| s.name == name && s.event == event)
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn users_of_different_workers_meet_in_one_plan_and_leftovers_are_handed_back() {
    let dir = tempfile::tempdir().unwrap();
    let server = NatsServer::start(dir.path());
    let url = server.url();
    let mut workers: Vec<Proc> = ["w1", "w2", "w3"]
        .iter()
        .map(|w| worker(dir.path(), &url, w, "co", &[]))
        .collect();
    let telemetry = Telemetry::new();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let s = seen.clone();
    telemetry
        .attach_prefix(
            "probe",
            &[] as &[&str],
            move |name, _m, md, _| {
                let name = name.dotted().to_string();
                if !(name.starts_with("amoc.coordinator")
                    || name == "demo.chat.paired"
                    || name == "rookery.cluster.batch_run")
                {
                    return;
                }
                s.lock().unwrap().push(Seen {
                    name,
                    node: md.get_str("node").unwrap_or("").to_owned(),
                    event: md.get_str("event").unwrap_or("").to_owned(),
                    users: users(md.lookup("users")),
                });
            },
            Value::Null,
        )
        .unwrap();
    let master = Master::start(
        MasterOptions {
            addr: ClusterAddr {
                url: url.clone(),
                ..ClusterAddr::default()
            },
            run: "co".into(),
            name: "master".into(),
            scenario: "demo".into(),
            // Each user sends one message, asks for a partner, then thinks for a minute.
            settings: vec![
                "pair_every=1".into(),
                "think_time=60s".into(),
                "message_rate=6000000".into(),
                "login_rate=6000000".into(),
                "user_rate=infinity".into(),
            ],
            heartbeat: rookery::cluster_nats::HEARTBEAT,
            timeout: rookery::cluster_nats::TIMEOUT,
        },
        telemetry.clone(),
        Instant::now(),
    )
    .await
    .unwrap();
    master.wait_nodes(3, Duration::from_secs(30)).await.unwrap();
    let blocks = master.add_users(3).await.unwrap();
    let node_of = |user: i64| {
        blocks
            .iter()
            .find(|b| (b.first..=b.last).contains(&(user as u64)))
            .map(|b| b.node.clone())
            .unwrap()
    };
    assert_eq!(blocks.len(), 3, "one user per worker: {blocks:?}");

    // Two of the three meet: the master decides, and both members' nodes run the action.
    assert!(
        wait_for(&seen, Duration::from_secs(10), |s| {
            s.iter().filter(|e| e.name == "demo.chat.paired").count() >= 2
        })
        .await,
        "no pair across workers: {:?}",
        seen.lock().unwrap()
    );
    let paired: Vec<Seen> = {
        let s = seen.lock().unwrap();
        s.iter()
            .filter(|e| e.name == "demo.chat.paired")
            .cloned()
            .collect()
    };
    let pair = paired[0].users.clone();
    assert_eq!(pair.len(), 2);
    let (a, b) = (node_of(pair[0]), node_of(pair[1]));
    assert_ne!(a, b, "the pair spans two worker processes");
    let mut ran_on: Vec<String> = paired.iter().map(|e| e.node.clone()).collect();
    ran_on.sort();
    let mut expected = vec![a.clone(), b.clone()];
    expected.sort();
    assert_eq!(ran_on, expected, "each member's node ran the action once");
    assert!(paired.iter().all(|e| e.users == pair));

    // The third waits alone; the timeout (5 s after the last add) hands it back to its node.
    assert!(
        wait_for(&seen, Duration::from_secs(10), |s| count(
            s,
            "rookery.cluster.batch_run",
            "timeout"
        ) >= 1)
        .await,
        "the leftover was not handed back: {:?}",
        seen.lock().unwrap()
    );
    let alone: i64 = (1..=3).find(|u| !pair.contains(u)).unwrap();
    {
        let s = seen.lock().unwrap();
        let handed = s
            .iter()
            .find(|e| e.name == "rookery.cluster.batch_run" && e.event == "timeout")
            .unwrap();
        assert_eq!(handed.users, vec![alone]);
        assert_eq!(handed.node, node_of(alone), "handed to the leftover's node");
    }

    // A fourth user, left over when the run stops: handed back with `stop`.
    let extra = master.add_users_to(&a, 1).await.unwrap();
    assert!(
        wait_for(&seen, Duration::from_secs(10), |s| s
            .iter()
            .filter(|e| e.name == "amoc.coordinator.add")
            .count()
            >= 4)
        .await
    );
    master.stop(Duration::from_secs(15)).await.unwrap();
    {
        let s = seen.lock().unwrap();
        let handed = s
            .iter()
            .find(|e| e.name == "rookery.cluster.batch_run" && e.event == "stop")
            .unwrap_or_else(|| panic!("no stop leftover handed back: {s:?}"));
        assert_eq!(handed.users, vec![extra.first as i64]);
        assert_eq!(handed.node, a);
        // The coordinator's own events: once each, all from the master (none forwarded from a
        // worker's copy).
        let coordinator: Vec<&Seen> = s
            .iter()
            .filter(|e| e.name.starts_with("amoc.coordinator"))
            .collect();
        assert!(
            coordinator.iter().all(|e| e.node == "master"),
            "{coordinator:?}"
        );
        let named = |n: &str| coordinator.iter().filter(|e| e.name == n).count();
        assert_eq!(named("amoc.coordinator.start"), 1);
        assert_eq!(named("amoc.coordinator.add"), 4);
        assert_eq!(named("amoc.coordinator.timeout"), 1);
        assert_eq!(named("amoc.coordinator.stop"), 1);
        assert_eq!(count(&s, "amoc.coordinator.execute", "coordinate"), 1);
        assert_eq!(count(&s, "amoc.coordinator.execute", "timeout"), 1);
        assert_eq!(count(&s, "amoc.coordinator.execute", "stop"), 1);
    }
    master.end().await;
    for w in &mut workers {
        assert!(w.ends_ok(Duration::from_secs(10)), "{}", w.stderr_text());
    }
}
