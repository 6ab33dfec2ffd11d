//! Stress tests of the per-thread epochs (`src/telemetry/epoch.rs`): handlers capture a
//! `Canary` whose `Drop` poisons it; a handler that runs after its canary was dropped (a
//! use-after-free of a retired snapshot) sees the poison, and every detached handler must be
//! freed once the dispatches that may run it have ended.
//!
//! Iterations: `STRESS_ROUNDS` (default 3).

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering::SeqCst};
use std::sync::mpsc;
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread;
use std::time::{Duration, Instant};

use rookery::telemetry::{EventName, Telemetry, Value};

fn one_at_a_time() -> MutexGuard<'static, ()> {
    static SERIAL: Mutex<()> = Mutex::new(());
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

fn rounds() -> usize {
    std::env::var("STRESS_ROUNDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(3)
}

const MAGIC: u64 = 0x5afe_5afe_5afe_5afe;
const POISON: u64 = 0xdead_dead_dead_dead;

static LIVE: AtomicUsize = AtomicUsize::new(0);
static VIOLATIONS: AtomicUsize = AtomicUsize::new(0);

/// Captured by a handler: heap words checked on every call, poisoned on drop.
struct Canary {
    words: Box<[AtomicU64; 8]>,
    alive: Arc<AtomicBool>,
}

impl Canary {
    fn new() -> Canary {
        LIVE.fetch_add(1, SeqCst);
        Canary {
            words: Box::new([const { AtomicU64::new(MAGIC) }; 8]),
            alive: Arc::new(AtomicBool::new(true)),
        }
    }
    fn check(&self) {
        // Best effort: after a use-after-free these reads see the poison, junk, or crash the
        // test (any of which fails it); Valgrind's memcheck reports them exactly.
        if !self.alive.load(SeqCst) || self.words.iter().any(|w| w.load(SeqCst) != MAGIC) {
            VIOLATIONS.fetch_add(1, SeqCst);
        }
    }
}

impl Drop for Canary {
    fn drop(&mut self) {
        for w in self.words.iter() {
            w.store(POISON, SeqCst);
        }
        self.alive.store(false, SeqCst);
        LIVE.fetch_sub(1, SeqCst);
    }
}

/// Waits (bounded) until every canary is dropped; the bound only turns a leak into a failure.
fn all_freed_within(limit: Duration) -> bool {
    let start = Instant::now();
    while LIVE.load(SeqCst) != 0 {
        if start.elapsed() > limit {
            return false;
        }
        thread::yield_now();
    }
    true
}

/// Many threads emit (some nesting on the same and on another registry, some short-lived threads
/// that emit a few times and exit) while others attach and detach handlers rapidly, some of which
/// detach themselves or panic. No handler may run after its canary dropped; all are freed at the
/// end while the idle emitting threads are still alive.
#[test]
fn churn_never_runs_a_freed_handler_and_frees_every_one() {
    let _serial = one_at_a_time();
    for round in 0..rounds() {
        let a = Telemetry::new();
        let b = Telemetry::new();
        let ea = EventName::new(&["stress", "a"]).unwrap();
        let eb = EventName::new(&["stress", "b"]).unwrap();
        let nested = EventName::new(&["stress", "nested"]).unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let calls = Arc::new(AtomicUsize::new(0));
        // A permanent nesting handler on `a` re-emits on `a` and on `b`.
        {
            let (a2, b2, ea2, eb2) = (a.clone(), b.clone(), ea.clone(), eb.clone());
            let c = Canary::new();
            a.attach(
                "nester",
                nested.clone(),
                move |_, _, _, _| {
                    c.check();
                    a2.execute(ea2.clone(), &[], &[]);
                    b2.execute(eb2.clone(), &[], &[]);
                    c.check();
                },
                Value::Null,
            )
            .unwrap();
        }
        let (idle_tx, idle_rx) = mpsc::channel::<()>();
        let idle_rx = Arc::new(Mutex::new(idle_rx));
        let mut emitters = Vec::new();
        for k in 0..4 {
            let (a, b, ea, eb, nested, stop, idle_rx) = (
                a.clone(),
                b.clone(),
                ea.clone(),
                eb.clone(),
                nested.clone(),
                stop.clone(),
                idle_rx.clone(),
            );
            emitters.push(thread::spawn(move || {
                let mut i = 0u64;
                while !stop.load(SeqCst) {
                    match (i + k) % 4 {
                        0 => a.execute(ea.clone(), &[], &[]),
                        1 => b.execute(eb.clone(), &[], &[]),
                        2 => a.execute(nested.clone(), &[], &[]),
                        _ => {
                            // A thread that dispatches a few times and ends.
                            let (a, ea) = (a.clone(), ea.clone());
                            thread::spawn(move || {
                                for _ in 0..3 {
                                    a.execute(ea.clone(), &[], &[]);
                                }
                            })
                            .join()
                            .unwrap();
                        }
                    }
                    i += 1;
                }
                // Stay alive, idle, until the test has checked that nothing is held.
                let _ = idle_rx.lock().unwrap().recv();
            }));
        }
        let mut writers = Vec::new();
        for w in 0..2 {
            let (a, b, ea, eb, calls) =
                (a.clone(), b.clone(), ea.clone(), eb.clone(), calls.clone());
            writers.push(thread::spawn(move || {
                for i in 0..400 {
                    let (reg, ev) = if i % 2 == 0 { (&a, &ea) } else { (&b, &eb) };
                    let id = format!("w{w}-{i}");
                    let c = Canary::new();
                    let calls = calls.clone();
                    let me = reg.clone();
                    let my_id = id.clone();
                    let kind = i % 5;
                    reg.attach(
                        id.clone(),
                        ev.clone(),
                        move |_, _, _, _| {
                            c.check();
                            calls.fetch_add(1, SeqCst);
                            match kind {
                                // Detaches itself (maybe already detached by the writer).
                                0 => {
                                    let _ = me.detach(my_id.as_str());
                                }
                                // Panics: caught, detached by the dispatch.
                                1 => panic!("stress panic"),
                                _ => {}
                            }
                            c.check();
                        },
                        Value::Null,
                    )
                    .unwrap();
                    reg.execute(ev.clone(), &[], &[]);
                    let _ = reg.detach(id.as_str());
                }
            }));
        }
        for w in writers {
            w.join().unwrap();
        }
        a.detach("nester").unwrap();
        // The emitters are still dispatching: detached handlers must be freed anyway (a
        // retirement is held only by dispatches that started before it).
        let freed_while_running = all_freed_within(Duration::from_secs(20));
        stop.store(true, SeqCst);
        for _ in 0..emitters.len() {
            idle_tx.send(()).unwrap();
        }
        for e in emitters {
            e.join().unwrap();
        }
        assert_eq!(
            VIOLATIONS.load(SeqCst),
            0,
            "round {round}: a freed handler ran"
        );
        assert!(calls.load(SeqCst) >= 800, "round {round}: handlers ran");
        assert!(
            freed_while_running,
            "round {round}: {} canaries still alive while emitters kept dispatching",
            LIVE.load(SeqCst)
        );
    }
}

/// A registry dropped while other threads still hold slots (and have dispatched on it), and
/// handlers detached inside a nested dispatch on another registry by a thread that then exits.
#[test]
fn registries_dropped_and_threads_ending_inside_nested_dispatches_leak_nothing() {
    let _serial = one_at_a_time();
    for _ in 0..rounds() * 20 {
        let outer = Telemetry::new();
        let inner = Telemetry::new();
        let eo = EventName::new(&["stress", "outer"]).unwrap();
        let ei = EventName::new(&["stress", "inner"]).unwrap();
        let c = Canary::new();
        inner
            .attach(
                "victim",
                ei.clone(),
                move |_, _, _, _| c.check(),
                Value::Null,
            )
            .unwrap();
        let (inner2, ei2) = (inner.clone(), ei.clone());
        let c2 = Canary::new();
        outer
            .attach(
                "detacher",
                eo.clone(),
                move |_, _, _, _| {
                    c2.check();
                    inner2.execute(ei2.clone(), &[], &[]);
                    let _ = inner2.detach("victim");
                    inner2.execute(ei2.clone(), &[], &[]);
                    c2.check();
                },
                Value::Null,
            )
            .unwrap();
        let threads: Vec<_> = (0..3)
            .map(|_| {
                let (outer, eo) = (outer.clone(), eo.clone());
                thread::spawn(move || outer.execute(eo, &[], &[]))
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        drop(inner);
        outer.detach("detacher").unwrap();
        drop(outer);
        assert!(
            all_freed_within(Duration::from_secs(10)),
            "{} alive",
            LIVE.load(SeqCst)
        );
        assert_eq!(VIOLATIONS.load(SeqCst), 0);
    }
}

/// A handler whose captures run registry code when dropped must not be dropped under the
/// registry's writer lock (the module docs: "Drops happen with no lock held"). A prefix handler
/// that matches no event is in no snapshot, so `detach`'s `registrations.retain` drops the
/// last reference to it while holding the writer lock: its `Drop` then deadlocks.
#[test]
fn dropping_a_detached_prefix_handler_that_calls_the_registry_does_not_deadlock() {
    struct CallsBack(Telemetry);
    impl Drop for CallsBack {
        fn drop(&mut self) {
            let _ = self.0.list_handlers::<&str>(&[]);
        }
    }
    let t = Telemetry::new();
    let (done_tx, done_rx) = mpsc::channel::<()>();
    let t2 = t.clone();
    let worker = thread::spawn(move || {
        let cb = CallsBack(t2.clone());
        t2.attach_prefix(
            "unmatched",
            &["no", "such", "prefix", "anywhere"],
            move |_, _, _, _| {
                let _ = &cb;
            },
            Value::Null,
        )
        .unwrap();
        t2.detach("unmatched").unwrap();
        done_tx.send(()).unwrap();
    });
    let finished = done_rx.recv_timeout(Duration::from_secs(10)).is_ok();
    assert!(
        finished,
        "detach deadlocked dropping a handler under the writer lock"
    );
    worker.join().unwrap();
}

/// Dispatches from thread-local destructors, before and after the epoch's own thread-locals are
/// torn down (the unpinned path), while another thread detaches: handlers run, and are freed.
#[test]
fn dispatches_from_thread_local_destructors_run_and_release_handlers() {
    use std::cell::RefCell;
    let _serial = one_at_a_time();
    struct EmitOnExit(RefCell<Option<(Telemetry, EventName)>>);
    impl Drop for EmitOnExit {
        fn drop(&mut self) {
            if let Some((t, e)) = self.0.borrow_mut().take() {
                for _ in 0..50 {
                    t.execute(e.clone(), &[], &[]);
                }
            }
        }
    }
    thread_local! {
        static FIRST: EmitOnExit = const { EmitOnExit(RefCell::new(None)) };
        static LAST: EmitOnExit = const { EmitOnExit(RefCell::new(None)) };
    }
    for round in 0..rounds() * 20 {
        let t = Telemetry::new();
        let e = EventName::new(&["stress", "tls"]).unwrap();
        let ran = Arc::new(AtomicUsize::new(0));
        let (r, c) = (ran.clone(), Canary::new());
        t.attach(
            "tls",
            e.clone(),
            move |_, _, _, _| {
                c.check();
                r.fetch_add(1, SeqCst);
            },
            Value::Null,
        )
        .unwrap();
        let (ready_tx, ready_rx) = mpsc::channel::<()>();
        let threads: Vec<_> = (0..3)
            .map(|_| {
                let (t, e, ready) = (t.clone(), e.clone(), ready_tx.clone());
                thread::spawn(move || {
                    // Registered before the epoch's locals (destroyed after them, LIFO).
                    FIRST.with(|f| *f.0.borrow_mut() = Some((t.clone(), e.clone())));
                    t.execute(e.clone(), &[], &[]);
                    ready.send(()).unwrap();
                    // Registered after them (destroyed before them).
                    LAST.with(|f| *f.0.borrow_mut() = Some((t.clone(), e.clone())));
                })
            })
            .collect();
        for _ in 0..3 {
            ready_rx.recv().unwrap();
        }
        let detacher = {
            let t = t.clone();
            thread::spawn(move || {
                let _ = t.detach("tls");
            })
        };
        for th in threads {
            th.join().unwrap();
        }
        detacher.join().unwrap();
        let _ = t.detach("tls");
        assert!(ran.load(SeqCst) >= 3, "round {round}");
        assert!(
            all_freed_within(Duration::from_secs(10)),
            "round {round}: leak"
        );
        assert_eq!(VIOLATIONS.load(SeqCst), 0, "round {round}");
    }
}
