//! Names read from logs cannot grow the process without bound (issue 12.7 / 13.8): past
//! `LOG_NAME_BUDGET` new names, events read as `rookery.other.event`, counted, with a warning.
//! Alone in its binary: the budget is process-wide.

use std::io::Write;

use rookery::eventlog::{LOG_NAME_BUDGET, LogReader, OTHER_NAME, ReadOptions};
use rookery::monitor::MonitorState;

#[test]
fn distinct_names_past_the_budget_become_one_other_name() {
    let mut f = tempfile::Builder::new()
        .suffix(".jsonl")
        .tempfile()
        .unwrap();
    writeln!(
        f,
        r#"{{"rookery_log":1,"started_at":"2026-11-21T10:00:00Z"}}"#
    )
    .unwrap();
    let n = LOG_NAME_BUDGET + 100;
    for i in 0..n {
        writeln!(
            f,
            r#"{{"t_us":{i},"event":["hostile","n{i}"],"measurements":{{}},"metadata":{{}}}}"#
        )
        .unwrap();
    }
    f.flush().unwrap();
    let mut r = LogReader::open(f.path(), ReadOptions::default()).unwrap();
    let mut s = MonitorState::new();
    let mut ev = rookery::monitor::LoggedEvent::placeholder();
    while r.next_into(&mut ev).unwrap() {
        s.apply(&ev.as_ref());
    }
    let stats = r.stats();
    assert_eq!(stats.events, n as u64);
    assert!(stats.other_names >= 100, "{}", stats.other_names);
    assert_eq!(s.count(OTHER_NAME.get()), stats.other_names);
    assert!(
        stats
            .warnings
            .iter()
            .any(|w| w.contains("distinct event names")),
        "{:?}",
        stats.warnings
    );
    // A name already known still reads as itself.
    assert_eq!(s.count(rookery::event_name!("hostile", "n0")), 1);
}
