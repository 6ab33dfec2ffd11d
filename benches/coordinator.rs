//! Adds per second through a coordinator with a plan of pairs, from many concurrent users.
//!
//! `cargo bench --bench coordinator -- --warm-up-time 1 --measurement-time 3`
//!
//! Before measuring, a check run asserts that every user is delivered exactly once. Every
//! measured run also checks that the users delivered (pairs plus the leftover handed over by a
//! reset) equal the adds.

use std::hint::black_box;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use rookery::engine::coordinator::{Action, Coordinators, Plan};
use rookery::engine::events::Emitter;
use rookery::telemetry::{Telemetry, Value};
use tokio::runtime::Runtime;

const NAME: &str = "pairs";

struct Setup {
    rt: Runtime,
    coordinators: Coordinators,
    delivered: Arc<AtomicU64>,
}

/// A registry with one coordinator of pairs (default 30 s timeout, so adds arm the timer);
/// `listening` attaches a counting handler to every `amoc` event, as the monitor does.
fn setup(listening: bool) -> Setup {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime");
    let t = Telemetry::new();
    if listening {
        let seen = Arc::new(AtomicU64::new(0));
        t.attach_prefix(
            "count",
            &["amoc"],
            move |_, _, _, _| {
                seen.fetch_add(1, Ordering::Relaxed);
            },
            Value::Null,
        )
        .expect("attach");
    }
    let coordinators: Coordinators = Coordinators::new(Emitter::new(t, "master"));
    let delivered = Arc::new(AtomicU64::new(0));
    let d = delivered.clone();
    let plan = Plan::new().item(
        2,
        Action::pairs(move |_, a, b| {
            let n = u64::from(a.is_some()) + u64::from(b.is_some());
            d.fetch_add(n, Ordering::Relaxed);
            black_box((a, b));
        }),
    );
    {
        let _g = rt.enter();
        coordinators.start_default(NAME, plan).expect("start");
    }
    Setup {
        rt,
        coordinators,
        delivered,
    }
}

/// Adds `total` users from `threads` OS threads; returns the time taken.
fn run_threads(s: &Setup, threads: u64, total: u64, first_user: u64) -> Duration {
    let per = total / threads;
    let start = Instant::now();
    std::thread::scope(|scope| {
        for t in 0..threads {
            let c = s.coordinators.clone();
            scope.spawn(move || {
                let base = first_user + t * per;
                for u in base..base + per {
                    c.add(NAME, u, Value::Int(u as i64)).expect("add");
                }
            });
        }
    });
    start.elapsed()
}

/// Adds `total` users from `tasks` Tokio tasks on the 2-worker runtime.
fn run_tasks(s: &Setup, tasks: u64, total: u64, first_user: u64) -> Duration {
    let per = total / tasks;
    let start = Instant::now();
    s.rt.block_on(async {
        let handles: Vec<_> = (0..tasks)
            .map(|t| {
                let c = s.coordinators.clone();
                tokio::spawn(async move {
                    let base = first_user + t * per;
                    for (i, u) in (base..base + per).enumerate() {
                        c.add(NAME, u, Value::Int(u as i64)).expect("add");
                        if i % 64 == 63 {
                            tokio::task::yield_now().await;
                        }
                    }
                })
            })
            .collect();
        for h in handles {
            h.await.expect("task");
        }
    });
    start.elapsed()
}

/// Hands over the leftover and checks that every added user was delivered once.
fn check_delivered(s: &Setup, adds: u64) {
    s.coordinators.reset(NAME).expect("reset");
    let delivered = s.delivered.swap(0, Ordering::Relaxed);
    assert_eq!(delivered, adds, "every user delivered exactly once");
}

/// The exactly-once check: 4 threads x 50,000 distinct users, each seen exactly once.
fn assert_exactly_once() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime");
    let c: Coordinators = Coordinators::new(Emitter::new(Telemetry::new(), "master"));
    const USERS: usize = 200_000;
    let seen: Arc<Vec<AtomicU64>> = Arc::new((0..USERS).map(|_| AtomicU64::new(0)).collect());
    let batches = Arc::new(AtomicU64::new(0));
    let (s, b) = (seen.clone(), batches.clone());
    let plan = Plan::new().item(
        2,
        Action::pairs(move |_, x, y| {
            b.fetch_add(1, Ordering::Relaxed);
            for m in [x, y].into_iter().flatten() {
                assert_eq!(m.data, Value::Int(m.user as i64));
                s[m.user as usize].fetch_add(1, Ordering::Relaxed);
            }
        }),
    );
    {
        let _g = rt.enter();
        c.start_default(NAME, plan).expect("start");
    }
    std::thread::scope(|scope| {
        for t in 0..4 {
            let c = c.clone();
            scope.spawn(move || {
                for u in t * USERS / 4..(t + 1) * USERS / 4 {
                    c.add(NAME, u as u64, Value::Int(u as i64)).expect("add");
                }
            });
        }
    });
    c.stop(NAME).expect("stop");
    assert!(
        seen.iter().all(|n| n.load(Ordering::Relaxed) == 1),
        "every user delivered exactly once"
    );
    // USERS is even: all pairs complete, and stop hands over one empty call.
    assert_eq!(batches.load(Ordering::Relaxed), USERS as u64 / 2 + 1);
}

fn bench(c: &mut Criterion) {
    assert_exactly_once();
    let mut g = c.benchmark_group("coordinator_pairs_adds");
    g.throughput(Throughput::Elements(1));
    for listening in [false, true] {
        let label = if listening { "listening" } else { "quiet" };
        for threads in [1u64, 4] {
            let s = setup(listening);
            let mut next = 0u64;
            g.bench_function(BenchmarkId::new(format!("threads/{label}"), threads), |b| {
                b.iter_custom(|iters| {
                    let total = (iters / threads).max(1) * threads;
                    let took = run_threads(&s, threads, total, next);
                    next += total;
                    check_delivered(&s, total);
                    // Report per requested iteration.
                    took.mul_f64(iters as f64 / total as f64)
                })
            });
        }
        let s = setup(listening);
        let mut next = 0u64;
        let tasks = 256u64;
        g.bench_function(
            BenchmarkId::new(format!("tokio_tasks/{label}"), tasks),
            |b| {
                b.iter_custom(|iters| {
                    let total = (iters / tasks).max(1) * tasks;
                    let took = run_tasks(&s, tasks, total, next);
                    next += total;
                    check_delivered(&s, total);
                    took.mul_f64(iters as f64 / total as f64)
                })
            },
        );
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
