//! A long add never blocks the others: adding 10,000,000 users answers at once and spawns them
//! in chunks; node operations, status queries and `stop` answer at once while it runs, and a
//! stop ends the add (the ids not spawned yet are never used).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use rookery::engine::{ControllerStatus, EngineHandle, EngineOptions, UserRate, boxed};
use rookery::telemetry::Telemetry;

#[path = "engine_support.rs"]
mod support;

use support::Counted;

const TEN_MILLION: u64 = 10_000_000;

fn engine(nodes: usize) -> EngineHandle {
    EngineHandle::start(EngineOptions {
        nodes,
        telemetry: Telemetry::new(),
        user_rate: UserRate::Infinity,
        ..EngineOptions::default()
    })
    .expect("inside a runtime")
}

/// The two tests spawn millions of users each: run them one at a time, so that neither one's
/// wall-clock bounds measure the other's load.
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// Runs `f` and checks it answered within `bound` of wall-clock time.
fn answers_within<T>(what: &str, bound: Duration, f: impl FnOnce() -> T) -> T {
    let t0 = Instant::now();
    let out = f();
    let took = t0.elapsed();
    assert!(took <= bound, "{what} took {took:?} during the add");
    out
}

#[tokio::test(start_paused = true)]
async fn during_a_ten_million_user_add_commands_answer_at_once_and_stop_ends_it() {
    let _one_at_a_time = SERIAL.lock().await;
    let started = Arc::new(AtomicU64::new(0));
    let e = engine(3);
    e.start_scenario(boxed(Counted(started.clone())), UserRate::Infinity)
        .unwrap();
    let virtual_t0 = tokio::time::Instant::now();
    // The proof is that virtual time never moves (below); the wall-clock bound only catches
    // a call doing work proportional to the add, with room for a loaded machine.
    let bound = Duration::from_millis(250);
    answers_within("add_users", bound, || e.add_users(TEN_MILLION).unwrap());
    // Let the add's tasks spawn a couple of chunks.
    for _ in 0..2 {
        tokio::task::yield_now().await;
    }
    let during = started.load(Ordering::Relaxed);
    assert!(
        during > 0 && during < TEN_MILLION,
        "{during} users started so far"
    );
    let nodes = answers_within("nodes", bound, || e.nodes());
    assert!(matches!(nodes[1].status, ControllerStatus::Running(_)));
    let counts = answers_within("user_counts", bound, || e.user_counts());
    assert_eq!(
        counts.highest_user_id, TEN_MILLION,
        "the ids are given out at once"
    );
    assert_eq!(
        counts.waiting + counts.running,
        TEN_MILLION,
        "users not spawned yet count as waiting"
    );
    let late = answers_within("add_node", bound, || e.add_node().unwrap());
    answers_within("node_status", bound, || e.node_status(&late).unwrap());
    answers_within("stop", bound, || e.stop().unwrap());
    assert_eq!(
        tokio::time::Instant::now(),
        virtual_t0,
        "no command waited (in virtual time)"
    );
    e.wait_finished(Duration::from_secs(5)).await.unwrap();
    let total = started.load(Ordering::Relaxed);
    assert!(
        total < 200_000,
        "the stop ended the add: {total} of {TEN_MILLION} users ever started"
    );
    let after = e.user_counts();
    assert_eq!(after.waiting + after.running, 0, "{after:?}");
    for n in e.nodes() {
        assert_eq!(
            n.status,
            ControllerStatus::Finished("counted".into()),
            "{}",
            n.name
        );
    }
}

/// The same on a real multi-threaded runtime, with generous bounds.
#[test]
fn in_real_time_a_stop_during_a_ten_million_user_add_acts_at_once() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let _one_at_a_time = SERIAL.lock().await;
        let started = Arc::new(AtomicU64::new(0));
        let e = engine(3);
        e.start_scenario(boxed(Counted(started.clone())), UserRate::Infinity)
            .unwrap();
        let bound = Duration::from_millis(1000);
        answers_within("add_users", bound, || e.add_users(TEN_MILLION).unwrap());
        tokio::time::sleep(Duration::from_millis(20)).await;
        answers_within("nodes", bound, || e.nodes());
        answers_within("add_node", bound, || e.add_node().unwrap());
        answers_within("stop", Duration::from_secs(2), || e.stop().unwrap());
        let t0 = Instant::now();
        e.wait_finished(Duration::from_secs(30)).await.unwrap();
        let finished_in = t0.elapsed();
        let total = started.load(Ordering::Relaxed);
        assert!(
            total < TEN_MILLION / 2,
            "the stop ended the add: {total} users ever started"
        );
        assert!(
            finished_in < Duration::from_secs(20),
            "the stop took {finished_in:?}"
        );
    });
}
