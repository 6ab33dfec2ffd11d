//! Tests of the `http` part of the monitor state.

use super::*;
use crate::fields;

fn stop(s: &mut HttpStats, sec: u64, status: i64, latency_ms: i64, service_ms: i64) {
    s.apply(
        HttpEvent::Stop,
        sec,
        &fields! {"duration" => service_ms * 1_000_000, "latency" => latency_ms * 1_000_000,
        "bytes_in" => 10, "bytes_out" => 3},
        &fields! {"status" => status},
    );
}

#[test]
fn requests_statuses_errors_and_bytes() {
    let mut s = HttpStats::new();
    for _ in 0..4 {
        s.apply(HttpEvent::Start, 0, &[], &fields! {"start_delay" => 0});
    }
    stop(&mut s, 0, 200, 2, 1);
    stop(&mut s, 0, 404, 2, 1);
    s.apply(
        HttpEvent::Exception,
        0,
        &[],
        &fields! {"class" => "timeout"},
    );
    assert_eq!(s.in_flight(), 1);
    let sum = s.summary();
    assert_eq!(sum.requests, 3);
    assert_eq!(sum.status["200"], 1);
    assert_eq!(sum.status["404"], 1);
    assert_eq!(sum.errors["timeout"], 1);
    assert_eq!(sum.errors["connect"], 0);
    assert_eq!((sum.bytes_in, sum.bytes_out), (20, 6));
    assert_eq!(sum.latency_us.as_ref().unwrap().max, 2_000);
    assert_eq!(sum.service_us.as_ref().unwrap().max, 1_000);
}

#[test]
fn a_stop_is_read_in_one_pass_as_lookups_would_read_it() {
    let mut s = HttpStats::new();
    // The first of a repeated key counts; a non-number under a key counts as absent; no
    // `latency` falls back to the service time.
    s.apply(
        HttpEvent::Stop,
        0,
        &fields! {"duration" => 3_000_001, "bytes_in" => 7, "duration" => 9_000_000,
        "bytes_in" => 100, "bytes_out" => "x", "monotonic_time" => 5},
        &fields! {"status" => 200},
    );
    let sum = s.summary();
    assert_eq!(sum.service_us.as_ref().unwrap().max, 3_001);
    assert_eq!(sum.latency_us.as_ref().unwrap().max, 3_001);
    assert_eq!((sum.bytes_in, sum.bytes_out), (7, 0));
    let r = StopReading::of(&fields! {"latency" => "slow", "latency" => 5_000});
    assert_eq!((r.latency, r.service, r.bytes_in), (None, None, None));
}

#[test]
fn the_first_reason_of_each_error_class_is_kept() {
    let mut s = HttpStats::new();
    for (class, reason) in [
        ("tls", "invalid peer certificate: UnknownIssuer"),
        ("tls", "a later one"),
        ("connect", "connection refused"),
    ] {
        s.apply(
            HttpEvent::Exception,
            0,
            &fields! {"duration" => 1_000},
            &fields! {"class" => class, "kind" => "error", "reason" => reason},
        );
    }
    assert_eq!(
        s.first_reason(ErrorClass::Tls),
        Some("invalid peer certificate: UnknownIssuer")
    );
    assert_eq!(
        s.first_reason(ErrorClass::Connect),
        Some("connection refused")
    );
    assert_eq!(s.first_reason(ErrorClass::Timeout), None);
    assert_eq!(s.errors(ErrorClass::Tls), 2);
}

#[test]
fn no_answered_request_has_no_latency_not_a_latency_of_zero() {
    let s = HttpStats::new();
    let sum = s.summary();
    assert_eq!((sum.latency_us, sum.service_us), (None, None));
    assert_eq!((s.latency_p50_p99(), s.service_p50_p99()), (None, None));
    assert_eq!(s.window_p50_p99(5), None);
    let json = serde_json::to_value(s.summary()).unwrap();
    assert!(
        json["latency_us"].is_null() && json["service_us"].is_null(),
        "{json}"
    );

    let mut s = HttpStats::new();
    stop(&mut s, 1, 200, 3, 2);
    assert!(s.summary().latency_us.is_some());
    assert!(s.window_p50_p99(1).is_some());
    // The window moves on: 30 seconds later nothing was answered in it.
    assert_eq!(s.window_p50_p99(1 + 30 + WINDOW_SECONDS as u64), None);
    assert!(
        s.latency_p50_p99().is_some(),
        "since the start it still has one"
    );
}

#[test]
fn the_panes_p50_p99_are_the_summarys() {
    let mut s = HttpStats::new();
    for ms in 1..=200 {
        stop(&mut s, ms as u64 / 50, 200, ms * 3, ms);
    }
    let (l, v) = (s.latency(), s.service());
    assert_eq!(s.latency_p50_p99(), Some((l.p50, l.p99)));
    assert_eq!(s.service_p50_p99(), Some((v.p50, v.p99)));
    assert!(l.p50 >= 299_000 && l.p50 <= 301_000, "{l:?}");
    assert!(v.p99 >= 197_000 && v.p99 <= 199_000, "{v:?}");
}

#[test]
fn late_starts_count_from_the_threshold() {
    let mut s = HttpStats::new();
    let delay = |us: i64| fields! {"start_delay" => us * 1_000};
    s.apply(HttpEvent::Start, 0, &[], &delay(LATE_START_US as i64 - 1));
    s.apply(HttpEvent::Start, 0, &[], &delay(LATE_START_US as i64));
    s.apply(HttpEvent::Start, 1, &[], &delay(900_000));
    assert_eq!(s.late_starts(), 2);
    assert_eq!(s.last_start_delay_us(), 900_000);
}

#[test]
fn the_window_forgets_old_seconds() {
    let mut s = HttpStats::new();
    stop(&mut s, 0, 200, 900, 1);
    let last = WINDOW_SECONDS as u64;
    for sec in 1..last {
        stop(&mut s, sec, 200, 1, 1);
    }
    assert!(s.window_latency(last - 1, 1.0) >= 890_000);
    stop(&mut s, last, 200, 1, 1);
    // Second 0 (900 ms) has left the window; since the start it is still there.
    assert!(s.window_latency(last, 1.0) < 2_000);
    assert!(s.latency().max >= 900_000);
    assert_eq!(s.latency_series().1.at(0) / 1000, 900);
}

#[test]
fn a_growing_backlog_is_unserved() {
    let mut s = HttpStats::new();
    let report = |s: &mut HttpStats, sec, owed: i64| {
        s.apply(
            HttpEvent::Backlog,
            sec,
            &fields! {"overdue" => owed},
            &fields! {"catch_up" => 1_000},
        )
    };
    report(&mut s, 0, 10);
    report(&mut s, 1, 5);
    assert!(!s.backlog_unserved());
    for (sec, owed) in [(2, 50), (3, 100), (4, 200)] {
        report(&mut s, sec, owed);
    }
    assert!(s.backlog_unserved());
    report(&mut s, 5, 0);
    assert!(!s.backlog_unserved());
    report(&mut s, 6, 1_000);
    report(&mut s, 7, 0);
    assert!(s.backlog_unserved(), "reaching the bound drops requests");
    assert_eq!(s.summary().backlog.max, 1_000);
}
