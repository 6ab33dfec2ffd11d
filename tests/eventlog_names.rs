//! Names read from logs are not the process's for good (issue 13.8): each reader interns them
//! as scoped names, freed with the reader and the state it fed; a normal log keeps every name,
//! and a hostile one costs at most one reader's limit (then `rookery.other.event`, counted,
//! with a warning).
//!
//! Alone in its binary, and its tests one at a time: they count the process's scoped names.

use std::io::Write;
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::Instant;

use rookery::eventlog::{
    LogReader, MAX_LOG_NAME_BYTES, MAX_LOG_NAMES, OTHER_NAME, ReadOptions, Replay, Speed,
};
use rookery::monitor::{LoggedEvent, MonitorState};
use rookery::telemetry::EventName;

static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner())
}

/// A log of `n` events, event `i` named `name(i)`.
fn log(n: usize, name: impl Fn(usize) -> String) -> tempfile::NamedTempFile {
    let mut f = tempfile::Builder::new()
        .suffix(".jsonl")
        .tempfile()
        .unwrap();
    let mut w = std::io::BufWriter::new(f.as_file_mut());
    writeln!(
        w,
        r#"{{"rookery_log":1,"started_at":"2026-11-21T10:00:00Z"}}"#
    )
    .unwrap();
    for i in 0..n {
        writeln!(
            w,
            r#"{{"t_us":{i},"event":{},"measurements":{{}},"metadata":{{}}}}"#,
            name(i)
        )
        .unwrap();
    }
    w.flush().unwrap();
    drop(w);
    f
}

/// Reads `f` into a new state; the reader, the state and the last event (which all hold names).
fn read_all(f: &tempfile::NamedTempFile) -> (LogReader, MonitorState, LoggedEvent) {
    let mut r = LogReader::open(f.path(), ReadOptions::default()).unwrap();
    let mut s = MonitorState::new();
    let mut ev = LoggedEvent::placeholder();
    while r.next_into(&mut ev).unwrap() {
        s.apply(&ev.as_ref());
    }
    (r, s, ev)
}

#[test]
fn a_log_with_100000_distinct_names_replays_intact_and_frees_them_with_the_replay() {
    let _one = serial();
    let n = 100_000;
    let f = log(n, |i| format!(r#"["many","n{i}"]"#));
    let before = EventName::scoped_count();

    let paths = [PathBuf::from(f.path())];
    let mut replay =
        Replay::open(&paths, ReadOptions::default(), Speed::Max, Instant::now()).unwrap();
    let mut state = MonitorState::new();
    replay.run_to_end(&mut state).unwrap();
    let stats = replay.stats();
    assert_eq!(stats.events, n as u64);
    assert_eq!(
        stats.other_names, 0,
        "no name cut off: {:?}",
        stats.warnings
    );
    assert!(stats.warnings.is_empty(), "{:?}", stats.warnings);
    let summary = state.summary();
    assert_eq!(summary.by_event.len(), n, "every name is its own");
    assert_eq!(summary.by_event["many.n0"], 1);
    assert_eq!(summary.by_event["many.n99999"], 1);
    assert!(!summary.by_event.contains_key("rookery.other.event"));
    assert_eq!(
        EventName::scoped_count(),
        before + n,
        "the names are held while the replay and its state live"
    );

    drop(replay);
    assert_eq!(
        EventName::scoped_count(),
        before + n,
        "the state still shows them"
    );
    drop(summary);
    drop(state);
    assert_eq!(
        EventName::scoped_count(),
        before,
        "dropping the replay and its state frees every name it read"
    );

    // A second replay of the same log interns them again, and frees them again.
    let mut again = MonitorState::new();
    Replay::open(&paths, ReadOptions::default(), Speed::Max, Instant::now())
        .unwrap()
        .run_to_end(&mut again)
        .unwrap();
    assert_eq!(again.summary().by_event["many.n5"], 1);
    assert_eq!(again.counts().len(), n);
    drop(again);
    assert_eq!(EventName::scoped_count(), before);
}

#[test]
fn names_past_one_readers_limit_become_one_other_name_and_are_freed_with_it() {
    let _one = serial();
    let extra = 100;
    let n = MAX_LOG_NAMES + extra;
    let f = log(n, |i| format!(r#"["hostile","n{i}"]"#));
    let before = EventName::scoped_count();
    let (r, s, ev) = read_all(&f);
    let stats = r.stats().clone();
    assert_eq!(stats.events, n as u64);
    assert_eq!(stats.other_names, extra as u64);
    assert_eq!(s.count(OTHER_NAME.get()), extra as u64);
    assert!(
        stats
            .warnings
            .iter()
            .any(|w| w.contains("distinct event names") && w.contains(":262146:")),
        "one warning, at the first name past the limit (line 262146): {:?}",
        stats.warnings
    );
    assert_eq!(stats.warning_count(), 1);
    assert_eq!(r.names_held(), MAX_LOG_NAMES);
    assert_eq!(
        EventName::scoped_count(),
        before + MAX_LOG_NAMES,
        "the reader's limit bounds what the log costs the process"
    );
    // A name the reader holds still reads as itself after the limit.
    assert_eq!(s.count(EventName::scoped(&["hostile", "n0"]).unwrap()), 1);
    drop((r, s, ev));
    assert_eq!(EventName::scoped_count(), before);
}

#[test]
fn long_names_are_bounded_by_bytes_too() {
    let _one = serial();
    // 1 MiB names: the reader's byte limit stops them long before its count does.
    let segment = "x".repeat(1 << 20);
    let n = MAX_LOG_NAME_BYTES / (1 << 20) + 4;
    let f = log(n, |i| format!(r#"["long{i}","{segment}"]"#));
    let before = EventName::scoped_count();
    let (r, s, ev) = read_all(&f);
    let held = r.names_held();
    assert!(held < MAX_LOG_NAME_BYTES / (1 << 20), "{held}");
    assert_eq!(r.stats().other_names, (n - held) as u64);
    assert_eq!(s.count(OTHER_NAME.get()), (n - held) as u64);
    assert!(EventName::scoped_count() <= before + held);
    drop((r, s, ev));
    assert_eq!(EventName::scoped_count(), before);
}

#[test]
fn a_name_the_program_uses_outlives_the_log_that_named_it_first() {
    let _one = serial();
    let f = log(3, |_| r#"["shared","name"]"#.to_owned());
    let mut r = LogReader::open(f.path(), ReadOptions::default()).unwrap();
    let ev = r.next().unwrap().unwrap();
    assert!(!ev.name.is_permanent(), "read from a log: scoped");
    // The program emits the same name: it becomes permanent, and is the same name.
    let emitted = rookery::event_name!("shared", "name");
    assert_eq!(ev.name, emitted.clone());
    assert!(ev.name.is_permanent());
    let id = emitted.id();
    drop((r, ev));
    assert_eq!(rookery::event_name!("shared", "name").id(), id);
}
