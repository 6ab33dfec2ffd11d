//! Conformance with Erlang's telemetry: every case of `telemetry_SUITE` and
//! `telemetry_test_SUITE` (telemetry 1.3.0), each run twice as upstream does:
//! once on a fresh registry (the `ets` group) and once on a persisted one (the `persisted`
//! group). Each test gets its own registry, so tests run in parallel without seeing each other.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use crossbeam_channel::{Receiver, Sender, unbounded};
use rookery::fields;
use rookery::telemetry::testing::EventCollector;
use rookery::telemetry::{
    self, EventName, Field, Fields, HandlerId, Key, SpanStop, Telemetry, TelemetryError, Value,
};

const WAIT: Duration = Duration::from_millis(1000);

type Echo = (EventName, Vec<Field>, Vec<Field>, Value);

/// `echo_event/4`: sends everything it receives to a channel.
fn echo(tx: Sender<Echo>) -> impl Fn(EventName, &[Field], &[Field], &Value) + Send + Sync {
    move |e, m, md, cfg| {
        let _ = tx.send((e, m.to_vec(), md.to_vec(), cfg.clone()));
    }
}

/// `raise_on_event/4`.
fn raise(_: EventName, _: &[Field], _: &[Field], _: &Value) {
    panic!("got_event");
}

fn name(parts: &[&str]) -> EventName {
    EventName::new(parts).expect("valid name")
}

fn keys(fields: &[Field]) -> Vec<&str> {
    let mut k: Vec<&str> = fields.iter().map(|(k, _)| k.as_str()).collect();
    k.sort_unstable();
    k
}

/// Handlers run synchronously inside `execute`, so once it returns, an empty channel is final:
/// no waiting is needed to prove that nothing was delivered.
fn expect_nothing<T: std::fmt::Debug>(rx: &Receiver<T>) {
    if let Ok(got) = rx.try_recv() {
        panic!("expected no message, got {got:?}");
    }
}

macro_rules! both_groups {
    ($($case:ident),* $(,)?) => {
        mod ets {
            $(#[test] fn $case() { super::$case(&rookery::telemetry::Telemetry::new()); })*
        }
        mod persisted {
            $(#[test] fn $case() {
                let t = rookery::telemetry::Telemetry::new();
                t.persist();
                assert!(t.is_persisted());
                super::$case(&t);
            })*
        }
    };
}

both_groups!(
    bad_event_names,
    duplicate_attach,
    invoke_handler,
    list_handlers,
    list_for_prefix,
    detach_on_exception,
    no_execute_detached,
    no_execute_on_prefix,
    no_execute_on_specific,
    handler_on_multiple_events,
    remove_all_handler_on_failure,
    list_handler_on_many,
    detach_from_all,
    old_execute,
    default_metadata,
    off_execute,
    invoke_successful_span_handlers,
    invoke_successful_span_handlers_with_measurements,
    invoke_exception_span_handlers,
    spans_generate_unique_default_contexts,
    simple_message,
);

/// Case 1: a handler attached before `persist` still receives events after it.
#[test]
fn persist_with_existing_handlers() {
    let t = Telemetry::new();
    let (tx, rx) = unbounded();
    let e = name(&["a", "test", "persist"]);
    t.attach("h", e.clone(), echo(tx), Value::from("config"))
        .unwrap();
    t.persist();
    t.execute(
        e.clone(),
        &fields! {"data" => 3},
        &fields! {"some" => "metadata"},
    );
    let (got, m, md, cfg) = rx.recv_timeout(WAIT).unwrap();
    assert_eq!(got, e);
    assert_eq!(m.get_i64("data"), Some(3));
    assert_eq!(md.get_str("some"), Some("metadata"));
    assert_eq!(cfg, Value::from("config"));
}

/// Case 2: names must be non-empty lists of non-empty segments (the Rust types rule out
/// Erlang's other `badarg` cases, such as a non-list or a non-atom segment).
fn bad_event_names(t: &Telemetry) {
    assert!(matches!(
        EventName::new::<&str>(&[]),
        Err(TelemetryError::BadEventName(_))
    ));
    assert!(matches!(
        EventName::new(&["some", ""]),
        Err(TelemetryError::BadEventName(_))
    ));
    assert!(matches!(
        t.list_handlers(&["ok", "bad\u{7}"]),
        Err(TelemetryError::BadEventName(_))
    ));
    assert!(matches!(
        t.attach_prefix("p", &[""], raise, Value::Null),
        Err(TelemetryError::BadEventName(_))
    ));
}

/// Case 3.
fn duplicate_attach(t: &Telemetry) {
    let e = name(&["a", "test", "dup"]);
    t.attach("id", e.clone(), raise, Value::Null).unwrap();
    assert_eq!(
        t.attach("id", e, raise, Value::Null),
        Err(TelemetryError::AlreadyExists(HandlerId::from("id")))
    );
}

/// Case 4.
fn invoke_handler(t: &Telemetry) {
    let (tx, rx) = unbounded();
    let e = name(&["a", "test", "invoke"]);
    t.attach("id", e.clone(), echo(tx), Value::list([Value::from(1)]))
        .unwrap();
    t.execute(
        e.clone(),
        &fields! {"latency" => 100},
        &fields! {"id" => "x"},
    );
    let (got, m, md, cfg) = rx.recv_timeout(WAIT).unwrap();
    assert_eq!(got, e);
    assert_eq!(m, vec![(Key::from("latency"), Value::Int(100))]);
    assert_eq!(md, vec![(Key::from("id"), Value::from("x"))]);
    assert_eq!(cfg, Value::list([Value::from(1)]));
}

/// Case 5.
fn list_handlers(t: &Telemetry) {
    let e = name(&["a", "test", "list"]);
    t.attach("id", e.clone(), raise, Value::from("cfg"))
        .unwrap();
    let listed = t.list_handlers(e.segments()).unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].id, HandlerId::from("id"));
    assert_eq!(listed[0].event_name, e.segments());
    assert_eq!(listed[0].config, Value::from("cfg"));
    assert!(!listed[0].prefix);
}

/// Case 6: prefixes match whole segments; a prefix longer than the name matches nothing.
fn list_for_prefix(t: &Telemetry) {
    let e = name(&["a", "test", "event"]);
    t.attach("id", e, raise, Value::Null).unwrap();
    for prefix in [
        &[][..],
        &["a"][..],
        &["a", "test"][..],
        &["a", "test", "event"][..],
    ] {
        let listed = t.list_handlers(prefix).unwrap();
        assert_eq!(listed.len(), 1, "prefix {prefix:?}");
        assert_eq!(listed[0].id, HandlerId::from("id"));
    }
    assert!(
        t.list_handlers(&["a", "test", "event", "something"])
            .unwrap()
            .is_empty()
    );
    assert!(t.list_handlers(&["a", "te"]).unwrap().is_empty());
}

/// Case 7: a panicking handler is detached and reported on `[telemetry, handler, failure]`.
fn detach_on_exception(t: &Telemetry) {
    telemetry::guard::install_panic_hook();
    let e = name(&["a", "test", "raise"]);
    t.attach("raiser", e.clone(), raise, Value::list::<[Value; 0]>([]))
        .unwrap();
    assert_eq!(t.list_handlers(e.segments()).unwrap().len(), 1);
    let failures = EventCollector::attach(t, &[telemetry::HANDLER_FAILURE.get()]);
    t.execute(e.clone(), &[], &[]);
    let failure = failures.recv_timeout(WAIT).unwrap();
    let md = &failure.metadata;
    assert_eq!(
        md.lookup("event_name"),
        Some(&Value::list(["a", "test", "raise"].map(Value::from)))
    );
    assert_eq!(md.get_str("handler_id"), Some("raiser"));
    assert_eq!(
        md.lookup("handler_config"),
        Some(&Value::list::<[Value; 0]>([]))
    );
    assert_eq!(md.get_str("kind"), Some("panic"));
    assert_eq!(md.get_str("reason"), Some("got_event"));
    let trace = md.lookup("stacktrace").and_then(Value::as_list).unwrap();
    assert!(!trace.is_empty(), "stacktrace names where it panicked");
    assert!(failure.measurements.has("monotonic_time"));
    assert!(failure.measurements.has("system_time"));
    assert!(t.list_handlers(e.segments()).unwrap().is_empty());
    assert_eq!(
        t.detach("doesn't exist"),
        Err(TelemetryError::NotFound(HandlerId::from("doesn't exist")))
    );
}

/// Case 8.
fn no_execute_detached(t: &Telemetry) {
    let (tx, rx) = unbounded();
    let e = name(&["a", "test", "detached"]);
    t.attach("id", e.clone(), echo(tx), Value::Null).unwrap();
    t.detach("id").unwrap();
    t.execute(e, &[], &[]);
    expect_nothing(&rx);
}

/// Case 9: a handler on `[a,test,event]` does not see `[a,test]`.
fn no_execute_on_prefix(t: &Telemetry) {
    let (tx, rx) = unbounded();
    t.attach("id", name(&["a", "test", "event"]), echo(tx), Value::Null)
        .unwrap();
    t.execute(name(&["a", "test"]), &[], &[]);
    expect_nothing(&rx);
}

/// Case 10: a handler on `[a,test]` does not see `[a,test,event,specific]`.
fn no_execute_on_specific(t: &Telemetry) {
    let (tx, rx) = unbounded();
    t.attach("id", name(&["a", "test"]), echo(tx), Value::Null)
        .unwrap();
    t.execute(name(&["a", "test", "event", "specific"]), &[], &[]);
    expect_nothing(&rx);
}

/// Case 11.
fn handler_on_multiple_events(t: &Telemetry) {
    let (tx, rx) = unbounded();
    let events = [
        name(&["a", "multi", "one"]),
        name(&["a", "multi", "two"]),
        name(&["a", "multi", "three"]),
    ];
    t.attach_many("id", &events, echo(tx), Value::Null).unwrap();
    for e in events.clone() {
        t.execute(e, &fields! {"n" => 1}, &[]);
    }
    let mut got: Vec<EventName> = (0..3).map(|_| rx.recv_timeout(WAIT).unwrap().0).collect();
    got.sort();
    let mut want = events.to_vec();
    want.sort();
    assert_eq!(got, want);
}

/// Case 12: one failure detaches the handler from every event.
fn remove_all_handler_on_failure(t: &Telemetry) {
    telemetry::guard::install_panic_hook();
    let events = [
        name(&["a", "fail", "one"]),
        name(&["a", "fail", "two"]),
        name(&["a", "fail", "three"]),
    ];
    t.attach_many("id", &events, raise, Value::Null).unwrap();
    t.execute(events[0].clone(), &[], &[]);
    for e in events.clone() {
        assert!(t.list_handlers(e.segments()).unwrap().is_empty(), "{e}");
    }
}

/// Case 13: listed once per event.
fn list_handler_on_many(t: &Telemetry) {
    let events = [
        name(&["a", "many", "one"]),
        name(&["a", "many", "two"]),
        name(&["a", "many", "three"]),
    ];
    t.attach_many("id", &events, raise, Value::Null).unwrap();
    for e in events.clone() {
        let listed = t.list_handlers(e.segments()).unwrap();
        assert_eq!(listed.len(), 1);
        assert_eq!(listed[0].event_name, e.segments());
    }
    assert_eq!(t.list_handlers(&["a", "many"]).unwrap().len(), 3);
}

/// Case 14.
fn detach_from_all(t: &Telemetry) {
    let events = [
        name(&["a", "all", "one"]),
        name(&["a", "all", "two"]),
        name(&["a", "all", "three"]),
    ];
    t.attach_many("id", &events, raise, Value::Null).unwrap();
    t.detach("id").unwrap();
    for e in events.clone() {
        assert!(t.list_handlers(e.segments()).unwrap().is_empty());
    }
}

/// Case 15: the deprecated number form delivers `#{value => N}`.
fn old_execute(t: &Telemetry) {
    let (tx, rx) = unbounded();
    let e = name(&["a", "test", "old"]);
    t.attach("id", e.clone(), echo(tx), Value::Null).unwrap();
    t.execute_value(e, 1, &fields! {"some" => "meta"});
    let (_, m, md, _) = rx.recv_timeout(WAIT).unwrap();
    assert_eq!(m, vec![(Key::from("value"), Value::Int(1))]);
    assert_eq!(md.get_str("some"), Some("meta"));
}

/// Case 16: `execute/2` is execute with empty metadata.
fn default_metadata(t: &Telemetry) {
    let (tx, rx) = unbounded();
    let e = name(&["a", "test", "default"]);
    t.attach("id", e.clone(), echo(tx), Value::Null).unwrap();
    t.execute(e, &fields! {"x" => 1}, &[]);
    let (_, _, md, _) = rx.recv_timeout(WAIT).unwrap();
    assert!(md.is_empty());
}

/// Case 17: Erlang stops the application and checks execute is a harmless no-op. A Rust
/// registry cannot be "stopped"; the equivalent is a registry that has had every handler
/// detached (and a name no handler ever saw): execute must be a no-op.
fn off_execute(t: &Telemetry) {
    let calls = Arc::new(AtomicUsize::new(0));
    let c = calls.clone();
    let e = name(&["event", "name", "off"]);
    t.attach(
        "id",
        e.clone(),
        move |_, _, _, _| {
            c.fetch_add(1, Ordering::Relaxed);
        },
        Value::Null,
    )
    .unwrap();
    t.detach("id").unwrap();
    t.execute(e, &[], &[]);
    t.execute(name(&["never", "attached", "off"]), &[], &[]);
    assert_eq!(calls.load(Ordering::Relaxed), 0);
}

fn span_collector(t: &Telemetry, prefix: EventName) -> EventCollector {
    let names = ["start", "stop", "exception"].map(|s| prefix.join(s).unwrap());
    EventCollector::attach(t, &names)
}

/// Case 18: caller-supplied contexts are kept; measurement keys are exactly as specified.
fn invoke_successful_span_handlers(t: &Telemetry) {
    let prefix = name(&["a", "span", "ok"]);
    let events = span_collector(t, prefix.clone());
    let start_md = fields! {"some" => "start_metadata", "telemetry_span_context" => "ctx"};
    let stop_md = vec![
        (Key::from("other"), Value::from("stop_metadata")),
        (Key::from("telemetry_span_context"), Value::from("ctx")),
    ];
    let result = t.span(prefix.clone(), &start_md, || {
        ("span result", SpanStop::metadata(stop_md.clone()))
    });
    assert_eq!(result, "span result");
    let start = events.recv_timeout(WAIT).unwrap();
    assert_eq!(start.name, prefix.join("start").unwrap());
    assert_eq!(start.metadata, start_md.to_vec());
    assert_eq!(keys(&start.measurements), ["monotonic_time", "system_time"]);
    let stop = events.recv_timeout(WAIT).unwrap();
    assert_eq!(stop.name, prefix.join("stop").unwrap());
    assert_eq!(stop.metadata, stop_md);
    assert_eq!(keys(&stop.measurements), ["duration", "monotonic_time"]);
    assert!(stop.measurements.get_i64("duration").unwrap() >= 0);
}

/// The upstream case that is defined but never registered: extra stop measurements are added,
/// and cannot override `duration` or `monotonic_time`.
fn invoke_successful_span_handlers_with_measurements(t: &Telemetry) {
    let prefix = name(&["a", "span", "measured"]);
    let events = span_collector(t, prefix.clone());
    t.span(prefix, &[], || {
        (
            (),
            SpanStop {
                measurements: vec![
                    (Key::from("other_thing"), Value::Int(7)),
                    (Key::from("duration"), Value::Int(-1)),
                ],
                metadata: vec![],
            },
        )
    });
    let _start = events.recv_timeout(WAIT).unwrap();
    let stop = events.recv_timeout(WAIT).unwrap();
    assert_eq!(
        keys(&stop.measurements),
        ["duration", "monotonic_time", "other_thing"]
    );
    assert!(stop.measurements.get_i64("duration").unwrap() >= 0);
}

/// Case 19: a panic emits `exception` with kind/reason/stacktrace on the start metadata, then
/// continues with the original payload.
fn invoke_exception_span_handlers(t: &Telemetry) {
    telemetry::guard::install_panic_hook();
    let prefix = name(&["a", "span", "raise"]);
    let events = span_collector(t, prefix.clone());
    let start_md = fields! {"some" => "start_metadata", "telemetry_span_context" => "ctx"};
    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        telemetry::guard::guarded(|| {
            t.span(prefix.clone(), &start_md, || -> ((), SpanStop) {
                panic!("badarith")
            })
        })
    }));
    let payload = outcome.expect_err("the panic continues");
    assert_eq!(payload.downcast_ref::<&str>(), Some(&"badarith"));
    let start = events.recv_timeout(WAIT).unwrap();
    assert_eq!(start.metadata, start_md.to_vec());
    let exc = events.recv_timeout(WAIT).unwrap();
    assert_eq!(exc.name, prefix.join("exception").unwrap());
    assert_eq!(keys(&exc.measurements), ["duration", "monotonic_time"]);
    assert_eq!(
        keys(&exc.metadata),
        [
            "kind",
            "reason",
            "some",
            "stacktrace",
            "telemetry_span_context"
        ]
    );
    assert_eq!(exc.metadata.get_str("reason"), Some("badarith"));
    assert!(
        !exc.metadata
            .lookup("stacktrace")
            .and_then(Value::as_list)
            .unwrap()
            .is_empty()
    );
}

/// Case 20: default contexts are unique per span and shared by a span's start and stop.
fn spans_generate_unique_default_contexts(t: &Telemetry) {
    let prefix = name(&["a", "span", "ctx"]);
    let events = span_collector(t, prefix.clone());
    let mut contexts = Vec::new();
    for _ in 0..2 {
        t.span(prefix.clone(), &[], || ((), SpanStop::default()));
        let start = events.recv_timeout(WAIT).unwrap();
        let stop = events.recv_timeout(WAIT).unwrap();
        let ctx = start
            .metadata
            .lookup("telemetry_span_context")
            .cloned()
            .unwrap();
        assert_eq!(stop.metadata.lookup("telemetry_span_context"), Some(&ctx));
        contexts.push(ctx);
    }
    assert_ne!(contexts[0], contexts[1]);
}

/// `telemetry_test_SUITE:simple_message`.
fn simple_message(t: &Telemetry) {
    let e = name(&["some", "event"]);
    let events = EventCollector::attach(t, std::slice::from_ref(&e));
    t.execute(
        e.clone(),
        &fields! {"measurement" => 1},
        &fields! {"meta" => 2},
    );
    let got = events.recv_timeout(WAIT).unwrap();
    assert_eq!(got.name, e);
    assert_eq!(&got.handler_ref, events.handler_ref());
    assert_eq!(got.measurements.get_i64("measurement"), Some(1));
    assert_eq!(got.metadata.get_i64("meta"), Some(2));
    events.detach().unwrap();
}
