//! No engine lock is held while an event is emitted or scenario code runs: a telemetry handler
//! on every event family calls every read method of the `EngineHandle` and several commands,
//! while a run adds and removes users, adds, kills and stops nodes, and changes throttles.
//! Nothing deadlocks (the run happens on its own thread and must end within a generous bound)
//! and the results are sensible.

#[path = "engine_support.rs"]
mod support;

use std::cell::Cell;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use rookery::engine::coordinator::{Action, Plan};
use rookery::engine::throttle::{Rate, ThrottleConfig};
use rookery::engine::{
    ControllerStatus, EngineHandle, EngineOptions, InitContext, Scenario, ScenarioError,
    UserContext, UserRate, UserResult, boxed,
};
use rookery::telemetry::{Telemetry, Value};

/// Users pass the `messages` throttle and meet in pairs, then wait to be removed.
struct Meet;

impl Scenario for Meet {
    type State = ();

    fn name(&self) -> &str {
        "meet"
    }

    fn init(&self, ctx: &InitContext<'_>) -> Result<(), ScenarioError> {
        let _ = ctx
            .throttles()
            .start("messages", ThrottleConfig::new(Rate::Finite(100_000), 1000));
        let _ = ctx.coordinators().start(
            "pairs",
            Plan::new().item(2, Action::pairs(|_, _, _| {})),
            None,
        );
        Ok(())
    }

    async fn start(&self, user: UserContext, _state: Arc<()>) -> UserResult {
        user.throttles()
            .wait("messages")
            .await
            .map_err(|e| ScenarioError::new(e.to_string()))?;
        let _ = user
            .coordinators()
            .add("pairs", user.user_id(), Value::Null);
        user.removed().await;
        Ok(Value::atom("ok"))
    }
}

thread_local! {
    /// Handler nesting on this thread (a handler's own calls emit events too).
    static DEPTH: Cell<u32> = const { Cell::new(0) };
}

/// Every read method of the handle.
fn read_everything(e: &EngineHandle) {
    let nodes = e.nodes();
    let counts = e.user_counts();
    assert!(
        counts.highest_user_id
            >= nodes
                .iter()
                .map(|n| n.users.highest_user_id)
                .max()
                .unwrap_or(0)
    );
    let _ = e.user_rate();
    let _ = e.master();
    let _ = e.scenarios();
    let _ = e.telemetry();
    for n in &nodes {
        let _ = e.node_status(&n.name);
    }
    let _ = e.services().throttles().list();
    let _ = e.services().coordinators().list();
    if let Some(config) = e.services().config() {
        let _ = config.list();
    }
    let _ = format!("{e:?}");
}

/// Commands a handler sends once each, from the event named.
struct Once {
    add_node: AtomicBool,
    rate: AtomicBool,
    add_users: AtomicBool,
    remove: AtomicBool,
    throttle: AtomicBool,
    reset: AtomicBool,
}

fn once(flag: &AtomicBool) -> bool {
    !flag.swap(true, Ordering::SeqCst)
}

#[test]
fn handlers_on_every_event_may_call_the_engine() {
    let (done_tx, done_rx) = std::sync::mpsc::channel();
    let calls: Arc<Mutex<BTreeMap<String, u64>>> = Arc::default();
    let seen = calls.clone();
    let worker = std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("a runtime");
        let t = Telemetry::new();
        let engine: Arc<OnceLock<EngineHandle>> = Arc::default();
        let handle = engine.clone();
        let flags = Arc::new(Once {
            add_node: AtomicBool::new(false),
            rate: AtomicBool::new(false),
            add_users: AtomicBool::new(false),
            remove: AtomicBool::new(false),
            throttle: AtomicBool::new(false),
            reset: AtomicBool::new(false),
        });
        let handled = Arc::new(AtomicU64::new(0));
        let h = handled.clone();
        let rt_handle = rt.handle().clone();
        t.attach_prefix(
            "reenter",
            &["amoc"],
            move |name, _m, _md, _cfg| {
                let Some(e) = handle.get() else {
                    return;
                };
                if DEPTH.get() >= 2 {
                    return;
                }
                DEPTH.set(DEPTH.get() + 1);
                let _rt = rt_handle.enter();
                h.fetch_add(1, Ordering::Relaxed);
                *seen
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .entry(name.dotted().to_owned())
                    .or_default() += 1;
                read_everything(e);
                match name.dotted() {
                    "amoc.controller.users" if once(&flags.add_node) => {
                        e.add_node().expect("a node joins from a handler");
                    }
                    "amoc.cluster.connect_nodes" if once(&flags.rate) => {
                        let _ = e.set_user_rate(UserRate::PerMinute(600_000));
                    }
                    "amoc.throttle.rate" if once(&flags.add_users) => {
                        let _ = e.add_users(2);
                    }
                    "amoc.scenario.start.start" if once(&flags.remove) => {
                        let _ = e.remove_users(1, false);
                    }
                    "amoc.coordinator.add" if once(&flags.throttle) => {
                        let _ = e.services().throttles().change_rate(
                            "messages",
                            ThrottleConfig::new(Rate::Finite(200_000), 1000),
                        );
                    }
                    "amoc.coordinator.execute" if once(&flags.reset) => {
                        let _ = e.services().coordinators().reset("pairs");
                    }
                    _ => {}
                }
                DEPTH.set(DEPTH.get() - 1);
            },
            Value::Null,
        )
        .expect("a fresh registry");

        let result = rt.block_on(async {
            let e = EngineHandle::start(EngineOptions {
                nodes: 3,
                telemetry: t.clone(),
                user_rate: UserRate::Infinity,
                ..EngineOptions::default()
            })
            .expect("a runtime");
            let _ = engine.set(e.clone());
            e.start_scenario(boxed(Meet), UserRate::Infinity)
                .expect("the scenario starts");
            e.add_users(40).expect("users are added");
            e.wait_for("40 users", Duration::from_secs(20), |h| {
                h.user_counts().running >= 39
            })
            .await
            .expect("users run");
            assert!(e.remove_users(5, false).expect("users leave") > 0);
            let late = e.add_node().expect("a node joins");
            e.services()
                .throttles()
                .change_rate("messages", ThrottleConfig::new(Rate::Finite(50_000), 1000))
                .expect("the rate changes");
            e.set_user_rate(UserRate::PerMinute(1_000_000))
                .expect("user_rate changes");
            e.add_users_to(&late, 3).expect("the late node takes users");
            e.kill_node("node3").expect("node3 is killed");
            e.stop_node("node2").expect("node2 stops");
            e.stop().expect("the scenario stops");
            e.wait_finished(Duration::from_secs(20))
                .await
                .expect("the scenario finishes");
            e.wait_for("node2 to leave", Duration::from_secs(20), |h| {
                !h.nodes()[1].up
            })
            .await
            .expect("node2 goes down once its users are gone");
            (e.nodes(), e.user_counts(), handled.load(Ordering::Relaxed))
        });
        let _ = done_tx.send(result);
    });
    let (nodes, counts, handled) = done_rx
        .recv_timeout(Duration::from_secs(120))
        .expect("the run ends: no handler deadlocked the engine");
    worker.join().expect("the run thread ends");

    assert!(handled > 100, "the handler ran on many events ({handled})");
    let calls = calls.lock().unwrap_or_else(|p| p.into_inner());
    for family in [
        "amoc.controller.users",
        "amoc.cluster.connect_nodes",
        "amoc.cluster.nodedown",
        "amoc.throttle.rate",
        "amoc.scenario.init.start",
        "amoc.scenario.start.start",
        "amoc.scenario.terminate.stop",
        "amoc.coordinator.add",
        "amoc.coordinator.execute",
    ] {
        assert!(
            calls.contains_key(family),
            "no handler call on {family}: {calls:?}"
        );
    }
    assert!(
        counts.highest_user_id >= 43,
        "40 + 3 users, and the handler's 2 (got {counts:?})"
    );
    let names: Vec<(&str, bool)> = nodes.iter().map(|n| (n.name.as_str(), n.up)).collect();
    assert_eq!(names[0], ("node1", true), "the master stays up");
    assert!(
        !nodes[1].up && !nodes[2].up,
        "node2 stopped, node3 killed: {names:?}"
    );
    assert!(
        nodes.len() >= 5,
        "two nodes joined (test and handler): {names:?}"
    );
    for n in nodes.iter().filter(|n| n.up && !n.master) {
        assert_eq!(
            n.status,
            ControllerStatus::Finished("meet".into()),
            "{}",
            n.name
        );
        assert_eq!(n.users.running + n.users.waiting, 0, "{}", n.name);
    }
}
