//! Batches, pairs, ranges, failing actions and the exact execute events
//! (amoc_coordinator_SUITE: execute_plan_without_timeout, execute_with_range_without_timeout,
//! failing_action_does_not_kill_the_worker).

mod coordinator_support;

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use coordinator_support::{Call, Recorder, add_users, data, executes, notifications, setup, times};
use rookery::engine::coordinator::{Action, EventKind, Plan, Size};
use rookery::telemetry::Value;

use Call::{Batch, Event, Pair};
use EventKind::{Coordinate, Stop};

#[test]
fn execute_plan_without_timeout() {
    let (c, events) = setup();
    let r = Recorder::default();
    // Amoc: [{2,[f2,f1]}, {4,[f3,f1]}, {all,[f2,f1]}, {3,f1}, {all,f1}], timeout infinity.
    let plan = Plan::new()
        .item(2, [r.batch("2:f2"), r.event("2:f1")])
        .item(4, [r.pairs("4:f3"), r.event("4:f1")])
        .item(Size::All, [r.batch("all1:f2"), r.event("all1:f1")])
        .item(3, r.event("3:f1"))
        .item(Size::All, r.event("all2:f1"));
    c.start("testing", plan, None).unwrap();
    add_users(&c, "testing", 1, 4);
    let mut calls = r.take();
    // Coordinate batches run on the adding thread, in add order here.
    assert_eq!(
        calls,
        vec![
            Batch("2:f2", Coordinate, 2, vec![1, 2]),
            Event("2:f1", Coordinate, 2),
            Event("3:f1", Coordinate, 3),
            Batch("2:f2", Coordinate, 2, vec![3, 4]),
            Event("2:f1", Coordinate, 2),
            Pair("4:f3", Coordinate, 4, Some(1), Some(2)),
            Pair("4:f3", Coordinate, 4, Some(1), Some(3)),
            Pair("4:f3", Coordinate, 4, Some(1), Some(4)),
            Pair("4:f3", Coordinate, 4, Some(2), Some(3)),
            Pair("4:f3", Coordinate, 4, Some(2), Some(4)),
            Pair("4:f3", Coordinate, 4, Some(3), Some(4)),
            Event("4:f1", Coordinate, 4),
        ]
    );
    c.stop("testing").unwrap();
    calls = r.take();
    assert_eq!(
        calls,
        vec![
            Batch("2:f2", Stop, 0, vec![]),
            Event("2:f1", Stop, 0),
            Pair("4:f3", Stop, 0, None, None),
            Event("4:f1", Stop, 0),
            Event("3:f1", Stop, 1),
            Batch("all1:f2", Stop, 4, vec![1, 2, 3, 4]),
            Event("all1:f1", Stop, 4),
            Event("all2:f1", Stop, 4),
        ]
    );
    let got = events.drain();
    let mut expected = vec!["start".to_string()];
    expected.extend(times(4, "add"));
    expected.push("stop".into());
    assert_eq!(notifications(&got, "testing"), expected);
}

#[test]
fn execute_events_carry_event_count_name_and_configured() {
    let (c, events) = setup();
    let r = Recorder::default();
    let plan = Plan::new()
        .item(2, r.event("two"))
        .item(Size::All, r.event("all"));
    c.start("exec", plan, None).unwrap();
    add_users(&c, "exec", 1, 3);
    c.stop("exec").unwrap();
    let got = events.drain();
    for e in got
        .iter()
        .filter(|e| e.name.dotted() == "amoc.coordinator.execute")
    {
        assert_eq!(
            e.metadata.iter().find(|f| f.0 == "name").unwrap().1,
            "exec".into()
        );
        assert!(e.metadata.iter().any(|f| f.0 == "node"));
    }
    assert_eq!(
        executes(&got),
        vec![
            ("coordinate".into(), 2, Value::Int(2)),
            ("stop".into(), 1, Value::Int(2)),
            ("stop".into(), 3, Value::atom("all")),
        ]
    );
}

#[test]
fn a_lone_user_is_paired_with_none() {
    let (c, _events) = setup();
    let r = Recorder::default();
    c.start("lone", Plan::new().item(2, r.pairs("p")), None)
        .unwrap();
    add_users(&c, "lone", 1, 3);
    c.stop("lone").unwrap();
    assert_eq!(
        r.take(),
        vec![
            Pair("p", Coordinate, 2, Some(1), Some(2)),
            Pair("p", Stop, 1, Some(3), None),
        ]
    );
}

#[test]
fn execute_with_range_without_timeout() {
    let (c, events) = setup();
    let r = Recorder::default();
    let plan = Plan::new()
        .item(5..=10, r.batch("range"))
        .item(Size::All, r.event("all"));
    c.start("range", plan, None).unwrap();
    add_users(&c, "range", 1, 20);
    c.stop("range").unwrap();
    let calls = r.take();
    // Every user lands in exactly one range batch, in order; coordinate batches are 5..=10.
    let mut seen: Vec<u64> = Vec::new();
    let mut coordinates = 0;
    for call in &calls[..calls.len() - 1] {
        let Batch("range", kind, n, users) = call else {
            panic!("unexpected {call:?}")
        };
        assert_eq!(*n, users.len());
        if *kind == Coordinate {
            assert!((5..=10).contains(n), "batch of {n}");
            coordinates += 1;
        } else {
            assert_eq!(*kind, Stop);
            assert!(*n < 10);
        }
        seen.extend(users.iter().copied());
    }
    assert!((2..=4).contains(&coordinates), "{coordinates} batches");
    assert_eq!(seen, (1..=20).collect::<Vec<_>>());
    assert_eq!(calls.last(), Some(&Event("all", Stop, 20)), "all runs last");
    // The execute event of a range reports the drawn size.
    for (event, count, configured) in executes(&events.drain()) {
        if event == "coordinate" {
            assert_eq!(configured, Value::Int(count));
        }
    }
}

#[test]
fn ranges_include_both_ends() {
    let (c, _events) = setup();
    let r = Recorder::default();
    c.start("ends", Plan::new().item(2..=4, r.event("r")), None)
        .unwrap();
    add_users(&c, "ends", 1, 9000);
    let info = c.info("ends").unwrap();
    let sizes: Vec<usize> = info.items[0].batch_sizes.iter().map(|s| s.0).collect();
    // Amoc's code would never draw 4; each size has probability 1/3 per batch here.
    assert_eq!(sizes, [2, 3, 4]);
    let users: u64 = info.items[0]
        .batch_sizes
        .iter()
        .map(|(s, n)| *s as u64 * n)
        .sum();
    assert_eq!(users + info.items[0].pending as u64, 9000);
    assert_eq!(info.executes.coordinate.users, users);
}

#[test]
fn a_range_of_one_size_is_that_size() {
    let (c, _events) = setup();
    let r = Recorder::default();
    c.start("same", Plan::new().item(3..=3, r.event("r")), None)
        .unwrap();
    add_users(&c, "same", 1, 9);
    assert_eq!(r.take(), vec![Event("r", Coordinate, 3); 3]);
}

#[test]
fn failing_action_does_not_kill_the_coordinator() {
    rookery::telemetry::guard::install_panic_hook();
    let (c, _events) = setup();
    let r = Recorder::default();
    let panics = Arc::new(AtomicU64::new(0));
    let p = panics.clone();
    let boom: Action<Value> = Action::event(move |ev| {
        p.fetch_add(1, Ordering::SeqCst);
        if ev.count == 2 {
            panic!("failing action");
        }
    });
    let plan = Plan::new()
        .item(2, [boom, r.event("after")])
        .item(Size::All, r.event("all"));
    c.start("failing", plan, None).unwrap();
    add_users(&c, "failing", 1, 5);
    c.reset("failing").unwrap();
    add_users(&c, "failing", 6, 7);
    // The panicking action did not stop the next action nor later batches.
    assert_eq!(
        r.take(),
        vec![
            Event("after", Coordinate, 2),
            Event("after", Coordinate, 2),
            Event("after", EventKind::Reset, 1),
            Event("all", EventKind::Reset, 5),
            Event("after", Coordinate, 2),
        ]
    );
    assert_eq!(panics.load(Ordering::SeqCst), 4);
    let info = c.info("failing").unwrap();
    assert!(info.running);
    assert_eq!(info.items[0].action_failures, 3);
}

#[test]
fn info_counts_adds_executes_and_pending() {
    let (c, _events) = setup();
    let r = Recorder::default();
    let plan = Plan::new()
        .item(3, r.event("three"))
        .item(Size::All, r.event("all"));
    c.start("info", plan, None).unwrap();
    add_users(&c, "info", 1, 7);
    let info = c.info("info").unwrap();
    assert_eq!(info.adds, 7);
    assert_eq!(info.executes.coordinate.runs, 2);
    assert_eq!(info.executes.coordinate.users, 6);
    assert_eq!(info.items[0].pending, 1);
    assert_eq!(info.items[0].current_size, Some(3));
    assert_eq!(info.items[1].pending, 7);
    assert_eq!(info.items[1].current_size, None);
    c.reset("info").unwrap();
    let info = c.info("info").unwrap();
    assert_eq!(info.resets, 1);
    assert_eq!(info.executes.reset.runs, 2);
    assert_eq!(info.executes.reset.users, 8);
    assert_eq!(info.items[1].pending, 0);
}

#[test]
fn concurrent_adds_deliver_every_pair_exactly_once() {
    let (c, _events) = setup();
    let seen: Arc<Vec<AtomicU64>> = Arc::new((0..40_000).map(|_| AtomicU64::new(0)).collect());
    let s = seen.clone();
    let plan = Plan::new().item(
        2,
        Action::pairs(move |_, a, b| {
            for m in [a, b].into_iter().flatten() {
                assert_eq!(m.data, data(m.user));
                s[m.user as usize].fetch_add(1, Ordering::SeqCst);
            }
        }),
    );
    c.start("conc", plan, None).unwrap();
    std::thread::scope(|scope| {
        for t in 0..4u64 {
            let c = c.clone();
            scope.spawn(move || {
                for i in 0..10_000u64 {
                    let u = t * 10_000 + i;
                    c.add("conc", u, data(u)).unwrap();
                }
            });
        }
    });
    c.stop("conc").unwrap();
    let counts: HashMap<u64, usize> = seen.iter().fold(HashMap::new(), |mut m, n| {
        *m.entry(n.load(Ordering::SeqCst)).or_default() += 1;
        m
    });
    assert_eq!(counts, HashMap::from([(1, 40_000)]));
    let info = c.info("conc").unwrap();
    assert_eq!(info.executes.coordinate.runs, 20_000);
    assert_eq!(info.executes.stop.users, 0);
}
