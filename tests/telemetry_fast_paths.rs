//! Telemetry's fast paths: the silent-event summary (an event nobody listens to costs one
//! atomic load) and `execute_with` (metadata built only for a listener).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use rookery::fields;
use rookery::telemetry::{Fields, Telemetry, Value};

mod telemetry_support;
use telemetry_support::{name, recorder};

/// The registry's summary of silent events (one atomic load on the hot path) follows every
/// attach and detach, and a prefix handler still sees names interned after it was attached.
#[test]
fn the_silent_event_summary_follows_attach_detach_and_new_names() {
    let t = Telemetry::new();
    let log = Arc::new(Mutex::new(Vec::new()));
    let a = name(&["silent", "probe", "a"]);
    assert!(
        !t.has_handlers(a.clone()),
        "a fresh registry has no handlers"
    );
    t.execute(a.clone(), &[], &[]);
    t.attach("one", a.clone(), recorder(&log, "one"), Value::Null)
        .unwrap();
    assert!(t.has_handlers(a.clone()));
    t.execute(a.clone(), &[], &[]);
    t.detach("one").unwrap();
    assert!(!t.has_handlers(a.clone()));
    t.execute(a, &[], &[]);
    assert_eq!(*log.lock().unwrap(), vec!["one:silent.probe.a"]);
    t.attach_prefix(
        "all",
        &["silent", "later"],
        recorder(&log, "all"),
        Value::Null,
    )
    .unwrap();
    let b = name(&["silent", "later", "b"]);
    assert!(
        t.has_handlers(b.clone()),
        "a name newer than the snapshot, under a prefix"
    );
    t.execute(b, &[], &[]);
    let c = name(&["silent", "other", "c"]);
    t.execute(c.clone(), &[], &[]);
    assert!(
        !t.has_handlers(c),
        "outside the prefix, once the snapshot knows the name"
    );
    assert_eq!(
        *log.lock().unwrap(),
        vec!["one:silent.probe.a", "all:silent.later.b"]
    );
}

/// `execute_with` builds the metadata only when a handler listens, and then delivers it.
#[test]
fn execute_with_builds_metadata_only_for_a_listener() {
    let t = Telemetry::new();
    let e = name(&["lazy", "probe"]);
    let built = AtomicUsize::new(0);
    let build = || {
        built.fetch_add(1, Ordering::SeqCst);
        fields! {"k" => 1}
    };
    t.execute_with(e.clone(), &[], build);
    assert_eq!(built.load(Ordering::SeqCst), 0, "nobody listens");
    let got = Arc::new(Mutex::new(Vec::new()));
    let g = got.clone();
    t.attach(
        "lazy",
        e.clone(),
        move |_, _, md, _| g.lock().unwrap().push(md.get_i64("k")),
        Value::Null,
    )
    .unwrap();
    t.execute_with(e, &[], build);
    assert_eq!(built.load(Ordering::SeqCst), 1);
    assert_eq!(*got.lock().unwrap(), vec![Some(1)]);
}
