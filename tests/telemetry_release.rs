//! Issue 13.8: a detached handler is released as soon as the dispatches that may run it end,
//! and not before (per-thread epochs, `src/telemetry/epoch.rs`). Every test counts the
//! references of an `Arc` the handler captures.
//!
//! The tests of this file run one at a time: a dispatch holds back what its registry retires,
//! and these tests hold dispatches open on purpose.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread;

use rookery::telemetry::{EventName, Telemetry, Value};

fn one_at_a_time() -> MutexGuard<'static, ()> {
    static SERIAL: Mutex<()> = Mutex::new(());
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

#[test]
fn a_handler_detached_while_another_thread_runs_it_is_freed_when_that_dispatch_ends() {
    let _serial = one_at_a_time();
    let t = Telemetry::new();
    let name = EventName::new(&["release", "while", "running"]).unwrap();
    let held = Arc::new(());
    let (inside_tx, inside_rx) = mpsc::channel::<()>();
    let (go_tx, go_rx) = mpsc::channel::<()>();
    let go_rx = Mutex::new(go_rx);
    let h = held.clone();
    t.attach(
        "slow",
        name.clone(),
        move |_, _, _, _| {
            let _ = &h;
            inside_tx.send(()).unwrap();
            go_rx.lock().unwrap().recv().unwrap();
        },
        Value::Null,
    )
    .unwrap();
    let (done_tx, done_rx) = mpsc::channel::<()>();
    let (exit_tx, exit_rx) = mpsc::channel::<()>();
    let emitter = {
        let t = t.clone();
        let name = name.clone();
        thread::spawn(move || {
            t.execute(name, &[], &[]);
            done_tx.send(()).unwrap();
            // Alive and idle until the test is done.
            let _ = exit_rx.recv();
        })
    };
    inside_rx.recv().unwrap();
    t.detach("slow").unwrap();
    assert_eq!(
        Arc::strong_count(&held),
        2,
        "the other thread is still running the handler: it must stay alive"
    );
    // Dispatches that start after the detach neither run it nor hold it up.
    t.execute(name.clone(), &[], &[]);
    assert_eq!(Arc::strong_count(&held), 2);
    go_tx.send(()).unwrap();
    done_rx.recv().unwrap();
    assert_eq!(
        Arc::strong_count(&held),
        1,
        "released when the dispatch that ran it returned, though its thread lives on"
    );
    exit_tx.send(()).unwrap();
    emitter.join().unwrap();
}

#[test]
fn a_handler_that_detaches_itself_lives_until_its_dispatch_returns() {
    let _serial = one_at_a_time();
    let t = Telemetry::new();
    let name = EventName::new(&["release", "self"]).unwrap();
    let held = Arc::new(());
    let counted_inside = Arc::new(AtomicUsize::new(0));
    let h = held.clone();
    let me = t.clone();
    let seen = counted_inside.clone();
    let weak_held = Arc::downgrade(&held);
    t.attach(
        "self-detaching",
        name.clone(),
        move |_, _, _, _| {
            me.detach("self-detaching").unwrap();
            // Still running: what the handler captured must still be there.
            let _ = &h;
            seen.store(weak_held.strong_count(), Ordering::SeqCst);
        },
        Value::Null,
    )
    .unwrap();
    t.execute(name.clone(), &[], &[]);
    assert_eq!(
        counted_inside.load(Ordering::SeqCst),
        2,
        "detached but running: not released"
    );
    assert_eq!(
        Arc::strong_count(&held),
        1,
        "released when execute returned"
    );
    t.execute(name, &[], &[]);
    assert_eq!(counted_inside.load(Ordering::SeqCst), 2, "ran once only");
}

#[test]
fn a_handler_detached_inside_a_dispatch_on_another_registry_is_freed_when_the_outer_one_ends() {
    let _serial = one_at_a_time();
    let outer = Telemetry::new();
    let inner = Telemetry::new();
    let outer_name = EventName::new(&["release", "outer"]).unwrap();
    let inner_name = EventName::new(&["release", "inner"]).unwrap();
    let held = Arc::new(());
    let h = held.clone();
    let inner_reg = inner.clone();
    inner
        .attach(
            "inner",
            inner_name.clone(),
            move |_, _, _, _| {
                inner_reg.detach("inner").unwrap();
                let _ = &h;
            },
            Value::Null,
        )
        .unwrap();
    let (reg, name) = (inner.clone(), inner_name.clone());
    let weak_held = Arc::downgrade(&held);
    let after_inner = Arc::new(AtomicUsize::new(0));
    let seen = after_inner.clone();
    outer
        .attach(
            "outer",
            outer_name.clone(),
            move |_, _, _, _| {
                reg.execute(name.clone(), &[], &[]);
                seen.store(weak_held.strong_count(), Ordering::SeqCst);
            },
            Value::Null,
        )
        .unwrap();
    outer.execute(outer_name, &[], &[]);
    assert!(
        (1..=2).contains(&after_inner.load(Ordering::SeqCst)),
        "read inside the outer dispatch"
    );
    assert_eq!(
        Arc::strong_count(&held),
        1,
        "released by the time the outer dispatch returned"
    );
}

#[test]
fn threads_that_stop_emitting_keep_nothing_alive() {
    let _serial = one_at_a_time();
    let t = Telemetry::new();
    let name = EventName::new(&["release", "idle"]).unwrap();
    let held = Arc::new(());
    let h = held.clone();
    t.attach(
        "held",
        name.clone(),
        move |_, _, _, _| {
            let _ = &h;
        },
        Value::Null,
    )
    .unwrap();
    let (exit_tx, exit_rx) = mpsc::channel::<()>();
    let exit_rx = Arc::new(Mutex::new(exit_rx));
    let (ready_tx, ready_rx) = mpsc::channel::<()>();
    let idle: Vec<_> = (0..4)
        .map(|_| {
            let (t, name, ready, exit) =
                (t.clone(), name.clone(), ready_tx.clone(), exit_rx.clone());
            thread::spawn(move || {
                for _ in 0..1_000 {
                    t.execute(name.clone(), &[], &[]);
                }
                ready.send(()).unwrap();
                let _ = exit.lock().unwrap().recv();
            })
        })
        .collect();
    // One more that emitted and ended.
    {
        let (t, name) = (t.clone(), name.clone());
        thread::spawn(move || t.execute(name, &[], &[]))
            .join()
            .unwrap();
    }
    for _ in 0..4 {
        ready_rx.recv().unwrap();
    }
    assert_eq!(Arc::strong_count(&held), 2);
    t.detach("held").unwrap();
    assert_eq!(
        Arc::strong_count(&held),
        1,
        "five threads emitted it, four of them idle and alive: none holds it"
    );
    for _ in 0..4 {
        exit_tx.send(()).unwrap();
    }
    for w in idle {
        w.join().unwrap();
    }
}

#[test]
fn attach_and_detach_racing_with_emitting_threads_release_every_handler() {
    let _serial = one_at_a_time();
    let t = Telemetry::new();
    let name = EventName::new(&["release", "race"]).unwrap();
    let held = Arc::new(());
    let calls = Arc::new(AtomicUsize::new(0));
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let emitters: Vec<_> = (0..3)
        .map(|_| {
            let (t, name, stop) = (t.clone(), name.clone(), stop.clone());
            thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    t.execute(name.clone(), &[], &[]);
                }
            })
        })
        .collect();
    for i in 0..300 {
        let (h, calls) = (held.clone(), calls.clone());
        t.attach(
            format!("h{i}"),
            name.clone(),
            move |_, _, _, _| {
                let _ = &h;
                calls.fetch_add(1, Ordering::Relaxed);
            },
            Value::Null,
        )
        .unwrap();
        t.execute(name.clone(), &[], &[]);
        t.detach(format!("h{i}")).unwrap();
    }
    stop.store(true, Ordering::Relaxed);
    for e in emitters {
        e.join().unwrap();
    }
    assert!(
        calls.load(Ordering::Relaxed) >= 300,
        "each handler ran at least once"
    );
    assert_eq!(
        Arc::strong_count(&held),
        1,
        "every detached handler released once the emitting threads stopped"
    );
}
