//! Users on threads of their own (`EngineOptions::user_threads`): user `id` runs on thread
//! `rookery-users-{id % N}`, and so do the tasks it spawns; panics, failures, removals, stops
//! and forced cancellations are counted as they are on the engine's runtime; dropping the
//! engine ends the threads.
//!
//! The tests take turns (`one_engine`): one of them counts the process's user threads.

#[path = "engine_support.rs"]
mod support;
mod thread_support;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use rookery::engine::{
    EngineHandle, EngineOptions, InitContext, Scenario, ScenarioError, UserContext, UserRate,
    UserResult, boxed,
};
use rookery::telemetry::{Telemetry, Value};
use support::Behaviour;

fn one_engine() -> MutexGuard<'static, ()> {
    static ONE: Mutex<()> = Mutex::new(());
    ONE.lock().unwrap_or_else(|p| p.into_inner())
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a runtime")
}

fn engine(t: &Telemetry, threads: usize, grace: Duration) -> EngineHandle {
    EngineHandle::start(EngineOptions {
        nodes: 2,
        telemetry: t.clone(),
        user_rate: UserRate::Infinity,
        grace,
        user_threads: threads,
        ..EngineOptions::default()
    })
    .expect("inside a runtime")
}

fn this_thread() -> String {
    std::thread::current().name().unwrap_or("?").to_owned()
}

type Seen = Arc<Mutex<BTreeMap<u64, (String, String)>>>;

/// Records where each user runs and where a task it spawns runs; odd users panic after that,
/// even ones wait to be removed.
struct Where(Seen);

impl Scenario for Where {
    type State = ();
    fn name(&self) -> &str {
        "where"
    }
    fn init(&self, _ctx: &InitContext<'_>) -> Result<(), ScenarioError> {
        Ok(())
    }
    async fn start(&self, user: UserContext, _state: Arc<()>) -> UserResult {
        let spawned = tokio::spawn(async { this_thread() })
            .await
            .expect("the spawned task ends");
        self.0
            .lock()
            .unwrap()
            .insert(user.user_id(), (this_thread(), spawned));
        if user.user_id() % 2 == 1 {
            panic!("user {} crashed on purpose", user.user_id());
        }
        user.removed().await;
        Ok(Value::atom("ok"))
    }
}

#[test]
fn users_run_on_the_thread_of_their_id_with_the_tasks_they_spawn() {
    let _one = one_engine();
    let rt = runtime();
    rt.block_on(async {
        let t = Telemetry::new();
        let e = engine(&t, 3, Duration::from_secs(2));
        let seen: Seen = Arc::default();
        e.start_scenario(boxed(Where(seen.clone())), UserRate::Infinity)
            .expect("starts");
        e.add_users(12).expect("adds");
        e.wait_for("6 running, 6 failed", Duration::from_secs(10), |h| {
            let c = h.user_counts();
            c.running == 6 && c.failed == 6
        })
        .await
        .expect("every user started; the odd ones panicked");
        let seen = seen.lock().unwrap().clone();
        assert_eq!(seen.len(), 12);
        for (id, (user, spawned)) in seen {
            let want = format!("rookery-users-{}", id % 3);
            assert_eq!(user, want, "user {id}");
            assert_eq!(spawned, want, "the task user {id} spawned");
        }
        // The threads that saw panics still serve: removal reaches the even users.
        assert_eq!(e.remove_users(6, false).expect("removes"), 6);
        e.wait_for("nobody running", Duration::from_secs(10), |h| {
            let c = h.user_counts();
            c.running == 0 && c.returned == 6
        })
        .await
        .expect("the even users returned when removed");
    });
}

#[test]
fn a_stop_cancels_users_that_ignore_removal_after_the_grace_period() {
    let _one = one_engine();
    let rt = runtime();
    rt.block_on(async {
        let t = Telemetry::new();
        let e = engine(&t, 2, Duration::from_millis(200));
        e.start_scenario(
            support::scenario("stubborn", Behaviour::IgnoreRemoval),
            UserRate::Infinity,
        )
        .expect("starts");
        e.add_users(8).expect("adds");
        e.wait_for("8 running", Duration::from_secs(10), |h| {
            h.user_counts().running == 8
        })
        .await
        .expect("they run");
        e.stop().expect("stops");
        e.wait_finished(Duration::from_secs(10))
            .await
            .expect("the stop ends once the grace period cancelled them");
        let c = e.user_counts();
        assert_eq!((c.running, c.cancelled), (0, 8), "{c:?}");
    });
}

#[test]
fn dropping_the_engine_ends_its_user_threads() {
    let _one = one_engine();
    let rt = runtime();
    rt.block_on(async {
        let t = Telemetry::new();
        let e = engine(&t, 2, Duration::from_secs(2));
        assert_eq!(
            thread_support::threads_where(|n| n.starts_with("rookery-users-")),
            2
        );
        support::run_users(&e, 4).await;
        e.shutdown();
        drop(e);
    });
    drop(rt);
    assert_eq!(
        thread_support::threads_where(|n| n.starts_with("rookery-users-")),
        0,
        "the pool's threads end with the engine"
    );
}
