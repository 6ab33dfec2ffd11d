//! Thresholds evaluated on the reducer with synthetic event times: whole-run values, windows
//! that must hold every time (the worst one reported), error shares, rates, missing spans,
//! runs shorter than a window, long idle gaps, and the latency windows the views read.

use rookery::monitor::{EventRef, MonitorState};
use rookery::report::threshold::{ThresholdResult, ThresholdSet};
use rookery::telemetry::EventName;
use rookery::{event_name, fields};

const S: u64 = 1_000_000;

fn stop(s: &mut MonitorState, t_us: u64, ms: u64) {
    let name: EventName = event_name!("http", "request", "stop");
    s.apply(&EventRef::new(
        t_us,
        &name,
        &fields! {"duration" => (ms * 1_000_000) as i64},
        &fields! {},
    ));
}

fn exception(s: &mut MonitorState, t_us: u64) {
    s.apply(&EventRef::new(
        t_us,
        &event_name!("http", "request", "exception"),
        &fields! {"duration" => 5_000_000},
        &fields! {"kind" => "error"},
    ));
}

fn execute(s: &mut MonitorState, t_us: u64) {
    s.apply(&EventRef::new(
        t_us,
        &event_name!("amoc", "throttle", "execute"),
        &fields! {"count" => 1},
        &fields! {"name" => "messages"},
    ));
}

fn state(exprs: &[&str]) -> MonitorState {
    MonitorState::with_thresholds(ThresholdSet::parse(exprs).expect("thresholds parse"))
}

fn result<'a>(r: &'a [ThresholdResult], expr: &str) -> &'a ThresholdResult {
    r.iter()
        .find(|x| x.expr == expr)
        .expect("a result per threshold")
}

/// 60 s of 10 requests a second at 100 ms, except seconds 30–32 at 900 ms.
fn slow_patch(s: &mut MonitorState) {
    for sec in 0..60u64 {
        for i in 0..10 {
            let ms = if (30..=32).contains(&sec) { 900 } else { 100 };
            stop(s, sec * S + i * 100_000, ms);
            execute(s, sec * S + i * 100_000);
        }
    }
}

#[test]
fn a_slow_patch_breaks_a_window_but_not_the_whole_run() {
    let mut s = state(&[
        "http.request p99 < 1s",
        "http.request p99[10s] < 400ms",
        "http.request p50[10s] < 400ms",
        "http.request p90[10s] < 1s",
        "throttle messages executes/s >= 9",
        "throttle messages executes[5s] >= 50",
    ]);
    slow_patch(&mut s);
    let r = s.threshold_results();
    assert!(result(&r, "http.request p99 < 1s").ok);
    let w = result(&r, "http.request p99[10s] < 400ms");
    assert!(!w.ok, "the 900 ms seconds break every window holding them");
    let v = w.value.expect("worst window's p99");
    assert!((900.0..=915.0).contains(&v), "worst p99 in ms: {v}");
    // p50 over 10 s windows: at most 3 slow seconds of 10, so the median stays at 100 ms.
    let p50 = result(&r, "http.request p50[10s] < 400ms");
    assert!(p50.ok, "{p50:?}");
    assert!(result(&r, "http.request p90[10s] < 1s").ok);
    let rate = result(&r, "throttle messages executes/s >= 9");
    assert!(
        rate.ok && (rate.value.unwrap() - 10.0).abs() < 0.5,
        "{rate:?}"
    );
    assert!(result(&r, "throttle messages executes[5s] >= 50").ok);
    // The breach is known live, at the end of the first window that held a slow second.
    let (t, sec) = s.threshold_breach().expect("a breach");
    assert_eq!(t.expr, "http.request p99[10s] < 400ms");
    assert_eq!(sec, 30);
    // The summary carries the same results.
    assert_eq!(s.summary().thresholds, r);
}

#[test]
fn the_breach_is_seen_when_the_second_ends_not_at_the_end_of_the_run() {
    let mut s = state(&["http.request max[2s] < 500ms"]);
    for sec in 0..5 {
        stop(&mut s, sec * S, 100);
    }
    assert!(s.threshold_breach().is_none());
    stop(&mut s, 5 * S, 800);
    assert!(s.threshold_breach().is_none(), "second 5 is still open");
    stop(&mut s, 6 * S, 100);
    assert_eq!(s.threshold_breach().map(|(_, sec)| sec), Some(5));
}

#[test]
fn error_shares_counts_and_users() {
    let mut s = state(&[
        "http.request errors < 1%",
        "http.request errors < 5%",
        "http.request errors <= 2",
        "http.request errors[10s] < 20%",
        "users failed == 0",
        "users started >= 1",
        "events count > 10",
    ]);
    for i in 0..97 {
        stop(&mut s, i * 10_000, 10);
    }
    for i in 0..3 {
        exception(&mut s, 970_000 + i);
    }
    let r = s.threshold_results();
    let share = result(&r, "http.request errors < 1%");
    assert!(!share.ok);
    assert_eq!(share.value, Some(3.0), "3 of 100, in percent");
    assert!(result(&r, "http.request errors < 5%").ok);
    assert!(!result(&r, "http.request errors <= 2").ok);
    // Shorter than the window: the run is the window (3 %).
    assert!(result(&r, "http.request errors[10s] < 20%").ok);
    assert!(result(&r, "users failed == 0").ok);
    assert!(!result(&r, "users started >= 1").ok, "no user ever started");
    assert!(result(&r, "events count > 10").ok);
}

#[test]
fn a_span_that_never_completed_has_no_latency_and_fails() {
    let mut s = state(&["nope.span p99 < 1s", "nope.span count == 0"]);
    stop(&mut s, 0, 1);
    let r = s.threshold_results();
    assert_eq!(r[0].value, None);
    assert!(!r[0].ok);
    assert_eq!(r[1].value, Some(0.0));
    assert!(r[1].ok);
}

#[test]
fn an_idle_gap_counts_as_windows_without_traffic() {
    let mut s = state(&[
        "throttle messages executes[5s] >= 1",
        "http.request p99[5s] < 1s",
    ]);
    execute(&mut s, 0);
    stop(&mut s, 0, 10);
    // A day of silence, then traffic again: the silent windows break the rate threshold, but
    // have no latency to judge.
    for sec in 86_400..86_410u64 {
        execute(&mut s, sec * S);
        stop(&mut s, sec * S, 10);
    }
    let r = s.threshold_results();
    assert!(!r[0].ok);
    assert_eq!(r[0].value, Some(0.0));
    assert!(r[1].ok, "{:?}", r[1]);
}

#[test]
fn latency_windows_for_the_views() {
    let mut s = MonitorState::new();
    slow_patch(&mut s);
    let span = s.span("http.request").unwrap();
    // The last 10 s ending at second 59: all 100 ms.
    let recent = span.seconds().window(59, 10);
    assert_eq!(recent.count(), 100);
    assert_eq!(recent.max_us(), 100_000);
    // Ending at second 35: the slow patch is inside.
    let w = span.seconds().window(35, 10);
    assert_eq!(w.max_us(), 900_000);
    let p99 = w.quantile_us(0.99).unwrap();
    assert!((900_000..=915_000).contains(&p99), "{p99}");
    // Since the start: the HDR histogram.
    assert_eq!(span.max_us(), 900_000);
}

#[test]
fn the_rolling_window_ends_at_the_latest_second() {
    let mut s = MonitorState::new();
    slow_patch(&mut s);
    let ten = s
        .span_recent("http.request", rookery::monitor::ROLLING_SECONDS)
        .unwrap();
    assert_eq!(ten.count(), 100);
    assert_eq!(ten.quantile_us(0.99), Some(100_000));
    assert!(s.span_recent("nope", 10).is_none());
}
