//! One tap for the monitor and the recorder (issue 13.7, 12.6, 12.7): both see the same events
//! (the live summary equals the replayed one), and a recording that fails mid-run is an error
//! the monitor shows at once, not only at exit.

use std::io::Read;
use std::path::Path;
use std::time::{Duration, Instant};

use rookery::eventlog::{LogReader, ReadOptions, Recorder, RecorderOptions};
use rookery::fields;
use rookery::monitor::{LiveFeed, MonitorState};
use rookery::tap::{Tap, TapOptions};
use rookery::telemetry::Telemetry;

mod thread_support;
use thread_support::threads_named;

fn read_back(path: &Path) -> MonitorState {
    let mut r = LogReader::open(path, ReadOptions::default()).expect("opens");
    let mut s = MonitorState::new();
    let mut e = rookery::monitor::LoggedEvent::placeholder();
    while r.next_into(&mut e).expect("reads") {
        s.apply(&e.as_ref());
    }
    s
}

fn tap(t: &Telemetry, capacity: usize) -> Tap {
    Tap::attach(
        t,
        TapOptions {
            handler_id: "tap".into(),
            capacity,
            start: Instant::now(),
        },
    )
    .expect("tap")
}

#[test]
fn the_monitor_and_the_recording_see_the_same_events_from_one_tap() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("shared.jsonl");
    let t = Telemetry::new();
    let tap = tap(&t, 1 << 16);
    let feed = LiveFeed::on_tap(&tap, 1 << 20);
    let rec = Recorder::start_on(&path, &tap, RecorderOptions::default()).expect("recorder");
    let mut live = MonitorState::new();
    std::thread::scope(|s| {
        for n in 0..3 {
            let t = t.clone();
            s.spawn(move || {
                for i in 0..20_000u64 {
                    t.execute(
                        rookery::event_name!("amoc", "throttle", "request"),
                        &fields! {"count" => 1},
                        &fields! {"name" => "x", "node" => format!("node{n}"), "i" => i},
                    );
                }
            });
        }
        // The UI drains while the emitters run, the recorder pumps on its own.
        for _ in 0..20 {
            feed.drain_into(&mut live);
            std::thread::sleep(Duration::from_millis(2));
        }
    });
    tap.close();
    // Emitted after the close: seen by nobody.
    t.execute(rookery::event_name!("late"), &[], &[]);
    let stats = rec.finish().expect("finishes");
    feed.drain_into(&mut live);
    assert_eq!(live.events(), 60_000);
    assert_eq!(stats.events, 60_000);
    assert_eq!(stats.dropped, 0);
    let replayed = read_back(&path);
    assert_eq!(replayed.summary(), live.summary());
    assert_eq!(replayed.count(rookery::event_name!("late")), 0);
}

#[test]
fn a_tap_without_consumers_detaches_on_close_and_on_drop() {
    let t = Telemetry::new();
    let a = tap(&t, 16);
    assert!(t.has_handlers(rookery::event_name!("x")));
    a.close();
    assert!(!t.has_handlers(rookery::event_name!("x")));
    let b = tap(&t, 16);
    let feed = LiveFeed::on_tap(&b, 16);
    drop(b);
    assert!(
        t.has_handlers(rookery::event_name!("x")),
        "the feed keeps it"
    );
    drop(feed);
    assert!(!t.has_handlers(rookery::event_name!("x")));
}

#[test]
fn a_feed_that_falls_behind_gets_a_dropped_event_and_the_recording_keeps_everything() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("behind.jsonl");
    let t = Telemetry::new();
    let tap = tap(&t, 1 << 16);
    // The monitor may hold 100 events unapplied; it does not drain while 1,000 are pumped.
    let feed = LiveFeed::on_tap(&tap, 100);
    let rec = Recorder::start_on(&path, &tap, RecorderOptions::default()).expect("recorder");
    for i in 0..1_000u64 {
        t.execute(rookery::event_name!("e"), &fields! {"i" => i}, &[]);
    }
    tap.close();
    let stats = rec.finish().expect("finishes");
    assert_eq!(stats.events, 1_000);
    let mut live = MonitorState::new();
    feed.drain_into(&mut live);
    let seen = live.count(rookery::event_name!("e"));
    assert!(seen < 1_000, "the feed was behind: saw {seen}");
    assert_eq!(seen + live.dropped(), 1_000, "every loss is counted");
    assert_eq!(
        live.summary().dropped_events,
        live.dropped(),
        "and told in the summary"
    );
    assert_eq!(live.summary().by_event["rookery.monitor.dropped"], 1);
    assert_eq!(read_back(&path).count(rookery::event_name!("e")), 1_000);
}

#[cfg(target_os = "linux")]
#[test]
fn a_failing_disk_is_an_error_on_the_monitor_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("closed.jsonl");
    let ok = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .expect("mkfifo");
    assert!(ok.success());
    // The reader takes the header, then goes away: the next write fails (EPIPE), as a full
    // disk's would (ENOSPC).
    let reader = {
        let fifo = fifo.clone();
        std::thread::spawn(move || {
            let mut f = std::fs::File::open(&fifo).expect("open read end");
            let mut first = [0u8; 16];
            f.read_exact(&mut first).expect("header");
        })
    };
    let t = Telemetry::new();
    let tap = tap(&t, 1 << 16);
    let feed = LiveFeed::on_tap(&tap, 1 << 20);
    let rec = Recorder::start_on(
        &fifo,
        &tap,
        RecorderOptions {
            flush_interval: Duration::from_millis(5),
            ..RecorderOptions::default()
        },
    )
    .expect("recorder");
    reader.join().unwrap();
    let mut live = MonitorState::new();
    let deadline = Instant::now() + Duration::from_secs(20);
    let warning = loop {
        t.execute(
            rookery::event_name!("e"),
            &[],
            &fields! {"pad" => "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"},
        );
        feed.drain_into(&mut live);
        if let Some(w) = live.warnings().iter().find(|w| w.level == "error") {
            break w.clone();
        }
        assert!(
            Instant::now() < deadline,
            "no recorder error reached the monitor"
        );
        std::thread::sleep(Duration::from_millis(1));
    };
    assert_eq!(warning.event.dotted(), "rookery.recorder.error");
    assert!(warning.msg.contains("closed.jsonl"), "{}", warning.msg);
    assert_eq!(
        warning.setting.as_deref(),
        Some(fifo.display().to_string().as_str())
    );
    tap.close();
    let err = rec.finish().expect_err("the recording failed");
    assert!(err.to_string().contains("closed.jsonl"), "{err}");
}

/// Waits (10 s at most) until `cond` holds.
fn eventually(what: &str, cond: impl Fn() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !cond() {
        assert!(Instant::now() < deadline, "{what}");
        std::thread::yield_now();
    }
}

#[test]
fn the_pumper_empties_half_full_shards_while_nobody_drains_and_ends_with_the_tap() {
    let t = Telemetry::new();
    // A shard holds 1,024 events; a burst of 600 passes half of it.
    let without = tap(&t, 1024);
    let behind = LiveFeed::on_tap(&without, usize::MAX);
    for i in 0..6_000u64 {
        t.execute(rookery::event_name!("e"), &fields! {"i" => i}, &[]);
    }
    assert!(
        without.dropped() > 0,
        "no pumper, no drain: the shard overflows"
    );
    without.close();
    drop(behind);

    let with = tap(&t, 1024);
    let feed = LiveFeed::on_tap(&with, usize::MAX);
    with.start_pumper().expect("the pumper starts");
    for burst in 0..10u64 {
        for i in 0..600u64 {
            t.execute(
                rookery::event_name!("e"),
                &fields! {"i" => burst * 600 + i},
                &[],
            );
        }
        // Nobody drains the feed: only the pumper can empty the shard.
        eventually("the pumper empties the shard", || with.pending() == 0);
    }
    assert_eq!(with.dropped(), 0);
    let mut live = MonitorState::new();
    feed.drain_into(&mut live);
    assert_eq!(live.count(rookery::event_name!("e")), 6_000);
    assert_eq!(live.dropped(), 0);
    assert_eq!(threads_named("rookery-pump"), 1);
    with.close();
    eventually("the pumper ends with the tap", || {
        threads_named("rookery-pump") == 0
    });
}
