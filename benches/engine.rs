//! Engine core benchmarks: how fast users start with `user_rate` infinity.
//!
//! `cargo bench --bench engine -- --warm-up-time 1 --measurement-time 3`
//! (memory figures: `cargo run --release --example engine_scale`).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use rookery::engine::{EngineHandle, EngineOptions, UserRate, boxed};
use rookery::telemetry::{Telemetry, Value};

#[path = "../examples/common/idle.rs"]
mod idle;
use idle::Idle;

/// Starts `users` idle users on a fresh 3-node engine; returns the time until all run.
fn start_users(rt: &tokio::runtime::Runtime, users: u64, listen: bool) -> Duration {
    let t = Telemetry::new();
    if listen {
        let seen = Arc::new(AtomicU64::new(0));
        let s = seen.clone();
        t.attach_prefix(
            "count",
            &["amoc"],
            move |_, _, _, _| {
                s.fetch_add(1, Ordering::Relaxed);
            },
            Value::Null,
        )
        .expect("fresh registry");
    }
    rt.block_on(async {
        let e = EngineHandle::start(EngineOptions {
            telemetry: t,
            user_rate: UserRate::Infinity,
            ..EngineOptions::default()
        })
        .expect("runtime");
        e.start_scenario(boxed(Idle), UserRate::Infinity)
            .expect("start");
        let t0 = Instant::now();
        e.add_users(users).expect("add");
        e.wait_for("users", Duration::from_secs(60), |h| {
            h.user_counts().running == users
        })
        .await
        .expect("all users run");
        let took = t0.elapsed();
        e.shutdown();
        took
    })
}

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let users = 20_000;
    let mut g = c.benchmark_group("start_users_infinity");
    g.throughput(Throughput::Elements(users));
    for (name, listen) in [("silent", false), ("with_handler", true)] {
        g.bench_function(BenchmarkId::new(name, users), |b| {
            b.iter_custom(|iters| (0..iters).map(|_| start_users(&rt, users, listen)).sum())
        });
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
