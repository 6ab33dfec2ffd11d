//! Bad input, closed (issue 12.7): counters saturate, the tables are capped with an "(other)"
//! bucket and a warning, unknown rates are warnings, a `.` inside a name segment is refused
//! with file:line, and a TUI replay lists the reader's warnings.

use std::io::Write;

use rookery::eventlog::{LOG_WARNING, LogReader, ReadOptions, Replay, Speed};
use rookery::fields;
use rookery::monitor::{EventRef, MAX_THROTTLES, MonitorState, OTHER, RateReading};

#[test]
fn hostile_counts_saturate_instead_of_wrapping() {
    let mut s = MonitorState::new();
    let req = rookery::event_name!("amoc", "throttle", "request");
    let users = rookery::event_name!("amoc", "controller", "users");
    for node in ["a", "b", "c"] {
        s.apply(&EventRef {
            t_us: 1,
            node: Some(node),
            name: &req,
            measurements: &fields! {"count" => i64::MAX},
            metadata: &fields! {"name" => "t"},
        });
        s.apply(&EventRef::new(
            1,
            &users,
            &fields! {"count" => i64::MAX},
            &fields! {"type" => "add"},
        ));
    }
    assert_eq!(s.throttle("t").unwrap().requests(), u64::MAX);
    assert_eq!(s.users().added, u64::MAX);
    let summary = s.summary();
    assert_eq!(summary.users.added, u64::MAX);
}

#[test]
fn distinct_throttle_names_are_capped_with_a_counted_other_bucket() {
    let mut s = MonitorState::new();
    let req = rookery::event_name!("amoc", "throttle", "request");
    let extra = 500;
    for i in 0..MAX_THROTTLES + extra {
        let name = format!("t{i}");
        s.apply(&EventRef::new(
            i as u64,
            &req,
            &fields! {"count" => 1},
            &fields! {"name" => name},
        ));
    }
    assert_eq!(s.throttle_states().len(), MAX_THROTTLES + 1);
    assert_eq!(s.throttle(OTHER).unwrap().requests(), extra as u64);
    assert_eq!(s.capped(), extra as u64);
    let w: Vec<_> = s
        .warnings()
        .iter()
        .filter(|w| w.msg.contains("distinct throttles"))
        .collect();
    assert_eq!(w.len(), 1, "one warning, not one per name");
}

#[test]
fn unknown_rate_values_are_warnings_and_keep_the_last_rate() {
    let mut s = MonitorState::new();
    let rate = rookery::event_name!("amoc", "throttle", "rate");
    let md = fields! {"name" => "t"};
    s.apply(&EventRef::new(1, &rate, &fields! {"rate" => 600}, &md));
    s.apply(&EventRef::new(2, &rate, &fields! {"rate" => "inf"}, &md));
    s.apply(&EventRef::new(
        3,
        &rate,
        &fields! {"rate" => rookery::telemetry::Value::Null},
        &md,
    ));
    s.apply(&EventRef::new(4, &rate, &fields! {"rate" => -5}, &md));
    assert_eq!(
        s.throttle("t").unwrap().rate(),
        Some(RateReading::Finite(600.0))
    );
    let msgs: Vec<&str> = s.warnings().iter().map(|w| w.msg.as_str()).collect();
    assert_eq!(msgs.len(), 3, "{msgs:?}");
    assert!(msgs[0].contains("\"inf\""), "{msgs:?}");
    assert!(msgs[1].contains("null"), "{msgs:?}");
    assert!(msgs[2].contains("-5"), "{msgs:?}");
}

fn log_file(lines: &[&str]) -> tempfile::NamedTempFile {
    let mut f = tempfile::Builder::new()
        .suffix(".jsonl")
        .tempfile()
        .unwrap();
    writeln!(
        f,
        r#"{{"rookery_log":1,"started_at":"2026-11-21T10:00:00Z"}}"#
    )
    .unwrap();
    for l in lines {
        writeln!(f, "{l}").unwrap();
    }
    f
}

#[test]
fn a_dot_inside_a_name_segment_is_refused_with_file_and_line() {
    let f = log_file(&[
        r#"{"t_us":1,"event":["amoc","throttle","request"],"measurements":{},"metadata":{}}"#,
        r#"{"t_us":2,"event":["amoc.throttle","request"],"measurements":{},"metadata":{}}"#,
    ]);
    let mut r = LogReader::open(f.path(), ReadOptions::default()).unwrap();
    assert!(r.next().unwrap().is_some());
    let err = r.next().expect_err("refused").to_string();
    assert!(err.contains(&format!("{}:3", f.path().display())), "{err}");
    assert!(err.contains('.'), "{err}");
    // And at run time, the same rule.
    assert!(rookery::telemetry::EventName::new(&["a.b"]).is_err());
}

#[test]
fn a_replay_for_the_screen_lists_the_reader_warnings() {
    let f = log_file(&[
        r#"{"t_us":5,"event":["x"],"measurements":{},"metadata":{}}"#,
        r#"{"t_us":3,"event":["x"],"measurements":{},"metadata":{}}"#,
        r#"not json"#,
    ]);
    // A cut last line (no newline): the recorder was killed.
    let mut f = f;
    write!(f, r#"{{"t_us":9,"event":["x"],"measurem"#).unwrap();
    f.flush().unwrap();
    let paths = vec![f.path().to_path_buf()];
    let opts = ReadOptions {
        skip_bad_lines: true,
    };
    let mut shown = MonitorState::new();
    Replay::open(&paths, opts, Speed::Max, std::time::Instant::now())
        .unwrap()
        .with_warning_events()
        .run_to_end(&mut shown)
        .unwrap();
    let msgs: Vec<&str> = shown
        .warnings()
        .iter()
        .filter(|w| w.event == LOG_WARNING.get())
        .map(|w| w.msg.as_str())
        .collect();
    assert_eq!(msgs.len(), 3, "{msgs:?}");
    assert!(msgs[0].contains("clamped"), "{msgs:?}");
    assert!(msgs[1].contains("skipped"), "{msgs:?}");
    assert!(msgs[2].contains("truncated"), "{msgs:?}");
    // The headless replay prints them instead: its state has none.
    let mut headless = MonitorState::new();
    Replay::open(&paths, opts, Speed::Max, std::time::Instant::now())
        .unwrap()
        .run_to_end(&mut headless)
        .unwrap();
    assert!(headless.warnings().is_empty());
    assert_eq!(headless.count(rookery::event_name!("x")), 2);
}
