//! A node reported down takes its running users with it: they are `lost`, not `running`, in
//! the state, the summary and the per-node counts; a user of that node that ends after all (a
//! killed node's users cancelled as it goes) is counted once; a node that comes back is counted
//! from its own events again.

use rookery::fields;
use rookery::monitor::{EventRef, MonitorState};
use rookery::telemetry::{EventName, Field};
use rookery::{event_name, telemetry::Value};

fn apply(s: &mut MonitorState, t_us: u64, node: &str, name: &EventName, md: &[Field]) {
    s.apply(&EventRef {
        t_us,
        node: Some(node),
        name,
        measurements: &fields! {"count" => 1},
        metadata: md,
    });
}

fn start_users(s: &mut MonitorState, node: &str, n: u64) {
    let start = event_name!("amoc", "scenario", "start", "start");
    for id in 0..n {
        apply(
            s,
            1_000 + id,
            node,
            &start,
            &fields! {"user_id" => id as i64},
        );
    }
}

fn stop_user(s: &mut MonitorState, t_us: u64, node: &str) {
    let stop = event_name!("amoc", "scenario", "start", "stop");
    apply(s, t_us, node, &stop, &fields! {"user_id" => 0});
}

fn cluster(s: &mut MonitorState, t_us: u64, from: &str, what: &str, nodes: &[&str]) {
    let name = EventName::new(&["amoc", "cluster", what]).unwrap();
    let list = Value::List(nodes.iter().map(|n| Value::from(*n)).collect());
    apply(s, t_us, from, &name, &fields! {"nodes" => list});
}

fn running(s: &MonitorState, node: &str) -> i64 {
    s.nodes()
        .iter()
        .find(|n| n.name == node)
        .expect("node seen")
        .running()
}

#[test]
fn a_node_reported_down_takes_its_running_users_out_of_running() {
    let mut s = MonitorState::new();
    cluster(&mut s, 10, "node1", "connect_nodes", &["node2", "node3"]);
    start_users(&mut s, "node2", 10);
    start_users(&mut s, "node3", 10);
    assert_eq!(s.users().running(), 20);

    // node3 is killed: node1 (and node2) report it down; the second report changes nothing.
    cluster(&mut s, 2_000_000, "node1", "nodedown", &["node3"]);
    cluster(&mut s, 2_000_100, "node2", "nodedown", &["node3"]);
    assert_eq!(s.users().lost, 10);
    assert_eq!(
        s.users().running(),
        10,
        "node3's users are not running any more"
    );
    assert_eq!(running(&s, "node3"), 0);
    assert_eq!(running(&s, "node2"), 10);

    let summary = serde_json::to_value(s.summary()).unwrap();
    assert_eq!(summary["users"]["lost"], 10);
    assert_eq!(summary["users"]["running"], 10);
    assert_eq!(summary["users"]["started"], 20);

    // Two of node3's users end after its nodedown (cancelled as it went): counted once each.
    stop_user(&mut s, 2_000_200, "node3");
    stop_user(&mut s, 2_000_300, "node3");
    assert_eq!(s.users().lost, 8);
    assert_eq!(s.users().stopped, 2);
    assert_eq!(s.users().running(), 10);
    assert_eq!(running(&s, "node3"), 0);

    // node2's users are unaffected.
    stop_user(&mut s, 2_000_400, "node2");
    assert_eq!(s.users().running(), 9);
    assert_eq!(s.users().lost, 8);
}

#[test]
fn a_node_that_comes_back_counts_from_its_own_events_again() {
    let mut s = MonitorState::new();
    cluster(&mut s, 10, "node1", "connect_nodes", &["node2"]);
    start_users(&mut s, "node2", 5);
    // A netsplit: node2 is reported down, then connects again with its users still running.
    cluster(&mut s, 1_000_000, "node1", "nodedown", &["node2"]);
    assert_eq!(s.users().running(), 0);
    cluster(&mut s, 3_000_000, "node1", "connect_nodes", &["node2"]);
    assert_eq!(s.users().lost, 0);
    assert_eq!(s.users().running(), 5);
    assert_eq!(running(&s, "node2"), 5);
    stop_user(&mut s, 3_000_100, "node2");
    assert_eq!(s.users().running(), 4);
}

#[test]
fn the_running_series_drops_when_the_node_goes_down() {
    let mut s = MonitorState::new();
    cluster(&mut s, 10, "node1", "connect_nodes", &["node2"]);
    start_users(&mut s, "node2", 7);
    cluster(&mut s, 4_000_000, "node1", "nodedown", &["node2"]);
    let series = &s.users().running_series;
    assert_eq!(series.at(0), 7);
    assert_eq!(
        series.at(4),
        0,
        "the second of the nodedown shows 0 running"
    );
}
