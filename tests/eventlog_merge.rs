//! Logs of a two-node Amoc cluster (assets/logs/cluster-*.jsonl, one per node, the worker
//! started 0.5 s later) merged by time, and the cluster rules of the reducer.

use std::path::PathBuf;

use rookery::eventlog::{MergedReader, ReadOptions};
use rookery::monitor::{MonitorState, RateReading};

fn asset(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("assets/logs")
        .join(name)
}

fn cluster() -> Vec<PathBuf> {
    vec![asset("cluster-worker.jsonl"), asset("cluster-master.jsonl")]
}

#[test]
fn merged_stream_is_ordered_and_aligned_on_started_at() {
    let mut r = MergedReader::open(&cluster(), ReadOptions::default()).expect("opens");
    assert_eq!(r.started_at().to_rfc3339(), "2026-11-21T10:00:00+00:00");
    let mut last = 0;
    let mut n = 0;
    let mut first_worker = None;
    while let Some(ev) = r.next().expect("reads") {
        assert!(ev.t_us >= last, "out of order at {}", ev.t_us);
        last = ev.t_us;
        n += 1;
        if first_worker.is_none() && ev.node.as_deref() == Some("worker@h") {
            first_worker = Some(ev.t_us);
        }
    }
    // The worker's first event is at 100 µs of its own log, 500 ms after the master's start.
    assert_eq!(first_worker, Some(500_100));
    let lines = |p: &PathBuf| std::fs::read_to_string(p).unwrap().lines().count() - 1;
    assert_eq!(n, cluster().iter().map(lines).sum::<usize>());
    assert!(r.stats().warnings.is_empty());
}

#[test]
fn cluster_rules_count_each_request_once() {
    let mut r = MergedReader::open(&cluster(), ReadOptions::default()).expect("opens");
    let mut s = MonitorState::new();
    while let Some(ev) = r.next().expect("reads") {
        s.apply(&ev.as_ref());
    }
    // Requests are reported by the master and the worker: the master's count is the total.
    let msg = s.throttle("msg").expect("msg");
    assert_eq!((msg.requests(), msg.executes(), msg.backlog()), (6, 5, 1));
    let per_node: Vec<u64> = msg.state.per_node().iter().map(|c| c.requests).collect();
    assert_eq!(per_node.iter().sum::<u64>(), 12);
    assert_eq!(
        s.throttle("user_rate").and_then(|t| t.rate()),
        Some(RateReading::Infinity)
    );
    assert_eq!(s.master().map(|n| n.name.as_str()), Some("master@h"));

    // Two coordinators and executes without a name: not attributed.
    assert_eq!(s.coordinators().len(), 2);
    assert_eq!(s.unattributed_executes().events(), 1);
    assert!(s.coordinators().iter().all(|c| c.executes.events() == 0));

    let sum = s.summary();
    assert_eq!(sum.nodes["master@h"], "up");
    assert_eq!(sum.nodes["worker@h"], "down");
    assert_eq!(sum.users.added, 4);
    // The worker went down with 2 users running: they are lost with it, not running.
    assert_eq!(sum.users.lost, 2);
    assert_eq!(sum.users.running, 0);
    assert_eq!(sum.by_event["my.custom.event"], 1);
    assert_eq!(sum.cluster.connect_nodes, 1);
    assert_eq!(sum.cluster.nodedown, 1);
    assert_eq!(sum.coordinator_executes["coordinate"].users, 2);
    assert_eq!(sum.throttles["user_rate"].interval, None);
    let json = serde_json::to_value(&sum).unwrap();
    assert_eq!(json["throttles"]["user_rate"]["rate"], "infinity");
    assert_eq!(json["throttles"]["msg"]["rate"], 600);
}

#[test]
fn gzip_reads_the_same_as_plain() {
    let read = |p: PathBuf| {
        let mut r = MergedReader::open(&[p], ReadOptions::default()).expect("opens");
        let mut s = MonitorState::new();
        while let Some(ev) = r.next().expect("reads") {
            s.apply(&ev.as_ref());
        }
        s.summary()
    };
    let plain = read(asset("amoc-sample.jsonl"));
    let gz = read(asset("amoc-sample.jsonl.gz"));
    assert_eq!(plain, gz);
    assert_eq!(gz.events, 274);
}

#[test]
fn cluster_summary_snapshot() {
    let mut r = MergedReader::open(&cluster(), ReadOptions::default()).expect("opens");
    let mut s = MonitorState::new();
    while let Some(ev) = r.next().expect("reads") {
        s.apply(&ev.as_ref());
    }
    insta::assert_snapshot!("cluster_summary", s.summary().to_json_pretty());
}
