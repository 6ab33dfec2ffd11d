//! The master is an actor: a thread named `master` owns the cluster's state and serves its
//! mailbox. Commands from several threads are served on it one at a time; a master that does
//! not answer (stuck in a handler, or waiting for a node's `init`) makes the command fail with
//! a clear error once the master's timeout passes, while reads (`nodes()`, `user_counts()`,
//! `master()`) answer at once from its published snapshot; handlers that command the master from the master's own thread, from a node's
//! thread the master waits on, or from `[amoc, controller, users]`, do not deadlock; the
//! thread ends when the engine is dropped.
//!
//! The tests take turns (`one_engine`): one of them counts the process's `master` threads.

#[path = "engine_support.rs"]
mod support;
mod thread_support;

use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use rookery::engine::{
    ControllerStatus, EngineError, EngineHandle, EngineOptions, InitContext, NodeShare, Scenario,
    ScenarioError, UserContext, UserRate, UserResult, boxed,
};
use rookery::telemetry::{Key, Telemetry, Value};
use support::{Behaviour, scenario};
use thread_support::threads_named;

/// One engine at a time in this test binary.
fn one_engine() -> MutexGuard<'static, ()> {
    static ONE: Mutex<()> = Mutex::new(());
    ONE.lock().unwrap_or_else(|p| p.into_inner())
}

fn this_thread() -> String {
    std::thread::current().name().unwrap_or("?").to_owned()
}

fn engine(t: &Telemetry, node_timeout: Duration, master_timeout: Duration) -> EngineHandle {
    EngineHandle::start(EngineOptions {
        nodes: 3,
        telemetry: t.clone(),
        user_rate: UserRate::Infinity,
        node_timeout,
        master_timeout,
        ..EngineOptions::default()
    })
    .expect("inside a runtime")
}

/// Runs `f` on a plain thread and returns its result.
fn on_thread<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    std::thread::spawn(f).join().expect("the thread ends")
}

/// A runtime of two worker threads (each test makes its own: the turns are taken outside it).
fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a runtime")
}

#[test]
fn commands_from_several_threads_are_served_one_at_a_time_on_the_master_thread() {
    let _one = one_engine();
    let rt = runtime();
    let _rt = rt.enter();
    let t = Telemetry::new();
    let e = engine(&t, Duration::from_secs(5), Duration::from_secs(20));
    let threads: Arc<Mutex<Vec<String>>> = Arc::default();
    let inside = Arc::new(AtomicU32::new(0));
    let most = Arc::new(AtomicU32::new(0));
    let (seen, now, top) = (threads.clone(), inside.clone(), most.clone());
    // `set_user_rate` changes the throttle on the master's thread, which emits the `rate`
    // event there; each handler call stays 50 ms, so two commands served at once would meet.
    t.attach_prefix(
        "one_at_a_time",
        &["amoc", "throttle", "rate"],
        move |_, _, _, _| {
            let n = now.fetch_add(1, Ordering::SeqCst) + 1;
            top.fetch_max(n, Ordering::SeqCst);
            std::thread::sleep(Duration::from_millis(50));
            seen.lock().unwrap().push(this_thread());
            now.fetch_sub(1, Ordering::SeqCst);
        },
        Value::Null,
    )
    .unwrap();
    let t0 = Instant::now();
    let rates: Vec<u64> = (1..=4).map(|k| 60_000 * k).collect();
    let callers: Vec<_> = rates
        .iter()
        .map(|&r| {
            let e = e.clone();
            std::thread::spawn(move || e.set_user_rate(UserRate::PerMinute(r)))
        })
        .collect();
    for c in callers {
        assert_eq!(c.join().expect("a caller ends"), Ok(()));
    }
    let threads = threads.lock().unwrap().clone();
    assert_eq!(
        threads,
        vec!["master"; 4],
        "every change on the master's thread"
    );
    assert_eq!(most.load(Ordering::SeqCst), 1, "one command at a time");
    assert!(t0.elapsed() >= Duration::from_millis(200), "served in turn");
    let UserRate::PerMinute(last) = e.user_rate() else {
        panic!("a finite rate: {:?}", e.user_rate());
    };
    assert!(rates.contains(&last), "the last change served wins: {last}");
    e.shutdown();
}

/// Opens once; a handler waits for it (10 s at most).
type Gate = Arc<(Mutex<bool>, Condvar)>;

fn open(gate: &Gate) {
    *gate.0.lock().unwrap() = true;
    gate.1.notify_all();
}

/// Opens its gate when dropped (also when a test fails), so that nothing stays stuck.
struct Opens(Gate);

impl Drop for Opens {
    fn drop(&mut self) {
        open(&self.0);
    }
}

fn wait_open(gate: &Gate) {
    let (open, cv) = &**gate;
    let guard = open.lock().unwrap();
    let _ = cv
        .wait_timeout_while(guard, Duration::from_secs(10), |open| !*open)
        .unwrap();
}

#[test]
fn a_master_that_does_not_answer_is_a_timeout_error_while_reads_answer_at_once() {
    let _one = one_engine();
    let rt = runtime();
    let _rt = rt.enter();
    let t = Telemetry::new();
    let limit = Duration::from_millis(300);
    let e = engine(&t, Duration::from_secs(10), limit);
    let gate: Gate = Arc::default();
    let _opens = Opens(gate.clone());
    let (g, armed) = (gate.clone(), Arc::new(AtomicBool::new(true)));
    // The first `rate` event after this keeps the master's thread until the gate opens.
    t.attach_prefix(
        "stuck",
        &["amoc", "throttle", "rate"],
        move |_, _, _, _| {
            if armed.swap(false, Ordering::SeqCst) {
                wait_open(&g);
            }
        },
        Value::Null,
    )
    .unwrap();
    let stuck = e.clone();
    let t0 = Instant::now();
    let err = on_thread(move || stuck.set_user_rate(UserRate::PerMinute(60)));
    let waited = t0.elapsed();
    assert_eq!(
        err,
        Err(EngineError::MasterNoAnswer {
            command: "set_user_rate",
            waited_ms: 300
        })
    );
    assert_eq!(
        err.unwrap_err().to_string(),
        "the master did not answer set_user_rate within 300 ms"
    );
    assert!(
        waited >= limit && waited < Duration::from_secs(3),
        "{waited:?}"
    );
    // Another command waits behind the stuck one, and times out too.
    let other = e.clone();
    assert_eq!(
        on_thread(move || other.add_node()),
        Err(EngineError::MasterNoAnswer {
            command: "add_node",
            waited_ms: 300
        })
    );
    // Reads come from the published snapshot: they do not wait for the master.
    let t1 = Instant::now();
    let nodes = e.nodes();
    let counts = e.user_counts();
    let master = e.master();
    assert!(
        t1.elapsed() < Duration::from_millis(100),
        "{:?}",
        t1.elapsed()
    );
    assert_eq!(nodes.len(), 3);
    assert_eq!(counts.highest_user_id, 0);
    assert_eq!(master, "node1");

    // Once the handler returns, the master carries out both commands, in order.
    open(&gate);
    rt.block_on(e.wait_for("node4 to join", Duration::from_secs(10), |h| {
        h.nodes().len() == 4
    }))
    .expect("the queued add_node is served");
    assert_eq!(e.user_rate(), UserRate::PerMinute(60));
    assert_eq!(
        e.add_node(),
        Ok(Key::new("node5")),
        "the master answers again"
    );
    e.shutdown();
}

/// A scenario whose `init` on node `.1` waits until the gate opens (10 s at most).
struct Stuck(Gate, &'static str);

impl Scenario for Stuck {
    type State = ();

    fn name(&self) -> &str {
        "stuck"
    }

    fn init(&self, ctx: &InitContext<'_>) -> Result<(), ScenarioError> {
        if ctx.node() == self.1 {
            wait_open(&self.0);
        }
        Ok(())
    }

    async fn start(&self, user: UserContext, _state: Arc<()>) -> UserResult {
        user.removed().await;
        Ok(Value::Null)
    }
}

#[test]
fn a_master_waiting_on_a_stuck_init_is_a_timeout_error_and_keeps_serving() {
    let _one = one_engine();
    let rt = runtime();
    let _rt = rt.enter();
    let limit = Duration::from_millis(300);
    // The node may take 10 s, the caller waits for the master 300 ms.
    let e = engine(&Telemetry::new(), Duration::from_secs(10), limit);
    let gate: Gate = Arc::default();
    let _opens = Opens(gate.clone());
    let run = e.clone();
    let stuck = boxed(Stuck(gate.clone(), "node2"));
    let t0 = Instant::now();
    let err = on_thread(move || run.start_scenario(stuck, UserRate::Infinity));
    let waited = t0.elapsed();
    assert_eq!(
        err,
        Err(EngineError::MasterNoAnswer {
            command: "start_scenario",
            waited_ms: 300
        })
    );
    assert!(
        waited >= limit && waited < Duration::from_secs(3),
        "{waited:?}"
    );
    // Reads answer at once; node1 started, node2 is still in its `init`.
    let t1 = Instant::now();
    let nodes = e.nodes();
    let counts = e.user_counts();
    assert!(
        t1.elapsed() < Duration::from_millis(100),
        "{:?}",
        t1.elapsed()
    );
    assert_eq!(nodes.len(), 3);
    assert!(
        matches!(nodes[0].status, ControllerStatus::Running(_)),
        "{nodes:?}"
    );
    assert!(
        !matches!(nodes[1].status, ControllerStatus::Running(_)),
        "{nodes:?}"
    );
    assert_eq!(counts.running, 0);
    // While it waits for node2, the master serves other commands: node1 takes users.
    let add = e.clone();
    let t2 = Instant::now();
    let added = on_thread(move || add.add_users_to("node1", 2));
    assert!(t2.elapsed() < limit, "{:?}", t2.elapsed());
    assert_eq!(
        added,
        Ok(NodeShare::Added {
            node: Key::new("node1"),
            first: 1,
            last: 2
        })
    );

    open(&gate);
    rt.block_on(
        e.wait_for("every node running", Duration::from_secs(10), |h| {
            h.nodes()
                .iter()
                .all(|n| matches!(n.status, ControllerStatus::Running(_)))
        }),
    )
    .expect("node2's init returns and the start goes on");
    assert_eq!(
        e.add_users(4).map(|s| s.len()),
        Ok(2),
        "the workers node2 and node3 share"
    );
    e.shutdown();
}

/// What a handler's command gave: on which event and thread, and its result.
type Call = (String, String, Result<Key, EngineError>);

#[test]
fn handlers_that_command_the_master_do_not_deadlock() {
    let _one = one_engine();
    let (done_tx, done_rx) = std::sync::mpsc::channel();
    let run = std::thread::spawn(move || {
        let rt = runtime();
        let t = Telemetry::new();
        let slot: Arc<Mutex<Option<EngineHandle>>> = Arc::default();
        let calls: Arc<Mutex<Vec<Call>>> = Arc::default();
        let (h, c) = (slot.clone(), calls.clone());
        // Once per event: on the master's own thread (`rate`), on the node's thread the master
        // waits on for its start (`init`), and on `[amoc, controller, users]`.
        let events = [
            "amoc.throttle.rate",
            "amoc.scenario.init.start",
            "amoc.controller.users",
        ];
        let fired: Arc<[AtomicBool; 3]> = Arc::default();
        t.attach_prefix(
            "command_the_master",
            &["amoc"],
            move |name, _, _, _| {
                let Some(k) = events.iter().position(|e| *e == name.dotted()) else {
                    return;
                };
                let Some(e) = h.lock().unwrap().clone() else {
                    return;
                };
                if fired[k].swap(true, Ordering::SeqCst) {
                    return;
                }
                let got = e.add_node();
                c.lock()
                    .unwrap()
                    .push((events[k].to_owned(), this_thread(), got));
            },
            Value::Null,
        )
        .unwrap();
        let outcome = rt.block_on(async {
            let e = engine(&t, Duration::from_secs(10), Duration::from_secs(20));
            *slot.lock().unwrap() = Some(e.clone());
            e.set_user_rate(UserRate::PerMinute(600_000))
                .expect("user_rate changes");
            e.start_scenario(scenario("s", Behaviour::ObeyRemoval), UserRate::Infinity)
                .expect("the scenario starts");
            e.add_users(10).expect("users are added");
            e.wait_for("10 users", Duration::from_secs(20), |h| {
                h.user_counts().running == 10
            })
            .await
            .expect("the users run");
            e.stop().expect("the scenario stops");
            e.wait_finished(Duration::from_secs(20))
                .await
                .expect("the scenario finishes");
            slot.lock().unwrap().take();
            e.nodes()
        });
        let _ = done_tx.send((outcome, calls.lock().unwrap().clone()));
    });
    let (nodes, mut calls) = done_rx
        .recv_timeout(Duration::from_secs(60))
        .expect("the run ends: no handler deadlocked the master");
    run.join().expect("the run thread ends");

    calls.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(calls.len(), 3, "{calls:?}");
    let joined: Vec<&Key> = calls.iter().filter_map(|c| c.2.as_ref().ok()).collect();
    assert_eq!(
        joined.len(),
        3,
        "every handler's add_node succeeded: {calls:?}"
    );
    let on = |event: &str| {
        calls
            .iter()
            .find(|c| c.0 == event)
            .map(|c| c.1.clone())
            .unwrap_or_default()
    };
    assert_eq!(on("amoc.throttle.rate"), "master", "{calls:?}");
    assert!(
        on("amoc.scenario.init.start").starts_with("node"),
        "init runs on a node's thread: {calls:?}"
    );
    assert_eq!(
        nodes.len(),
        6,
        "three nodes joined from handlers: {nodes:?}"
    );
    for n in nodes.iter().filter(|n| !n.master) {
        assert_eq!(
            n.status,
            ControllerStatus::Finished("s".into()),
            "{}: a node that joined during the run ran it too",
            n.name
        );
    }
}

#[test]
fn the_master_thread_ends_when_the_engine_is_dropped() {
    let _one = one_engine();
    assert_eq!(threads_named("master"), 0, "no engine yet");
    let rt = runtime();
    rt.block_on(async {
        let e = engine(
            &Telemetry::new(),
            Duration::from_secs(5),
            Duration::from_secs(5),
        );
        assert_eq!(
            threads_named("master"),
            1,
            "the master has a thread of its own"
        );
        assert_eq!(e.add_node(), Ok(Key::new("node4")));
        let clone = e.clone();
        drop(e);
        assert_eq!(threads_named("master"), 1, "a clone of the handle keeps it");
        assert_eq!(clone.nodes().len(), 4);
        drop(clone);
        assert_eq!(
            threads_named("master"),
            0,
            "dropping the last handle ends (and joins) the master's thread"
        );
    });
}
