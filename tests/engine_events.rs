//! Every event of the engine core (scenario spans, controller, cluster) carries the seed's
//! measurements and metadata, plus `node`.

#[path = "engine_support.rs"]
mod support;

use std::time::Duration;

use rookery::engine::{UserRate, boxed};
use rookery::telemetry::testing::{EventCollector, Received};
use rookery::telemetry::{Fields, Telemetry, Value};
use support::{Behaviour, TestScenario, controller, engine, scenario, settle};
use tokio::time::sleep;

fn named<'a>(events: &'a [Received], dotted: &str) -> Vec<&'a Received> {
    events
        .iter()
        .filter(|e| e.name.dotted() == dotted)
        .collect()
}

fn keys(fields: &[(rookery::telemetry::Key, Value)]) -> Vec<&str> {
    let mut k: Vec<&str> = fields.iter().map(|(k, _)| k.as_str()).collect();
    k.sort_unstable();
    k
}

fn assert_span_start(e: &Received) {
    assert_eq!(keys(&e.measurements), ["monotonic_time", "system_time"]);
    assert!(e.metadata.has("telemetry_span_context"));
}

fn assert_span_end(e: &Received) {
    assert_eq!(keys(&e.measurements), ["duration", "monotonic_time"]);
    assert!(e.measurements.get_i64("duration").unwrap() >= 0);
    assert!(e.metadata.has("telemetry_span_context"));
}

#[tokio::test(start_paused = true)]
async fn scenario_spans_and_controller_events() {
    let t = Telemetry::new();
    let events = EventCollector::attach_prefix(&t, &["amoc"]);
    let c = controller(&t, UserRate::Infinity);
    c.start_scenario(&scenario("seeded", Behaviour::ObeyRemoval))
        .unwrap();
    c.add_users(1, 3).unwrap();
    settle().await;
    assert_eq!(c.remove_users(1, false), Ok(1));
    settle().await;
    c.stop_scenario().unwrap();
    settle().await;
    let got = events.drain();

    for e in &got {
        assert_eq!(e.metadata.get_str("node"), Some("node1"), "{}", e.name);
    }

    let init = named(&got, "amoc.scenario.init.start");
    assert_eq!(init.len(), 1);
    assert_span_start(init[0]);
    assert_eq!(
        keys(&init[0].metadata),
        ["node", "scenario", "telemetry_span_context"]
    );
    assert_eq!(init[0].metadata.get_str("scenario"), Some("seeded"));
    let init_stop = named(&got, "amoc.scenario.init.stop");
    assert_span_end(init_stop[0]);
    assert_eq!(
        init_stop[0].metadata.lookup("return"),
        Some(&Value::Int(42))
    );
    assert_eq!(
        init_stop[0].metadata.lookup("telemetry_span_context"),
        init[0].metadata.lookup("telemetry_span_context")
    );

    let starts = named(&got, "amoc.scenario.start.start");
    assert_eq!(starts.len(), 3);
    let mut ids: Vec<i64> = starts
        .iter()
        .map(|e| e.metadata.get_i64("user_id").unwrap())
        .collect();
    ids.sort_unstable();
    assert_eq!(ids, [1, 2, 3]);
    for s in &starts {
        assert_span_start(s);
        assert_eq!(
            keys(&s.metadata),
            [
                "node",
                "scenario",
                "state",
                "telemetry_span_context",
                "user_id"
            ]
        );
        assert_eq!(s.metadata.lookup("state"), Some(&Value::Int(42)));
    }
    let stops = named(&got, "amoc.scenario.start.stop");
    assert_eq!(stops.len(), 3);
    for s in &stops {
        assert_span_end(s);
        assert_eq!(s.metadata.get_str("return"), Some("ok"));
        assert!(s.metadata.has("user_id") && s.metadata.has("state"));
    }

    let users = named(&got, "amoc.controller.users");
    assert_eq!(users.len(), 2);
    for (e, (count, kind)) in users.iter().zip([(3, "add"), (1, "remove")]) {
        assert_eq!(keys(&e.measurements), ["count"]);
        assert_eq!(e.measurements.get_i64("count"), Some(count));
        assert_eq!(
            keys(&e.metadata),
            ["monotonic_time", "node", "scenario", "type"]
        );
        assert_eq!(e.metadata.get_str("type"), Some(kind));
        assert_eq!(e.metadata.get_str("scenario"), Some("seeded"));
    }

    let term = named(&got, "amoc.scenario.terminate.start");
    assert_eq!(term.len(), 1);
    assert_span_start(term[0]);
    assert_eq!(
        keys(&term[0].metadata),
        ["node", "scenario", "state", "telemetry_span_context"]
    );
    let term_stop = named(&got, "amoc.scenario.terminate.stop");
    assert_span_end(term_stop[0]);
    assert_eq!(term_stop[0].metadata.get_str("return"), Some("ok"));
}

#[tokio::test(start_paused = true)]
async fn failures_end_spans_with_exceptions() {
    rookery::telemetry::guard::install_panic_hook();
    let t = Telemetry::new();
    let events = EventCollector::attach_prefix(&t, &["amoc", "scenario"]);
    for (name, behaviour, kind) in [
        ("panicky", Behaviour::Panic, "panic"),
        ("failing", Behaviour::Fail, "error"),
    ] {
        let c = controller(&t, UserRate::Infinity);
        c.start_scenario(&scenario(name, behaviour)).unwrap();
        c.add_users(1, 2).unwrap();
        settle().await;
        let got = events.drain();
        let ex = named(&got, "amoc.scenario.start.exception");
        assert_eq!(ex.len(), 2, "{name}");
        for e in ex {
            assert_span_end(e);
            assert_eq!(e.metadata.get_str("kind"), Some(kind));
            assert!(e.metadata.has("reason") && e.metadata.has("stacktrace"));
            assert_eq!(e.metadata.get_str("scenario"), Some(name));
            assert!(e.metadata.has("user_id") && e.metadata.has("node"));
        }
        assert!(named(&got, "amoc.scenario.start.stop").is_empty());
    }
    // A forced removal cancels with kind exit.
    let c = controller(&t, UserRate::Infinity);
    c.start_scenario(&scenario("stubborn", Behaviour::IgnoreRemoval))
        .unwrap();
    c.add_users(1, 1).unwrap();
    settle().await;
    c.remove_users(1, true).unwrap();
    sleep(Duration::from_millis(2001)).await;
    let got = events.drain();
    let ex = named(&got, "amoc.scenario.start.exception");
    assert_eq!(ex.len(), 1);
    assert_eq!(ex[0].metadata.get_str("kind"), Some("exit"));
    assert_eq!(ex[0].metadata.get_str("reason"), Some("killed"));

    // A failing init: stop with an error return; a crashing terminate: exception.
    let c = controller(&t, UserRate::Infinity);
    let mut s = TestScenario::new("badinit", Behaviour::Quick);
    s.fail_init = true;
    assert!(c.start_scenario(&boxed(s)).is_err());
    let mut s = TestScenario::new("badterm", Behaviour::Quick);
    s.panic_in_terminate = true;
    let c2 = controller(&t, UserRate::Infinity);
    c2.start_scenario(&boxed(s)).unwrap();
    c2.stop_scenario().unwrap();
    let got = events.drain();
    let init_stop = named(&got, "amoc.scenario.init.stop");
    let bad = init_stop
        .iter()
        .find(|e| e.metadata.get_str("scenario") == Some("badinit"))
        .unwrap();
    assert_eq!(bad.metadata.get_str("error"), Some("init says no"));
    assert!(bad.metadata.lookup("return").unwrap().as_map().is_some());
    let term_ex = named(&got, "amoc.scenario.terminate.exception");
    assert_eq!(term_ex.len(), 1);
    assert_span_end(term_ex[0]);
    assert_eq!(term_ex[0].metadata.get_str("kind"), Some("panic"));
    assert_eq!(
        term_ex[0].metadata.get_str("reason"),
        Some("terminate crashed")
    );
    assert_eq!(term_ex[0].metadata.get_str("scenario"), Some("badterm"));
}

fn assert_cluster_event(e: &Received, node: &str, nodes: &[&str]) {
    assert_eq!(keys(&e.measurements), ["count"]);
    assert_eq!(e.measurements.get_i64("count"), Some(nodes.len() as i64));
    assert_eq!(
        keys(&e.metadata),
        ["monotonic_time", "node", "nodes", "state"]
    );
    assert_eq!(e.metadata.get_str("node"), Some(node));
    let listed: Vec<&str> = e
        .metadata
        .lookup("nodes")
        .and_then(Value::as_list)
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert_eq!(listed, nodes);
    let state = e.metadata.lookup("state").and_then(Value::as_map).unwrap();
    assert_eq!(state.get_str("master"), Some("node1"));
    for k in [
        "connected",
        "slave",
        "connection_lost",
        "failed_to_connect",
        "to_ack",
    ] {
        assert!(state.lookup(k).and_then(Value::as_list).is_some(), "{k}");
    }
}

#[tokio::test(start_paused = true)]
async fn cluster_events() {
    let t = Telemetry::new();
    let events = EventCollector::attach_prefix(&t, &["amoc", "cluster"]);
    let e = engine(&t, 3);
    let got = events.drain();
    let connects = named(&got, "amoc.cluster.connect_nodes");
    // node2 joins node1; node3 joins node1 and node2.
    assert_eq!(connects.len(), 5);
    assert_cluster_event(connects[0], "node2", &["node1"]);
    assert_cluster_event(connects[1], "node1", &["node2"]);
    assert_cluster_event(connects[2], "node3", &["node1", "node2"]);
    assert_cluster_event(connects[3], "node1", &["node3"]);
    assert_cluster_event(connects[4], "node2", &["node3"]);
    let state = connects[2]
        .metadata
        .lookup("state")
        .unwrap()
        .as_map()
        .unwrap();
    assert_eq!(
        state.lookup("connected"),
        Some(&Value::list([Value::from("node1"), Value::from("node2")]))
    );

    e.kill_node("node3").unwrap();
    let got = events.drain();
    let down = named(&got, "amoc.cluster.nodedown");
    assert_eq!(down.len(), 2);
    assert_cluster_event(down[0], "node1", &["node3"]);
    assert_cluster_event(down[1], "node2", &["node3"]);
    let state = down[0].metadata.lookup("state").unwrap().as_map().unwrap();
    assert_eq!(
        state.lookup("connection_lost"),
        Some(&Value::list([Value::from("node3")]))
    );

    e.add_node().unwrap();
    e.kill_node("node1").unwrap();
    let got = events.drain();
    let lost = named(&got, "amoc.cluster.master_node_down");
    assert_eq!(lost.len(), 2);
    assert_cluster_event(lost[0], "node2", &["node1"]);
    assert_cluster_event(lost[1], "node4", &["node1"]);
    assert!(named(&got, "amoc.cluster.nodedown").is_empty());
}

#[tokio::test(start_paused = true)]
async fn every_engine_event_names_its_node() {
    let t = Telemetry::new();
    let events = EventCollector::attach_prefix(&t, &["amoc"]);
    let e = engine(&t, 3);
    e.start_scenario(scenario("s", Behaviour::ObeyRemoval), UserRate::Infinity)
        .unwrap();
    e.add_users(4).unwrap();
    settle().await;
    e.remove_users(2, false).unwrap();
    e.add_node().unwrap();
    e.stop().unwrap();
    e.wait_finished(Duration::from_secs(5)).await.unwrap();
    let got = events.drain();
    assert!(got.len() > 20);
    for ev in &got {
        let node = ev.metadata.get_str("node").unwrap_or_default();
        assert!(node.starts_with("node"), "{} lacks node", ev.name);
    }
    let init_nodes: Vec<&str> = named(&got, "amoc.scenario.init.start")
        .iter()
        .filter_map(|e| e.metadata.get_str("node"))
        .collect();
    assert_eq!(init_nodes, ["node1", "node2", "node3", "node4"]);
    let start_nodes: Vec<(i64, &str)> = named(&got, "amoc.scenario.start.start")
        .iter()
        .map(|e| {
            (
                e.metadata.get_i64("user_id").unwrap(),
                e.metadata.get_str("node").unwrap(),
            )
        })
        .collect();
    let mut sorted = start_nodes.clone();
    sorted.sort_unstable();
    assert_eq!(
        sorted,
        [(1, "node2"), (2, "node2"), (3, "node3"), (4, "node3")]
    );
}

#[tokio::test(start_paused = true)]
async fn user_rate_is_reported_from_the_master() {
    let t = Telemetry::new();
    let events = EventCollector::attach_prefix(&t, &["amoc", "throttle"]);
    let e = engine(&t, 3);
    e.start_scenario(scenario("s", Behaviour::Quick), UserRate::PerMinute(1200))
        .unwrap();
    e.set_user_rate(UserRate::Infinity).unwrap();
    let got = events.drain();
    let rates = named(&got, "amoc.throttle.rate");
    // The engine starts `user_rate` at its configured rate (infinity in these tests), the
    // scenario start changes it to 1200/min, and `set_user_rate` back to infinity.
    assert_eq!(rates.len(), 3);
    assert_eq!(rates[0].measurements.get_str("rate"), Some("infinity"));
    assert_eq!(keys(&rates[1].measurements), ["interval", "rate"]);
    assert_eq!(rates[1].measurements.get_i64("rate"), Some(1200));
    assert_eq!(rates[1].measurements.get_i64("interval"), Some(60_000));
    assert_eq!(rates[2].measurements.get_str("rate"), Some("infinity"));
    for r in rates {
        assert_eq!(r.metadata.get_str("name"), Some("user_rate"));
        assert_eq!(r.metadata.get_str("node"), Some("node1"));
        assert!(r.metadata.has("monotonic_time"));
    }
}
