//! Throttle precision and speed (issue 4, item 4).
//!
//! `cargo bench --bench throttle` prints, before criterion's runs:
//! 1. a precision table: for 1/s, 100/s, 10,000/s and 200,000/s (interval 1 s) with enough
//!    looping users to saturate, the releases counted in each of ten consecutive intervals of
//!    real time (by the instants the throttle released them, [`ThrottlePermit::released_at`]),
//!    and the most releases in any one-interval window (no burst above the rate), both by those
//!    instants and by the times the `execute` events reached a handler (which adds the delays
//!    of a loaded machine between a release and its event). 1/s runs ten intervals on virtual
//!    time and three on real time (ten real seconds would show nothing more: its instants are
//!    a second apart);
//! 2. the CPU time the process uses while 10,000 waiters stay parked for 2 s;
//! 3. `wait` at `infinity` from two tasks on two worker threads for one second;
//!
//! 4. precision after a rate change (issue 12 item 1): a throttle saturated at one rate is
//!    turned down (`change_rate`) or ramped down (`change_rate_gradually`); from the change on,
//!    the releases per bucket against what the new rate (or the ramp's step in force) allows,
//!    the longest gap between two releases, and the most releases in one interval. The
//!    issue's own cases (per minute, minutes long) run on virtual time, the others on real
//!    time;
//!
//! then criterion measures `wait` on an `infinity` throttle (one task; and with a counting
//! handler attached to its events).
//!
//! `THROTTLE_BENCH_TABLE=0` skips the tables; `THROTTLE_BENCH_INTERVALS=N` changes the count;
//! `THROTTLE_BENCH_ONLY=changes` runs only table 4 (and no criterion run).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput};
use rookery::engine::events::{Emitter, THROTTLE_EXECUTE, THROTTLE_REQUEST};
#[allow(unused_imports)]
use rookery::engine::throttle::ThrottlePermit; // for the doc link above
use rookery::engine::throttle::{Rate, ThrottleConfig, Throttles};
use rookery::telemetry::{Telemetry, Value};

#[path = "throttle/changes.rs"]
mod changes;

use changes::change_table;

struct Row {
    rate: u64,
    users: usize,
    clock: &'static str,
    /// Releases per interval, by the throttle's release instants.
    counts: Vec<u64>,
    /// Most releases in any window of one interval, by release instants.
    max_window: u64,
    /// The same, by the times the `execute` events reached a handler (adds emission delays).
    max_window_events: u64,
}

pub(crate) fn max_window(v: &[Duration], interval: Duration) -> u64 {
    let mut max = 0;
    let mut j = 0;
    for i in 0..v.len() {
        while j < v.len() && v[j] < v[i] + interval {
            j += 1;
        }
        max = max.max((j - i) as u64);
    }
    max
}

/// Saturates `rate`/1 s with `users` looping users for `intervals` intervals; counts releases
/// per interval and the most in any window of one interval.
fn measure(rate: u64, users: usize, intervals: usize, virtual_time: bool) -> Row {
    let interval = Duration::from_secs(1);
    let mut b = if virtual_time {
        tokio::runtime::Builder::new_current_thread()
    } else {
        tokio::runtime::Builder::new_multi_thread()
    };
    if !virtual_time {
        b.worker_threads(2);
    } else {
        b.start_paused(true);
    }
    let rt = b.enable_all().build().expect("runtime");
    let tel = Telemetry::new();
    let cap = rate as usize * intervals + 16;
    let events: Arc<Mutex<Vec<Duration>>> = Arc::new(Mutex::new(Vec::with_capacity(cap)));
    let released: Arc<Mutex<Vec<Duration>>> = Arc::new(Mutex::new(Vec::with_capacity(cap)));
    rt.block_on(async {
        let t = Throttles::new(Emitter::new(tel.clone(), "master"));
        let t0 = tokio::time::Instant::now();
        let s = events.clone();
        tel.attach(
            "bench-execute",
            THROTTLE_EXECUTE.get(),
            move |_, _, _, _| {
                let at = tokio::time::Instant::now().duration_since(t0);
                s.lock().expect("stamps").push(at);
            },
            Value::Null,
        )
        .expect("attach");
        t.start("p", ThrottleConfig::new(Rate::Finite(rate), 1000))
            .expect("start");
        for _ in 0..users {
            let (t, released) = (t.clone(), released.clone());
            tokio::spawn(async move {
                while let Ok(p) = t.acquire("p").await {
                    if let Some(at) = p.released_at() {
                        released.lock().expect("stamps").push(at.duration_since(t0));
                    }
                }
            });
        }
        tokio::time::sleep_until(t0 + interval * intervals as u32).await;
        t.stop("p").expect("stop");
    });
    drop(rt);
    let mut ev = events.lock().expect("stamps").clone();
    ev.sort();
    let mut rel = released.lock().expect("stamps").clone();
    rel.sort();
    let mut counts = vec![0u64; intervals];
    for s in &rel {
        let i = (s.as_nanos() / interval.as_nanos()) as usize;
        if let Some(c) = counts.get_mut(i) {
            *c += 1;
        }
    }
    Row {
        rate,
        users,
        clock: if virtual_time { "virtual" } else { "real" },
        counts,
        max_window: max_window(&rel, interval),
        max_window_events: max_window(&ev, interval),
    }
}

fn precision_table(intervals: usize) {
    println!("\nthrottle precision: releases per 1 s interval, saturated by looping users");
    println!(
        "(counts and `max window` by the release instants the throttle decided; `(events)`: \
         max window by the times the execute events reached a handler, emission delays included)"
    );
    println!(
        "{:>8} {:>6} {:>7} {:>9} {:>9} {:>9} {:>10} {:>10}  per-interval counts",
        "rate/s", "users", "clock", "min", "max", "max dev", "max window", "(events)"
    );
    let runs = [
        (1, 3, 10, true),
        (1, 3, 3, false),
        (100, 100, intervals, false),
        (10_000, 1_000, intervals, false),
        (200_000, 10_000, intervals, false),
    ];
    for (rate, users, n, virt) in runs {
        let r = measure(rate, users, n, virt);
        let min = r.counts.iter().copied().min().unwrap_or(0);
        let max = r.counts.iter().copied().max().unwrap_or(0);
        let dev = r
            .counts
            .iter()
            .map(|c| c.abs_diff(r.rate) as f64 / r.rate as f64 * 100.0)
            .fold(0.0, f64::max);
        let ok = r
            .counts
            .iter()
            .all(|c| c.abs_diff(r.rate) <= (r.rate / 100).max(1))
            && r.max_window <= r.rate + (r.rate / 100).max(1);
        println!(
            "{:>8} {:>6} {:>7} {:>9} {:>9} {:>8.3}% {:>10} {:>10}  {:?} {}",
            r.rate,
            r.users,
            r.clock,
            min,
            max,
            dev,
            r.max_window,
            r.max_window_events,
            r.counts,
            if ok { "OK" } else { "OUT OF BOUNDS" }
        );
    }
}

/// User + system CPU time of this process, from /proc (Linux), in clock ticks.
fn cpu_ticks() -> Option<u64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    let rest = &stat[stat.rfind(')')? + 2..];
    let f: Vec<&str> = rest.split(' ').collect();
    Some(f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?)
}

fn idle_cpu() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        let t = Throttles::new(Emitter::new(Telemetry::new(), "master"));
        t.start("held", ThrottleConfig::per_minute(Rate::Finite(0)))
            .expect("start");
        t.start("slow", ThrottleConfig::new(Rate::Finite(1), 3_600_000))
            .expect("start");
        for i in 0..10_000 {
            let t = t.clone();
            let name = if i % 2 == 0 { "held" } else { "slow" };
            tokio::spawn(async move { t.wait(name).await });
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
        let before = cpu_ticks();
        let wall = Instant::now();
        tokio::time::sleep(Duration::from_secs(2)).await;
        let after = cpu_ticks();
        let backlog: usize = t.list().iter().map(|i| i.backlog).sum();
        match (before, after) {
            (Some(b), Some(a)) => println!(
                "\nwaiting costs no CPU: {backlog} parked waiters, {:.1} s wall, {} clock ticks \
                 (1/100 s each) of process CPU",
                wall.elapsed().as_secs_f64(),
                a - b
            ),
            _ => println!("\n(no /proc/self/stat: CPU time not measured)"),
        }
        t.shutdown_all();
    });
}

fn bench_infinity(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let mut g = c.benchmark_group("throttle_infinity");
    const N: u64 = 10_000;
    g.throughput(Throughput::Elements(N));

    let t = rt.block_on(async {
        let t = Throttles::new(Emitter::new(Telemetry::new(), "master"));
        t.start("inf", ThrottleConfig::per_minute(Rate::Infinity))
            .expect("start");
        t
    });
    g.bench_function("wait_by_name", |b| {
        b.iter(|| {
            rt.block_on(async {
                for _ in 0..N {
                    let _ = t.wait("inf").await;
                }
            })
        })
    });
    let h = t.handle("inf").expect("handle");
    g.bench_function("wait_by_handle", |b| {
        b.iter(|| {
            rt.block_on(async {
                for _ in 0..N {
                    let _ = h.wait().await;
                }
            })
        })
    });

    // With a handler counting request and execute events (as the monitor does).
    let tel = Telemetry::new();
    let seen = Arc::new(AtomicU64::new(0));
    let s = seen.clone();
    tel.attach_many(
        "count",
        &[THROTTLE_REQUEST.get(), THROTTLE_EXECUTE.get()],
        move |_, _, _, _| {
            s.fetch_add(1, Ordering::Relaxed);
        },
        Value::Null,
    )
    .expect("attach");
    let te = rt.block_on(async {
        let t = Throttles::new(Emitter::new(tel, "master"));
        t.start("inf", ThrottleConfig::per_minute(Rate::Infinity))
            .expect("start");
        t
    });
    g.bench_function("wait_by_name_with_event_handler", |b| {
        b.iter(|| {
            rt.block_on(async {
                for _ in 0..N {
                    let _ = te.wait("inf").await;
                }
            })
        })
    });
    g.finish();
    // (Only true when the handler bench ran: a filter may have skipped it.)
    let _ = seen.load(Ordering::Relaxed);
}

/// Two tasks on two worker threads waiting on the same infinity throttle, for 1 s.
fn two_threads_infinity() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let total = rt.block_on(async {
        let t = Throttles::new(Emitter::new(Telemetry::new(), "master"));
        t.start("inf", ThrottleConfig::per_minute(Rate::Infinity))
            .expect("start");
        let stop = Instant::now() + Duration::from_secs(1);
        let mut hs = Vec::new();
        for _ in 0..2 {
            let t = t.clone();
            hs.push(tokio::spawn(async move {
                let mut n = 0u64;
                while Instant::now() < stop {
                    for _ in 0..1000 {
                        let _ = t.wait("inf").await;
                    }
                    n += 1000;
                }
                n
            }));
        }
        let mut total = 0;
        for h in hs {
            total += h.await.unwrap_or(0);
        }
        total
    });
    println!("\ninfinity, 2 tasks on 2 worker threads for 1 s: {total} waits ({total} /s)");
}

fn main() {
    if std::env::var("THROTTLE_BENCH_ONLY").is_ok_and(|v| v == "changes") {
        change_table();
        return;
    }
    let table = std::env::var("THROTTLE_BENCH_TABLE").map_or(true, |v| v != "0");
    let intervals = std::env::var("THROTTLE_BENCH_INTERVALS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10);
    if table {
        precision_table(intervals);
        idle_cpu();
        two_threads_infinity();
        change_table();
    }
    let mut c = Criterion::default().configure_from_args();
    bench_infinity(&mut c);
    c.final_summary();
}
