//! Record → read back: the same summary as the live monitor; gzip; and a disk that cannot keep
//! up (a FIFO nobody reads yet) loses events *visibly*, without ever blocking the emitters.

use std::path::Path;
use std::time::Instant;

use rookery::engine::events::*;
use rookery::eventlog::{LogReader, ReadOptions, Recorder, RecorderOptions};
use rookery::fields;
use rookery::monitor::{LiveFeed, MonitorState, Summary};
use rookery::telemetry::{Telemetry, Value};

/// A busy little cluster: 4 threads (nodes) emitting most of the catalogue and a custom event.
fn workload(t: &Telemetry) {
    let e = Emitter::new(t.clone(), "master");
    e.emit(
        &THROTTLE_RATE,
        &fields! {"rate" => 1000, "interval" => 1000},
        &fields! {"name" => "t"},
    );
    e.emit(
        &COORDINATOR_START,
        &fields! {"count" => 1},
        &fields! {"name" => "c"},
    );
    std::thread::scope(|s| {
        for n in 0..4 {
            let e = e.for_node(format!("node{n}"));
            let t = t.clone();
            s.spawn(move || {
                e.emit(
                    &CONTROLLER_USERS,
                    &fields! {"count" => 25},
                    &fields! {"type" => "add", "scenario" => "x"},
                );
                for u in 0..25 {
                    let md = fields! {"scenario" => "x", "user_id" => u, "state" => ""};
                    let span = e.span_start(&SCENARIO_START, &md);
                    for _ in 0..20 {
                        e.emit(
                            &THROTTLE_REQUEST,
                            &fields! {"count" => 1},
                            &fields! {"name" => "t"},
                        );
                        e.emit(
                            &THROTTLE_EXECUTE,
                            &fields! {"count" => 1},
                            &fields! {"name" => "t"},
                        );
                    }
                    e.emit(
                        &COORDINATOR_ADD,
                        &fields! {"count" => 1},
                        &fields! {"name" => "c"},
                    );
                    e.emit_name(
                        rookery::event_name!("user", "defined"),
                        &fields! {"v" => 1.5},
                        &fields! {"pid" => "<0.1.0>", "list" => ""},
                    );
                    if u % 5 == 0 {
                        span.exception(&t, &e.with_node(&md), "error", "boom", Value::Null);
                    } else {
                        span.stop(&t, &[], &e.with_node(&md));
                    }
                }
            });
        }
    });
    e.emit(
        &COORDINATOR_EXECUTE,
        &fields! {"count" => 100},
        &fields! {"event" => "coordinate"},
    );
    e.emit_log(
        &CONFIG_ENV,
        LogLevel::Error,
        "cannot parse",
        &fields! {"variable_name" => "X"},
    );
}

fn read_back(path: &Path) -> MonitorState {
    let mut r = LogReader::open(path, ReadOptions::default()).expect("opens");
    let mut s = MonitorState::new();
    while let Some(ev) = r.next().expect("reads") {
        s.apply(&ev.as_ref());
    }
    assert!(r.stats().warnings.is_empty(), "{:?}", r.stats().warnings);
    s
}

fn same_but_duration(a: &Summary, b: &Summary) {
    let mut a2 = a.clone();
    let mut b2 = b.clone();
    // Each handler reads the clock itself, microseconds apart.
    assert!(
        (a.duration_s - b.duration_s).abs() < 0.5,
        "{} vs {}",
        a.duration_s,
        b.duration_s
    );
    a2.duration_s = 0.0;
    b2.duration_s = 0.0;
    assert_eq!(a2, b2);
}

fn round_trip(file: &str) -> (Summary, Summary, Vec<u8>) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(file);
    let t = Telemetry::new();
    let start = Instant::now();
    let feed = LiveFeed::attach(&t, "monitor", 1 << 20, start).expect("feed");
    let rec = Recorder::start_with(
        &path,
        &t,
        RecorderOptions {
            start: Some(start),
            ..RecorderOptions::default()
        },
    )
    .expect("recorder");
    workload(&t);
    let stats = rec.finish().expect("finishes");
    let mut live = MonitorState::new();
    feed.drain_into(&mut live);
    assert_eq!(live.dropped(), 0);
    assert_eq!(stats.dropped, 0);
    assert_eq!(stats.events, live.events());
    let replayed = read_back(&path);
    (
        live.summary(),
        replayed.summary(),
        std::fs::read(&path).unwrap(),
    )
}

#[test]
fn record_then_replay_gives_the_live_summary() {
    let (live, replayed, bytes) = round_trip("run.jsonl");
    same_but_duration(&live, &replayed);
    assert_eq!(live.users.started, 100);
    assert_eq!(live.users.exceptions, 20);
    assert_eq!(live.throttles["t"].requests, 2000);
    assert_eq!(live.by_event["user.defined"], 100);
    // Span latencies survive the round trip (compared whole above) and are not empty.
    let user = &live.spans["amoc.scenario.start"];
    assert_eq!((user.count, user.exceptions), (80, 20));
    assert!(user.max_us >= user.p99_us && user.p99_us >= user.p50_us && user.p50_us > 0);
    let first = bytes.split(|b| *b == b'\n').next().unwrap();
    let header: serde_json::Value = serde_json::from_slice(first).unwrap();
    assert_eq!(header["rookery_log"], 1);
    assert!(header["source"].as_str().unwrap().starts_with("rookery "));
    assert!(header["started_at"].as_str().unwrap().ends_with('Z'));
}

#[test]
fn gzip_round_trip() {
    let (live, replayed, bytes) = round_trip("run.jsonl.gz");
    assert_eq!(&bytes[..2], &[0x1f, 0x8b], "gzip magic");
    same_but_duration(&live, &replayed);
}

#[test]
fn recorder_flushes_while_running() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("live.jsonl");
    let t = Telemetry::new();
    let rec = Recorder::start(&path, &t).expect("recorder");
    t.execute(rookery::event_name!("tick"), &fields! {"n" => 1}, &[]);
    // The writer flushes at least every 100 ms: wait (bounded) until the line is on disk.
    let deadline = Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let text = std::fs::read_to_string(&path).unwrap();
        if text.lines().count() == 2 {
            assert!(text.contains("\"event\":[\"tick\"]"), "{text}");
            break;
        }
        assert!(Instant::now() < deadline, "not flushed: {text:?}");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    drop(rec); // Drop finishes too.
    assert!(!t.has_handlers(rookery::event_name!("tick")));
}

#[cfg(target_os = "linux")]
#[test]
fn a_stuck_disk_drops_visibly_and_never_blocks_emitters() {
    use std::io::Read;
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("stuck.jsonl");
    let ok = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .expect("mkfifo");
    assert!(ok.success());
    let (go_tx, go_rx) = std::sync::mpsc::channel::<()>();
    let reader = {
        let fifo = fifo.clone();
        std::thread::spawn(move || {
            let mut f = std::fs::File::open(&fifo).expect("open read end");
            go_rx.recv().expect("go");
            let mut all = Vec::new();
            f.read_to_end(&mut all).expect("read");
            all
        })
    };
    let t = Telemetry::new();
    let rec = Recorder::start_with(
        &fifo,
        &t,
        RecorderOptions {
            queue_capacity: 16,
            ..RecorderOptions::default()
        },
    )
    .expect("recorder");
    // Nobody reads the pipe yet: the writer blocks after ~64 KiB, the queue fills, and the
    // emitters must still run to completion.
    const N: u64 = 200_000;
    for i in 0..N {
        t.execute(
            rookery::event_name!("load", "event"),
            &fields! {"i" => i},
            &fields! {"pad" => "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"},
        );
    }
    let dropped_live = rec.dropped();
    assert!(dropped_live > N / 2, "dropped {dropped_live}");
    go_tx.send(()).unwrap();
    let stats = rec.finish().expect("finishes");
    let bytes = reader.join().unwrap();
    assert_eq!(stats.dropped, dropped_live);
    assert_eq!(stats.events + stats.dropped, N);

    let copy = dir.path().join("copy.jsonl");
    std::fs::write(&copy, &bytes).unwrap();
    let s = read_back(&copy);
    assert_eq!(s.count(rookery::event_name!("load", "event")), stats.events);
    // The tap's queue overflowed (`[rookery, tap, dropped]`, counted in `dropped`) and maybe
    // the writer fell behind (`[rookery, recorder, dropped]`): both are in the log.
    assert_eq!(
        s.dropped() + s.recorder_dropped(),
        stats.dropped,
        "the loss is written into the log"
    );
}
