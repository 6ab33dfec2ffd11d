//! Span latencies in the reducer: percentiles from known durations, exceptions, names that are
//! not spans, bounded memory and the summary's `spans` key.

use rookery::monitor::{EventRef, MAX_SPAN_PREFIXES, MonitorState, SPAN_MAX_US};
use rookery::telemetry::{EventName, Telemetry, testing::EventCollector};
use rookery::{event_name, fields};

fn stop(s: &mut MonitorState, t_us: u64, name: EventName, duration_ns: i64) {
    s.apply(&EventRef::new(
        t_us,
        &name,
        &fields! {"duration" => duration_ns, "monotonic_time" => 1},
        &fields! {"status" => 200},
    ));
}

#[test]
fn percentiles_of_known_durations() {
    let mut s = MonitorState::new();
    let name = event_name!("http", "request", "stop");
    // 1..=1000 ms, shuffled in time order so the histogram, not the order, decides.
    for i in 0..1000u64 {
        let ms = (i * 7919) % 1000 + 1;
        stop(&mut s, i * 1_000, name.clone(), (ms * 1_000_000) as i64);
    }
    let h = s.span("http.request").expect("span");
    assert_eq!(h.count(), 1000);
    assert_eq!(h.exceptions(), 0);
    assert_eq!(h.max_us(), 1_000_000);
    for (q, exact) in [(0.5, 500_000u64), (0.9, 900_000), (0.99, 990_000)] {
        let got = h.quantile_us(q);
        assert!(
            got >= exact && got as f64 <= exact as f64 * 1.001,
            "q{q}: {got} vs {exact}"
        );
    }
    // The summary carries the same figures.
    let sum = s.summary();
    let j = &sum.spans["http.request"];
    assert_eq!(j.count, 1000);
    assert_eq!(j.p50_us, h.quantile_us(0.5));
    assert_eq!(j.p99_us, h.quantile_us(0.99));
    assert_eq!(j.max_us, 1_000_000);
    // The events themselves are still counted by name.
    assert_eq!(sum.by_event["http.request.stop"], 1000);
}

#[test]
fn exceptions_are_counted_not_recorded_and_start_is_ignored() {
    let mut s = MonitorState::new();
    let start = event_name!("db", "query", "start");
    let stop_n = event_name!("db", "query", "stop");
    let exc = event_name!("db", "query", "exception");
    s.apply(&EventRef::new(
        0,
        &start,
        &fields! {"monotonic_time" => 1},
        &[],
    ));
    stop(&mut s, 10, stop_n.clone(), 2_000);
    stop(&mut s, 20, exc.clone(), 9_000_000_000);
    stop(&mut s, 30, exc.clone(), 9_000_000_000);
    let h = s.span("db.query").expect("span");
    assert_eq!((h.count(), h.exceptions()), (1, 2));
    assert_eq!(h.max_us(), 2);
    assert_eq!(h.quantile_us(0.99), 2);
    assert_eq!(s.spans().len(), 1);
}

#[test]
fn stops_without_a_duration_are_not_spans() {
    let mut s = MonitorState::new();
    // `[amoc, coordinator, stop]` carries no duration.
    s.apply(&EventRef::new(
        0,
        &event_name!("amoc", "coordinator", "stop"),
        &fields! {"count" => 1},
        &fields! {"name" => "rooms"},
    ));
    s.apply(&EventRef::new(
        1,
        &event_name!("stop"),
        &fields! {"duration" => 5},
        &[],
    ));
    assert!(s.spans().is_empty());
    assert!(s.summary().spans.is_empty());
    // A later stop of the same name that has one makes it a span.
    stop(&mut s, 2, event_name!("amoc", "coordinator", "stop"), 1);
    assert_eq!(s.span("amoc.coordinator").map(|h| h.count()), Some(1));
}

#[test]
fn sub_microsecond_rounds_up_and_hours_saturate() {
    let mut s = MonitorState::new();
    let n = event_name!("tiny", "stop");
    stop(&mut s, 0, n.clone(), 0);
    stop(&mut s, 1, n.clone(), 1);
    stop(&mut s, 2, n.clone(), 999);
    stop(&mut s, 3, n.clone(), 3 * 3_600_000_000_000); // 3 h
    let h = s.span("tiny").expect("span");
    assert_eq!(h.count(), 4);
    assert_eq!(h.quantile_us(0.25), 0);
    assert_eq!(h.quantile_us(0.5), 1);
    assert_eq!(h.max_us(), 3 * SPAN_MAX_US);
    assert!(h.quantile_us(1.0) <= SPAN_MAX_US + SPAN_MAX_US / 1000);
}

#[test]
fn memory_is_bounded_however_many_events() {
    let mut s = MonitorState::new();
    let n = event_name!("bounded", "op", "stop");
    stop(&mut s, 0, n.clone(), 1_000);
    let h = s.span("bounded.op").expect("span");
    let (slots, cap) = (h.histogram().distinct_values(), h.stop_series().capacity());
    // 23,552 u64 counters (184 KiB) for 3 digits up to one hour, fixed from the start.
    assert!(slots * 8 <= 200 * 1024, "{slots} counters");
    for i in 0..1_000_000u64 {
        // Spread over 0 ns .. ~4 h, and over many seconds of event time.
        let ns = (i.wrapping_mul(2_654_435_761) % 14_400_000_000_000) as i64;
        stop(&mut s, i * 50, n.clone(), ns);
    }
    let h = s.span("bounded.op").expect("span");
    assert_eq!(h.count(), 1_000_001);
    assert_eq!(h.histogram().len(), 1_000_001);
    assert_eq!(h.histogram().distinct_values(), slots, "histogram grew");
    assert_eq!(h.stop_series().capacity(), cap, "series grew");
    assert_eq!(s.spans().len(), 1);
}

#[test]
fn per_second_stop_series_gives_the_rate() {
    let mut s = MonitorState::new();
    let n = event_name!("rate", "stop");
    for sec in 0..3u64 {
        for k in 0..(sec + 1) * 10 {
            stop(&mut s, sec * 1_000_000 + k, n.clone(), 1_000);
        }
    }
    let h = s.span("rate").expect("span");
    assert_eq!(h.stop_series().window(2, 3), vec![10, 20, 30]);
}

#[test]
fn real_spans_from_telemetry() {
    let t = Telemetry::new();
    let c = EventCollector::attach_prefix(&t, &["shop"]);
    for i in 0..5 {
        let span = t.span_start(event_name!("shop", "checkout"), &fields! {"i" => i});
        span.stop(&t, &[], &fields! {"i" => i});
    }
    let mut s = MonitorState::new();
    for (i, e) in c.drain().into_iter().enumerate() {
        s.apply(&EventRef::new(
            i as u64,
            &e.name,
            &e.measurements,
            &e.metadata,
        ));
    }
    let h = s.span("shop.checkout").expect("span");
    assert_eq!(h.count(), 5);
    assert_eq!(s.summary().spans["shop.checkout"].count, 5);
}

fn rookery_json(args: &[&str]) -> serde_json::Value {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_rookery"))
        .args(args)
        .output()
        .expect("runs rookery");
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("summary JSON")
}

#[test]
fn headless_replay_prints_spans() {
    let log = concat!(env!("CARGO_MANIFEST_DIR"), "/assets/logs/amoc-sample.jsonl");
    let s = rookery_json(&["replay", "--headless", log]);
    let user = &s["spans"]["amoc.scenario.start"];
    assert_eq!(user["count"], 14);
    assert_eq!(user["exceptions"], 2);
    assert_eq!(user["max_us"], 5_482_845);
    // The original keys are all still there.
    for k in [
        "events",
        "by_event",
        "users",
        "throttles",
        "coordinators",
        "nodes",
        "duration_s",
    ] {
        assert!(s.get(k).is_some(), "{k}");
    }
}

#[test]
fn headless_run_reports_the_scenarios_own_spans() {
    let s = rookery_json(&["run", "--headless", "--duration", "2", "--users", "6"]);
    assert_eq!(s["dropped_events"], 0, "the summary saw every event");
    let spans = s["spans"].as_object().expect("spans");
    let msg = spans
        .iter()
        .find(|(k, _)| !k.starts_with("amoc."))
        .map(|(k, v)| (k.clone(), v.clone()))
        .expect("a span of the demo scenario's own");
    let (name, v) = msg;
    let count = v["count"].as_u64().expect("count");
    assert!(count > 0, "{name}: {v}");
    // Every stop of it carried a duration, so the span count is the stop event count.
    assert_eq!(s["by_event"][format!("{name}.stop")], count, "{name}");
    let (p50, p99, max) = (
        v["p50_us"].as_u64().expect("p50"),
        v["p99_us"].as_u64().expect("p99"),
        v["max_us"].as_u64().expect("max"),
    );
    assert!(p50 <= p99 && p99 <= max, "{name}: {v}");
}

#[test]
fn the_number_of_prefixes_is_capped() {
    let mut s = MonitorState::new();
    let extra = 10;
    for i in 0..MAX_SPAN_PREFIXES + extra {
        let name = EventName::new(&[format!("cap{i}"), "stop".to_owned()]).expect("name");
        stop(&mut s, i as u64, name.clone(), 1_000);
        stop(&mut s, i as u64, name, 1_000);
    }
    assert_eq!(s.spans().len(), MAX_SPAN_PREFIXES);
    assert_eq!(s.span("cap0").map(|h| h.count()), Some(2));
    assert!(s.span(&format!("cap{}", MAX_SPAN_PREFIXES)).is_none());
    // Still counted by name.
    let last = format!("cap{}.stop", MAX_SPAN_PREFIXES + extra - 1);
    assert_eq!(s.summary().by_event[&last], 2);
}
