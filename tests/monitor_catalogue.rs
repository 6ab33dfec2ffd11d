//! Every event of the Amoc catalogue emitted through an `Emitter`, carried by
//! the live feed, and reduced by `MonitorState`.

use std::time::Instant;

use rookery::engine::events::*;
use rookery::fields;
use rookery::monitor::{ConfigKind, LiveFeed, MonitorState, RateReading};
use rookery::telemetry::{Telemetry, Value};

fn setup() -> (Telemetry, Emitter, LiveFeed) {
    let t = Telemetry::new();
    let feed = LiveFeed::attach(&t, "monitor", 10_000, Instant::now()).expect("attach");
    let e = Emitter::new(t.clone(), "node1");
    (t, e, feed)
}

#[test]
fn every_catalogue_event_reaches_its_pane() {
    let (t, e, feed) = setup();
    let w = e.for_node("node2");

    // Scenario spans: init, start (one stop, one exception, one left running), terminate.
    let init = e.span_start(&SCENARIO_INIT, &fields! {"scenario" => "demo"});
    init.stop(
        &t,
        &[],
        &e.with_node(&fields! {"scenario" => "demo", "return" => "ok"}),
    );
    let md = fields! {"scenario" => "demo", "state" => "", "user_id" => 1};
    for _ in 0..3 {
        w.span_start(&SCENARIO_START, &md)
            .stop(&t, &[], &w.with_node(&md));
    }
    w.span_start(&SCENARIO_START, &md).exception(
        &t,
        &w.with_node(&md),
        "error",
        "boom",
        Value::Null,
    );
    let _running = w.span_start(&SCENARIO_START, &md);
    let term = e.span_start(
        &SCENARIO_TERMINATE,
        &fields! {"scenario" => "demo", "state" => ""},
    );
    term.exception(&t, &e.with_node(&[]), "throw", "x", Value::Null);

    // Controller.
    e.emit(
        &CONTROLLER_USERS,
        &fields! {"count" => 10},
        &fields! {"scenario" => "demo", "type" => "add"},
    );
    e.emit(
        &CONTROLLER_USERS,
        &fields! {"count" => 3},
        &fields! {"scenario" => "demo", "type" => "remove"},
    );

    // Throttle.
    e.emit(
        &THROTTLE_INIT,
        &fields! {"count" => 1},
        &fields! {"name" => "login"},
    );
    e.emit(
        &THROTTLE_RATE,
        &fields! {"rate" => 600, "interval" => 60000},
        &fields! {"name" => "login"},
    );
    for _ in 0..5 {
        e.emit(
            &THROTTLE_REQUEST,
            &fields! {"count" => 1},
            &fields! {"name" => "login"},
        );
    }
    for _ in 0..3 {
        e.emit(
            &THROTTLE_EXECUTE,
            &fields! {"count" => 1},
            &fields! {"name" => "login"},
        );
    }
    e.emit_log(
        &THROTTLE_PROCESS,
        LogLevel::Debug,
        "state update",
        &fields! {"name" => "login", "self" => "<0.1.0>"},
    );
    e.emit_log(
        &THROTTLE_PROCESS,
        LogLevel::Error,
        "throttle proccess has invalid N",
        &fields! {"name" => "login", "n" => 0},
    );
    e.emit(
        &THROTTLE_RATE,
        &fields! {"rate" => "infinity"},
        &fields! {"name" => "open"},
    );

    // Coordinator.
    e.emit(
        &COORDINATOR_START,
        &fields! {"count" => 1},
        &fields! {"name" => "c"},
    );
    for _ in 0..4 {
        e.emit(
            &COORDINATOR_ADD,
            &fields! {"count" => 1},
            &fields! {"name" => "c"},
        );
    }
    e.emit(
        &COORDINATOR_RESET,
        &fields! {"count" => 1},
        &fields! {"name" => "c"},
    );
    e.emit(
        &COORDINATOR_TIMEOUT,
        &fields! {"count" => 1},
        &fields! {"name" => "c"},
    );
    e.emit(
        &COORDINATOR_EXECUTE,
        &fields! {"count" => 3},
        &fields! {"event" => "coordinate", "configured" => 3},
    );
    e.emit(
        &COORDINATOR_EXECUTE,
        &fields! {"count" => 1},
        &fields! {"event" => "timeout", "configured" => "all"},
    );
    e.emit(
        &COORDINATOR_EXECUTE,
        &fields! {"count" => 0},
        &fields! {"event" => "reset", "configured" => 3},
    );
    e.emit(
        &COORDINATOR_EXECUTE,
        &fields! {"count" => 0},
        &fields! {"event" => "stop", "configured" => 3},
    );
    e.emit(
        &COORDINATOR_STOP,
        &fields! {"count" => 1},
        &fields! {"name" => "c"},
    );

    // Config.
    e.emit_log(
        &CONFIG_GET,
        LogLevel::Error,
        "no scenario setting",
        &fields! {"setting" => "users"},
    );
    e.emit_log(
        &CONFIG_VERIFY,
        LogLevel::Error,
        "invalid value",
        &fields! {"verification_method" => "positive"},
    );
    e.emit_log(
        &CONFIG_ENV,
        LogLevel::Error,
        "cannot parse",
        &fields! {"variable_name" => "AMOC_X"},
    );

    // Cluster.
    e.emit(&CLUSTER_CONNECT_NODES, &fields! {"count" => 2}, &fields! {"nodes" => vec!["node2", "node3"], "state" => Value::map([("master".into(), Value::from("node1"))])});
    e.emit(
        &CLUSTER_NODEDOWN,
        &fields! {"count" => 1},
        &fields! {"nodes" => vec!["node3"]},
    );
    e.emit(
        &CLUSTER_MASTER_NODE_DOWN,
        &fields! {"count" => 0},
        &fields! {"nodes" => ""},
    );

    let mut s = MonitorState::new();
    feed.drain_into(&mut s);
    assert_eq!(s.dropped(), 0);

    let u = s.users();
    assert_eq!((u.added, u.removed), (10, 3));
    assert_eq!(
        (u.started, u.stopped, u.exceptions, u.running()),
        (5, 3, 1, 1)
    );
    assert_eq!(s.scenario(), Some("demo"));
    assert_eq!((s.init_span().start, s.init_span().stop), (1, 1));
    assert_eq!(
        (s.terminate_span().start, s.terminate_span().exception),
        (1, 1)
    );

    let login = s.throttle("login").expect("login");
    assert_eq!(login.rate(), Some(RateReading::Finite(600.0)));
    assert_eq!(login.interval_ms(), Some(60000));
    assert_eq!(
        (login.requests(), login.executes(), login.backlog()),
        (5, 3, 2)
    );
    assert_eq!(login.request_series(10).iter().sum::<u64>(), 5);
    assert_eq!(login.state.inits, 1);
    assert_eq!(login.state.process_events, 2);
    assert_eq!(
        s.throttle("open").and_then(|t| t.rate()),
        Some(RateReading::Infinity)
    );

    let c = s.coordinator("c").expect("c");
    assert_eq!(
        (c.start, c.stop, c.add, c.reset, c.timeout),
        (1, 1, 4, 1, 1)
    );
    // No name on execute, one coordinator known: attributed to it.
    assert_eq!(c.executes.events(), 4);
    assert_eq!(s.coordinator_executes().known[0].users, 3);

    assert_eq!(s.config_count(ConfigKind::Get), 1);
    assert_eq!(s.config_count(ConfigKind::Verify), 1);
    assert_eq!(s.config_count(ConfigKind::Env), 1);
    // Three config errors and the throttle process error; the debug one is not a warning.
    assert_eq!(s.warnings_total(), 4);
    let settings: Vec<_> = s
        .warnings()
        .iter()
        .filter_map(|w| w.setting.clone())
        .collect();
    assert_eq!(settings, ["login", "users", "positive", "AMOC_X"]);
    assert!(s.warnings().iter().all(|w| w.level == "error"));

    assert_eq!(s.cluster_counts(), (1, 1, 1));
    assert_eq!(s.master().map(|n| n.name.as_str()), Some("node1"));
    let status: Vec<(String, bool)> = s
        .nodes()
        .iter()
        .map(|n| (n.name.to_string(), n.up))
        .collect();
    // node1 (the master) reported master_node_down about itself here, so everything it knows
    // of is down except node2.
    assert_eq!(
        status,
        [
            ("node1".into(), false),
            ("node2".into(), true),
            ("node3".into(), false)
        ]
    );
    let n2 = &s.nodes()[1];
    assert_eq!((n2.started, n2.running()), (5, 1));

    let summary = s.summary();
    assert_eq!(summary.events, s.events());
    assert_eq!(summary.by_event["amoc.scenario.start.start"], 5);
    assert_eq!(summary.by_event["amoc.cluster.master_node_down"], 1);
    assert_eq!(summary.coordinator_executes["reset"].events, 1);
}

#[test]
fn handler_failures_and_user_events_are_counted() {
    let (t, e, feed) = setup();
    t.attach(
        "bad",
        rookery::event_name!("my", "thing"),
        |_, _, _, _| panic!("broken handler"),
        Value::Null,
    )
    .expect("attach");
    rookery::telemetry::guard::guarded(|| {
        t.execute(
            rookery::event_name!("my", "thing"),
            &fields! {"value" => 1},
            &[],
        );
    });
    e.emit_name(rookery::event_name!("my", "thing"), &[], &[]);
    let mut s = MonitorState::new();
    feed.drain_into(&mut s);
    assert_eq!(s.handler_failures(), 1);
    let f = s.failures().front().expect("failure");
    assert_eq!(f.handler_id, "bad");
    assert_eq!(f.event, "my.thing");
    assert!(f.reason.contains("broken handler"), "{}", f.reason);
    assert_eq!(s.count(rookery::event_name!("my", "thing")), 2);
    assert_eq!(s.summary().by_event["telemetry.handler.failure"], 1);
}

#[test]
fn a_full_feed_counts_drops() {
    let t = Telemetry::new();
    let feed = LiveFeed::attach(&t, "monitor", 4, Instant::now()).expect("attach");
    for _ in 0..10 {
        t.execute(rookery::event_name!("x"), &[], &[]);
    }
    let mut s = MonitorState::new();
    // Four events and the tap's `[rookery, tap, dropped]` count of the six that did not fit
    // (issue 13.7: drops arrive as events).
    assert_eq!(feed.drain_into(&mut s), 5);
    assert_eq!(s.dropped(), 6);
    assert_eq!(s.count(rookery::event_name!("x")), 4);
    assert_eq!(s.summary().by_event["rookery.tap.dropped"], 1);
    drop(feed);
    assert!(
        !t.has_handlers(rookery::event_name!("x")),
        "detached on drop"
    );
}

#[test]
fn pause_and_ramp_messages_set_throttle_flags() {
    let (_t, e, feed) = setup();
    let md = fields! {"name" => "t"};
    let mut s = MonitorState::new();
    let step = |msg: &str, s: &mut MonitorState| {
        e.emit_log(&THROTTLE_PROCESS, LogLevel::Info, msg, &md);
        feed.drain_into(s);
    };
    step("throttle paused", &mut s);
    assert_eq!(s.throttle("t").unwrap().paused(), Some(true));
    step("throttle resumed", &mut s);
    assert_eq!(s.throttle("t").unwrap().paused(), Some(false));
    assert_eq!(s.throttle("t").unwrap().ramping(), None);
    step("gradual rate change started", &mut s);
    assert_eq!(s.throttle("t").unwrap().ramping(), Some(true));
    step("gradual rate change finished", &mut s);
    assert_eq!(s.throttle("t").unwrap().ramping(), Some(false));
    // Info-level process messages are not warnings.
    assert_eq!(s.warnings_total(), 0);
    // A `paused` metadata flag on any throttle event wins too.
    e.emit(
        &THROTTLE_RATE,
        &fields! {"rate" => 5},
        &fields! {"name" => "t", "paused" => true},
    );
    feed.drain_into(&mut s);
    assert_eq!(s.throttle("t").unwrap().paused(), Some(true));
}
