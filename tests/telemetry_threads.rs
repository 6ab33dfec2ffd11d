//! Telemetry under threads: attach and detach while other threads execute, a new name
//! emitted by many threads at once, and a detached handler released at once.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use rookery::fields;
use rookery::telemetry::{EventName, Telemetry, Value};

mod telemetry_support;
use telemetry_support::name;

/// Two threads execute while a third attaches and detaches other handlers (and interns new
/// names). The permanently attached handler must see every event exactly once; transient
/// handlers may see some; nothing panics or deadlocks. Run on both registry modes.
#[test]
fn attach_and_detach_while_other_threads_execute() {
    for persisted in [false, true] {
        let t = Telemetry::new();
        if persisted {
            t.persist();
        }
        let e = name(&["conc", "ev"]);
        let stable = Arc::new(AtomicUsize::new(0));
        let transient = Arc::new(AtomicUsize::new(0));
        let s = stable.clone();
        t.attach(
            "stable",
            e.clone(),
            move |_, _, _, _| {
                s.fetch_add(1, Ordering::Relaxed);
            },
            Value::Null,
        )
        .unwrap();
        t.attach_prefix("stable-prefix", &["conc"], |_, _, _, _| {}, Value::Null)
            .unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        const PER_THREAD: usize = 50_000;
        let emitters: Vec<_> = (0..2)
            .map(|_| {
                let t = t.clone();
                let e = e.clone();
                std::thread::spawn(move || {
                    for _ in 0..PER_THREAD {
                        t.execute(e.clone(), &fields! {"count" => 1}, &[]);
                    }
                })
            })
            .collect();
        let churn = {
            let t = t.clone();
            let stop = stop.clone();
            let transient = transient.clone();
            let e = e.clone();
            std::thread::spawn(move || {
                let mut i = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    let id = format!("transient-{i}");
                    let tr = transient.clone();
                    t.attach(
                        id.as_str(),
                        e.clone(),
                        move |_, _, _, _| {
                            tr.fetch_add(1, Ordering::Relaxed);
                        },
                        Value::Null,
                    )
                    .unwrap();
                    let _ = name(&["conc", "new", &i.to_string()]);
                    t.detach(id.as_str()).unwrap();
                    i += 1;
                }
                i
            })
        };
        for h in emitters {
            h.join().unwrap();
        }
        stop.store(true, Ordering::Relaxed);
        let churned = churn.join().unwrap();
        assert_eq!(
            stable.load(Ordering::Relaxed),
            2 * PER_THREAD,
            "persisted={persisted}"
        );
        assert!(transient.load(Ordering::Relaxed) <= 2 * PER_THREAD);
        assert!(churned > 0);
        assert_eq!(t.list_handlers(&["conc"]).unwrap().len(), 2);
    }
}

/// A name first used by several threads at the same moment: a prefix handler must see every
/// one of those events (it missed some when the name became visible before the registries
/// learnt of it).
#[test]
fn a_new_name_emitted_by_many_threads_at_once_reaches_prefix_handlers() {
    let t = Telemetry::new();
    let seen = Arc::new(AtomicUsize::new(0));
    let s = seen.clone();
    t.attach_prefix(
        "all",
        &[] as &[&str],
        move |_, _, _, _| {
            s.fetch_add(1, Ordering::Relaxed);
        },
        Value::Null,
    )
    .unwrap();
    const THREADS: usize = 8;
    const ROUNDS: usize = 300;
    for round in 0..ROUNDS {
        let barrier = Arc::new(std::sync::Barrier::new(THREADS));
        let workers: Vec<_> = (0..THREADS)
            .map(|_| {
                let t = t.clone();
                let barrier = barrier.clone();
                std::thread::spawn(move || {
                    barrier.wait();
                    let fresh = EventName::new(&["race", "fresh", &round.to_string()]).unwrap();
                    t.execute(fresh, &[], &[]);
                })
            })
            .collect();
        for w in workers {
            w.join().unwrap();
        }
    }
    assert_eq!(seen.load(Ordering::Relaxed), THREADS * ROUNDS);
}

/// Issue 13.8: no thread keeps a detached handler alive (threads used to cache the snapshot
/// until they emitted again).
#[test]
fn detaching_releases_the_handler_at_once_even_where_threads_emitted_it() {
    let t = Telemetry::new();
    let name = EventName::new(&["release", "me"]).unwrap();
    let held = Arc::new(());
    let h = held.clone();
    t.attach(
        "holder",
        name.clone(),
        move |_, _, _, _| {
            let _ = &h;
        },
        Value::Null,
    )
    .unwrap();
    let (emitted_tx, emitted_rx) = std::sync::mpsc::channel::<()>();
    let (done_tx, done_rx) = std::sync::mpsc::channel::<()>();
    let other = {
        let t = t.clone();
        let name = name.clone();
        std::thread::spawn(move || {
            t.execute(name, &[], &[]);
            emitted_tx.send(()).unwrap();
            // Alive, and emitting nothing more, until the test is done.
            let _ = done_rx.recv();
        })
    };
    t.execute(name, &[], &[]);
    emitted_rx.recv().unwrap();
    assert_eq!(
        Arc::strong_count(&held),
        2,
        "attached: the registry holds it"
    );
    t.detach("holder").unwrap();
    assert_eq!(
        Arc::strong_count(&held),
        1,
        "released at once, though two threads emitted it and one of them still lives"
    );
    done_tx.send(()).unwrap();
    other.join().unwrap();
}
