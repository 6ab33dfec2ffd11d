//! The time series stay bounded: a 24-hour run on a synthetic clock keeps at most
//! `TIMELINE_POINTS` buckets, each with at most `BINS` latency bins per span, whatever the
//! event rate; a burst of events in one second costs at most one histogram of `BINS` bins.

use rookery::monitor::{BINS, EventRef, MonitorState, RECENT_SECONDS, TIMELINE_POINTS};
use rookery::telemetry::EventName;
use rookery::{event_name, fields};

const S: u64 = 1_000_000;

/// A cheap deterministic spread of durations over 1 µs .. 1 h (every bin gets used).
fn duration_ns(i: u64) -> i64 {
    let x = i
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407)
        >> 33;
    let exp = x % 32; // 2^0 .. 2^31 µs
    (((1u64 << exp) + (x >> 5) % (1u64 << exp)) * 1_000) as i64
}

fn second(s: &mut MonitorState, sec: u64, stops: u64) {
    let stop: EventName = event_name!("http", "request", "stop");
    for i in 0..stops {
        s.apply(&EventRef {
            t_us: sec * S + i,
            node: Some(if i % 2 == 0 { "node1" } else { "node2" }),
            name: &stop,
            measurements: &fields! {"duration" => duration_ns(sec * 131 + i)},
            metadata: &fields! {},
        });
    }
    s.apply(&EventRef {
        t_us: sec * S + stops,
        node: Some("node1"),
        name: &event_name!("amoc", "throttle", "execute"),
        measurements: &fields! {"count" => 1},
        metadata: &fields! {"name" => "messages"},
    });
}

#[test]
fn a_day_keeps_a_bounded_timeline() {
    let mut s = MonitorState::new();
    for sec in 0..86_400 {
        second(&mut s, sec, 6);
    }
    let tl = s.closed_timeline();
    assert!(tl.points().len() <= TIMELINE_POINTS);
    assert_eq!(
        tl.width(),
        256,
        "86,400 s in ≤ 512 buckets of a power of two"
    );
    assert_eq!(tl.points().iter().map(|p| p.seconds).sum::<u64>(), 86_399);
    let day = tl.heap_bytes();
    // The bound: every bucket holds at most every bin once (one span, two nodes, a throttle).
    let bound = TIMELINE_POINTS * (BINS * 8 + 1024);
    assert!(day <= bound, "{day} B > {bound} B");
    // What it is bounded by: buckets, and the bins of each (not events).
    for p in tl.points() {
        assert!(p.spans.iter().all(|h| h.bins_len() <= BINS));
    }
    let span = s.span("http.request").unwrap();
    let recent = span.seconds().heap_bytes();
    assert!(
        recent <= (RECENT_SECONDS as usize + 1) * (BINS * 8 + 64),
        "{recent} B"
    );
    // The summary's series has every bucket.
    let series = s.series_summary();
    assert_eq!(series.step_s, 256);
    assert_eq!(series.t_s.len(), series.spans["http.request"].count.len());
    assert_eq!(
        series.spans["http.request"].count.iter().sum::<u64>(),
        6 * 86_400
    );
}

#[test]
fn a_burst_in_one_second_costs_one_histogram() {
    let mut s = MonitorState::new();
    second(&mut s, 0, 200_000);
    second(&mut s, 1, 200_000);
    second(&mut s, 2, 1);
    let span = s.span("http.request").unwrap();
    let one = span.seconds().second(0);
    assert_eq!(one.count(), 200_000);
    assert!(one.bins_len() <= BINS);
    assert!(span.seconds().heap_bytes() <= 3 * (BINS * 8 + 64) + BINS * 4);
}
