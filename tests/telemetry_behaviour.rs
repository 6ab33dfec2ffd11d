//! Behaviour beyond the upstream suite: the probes of the Erlang library's documented edge
//! cases, Rookery's decisions (duplicate names, `Err` in spans, async spans), the prefix
//! extension, and the shapes of values and names. Threads: `telemetry_threads.rs`; the fast
//! paths: `telemetry_fast_paths.rs`.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rookery::telemetry::testing::EventCollector;
use rookery::telemetry::{
    self, EventName, Fields, HandlerId, SpanStop, Telemetry, TelemetryError, Value,
};
use rookery::{event_name, fields};

const WAIT: Duration = Duration::from_secs(1);

mod telemetry_support;
use telemetry_support::{name, recorder};

#[test]
fn handlers_run_in_attach_order_and_ids_are_unique_across_events() {
    let t = Telemetry::new();
    let log = Arc::new(Mutex::new(Vec::new()));
    let e = name(&["b", "order"]);
    for id in ["1", "2", "3"] {
        t.attach(id, e.clone(), recorder(&log, id), Value::Null)
            .unwrap();
    }
    t.execute(e, &[], &[]);
    assert_eq!(
        *log.lock().unwrap(),
        ["1:b.order", "2:b.order", "3:b.order"]
    );
    assert_eq!(
        t.attach("1", name(&["b", "other"]), |_, _, _, _| {}, Value::Null),
        Err(TelemetryError::AlreadyExists(HandlerId::from("1")))
    );
}

#[test]
fn attach_many_refuses_a_name_twice_and_accepts_an_empty_list() {
    let t = Telemetry::new();
    let e = name(&["b", "twice"]);
    assert_eq!(
        t.attach_many("dup", &[e.clone(), e], |_, _, _, _| {}, Value::Null),
        Err(TelemetryError::DuplicateEvent("b.twice".into()))
    );
    assert!(t.list_handlers(&["b", "twice"]).unwrap().is_empty());
    t.attach_many("empty", &[], |_, _, _, _| {}, Value::Null)
        .unwrap();
    assert_eq!(
        t.detach("empty"),
        Err(TelemetryError::NotFound(HandlerId::from("empty")))
    );
}

#[test]
fn failure_event_comes_before_the_next_handler_and_a_failing_failure_handler_does_not_loop() {
    telemetry::guard::install_panic_hook();
    let t = Telemetry::new();
    let log = Arc::new(Mutex::new(Vec::new()));
    let e = name(&["b", "fails"]);
    let failure = telemetry::HANDLER_FAILURE.get();
    t.attach("bad", e.clone(), |_, _, _, _| panic!("x"), Value::Null)
        .unwrap();
    t.attach("f2", e.clone(), recorder(&log, "f2"), Value::Null)
        .unwrap();
    let l = log.clone();
    t.attach(
        "failure-watcher",
        failure.clone(),
        move |_, _, md, _| {
            l.lock().unwrap().push(format!(
                "failure:{}",
                md.get_str("handler_id").unwrap_or("?")
            ));
            panic!("the failure handler fails too");
        },
        Value::Null,
    )
    .unwrap();
    let failures = EventCollector::attach(&t, &[failure]);
    t.execute(e, &[], &[]);
    assert_eq!(*log.lock().unwrap(), ["failure:bad", "f2:b.fails"]);
    // The watcher's own failure is dispatched while the first failure event is still being
    // dispatched, so the collector (attached after the watcher) sees it first.
    let inner = failures.recv_timeout(WAIT).unwrap();
    assert_eq!(
        inner.metadata.get_str("handler_id"),
        Some("failure-watcher")
    );
    assert_eq!(
        inner.metadata.lookup("event_name"),
        Some(&Value::list(
            ["telemetry", "handler", "failure"].map(Value::from)
        ))
    );
    let outer = failures.recv_timeout(WAIT).unwrap();
    assert_eq!(outer.metadata.get_str("handler_id"), Some("bad"));
    assert!(failures.drain().is_empty(), "no loop");
    let ids: Vec<HandlerId> = t
        .list_handlers(&[] as &[&str])
        .unwrap()
        .into_iter()
        .map(|h| h.id)
        .collect();
    assert!(!ids.contains(&HandlerId::from("bad")));
    assert!(!ids.contains(&HandlerId::from("failure-watcher")));
    assert!(ids.contains(&HandlerId::from("f2")));
}

#[test]
fn a_handler_detached_during_dispatch_still_runs_for_that_event() {
    let t = Telemetry::new();
    let log = Arc::new(Mutex::new(Vec::new()));
    let e = name(&["b", "snapshot"]);
    let t2 = t.clone();
    let l = log.clone();
    t.attach(
        "detacher",
        e.clone(),
        move |_, _, _, _| {
            l.lock().unwrap().push("detacher".to_owned());
            let _ = t2.detach("victim");
        },
        Value::Null,
    )
    .unwrap();
    t.attach("victim", e.clone(), recorder(&log, "victim"), Value::Null)
        .unwrap();
    t.execute(e.clone(), &[], &[]);
    t.execute(e, &[], &[]);
    assert_eq!(
        *log.lock().unwrap(),
        ["detacher", "victim:b.snapshot", "detacher"]
    );
}

#[test]
fn handlers_may_execute_events_reentrantly() {
    let t = Telemetry::new();
    let inner = name(&["b", "inner"]);
    let outer = name(&["b", "outer"]);
    let events = EventCollector::attach(&t, std::slice::from_ref(&inner));
    let t2 = t.clone();
    t.attach(
        "relay",
        outer.clone(),
        move |_, m, _, _| {
            // Attaching inside a handler changes the registry mid-dispatch.
            let _ = t2.attach("late", name(&["b", "late"]), |_, _, _, _| {}, Value::Null);
            t2.execute(inner.clone(), m, &[]);
        },
        Value::Null,
    )
    .unwrap();
    t.execute(outer.clone(), &fields! {"n" => 5}, &[]);
    t.execute(outer, &fields! {"n" => 6}, &[]);
    let got: Vec<i64> = events
        .drain()
        .iter()
        .map(|r| r.measurements.get_i64("n").unwrap())
        .collect();
    assert_eq!(got, [5, 6]);
}

#[test]
fn list_handlers_matches_whole_segments() {
    let t = Telemetry::new();
    for (id, parts) in [
        ("abc", &["lh", "b", "c"][..]),
        ("abb", &["lh", "bb"][..]),
        ("a", &["lh"][..]),
    ] {
        t.attach(id, name(parts), |_, _, _, _| {}, Value::Null)
            .unwrap();
    }
    let ids = |prefix: &[&str]| -> Vec<String> {
        let mut v: Vec<String> = t
            .list_handlers(prefix)
            .unwrap()
            .into_iter()
            .map(|h| h.id.to_string())
            .collect();
        v.sort();
        v
    };
    assert_eq!(ids(&["lh"]), ["a", "abb", "abc"]);
    assert_eq!(ids(&["lh", "b"]), ["abc"]);
    assert!(ids(&["lh", "b", "c", "d"]).is_empty());
}

#[test]
fn span_result_reports_err_on_stop_with_an_error_key() {
    let t = Telemetry::new();
    let prefix = name(&["b", "fallible"]);
    let events = EventCollector::attach_prefix(&t, &["b", "fallible"]);
    let r: Result<u32, String> = t.span_result(prefix.clone(), &fields! {"job" => 1}, || {
        Err("no disk".into())
    });
    assert_eq!(r, Err("no disk".to_owned()));
    let ok: Result<u32, String> = t.span_result(prefix, &fields! {"job" => 2}, || Ok(7));
    assert_eq!(ok, Ok(7));
    let got = events.drain();
    let stops: Vec<_> = got
        .iter()
        .filter(|r| r.name.segments()[2] == "stop")
        .collect();
    assert_eq!(stops.len(), 2);
    assert_eq!(stops[0].metadata.get_str("error"), Some("no disk"));
    assert_eq!(stops[0].metadata.get_i64("job"), Some(1));
    assert!(!stops[1].metadata.has("error"));
    assert!(got.iter().all(|r| r.name.segments()[2] != "exception"));
}

#[tokio::test]
async fn async_spans_stop_when_the_future_completes_and_report_panics() {
    telemetry::guard::install_panic_hook();
    let t = Telemetry::new();
    let prefix = name(&["b", "async"]);
    let events = EventCollector::attach_prefix(&t, &["b", "async"]);
    let v = t
        .span_async(prefix.clone(), &[], async {
            tokio::task::yield_now().await;
            (
                41 + 1,
                SpanStop::metadata(fields! {"return" => 42}.to_vec()),
            )
        })
        .await;
    assert_eq!(v, 42);
    let t2 = t.clone();
    let joined = tokio::spawn(telemetry::guard::Guarded(async move {
        t2.span_async(prefix, &[], async {
            tokio::task::yield_now().await;
            if true {
                panic!("user crashed");
            }
            ((), SpanStop::default())
        })
        .await
    }))
    .await;
    assert!(joined.unwrap_err().is_panic());
    let kinds: Vec<String> = events
        .drain()
        .iter()
        .map(|r| r.name.segments()[2].to_owned())
        .collect();
    assert_eq!(kinds, ["start", "stop", "start", "exception"]);
}

#[test]
fn prefix_handlers_see_every_event_under_the_prefix_including_later_names() {
    let t = Telemetry::new();
    let amoc = EventCollector::attach_prefix(&t, &["pfx"]);
    let all = EventCollector::attach_prefix(&t, &[]);
    t.execute(name(&["pfx", "throttle", "rate"]), &[], &[]);
    // A name interned only now, after both attachments.
    let fresh = name(&["pfx", "user_defined", "latency", "stop"]);
    t.execute(fresh, &fields! {"duration" => 3}, &[]);
    t.execute(name(&["pfxother", "x"]), &[], &[]);
    t.execute(name(&["http", "request", "stop"]), &[], &[]);
    let under: Vec<String> = amoc
        .drain()
        .iter()
        .map(|r| r.name.dotted().to_owned())
        .collect();
    assert_eq!(
        under,
        ["pfx.throttle.rate", "pfx.user_defined.latency.stop"]
    );
    assert_eq!(all.drain().len(), 4);
    let listed = t.list_handlers(&["pfx"]).unwrap();
    assert_eq!(listed.len(), 1);
    assert!(listed[0].prefix);
    assert_eq!(t.list_handlers(&[] as &[&str]).unwrap().len(), 2);
}

#[test]
fn exact_and_prefix_handlers_both_run_once() {
    let t = Telemetry::new();
    let e = name(&["both", "ev"]);
    let hits = Arc::new(AtomicUsize::new(0));
    let (h1, h2) = (hits.clone(), hits.clone());
    t.attach(
        "exact",
        e.clone(),
        move |_, _, _, _| {
            h1.fetch_add(1, Ordering::Relaxed);
        },
        Value::Null,
    )
    .unwrap();
    t.attach_prefix(
        "prefix",
        &["both"],
        move |_, _, _, _| {
            h2.fetch_add(10, Ordering::Relaxed);
        },
        Value::Null,
    )
    .unwrap();
    t.execute(e.clone(), &[], &[]);
    assert_eq!(hits.load(Ordering::Relaxed), 11);
    t.detach("prefix").unwrap();
    t.execute(e, &[], &[]);
    assert_eq!(hits.load(Ordering::Relaxed), 12);
}

#[test]
fn registries_are_independent() {
    let a = Telemetry::new();
    let b = Telemetry::new();
    let e = name(&["indep", "ev"]);
    let in_a = EventCollector::attach(&a, std::slice::from_ref(&e));
    b.execute(e.clone(), &[], &[]);
    assert!(in_a.drain().is_empty());
    a.attach("same-id", e.clone(), |_, _, _, _| {}, Value::Null)
        .unwrap();
    b.attach("same-id", e, |_, _, _, _| {}, Value::Null)
        .unwrap();
}

#[test]
fn global_free_functions_use_the_process_registry() {
    let e = event_name!("global", "free", "fn");
    let hits = Arc::new(AtomicUsize::new(0));
    let h = hits.clone();
    telemetry::attach(
        "global-free-fn",
        e.clone(),
        move |_, m, _, _| {
            h.fetch_add(m.get_i64("n").unwrap_or(0) as usize, Ordering::Relaxed);
        },
        Value::Null,
    )
    .unwrap();
    telemetry::execute(e.clone(), &fields! {"n" => 2}, &[]);
    assert_eq!(
        telemetry::list_handlers(&["global", "free"]).unwrap().len(),
        1
    );
    telemetry::detach("global-free-fn").unwrap();
    telemetry::execute(e.clone(), &fields! {"n" => 2}, &[]);
    assert_eq!(hits.load(Ordering::Relaxed), 2);
}

#[test]
fn values_serialize_to_the_event_log_shapes() {
    let v = Value::map([
        ("rate".into(), Value::atom("infinity")),
        ("n".into(), Value::Int(3)),
        ("x".into(), Value::Float(0.5)),
        ("l".into(), Value::list([Value::Bool(true), Value::Null])),
    ]);
    assert_eq!(
        serde_json::to_string(&v).unwrap(),
        r#"{"rate":"infinity","n":3,"x":0.5,"l":[true,null]}"#
    );
    let back: Value =
        serde_json::from_str(r#"{"rate":"infinity","n":3,"x":0.5,"l":[true,null]}"#).unwrap();
    assert_eq!(back, v);
    assert_eq!(
        serde_json::to_string(&Value::Float(f64::INFINITY)).unwrap(),
        r#""infinity""#
    );
    let big: Value = serde_json::from_str("18446744073709551615").unwrap();
    assert_eq!(big, Value::Float(18446744073709551615.0));
}

#[test]
fn event_names_are_interned_and_ordered_by_segments() {
    let a = name(&["ord", "b"]);
    assert_eq!(
        a,
        EventName::new(&["ord".to_owned(), "b".to_owned()]).unwrap()
    );
    assert_eq!(a.json(), r#"["ord","b"]"#);
    assert_eq!(a.dotted(), "ord.b");
    assert!(name(&["ord", "a"]) < a);
    let parsed: EventName = serde_json::from_str(r#"["ord","b"]"#).unwrap();
    assert_eq!(parsed, a);
    assert!(serde_json::from_str::<EventName>("[]").is_err());
}
