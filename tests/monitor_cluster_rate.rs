//! A throttle's rate in a cluster whose master reports the cluster-wide rate (a real cluster
//! over NATS): a worker's own rate event (its share) does not replace it.

use std::time::Instant;

use rookery::engine::events::{CLUSTER_CONNECT_NODES, Emitter, THROTTLE_RATE};
use rookery::fields;
use rookery::monitor::{LiveFeed, MonitorState};
use rookery::telemetry::{Key, Telemetry, Value};

fn rate(e: &Emitter, rate: i64) {
    e.emit(
        &THROTTLE_RATE,
        &fields! {"rate" => rate, "interval" => 60_000},
        &fields! {"name" => "messages"},
    );
}

fn shown(feed: &LiveFeed, state: &mut MonitorState) -> serde_json::Value {
    feed.drain_into(state);
    serde_json::to_value(state.summary()).unwrap()["throttles"]["messages"]["rate"].clone()
}

#[test]
fn the_masters_rate_wins_over_a_workers_share() {
    let t = Telemetry::new();
    let feed = LiveFeed::attach(&t, "monitor", 10_000, Instant::now()).unwrap();
    let master = Emitter::new(t.clone(), "master");
    let w1 = master.for_node("w1");
    let mut state = MonitorState::new();
    // Before the master is known, a worker's rate is all there is.
    rate(&w1, 6000);
    assert_eq!(shown(&feed, &mut state), 6000);
    let state_md = Value::map([(Key::new_static("master"), Value::from("master"))]);
    master.emit(
        &CLUSTER_CONNECT_NODES,
        &fields! {"count" => 1},
        &[
            (Key::new_static("nodes"), Value::list([Value::from("w1")])),
            (Key::new_static("state"), state_md),
        ],
    );
    rate(&master, 6000);
    rate(&w1, 2000);
    assert_eq!(
        shown(&feed, &mut state),
        6000,
        "a share does not replace it"
    );
    rate(&master, 9000);
    assert_eq!(shown(&feed, &mut state), 9000, "the master's change does");
}
