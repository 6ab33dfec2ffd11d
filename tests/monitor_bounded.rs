//! The reducer's memory stays bounded however long the run, per-second series line up with
//! event times, and replay seeking (by re-reading) reaches the same state as playing through.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use rookery::eventlog::{ReadOptions, Replay, Speed};
use rookery::fields;
use rookery::monitor::{DEFAULT_SECONDS, EventRef, KEEP_WARNINGS, MonitorState};
use rookery::telemetry::{Field, Key, Value};

fn asset(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("assets/logs")
        .join(name)
}

#[test]
fn a_day_long_run_keeps_bounded_series_and_lists() {
    let req = rookery::event_name!("amoc", "throttle", "request");
    let env = rookery::event_name!("amoc", "config", "env");
    let m = fields! {"count" => 1};
    let md = fields! {"name" => "t"};
    let warn_md: [Field; 2] = [
        (Key::new_static("log_level"), Value::atom("error")),
        (Key::new_static("msg"), Value::atom("bad")),
    ];
    let mut s = MonitorState::new();
    // One request per second for 24 h, and a config error every minute.
    for sec in 0..86_400u64 {
        let t = sec * 1_000_000;
        s.apply(&EventRef {
            t_us: t,
            node: Some("n1"),
            name: &req,
            measurements: &m,
            metadata: &md,
        });
        if sec % 60 == 0 {
            s.apply(&EventRef {
                t_us: t,
                node: Some("n1"),
                name: &env,
                measurements: &fields! {"error" => 1},
                metadata: &warn_md,
            });
        }
    }
    let t = s.throttle("t").unwrap();
    assert_eq!(t.requests(), 86_400);
    let series = t.request_series(usize::MAX);
    assert_eq!(
        series.len(),
        DEFAULT_SECONDS,
        "the ring keeps its capacity, no more"
    );
    assert!(series.iter().all(|&v| v == 1));
    assert_eq!(s.event_series().values().len(), DEFAULT_SECONDS);
    assert_eq!(s.warnings().len(), KEEP_WARNINGS);
    assert_eq!(s.warnings_total(), 1440);
    assert_eq!(s.warnings().back().unwrap().t_us, 86_340 * 1_000_000);
    assert_eq!(s.summary().duration_s, 86_399.0);
}

#[test]
fn series_follow_event_time_not_arrival() {
    let start = rookery::event_name!("amoc", "scenario", "start", "start");
    let stop = rookery::event_name!("amoc", "scenario", "start", "stop");
    let md = fields! {"user_id" => 1};
    let mut s = MonitorState::new();
    let at = |s: &mut MonitorState, t_us, name| {
        s.apply(&EventRef {
            t_us,
            node: Some("n1"),
            name,
            measurements: &[],
            metadata: &md,
        })
    };
    at(&mut s, 500_000, &start);
    at(&mut s, 600_000, &start);
    at(&mut s, 3_200_000, &stop);
    // Running: 2 in seconds 0..2, then 1 in second 3.
    assert_eq!(s.users().running_series.values(), vec![2, 2, 2, 1]);
    assert_eq!(s.users().started_series.values(), vec![2]);
    assert_eq!(s.nodes()[0].running_series.latest(), 1);
}

#[test]
fn replay_paces_by_the_clock_and_seeks_by_rereading() {
    let t0 = Instant::now();
    let paths = [asset("amoc-sample.jsonl")];
    let mut r = Replay::open(&paths, ReadOptions::default(), Speed::Factor(1.0), t0).unwrap();
    let mut s = MonitorState::new();
    // At wall time +1 s, exactly the events of the first second are applied.
    let p = r
        .advance(&mut s, t0 + Duration::from_secs(1), usize::MAX)
        .unwrap();
    assert!(!p.finished);
    assert!(s.last_t_us() <= 1_000_000 && s.events() > 0);
    let first_second = s.events();
    assert!(r.next_t_us().unwrap().unwrap() > 1_000_000);
    // Pause: time stands still.
    r.clock.pause(t0 + Duration::from_secs(1), r.position_us());
    r.advance(&mut s, t0 + Duration::from_secs(100), usize::MAX)
        .unwrap();
    assert_eq!(s.events(), first_second);
    // Seek forward to 5 s, then back to 0.5 s: the state is rebuilt by re-reading.
    r.seek(5_000_000, &mut s, t0).unwrap();
    let at5 = s.summary();
    r.seek(500_000, &mut s, t0).unwrap();
    assert!(s.last_t_us() <= 500_000 && s.events() > 0 && s.events() <= first_second);
    r.seek(5_000_000, &mut s, t0).unwrap();
    assert_eq!(s.summary(), at5);
    // Max speed to the end gives the whole log.
    r.clock.resume(t0);
    r.clock.set_speed(Speed::Max, t0, r.position_us());
    let p = r.advance(&mut s, t0, usize::MAX).unwrap();
    assert!(p.finished);
    assert_eq!(s.events(), 274);
}
