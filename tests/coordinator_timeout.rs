//! Timeouts and resets under virtual time (amoc_coordinator_SUITE: reset_plan_without_timeout,
//! execute_plan_with_timeout).

mod coordinator_support;

use std::time::Duration;

use coordinator_support::{Call, Recorder, add_users, notifications, setup, times};
use rookery::engine::coordinator::{EventKind, Plan, Size};
use rookery::telemetry::Value;
use tokio::time::sleep;

use Call::{Batch, Event, Pair};
use EventKind::{Reset, Stop, Timeout};

const SECOND: Duration = Duration::from_secs(1);

/// The plan of Amoc's timeout and reset cases: `[{2,[f2,f1]}, {3,f3}, {all,[f2,f1]}]`.
fn plan(r: &Recorder) -> Plan<Value> {
    Plan::new()
        .item(2, [r.batch("2:f2"), r.event("2:f1")])
        .item(3, r.pairs("3:f3"))
        .item(Size::All, [r.batch("all:f2"), r.event("all:f1")])
}

/// The calls every item makes for a reset, timeout or stop after `n` adds numbered `first..`.
fn leftovers(kind: EventKind, first: u64, n: u64) -> Vec<Call> {
    let users: Vec<u64> = (first..first + n).collect();
    let r2 = &users[(n - n % 2) as usize..];
    let r3 = &users[(n - n % 3) as usize..];
    let pairs = match r3 {
        [] => vec![Pair("3:f3", kind, 0, None, None)],
        [a] => vec![Pair("3:f3", kind, 1, Some(*a), None)],
        [a, b] => vec![Pair("3:f3", kind, 2, Some(*a), Some(*b))],
        _ => unreachable!(),
    };
    let mut calls = vec![
        Batch("2:f2", kind, r2.len(), r2.to_vec()),
        Event("2:f1", kind, r2.len()),
    ];
    calls.extend(pairs);
    calls.push(Batch("all:f2", kind, n as usize, users.clone()));
    calls.push(Event("all:f1", kind, n as usize));
    calls
}

fn only(calls: Vec<Call>, kind: EventKind) -> Vec<Call> {
    calls
        .into_iter()
        .filter(|c| match c {
            Event(_, k, _) | Batch(_, k, ..) | Pair(_, k, ..) => *k == kind,
        })
        .collect()
}

#[tokio::test(start_paused = true)]
async fn execute_plan_with_timeout() {
    let (c, events) = setup();
    let r = Recorder::default();
    c.start("timeout", plan(&r), Some(SECOND)).unwrap();

    // No timeout while nothing was added.
    sleep(2 * SECOND).await;
    assert!(r.take().is_empty());

    add_users(&c, "timeout", 1, 7);
    sleep(SECOND - Duration::from_millis(1)).await;
    assert!(only(r.take(), Timeout).is_empty(), "not before 1 s");
    sleep(Duration::from_millis(2)).await;
    assert_eq!(r.take(), leftovers(Timeout, 1, 7));
    sleep(2 * SECOND).await;
    assert!(r.take().is_empty(), "the timeout fires once");

    add_users(&c, "timeout", 8, 15);
    sleep(SECOND + Duration::from_millis(1)).await;
    assert_eq!(only(r.take(), Timeout), leftovers(Timeout, 8, 8));
    sleep(2 * SECOND).await;
    assert!(r.take().is_empty());

    c.stop("timeout").unwrap();
    assert_eq!(r.take(), leftovers(Stop, 16, 0));

    let mut expected = vec!["start".to_string()];
    expected.extend(times(7, "add"));
    expected.push("timeout".into());
    expected.extend(times(8, "add"));
    expected.push("timeout".into());
    expected.push("stop".into());
    assert_eq!(notifications(&events.drain(), "timeout"), expected);
}

#[tokio::test(start_paused = true)]
async fn reset_plan_without_timeout() {
    let (c, events) = setup();
    let r = Recorder::default();
    c.start("reset", plan(&r), Some(SECOND)).unwrap();

    add_users(&c, "reset", 1, 5);
    r.take();
    c.reset("reset").unwrap();
    assert_eq!(r.take(), leftovers(Reset, 1, 5));
    sleep(2 * SECOND).await;
    assert!(r.take().is_empty(), "reset disarms the timeout");

    add_users(&c, "reset", 6, 11);
    r.take();
    c.reset("reset").unwrap();
    assert_eq!(r.take(), leftovers(Reset, 6, 6));
    c.reset("reset").unwrap();
    assert_eq!(r.take(), leftovers(Reset, 12, 0));
    sleep(2 * SECOND).await;
    assert!(r.take().is_empty());

    c.stop("reset").unwrap();
    assert_eq!(r.take(), leftovers(Stop, 12, 0));

    let mut expected = vec!["start".to_string()];
    expected.extend(times(5, "add"));
    expected.push("reset".into());
    expected.extend(times(6, "add"));
    expected.extend(times(2, "reset"));
    expected.push("stop".into());
    assert_eq!(notifications(&events.drain(), "reset"), expected);
}

#[tokio::test(start_paused = true)]
async fn the_timeout_counts_from_the_last_add() {
    let (c, _events) = setup();
    let r = Recorder::default();
    c.start(
        "last",
        Plan::new().item(Size::All, r.event("all")),
        Some(SECOND),
    )
    .unwrap();
    let start = tokio::time::Instant::now();
    add_users(&c, "last", 1, 1);
    sleep(Duration::from_millis(600)).await;
    add_users(&c, "last", 2, 2);
    sleep(Duration::from_millis(600)).await;
    add_users(&c, "last", 3, 3);
    // Last add at 1.2 s: the timeout is due at 2.2 s, not at 1 s or 1.6 s.
    sleep(Duration::from_millis(999)).await;
    assert!(r.take().is_empty(), "nothing before {:?}", start.elapsed());
    sleep(Duration::from_millis(2)).await;
    assert_eq!(r.take(), vec![Event("all", Timeout, 3)]);
    assert_eq!(c.info("last").unwrap().timeouts, 1);
}

#[tokio::test(start_paused = true)]
async fn a_reset_then_add_rearms_from_the_new_add() {
    let (c, _events) = setup();
    let r = Recorder::default();
    c.start(
        "rearm",
        Plan::new().item(Size::All, r.event("all")),
        Some(SECOND),
    )
    .unwrap();
    add_users(&c, "rearm", 1, 2);
    sleep(Duration::from_millis(500)).await;
    c.reset("rearm").unwrap();
    sleep(Duration::from_millis(300)).await;
    add_users(&c, "rearm", 3, 3);
    assert_eq!(r.take(), vec![Event("all", Reset, 2)]);
    // The disarmed deadline (1 s) passes quietly; the new one is 1.8 s.
    sleep(Duration::from_millis(900)).await;
    assert!(r.take().is_empty());
    sleep(Duration::from_millis(200)).await;
    assert_eq!(r.take(), vec![Event("all", Timeout, 1)]);
}

#[tokio::test(start_paused = true)]
async fn the_default_timeout_is_30_seconds_and_stop_cancels_it() {
    let (c, _events) = setup();
    let r = Recorder::default();
    c.start_default("default", Plan::new().item(Size::All, r.event("all")))
        .unwrap();
    assert_eq!(
        c.info("default").unwrap().timeout,
        Some(Duration::from_secs(30))
    );
    add_users(&c, "default", 1, 1);
    sleep(Duration::from_secs(29)).await;
    assert!(r.take().is_empty());
    sleep(Duration::from_secs(2)).await;
    assert_eq!(r.take(), vec![Event("all", Timeout, 1)]);

    add_users(&c, "default", 2, 2);
    c.stop("default").unwrap();
    sleep(Duration::from_secs(60)).await;
    assert_eq!(
        r.take(),
        vec![Event("all", Stop, 1)],
        "no timeout after stop"
    );
}

/// Adds racing with the timer on a multi-threaded runtime: every user is handed over exactly
/// once (by a batch or a timeout), and after the last add a timeout always follows.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn adds_racing_the_timer_are_never_lost() {
    use rookery::engine::coordinator::Action;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicU64, Ordering};

    let (c, _events) = setup();
    let delivered = Arc::new(AtomicU64::new(0));
    let timeouts_with_users = Arc::new(AtomicU64::new(0));
    let (d, t) = (delivered.clone(), timeouts_with_users.clone());
    let plan = Plan::new().item(
        7,
        Action::batch(move |ev, batch| {
            assert_eq!(ev.count, batch.len());
            d.fetch_add(batch.len() as u64, Ordering::SeqCst);
            if ev.kind == Timeout && ev.count > 0 {
                t.fetch_add(1, Ordering::SeqCst);
            }
        }),
    );
    c.start("race", plan, Some(Duration::from_millis(2)))
        .unwrap();
    let mut tasks = Vec::new();
    for w in 0..4u64 {
        let c = c.clone();
        tasks.push(tokio::spawn(async move {
            for i in 0..2_000u64 {
                c.add("race", w * 10_000 + i, Value::Null).unwrap();
                if i % 97 == 0 {
                    // Pause now and then so the timeout fires in the middle of the adds.
                    tokio::time::sleep(Duration::from_millis(3)).await;
                }
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    // The timeout is 2 ms; allow a generous second for the last one to fire.
    let deadline = tokio::time::Instant::now() + SECOND;
    while c.info("race").unwrap().items[0].pending > 0 && tokio::time::Instant::now() < deadline {
        sleep(Duration::from_millis(5)).await;
    }
    let info = c.info("race").unwrap();
    assert_eq!(info.items[0].pending, 0, "a timeout followed the last add");
    assert_eq!(delivered.load(Ordering::SeqCst), 8_000);
    assert!(timeouts_with_users.load(Ordering::SeqCst) >= 1);
    assert_eq!(info.adds, 8_000);
}
