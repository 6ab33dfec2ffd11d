//! Each in-process node is an actor: a thread named after the node serves its mailbox one
//! request at a time. Two callers of one node are served in turn on that thread; a node that
//! does not answer (its `init` is stuck) makes the command fail with a clear error once the
//! timeout passes, not a hang; a handler on a node's thread may call that node and other nodes
//! whose handlers call it back, without a deadlock.

#[path = "engine_support.rs"]
mod support;

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Barrier, Condvar, Mutex};
use std::time::{Duration, Instant};

use rookery::engine::{
    ControllerError, ControllerStatus, EngineError, EngineHandle, EngineOptions, InitContext,
    Scenario, ScenarioError, UserContext, UserRate, UserResult, boxed,
};
use rookery::telemetry::{Field, Key, Telemetry, Value};
use support::{Behaviour, run_users, scenario};

fn text<'a>(fields: &'a [Field], key: &str) -> Option<&'a str> {
    fields
        .iter()
        .find(|(k, _)| k == key)
        .and_then(|(_, v)| v.as_str())
}

fn this_thread() -> String {
    std::thread::current().name().unwrap_or("?").to_owned()
}

fn engine(t: &Telemetry, nodes: usize, node_timeout: Duration) -> EngineHandle {
    EngineHandle::start(EngineOptions {
        nodes,
        telemetry: t.clone(),
        user_rate: UserRate::Infinity,
        node_timeout,
        ..EngineOptions::default()
    })
    .expect("inside a runtime")
}

/// Runs `f` on a plain thread and returns its result (the caller is not a runtime thread).
fn on_thread<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    std::thread::spawn(f).join().expect("the thread ends")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_callers_of_one_node_are_served_one_at_a_time_on_its_thread() {
    let t = Telemetry::new();
    // Removals on node2 (the one worker): who handles them, and how many at once.
    let seen: Arc<Mutex<Vec<(String, String)>>> = Arc::default();
    let inside = Arc::new(AtomicU32::new(0));
    let most = Arc::new(AtomicU32::new(0));
    let (s, i, m) = (seen.clone(), inside.clone(), most.clone());
    t.attach_prefix(
        "removals",
        &["amoc", "controller", "users"],
        move |_, _, md, _| {
            if text(md, "type") != Some("remove") || text(md, "node") != Some("node2") {
                return;
            }
            let now = i.fetch_add(1, Ordering::SeqCst) + 1;
            m.fetch_max(now, Ordering::SeqCst);
            // Long enough for the other caller's request to arrive meanwhile.
            std::thread::sleep(Duration::from_millis(100));
            let node = text(md, "node").unwrap_or("?").to_owned();
            s.lock().unwrap().push((node, this_thread()));
            i.fetch_sub(1, Ordering::SeqCst);
        },
        Value::Null,
    )
    .unwrap();
    let e = engine(&t, 2, Duration::from_secs(5));
    run_users(&e, 10).await;

    let start = Arc::new(Barrier::new(2));
    let callers: Vec<_> = (0..2)
        .map(|_| {
            let (e, start) = (e.clone(), start.clone());
            std::thread::spawn(move || {
                start.wait();
                e.remove_users(1, false)
            })
        })
        .collect();
    let t0 = Instant::now();
    for c in callers {
        assert_eq!(c.join().expect("a caller ends"), Ok(1));
    }
    let seen = seen.lock().unwrap().clone();
    assert_eq!(
        seen,
        vec![
            ("node2".to_owned(), "node2".to_owned()),
            ("node2".to_owned(), "node2".to_owned())
        ],
        "both removals handled on node2's own thread"
    );
    assert_eq!(most.load(Ordering::SeqCst), 1, "one request at a time");
    assert!(t0.elapsed() >= Duration::from_millis(200), "served in turn");
    e.shutdown();
}

/// Opens once; `init` of [`Stuck`] waits for it.
type Gate = Arc<(Mutex<bool>, Condvar)>;

fn open(gate: &Gate) {
    *gate.0.lock().unwrap() = true;
    gate.1.notify_all();
}

/// A scenario whose `init` on node `.1` waits until the gate opens (10 s at most).
struct Stuck(Gate, &'static str);

impl Scenario for Stuck {
    type State = ();

    fn name(&self) -> &str {
        "stuck"
    }

    fn init(&self, ctx: &InitContext<'_>) -> Result<(), ScenarioError> {
        if ctx.node() != self.1 {
            return Ok(());
        }
        let (open, cv) = &*self.0;
        let guard = open.lock().unwrap();
        let _ = cv
            .wait_timeout_while(guard, Duration::from_secs(10), |open| !*open)
            .unwrap();
        Ok(())
    }

    async fn start(&self, user: UserContext, _state: Arc<()>) -> UserResult {
        user.removed().await;
        Ok(Value::Null)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_that_does_not_answer_is_a_timeout_error_not_a_hang() {
    let gate = Arc::new((Mutex::new(false), Condvar::new()));
    let limit = Duration::from_millis(300);
    let e = engine(&Telemetry::new(), 1, limit);
    let run = e.clone();
    let stuck = boxed(Stuck(gate.clone(), "node1"));
    let t0 = Instant::now();
    let err = on_thread(move || run.start_scenario(stuck, UserRate::Infinity)).unwrap_err();
    let waited = t0.elapsed();
    assert_eq!(
        err,
        EngineError::Nodes(vec![(
            Key::new("node1"),
            ControllerError::NoAnswer {
                node: "node1".into(),
                command: "start_scenario".into(),
                waited_ms: 300,
            }
        )])
    );
    assert!(
        err.to_string()
            .contains("node node1 did not answer start_scenario within 300 ms"),
        "{err}"
    );
    assert!(
        waited >= limit && waited < Duration::from_secs(3),
        "{waited:?}"
    );
    // A query does not wait for the stuck node: it reads the node's published status.
    let t1 = Instant::now();
    assert_eq!(e.nodes().len(), 1);
    assert!(t1.elapsed() < limit, "{:?}", t1.elapsed());

    // Once `init` returns the node answers again, and its scenario runs.
    open(&gate);
    e.wait_for("node1 running", Duration::from_secs(10), |h| {
        matches!(h.node_status("node1"), Ok(ControllerStatus::Running(_)))
    })
    .await
    .unwrap();
    let added = e.clone();
    assert!(on_thread(move || added.add_users_to("node1", 2)).is_ok());
    e.shutdown();
}

/// Runs `f(engine, node)` from a handler on `[amoc, scenario, terminate, start]` (on the
/// thread that runs `terminate`). The handler holds the engine through the returned slot:
/// empty it before the end, so that the engine can drop.
fn on_terminate(
    t: &Telemetry,
    e: &EngineHandle,
    f: impl Fn(&EngineHandle, &str) + Send + Sync + 'static,
) -> Arc<Mutex<Option<EngineHandle>>> {
    let slot = Arc::new(Mutex::new(Some(e.clone())));
    let h = slot.clone();
    t.attach_prefix(
        "on_terminate",
        &["amoc", "scenario", "terminate", "start"],
        move |_, _, md, _| {
            let Some(e) = h.lock().unwrap().clone() else {
                return;
            };
            f(&e, text(md, "node").unwrap_or("?"));
        },
        Value::Null,
    )
    .unwrap();
    slot
}

/// A handler's command: on which thread, how long it took, what it returned.
type Timed = (String, Duration, Result<(), EngineError>);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_from_a_node_thread_to_a_stuck_node_times_out_too() {
    let gate: Gate = Arc::default();
    let limit = Duration::from_millis(300);
    let t = Telemetry::new();
    let e = engine(&t, 3, limit);
    let result: Arc<Mutex<Option<Timed>>> = Arc::default();
    let r = result.clone();
    // node2's `terminate` runs on node2's thread; from there, a command to node3, whose
    // `init` is stuck.
    let engine_for = on_terminate(&t, &e, move |e, me| {
        if me != "node2" {
            return;
        }
        let t0 = Instant::now();
        let got = e.add_users_to("node3", 1).map(|_| ());
        *r.lock().unwrap() = Some((this_thread(), t0.elapsed(), got));
    });
    let run = e.clone();
    let stuck = boxed(Stuck(gate.clone(), "node3"));
    let started = on_thread(move || run.start_scenario(stuck, UserRate::Infinity));
    assert!(
        matches!(&started, Err(EngineError::Nodes(n)) if n.len() == 1 && n[0].0 == "node3"),
        "{started:?}"
    );
    // The stop's own wait for node2 ends first (node2 is inside the handler for as long as
    // the limit): the handler's outcome is awaited here.
    let stop = e.clone();
    assert_eq!(on_thread(move || stop.stop_node("node2")), Ok(()));
    let deadline = Instant::now() + Duration::from_secs(5);
    let (thread, waited, got) = loop {
        if let Some(r) = result.lock().unwrap().take() {
            break r;
        }
        assert!(Instant::now() < deadline, "the handler's call returned");
        tokio::time::sleep(Duration::from_millis(5)).await;
    };
    assert_eq!(thread, "node2");
    assert_eq!(
        got,
        Err(EngineError::Controller {
            node: "node3".into(),
            error: ControllerError::NoAnswer {
                node: "node3".into(),
                command: "add_users".into(),
                waited_ms: 300,
            },
        })
    );
    assert!(
        waited >= limit && waited < Duration::from_secs(3),
        "{waited:?}"
    );
    open(&gate);
    engine_for.lock().unwrap().take();
    e.shutdown();
}

/// A two-party meeting point that gives up after `limit`.
struct Meet {
    arrived: Mutex<u32>,
    cv: Condvar,
}

impl Meet {
    fn wait(&self, limit: Duration) -> bool {
        let mut n = self.arrived.lock().unwrap();
        *n += 1;
        self.cv.notify_all();
        let (n, _) = self.cv.wait_timeout_while(n, limit, |n| *n < 2).unwrap();
        *n >= 2
    }
}

/// A handler's command: on which thread, whether both handlers met, what it returned.
type Outcome = (String, bool, Result<(), EngineError>);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn handlers_on_node_threads_may_call_their_own_node_and_each_other() {
    let t = Telemetry::new();
    let e = engine(&t, 3, Duration::from_secs(10));
    let meet = Arc::new(Meet {
        arrived: Mutex::new(0),
        cv: Condvar::new(),
    });
    let results: Arc<Mutex<Vec<Outcome>>> = Arc::default();
    let (m, r) = (meet.clone(), results.clone());
    // node2 and node3 each run `terminate` on their own thread; there, both handlers meet,
    // then each sends a command to the other node, then one to its own.
    let engine_for = on_terminate(&t, &e, move |e, me| {
        let other = if me == "node2" { "node3" } else { "node2" };
        let met = m.wait(Duration::from_secs(5));
        let to_other = e.add_users_to(other, 1).map(|_| ());
        let to_self = e.add_users_to(me, 1).map(|_| ());
        let mut r = r.lock().unwrap();
        r.push((this_thread(), met, to_other));
        r.push((this_thread(), met, to_self));
    });
    e.start_scenario(scenario("s", Behaviour::ObeyRemoval), UserRate::Infinity)
        .unwrap();
    let t0 = Instant::now();
    let stops: Vec<_> = ["node2", "node3"]
        .into_iter()
        .map(|n| {
            let e = e.clone();
            std::thread::spawn(move || e.stop_node(n))
        })
        .collect();
    for s in stops {
        assert_eq!(s.join().expect("a caller ends"), Ok(()));
    }
    assert!(t0.elapsed() < Duration::from_secs(5), "{:?}", t0.elapsed());
    let mut results = results.lock().unwrap().clone();
    results.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(results.len(), 4, "{results:?}");
    for (thread, met, result) in &results {
        assert!(*met, "both handlers ran at once: {results:?}");
        assert!(thread == "node2" || thread == "node3", "{results:?}");
        // Each node answered (it is terminating: it refuses users), none timed out.
        match result {
            Err(EngineError::Controller {
                error: ControllerError::InvalidStatus(ControllerStatus::Terminating(_)),
                ..
            }) => {}
            other => panic!("{thread}: {other:?} in {results:?}"),
        }
    }
    engine_for.lock().unwrap().take();
    e.shutdown();
}
