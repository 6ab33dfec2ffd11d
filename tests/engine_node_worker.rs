//! A node's long work goes to its worker task through a bounded mailbox: while the worker is
//! busy spawning a 10M-user add, the node still answers a status query and a stop, and the
//! stop reaches the worker within 50 ms (virtual time); a full mailbox is a clear error.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

#[path = "engine_support.rs"]
mod support;

use rookery::engine::{
    ControllerError, ControllerStatus, InitContext, MAILBOX, Scenario, ScenarioError, UserContext,
    UserRate, UserResult, boxed,
};
use rookery::telemetry::{Telemetry, Value};
use support::{Behaviour, controller, engine, scenario, settle};

/// Counts the users that started, then waits to be removed.
struct Counted(Arc<AtomicU64>);

impl Scenario for Counted {
    type State = ();
    fn name(&self) -> &str {
        "counted"
    }
    fn init(&self, _ctx: &InitContext<'_>) -> Result<(), ScenarioError> {
        Ok(())
    }
    async fn start(&self, user: UserContext, _state: Arc<()>) -> UserResult {
        self.0.fetch_add(1, Ordering::Relaxed);
        user.removed().await;
        Ok(Value::Null)
    }
}

#[tokio::test(start_paused = true)]
async fn a_node_busy_with_a_long_add_answers_a_status_query_and_a_stop_within_50_ms() {
    let started = Arc::new(AtomicU64::new(0));
    let e = engine(&Telemetry::new(), 2);
    e.start_scenario(boxed(Counted(started.clone())), UserRate::Infinity)
        .unwrap();
    e.add_users_to("node2", 10_000_000).unwrap();
    // The worker spawns a few chunks.
    for _ in 0..3 {
        tokio::task::yield_now().await;
    }
    let busy = started.load(Ordering::Relaxed);
    assert!(busy > 0 && busy < 1_000_000, "{busy} users started so far");
    let t0 = tokio::time::Instant::now();
    let status = e.node_status("node2").unwrap();
    assert!(matches!(status, ControllerStatus::Running(_)), "{status}");
    e.stop().unwrap();
    // The worker takes the stop before its next chunk: the add ends, the users leave and
    // `terminate` runs, all within 50 ms.
    e.wait_for("node2 finished", Duration::from_millis(50), |h| {
        h.node_status("node2").ok() == Some(ControllerStatus::Finished("counted".into()))
    })
    .await
    .unwrap();
    assert!(
        t0.elapsed() <= Duration::from_millis(50),
        "{:?}",
        t0.elapsed()
    );
    let total = started.load(Ordering::Relaxed);
    assert!(
        total < busy + 3 * 4096,
        "the add ended at the stop: {total} users started, {busy} before the stop"
    );
    let counts = e.user_counts();
    assert_eq!(counts.waiting + counts.running, 0, "{counts:?}");
}

#[tokio::test(start_paused = true)]
async fn a_full_mailbox_is_a_clear_error_not_a_hang() {
    let c = controller(&Telemetry::new(), UserRate::Infinity);
    c.start_scenario(&scenario("s", Behaviour::ObeyRemoval))
        .unwrap();
    // Nothing yields here: the worker cannot take any message meanwhile.
    for id in 1..=MAILBOX as u64 {
        c.add_users(id, id).unwrap();
    }
    let next = MAILBOX as u64 + 1;
    let refused = c.add_users(next, next).unwrap_err();
    assert_eq!(
        refused,
        ControllerError::Busy {
            node: "node1".into(),
            capacity: MAILBOX,
        }
    );
    assert!(refused.to_string().contains("mailbox is full"), "{refused}");
    // The refused add left nothing behind; once the worker caught up the same ids are taken.
    assert_eq!(c.counts().highest_user_id, MAILBOX as u64);
    assert_eq!(c.counts().waiting, MAILBOX as u64);
    settle().await;
    c.add_users(next, next).unwrap();
    settle().await;
    assert_eq!(c.counts().running, next);
    // A stop is never refused, even with the mailbox full.
    for id in next + 1..=next + MAILBOX as u64 {
        c.add_users(id, id).unwrap();
    }
    c.stop_scenario().unwrap();
    for _ in 0..10 {
        settle().await;
    }
    assert_eq!(c.status(), ControllerStatus::Finished("s".into()));
    assert_eq!(c.counts().waiting + c.counts().running, 0);
}
