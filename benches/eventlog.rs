//! Event-log and monitor throughput (issue 7):
//! * `monitor/apply`: `MonitorState::apply` on a realistic mix (target ≥ 10 M events/s);
//! * `monitor/apply_thresholds`: the same with four thresholds, two of them windowed (issue 15:
//!   the time series and thresholds cost ≤ 5 % of `monitor/apply` before them);
//! * `monitor/apply_1k_per_s`, `monitor/apply_thresholds_1k_per_s`: the same events spread
//!   over 100 s, so that closing seconds (the series, windowed thresholds) weighs 100 times
//!   more;
//! * `read_reduce/*`: parse JSONL and reduce, one core (target ≥ 1 M events/s, ≥ 150 MB/s);
//! * `record/*`: the emitter's cost per event with and without the recorder attached, and the
//!   end-to-end recording rate (target ≥ 1 M events/s, emitters slowed ≤ 10 %).
//!
//! `cargo bench --bench eventlog -- --warm-up-time 1 --measurement-time 3`

use std::hint::black_box;
use std::io::Cursor;
use std::time::{Duration, Instant};

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use rookery::engine::events::*;
use rookery::eventlog::{Header, LogReader, ReadOptions, Recorder, RecorderOptions, write_event};
use rookery::fields;
use rookery::monitor::{LiveFeed, LoggedEvent, MonitorState};
use rookery::telemetry::{Field, Key, Telemetry, Value};

fn f(k: &'static str, v: impl Into<Value>) -> Field {
    (Key::new_static(k), v.into())
}

/// A mix like a busy run: mostly throttle traffic and user spans, some coordinator and custom
/// events, four nodes, one event per 10 µs.
fn mix(n: usize) -> Vec<LoggedEvent> {
    let names = [
        THROTTLE_REQUEST.get(),
        THROTTLE_EXECUTE.get(),
        THROTTLE_REQUEST.get(),
        THROTTLE_EXECUTE.get(),
        rookery::event_name!("amoc", "scenario", "start", "start"),
        rookery::event_name!("amoc", "scenario", "start", "stop"),
        COORDINATOR_ADD.get(),
        rookery::event_name!("my", "custom", "event"),
    ];
    (0..n)
        .map(|i| {
            let name = names[i % names.len()].clone();
            let node = format!("node{}", (i / 8) % 4);
            let (m, md) = match i % 8 {
                0..=3 => (
                    vec![f("count", 1)],
                    vec![
                        f("name", ["login", "post"][i / 8 % 2]),
                        f("monotonic_time", i as i64),
                    ],
                ),
                4 => (
                    vec![
                        f("monotonic_time", i as i64),
                        f("system_time", 1_700_000_000_000_000_000i64),
                    ],
                    vec![
                        f("scenario", "chat"),
                        f("user_id", i as i64),
                        f("state", ""),
                        f("telemetry_span_context", "#Ref<0.1.2.3>"),
                    ],
                ),
                5 => (
                    vec![f("duration", 12345), f("monotonic_time", i as i64)],
                    vec![
                        f("scenario", "chat"),
                        f("user_id", i as i64),
                        f("return", "ok"),
                    ],
                ),
                6 => (vec![f("count", 1)], vec![f("name", "rooms")]),
                _ => (vec![f("value", 2.5)], vec![f("pid", "<0.123.0>")]),
            };
            LoggedEvent {
                t_us: i as u64 * 10,
                node: Some(node.into()),
                name,
                measurements: m,
                metadata: md,
            }
        })
        .collect()
}

/// On-CPU time of this thread in ns (Linux `schedstat`), so figures taken on a shared, busy
/// machine are not inflated by time spent waiting for a core. `None` where unavailable.
fn thread_cpu_ns() -> Option<u64> {
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// Times `iters` runs of `f` in on-CPU time (wall time if `schedstat` is missing).
fn cpu_time(iters: u64, mut f: impl FnMut()) -> Duration {
    let (c0, w0) = (thread_cpu_ns(), Instant::now());
    for _ in 0..iters {
        f();
    }
    match (c0, thread_cpu_ns()) {
        (Some(a), Some(b)) if b > a => Duration::from_nanos(b - a),
        _ => w0.elapsed(),
    }
}

fn jsonl(events: &[LoggedEvent]) -> Vec<u8> {
    let mut out = Header::new(chrono::Utc::now()).to_line().into_bytes();
    out.push(b'\n');
    for e in events {
        write_event(
            &mut out,
            e.t_us,
            e.node.as_deref(),
            &e.name,
            &e.measurements,
            &e.metadata,
        );
    }
    out
}

fn monitor(c: &mut Criterion) {
    let events = mix(100_000);
    let mut g = c.benchmark_group("monitor");
    g.throughput(Throughput::Elements(events.len() as u64));
    // Applies `events` to a fresh state from `make` per iteration.
    fn apply_bench(
        g: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>,
        name: &str,
        events: &[LoggedEvent],
        make: impl Fn() -> MonitorState,
    ) {
        g.bench_function(name, |b| {
            b.iter_batched_ref(
                &make,
                |s| {
                    for e in events {
                        s.apply(&e.as_ref());
                    }
                },
                BatchSize::LargeInput,
            )
        });
    }
    apply_bench(&mut g, "apply", &events, MonitorState::new);
    let thresholds = rookery::report::threshold::ThresholdSet::parse(&[
        "amoc.scenario.start p99 < 1s",
        "amoc.scenario.start p99[10s] < 1s",
        "throttle login executes[5s] >= 1",
        "users failed == 0",
    ])
    .expect("thresholds");
    let with_thresholds = || MonitorState::with_thresholds(thresholds.clone());
    apply_bench(&mut g, "apply_thresholds", &events, with_thresholds);
    // The same events spread over 100 s (1,000 a second, a quiet live run): the per-second work
    // (closing a second into the timeline, windowed thresholds) is paid every 1,000 events
    // instead of once. Under callgrind, `roll_seconds`' share of `apply` is the series' cost.
    let sparse: Vec<LoggedEvent> = events
        .iter()
        .cloned()
        .enumerate()
        .map(|(i, mut e)| {
            e.t_us = i as u64 * 1_000;
            e
        })
        .collect();
    apply_bench(&mut g, "apply_1k_per_s", &sparse, MonitorState::new);
    apply_bench(
        &mut g,
        "apply_thresholds_1k_per_s",
        &sparse,
        with_thresholds,
    );
    g.bench_function("apply_cpu_time", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let mut s = MonitorState::new();
                total += cpu_time(1, || {
                    for e in &events {
                        s.apply(&e.as_ref());
                    }
                });
                black_box(s.events());
            }
            total
        })
    });
    g.bench_function("apply_thresholds_cpu_time", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let mut s = MonitorState::with_thresholds(thresholds.clone());
                total += cpu_time(1, || {
                    for e in &events {
                        s.apply(&e.as_ref());
                    }
                });
                black_box(s.events());
            }
            total
        })
    });
    g.finish();
}

fn read_reduce(c: &mut Criterion) {
    let events = mix(100_000);
    // Leaked once so the reader can borrow it without a copy per iteration.
    let data: &'static [u8] = Vec::leak(jsonl(&events));
    let run = |data: &'static [u8]| {
        let mut r = LogReader::from_reader(
            "bench.jsonl",
            Box::new(Cursor::new(data)),
            ReadOptions::default(),
        )
        .expect("header");
        let mut s = MonitorState::new();
        let mut ev = LoggedEvent::placeholder();
        while r.next_into(&mut ev).expect("reads") {
            s.apply(&ev.as_ref());
        }
        black_box(s.events())
    };
    let mut g = c.benchmark_group("read_reduce");
    g.throughput(Throughput::Elements(events.len() as u64));
    g.bench_function("events", |b| b.iter(|| run(data)));
    g.bench_function("events_cpu_time", |b| {
        b.iter_custom(|iters| {
            cpu_time(iters, || {
                run(data);
            })
        })
    });
    g.throughput(Throughput::Bytes(data.len() as u64));
    g.bench_function("bytes", |b| b.iter(|| run(data)));
    g.finish();
}

/// One emitter call as the engine makes it (metadata built, `node` and time added).
#[inline]
fn emit_one(e: &Emitter, i: u64) {
    e.emit(
        &THROTTLE_REQUEST,
        &fields! {"count" => 1},
        &fields! {"name" => "login", "i" => i},
    );
}

fn record(c: &mut Criterion) {
    let mut g = c.benchmark_group("record");
    g.throughput(Throughput::Elements(1));
    // Baseline: a cheap counting handler, so the emitter does its full work.
    {
        let t = Telemetry::new();
        let n = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
        let n2 = n.clone();
        t.attach_prefix(
            "count",
            &[] as &[&str],
            move |_, _, _, _| {
                n2.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            },
            Value::Null,
        )
        .unwrap();
        let e = Emitter::new(t, "node1");
        let mut i = 0;
        g.bench_function("emit_without_recorder", |b| {
            b.iter(|| {
                i += 1;
                emit_one(&e, i)
            })
        });
        g.bench_function("emit_without_recorder_cpu_time", |b| {
            b.iter_custom(|iters| {
                cpu_time(iters, || {
                    i += 1;
                    emit_one(&e, i)
                })
            })
        });
    }
    {
        let dir = tempfile::tempdir().unwrap();
        let t = Telemetry::new();
        let rec = Recorder::start(dir.path().join("bench.jsonl"), &t).unwrap();
        let e = Emitter::new(t, "node1");
        let mut i = 0;
        g.bench_function("emit_with_recorder", |b| {
            b.iter(|| {
                i += 1;
                emit_one(&e, i)
            })
        });
        let stats = rec.finish().unwrap();
        eprintln!(
            "record/emit_with_recorder: {} events written, {} dropped",
            stats.events, stats.dropped
        );
    }
    {
        let t = Telemetry::new();
        let feed = LiveFeed::attach(&t, "feed", 1 << 15, Instant::now()).unwrap();
        let e = Emitter::new(t, "node1");
        let mut state = MonitorState::new();
        let mut i = 0;
        g.bench_function("emit_with_live_feed", |b| {
            b.iter(|| {
                i += 1;
                emit_one(&e, i);
                // The UI drains once per frame; here every 4096 events.
                if i % 4096 == 0 {
                    feed.drain_into(&mut state);
                }
            })
        });
    }
    // Emitter cost while the writer keeps up: bursts of 10,000 events, timed in the emitting
    // thread's on-CPU time, each followed by an untimed wait until the writer has taken the
    // burst (so nothing is dropped). Compare with `emit_without_recorder_cpu_time`.
    {
        let dir = tempfile::tempdir().unwrap();
        let t = Telemetry::new();
        let rec = Recorder::start(dir.path().join("burst.jsonl"), &t).unwrap();
        let e = Emitter::new(t, "node1");
        let mut i = 0;
        g.bench_function("emit_with_recorder_keeping_up_cpu_time", |b| {
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                let mut left = iters;
                while left > 0 {
                    let burst = left.min(10_000);
                    total += cpu_time(burst, || {
                        i += 1;
                        emit_one(&e, i);
                    });
                    left -= burst;
                    while rec.pending() > 0 {
                        std::thread::yield_now();
                    }
                }
                total
            })
        });
        let stats = rec.finish().unwrap();
        eprintln!(
            "record/emit_with_recorder_keeping_up: {} events written, {} dropped",
            stats.events, stats.dropped
        );
    }
    // End to end: emit N events and wait until all are on disk.
    const N: u64 = 500_000;
    g.throughput(Throughput::Elements(N));
    g.sample_size(10);
    g.bench_function("end_to_end", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let dir = tempfile::tempdir().unwrap();
                let t = Telemetry::new();
                // A queue as large as the run: this measures how fast the writer drains it.
                let rec = Recorder::start_with(
                    dir.path().join("e2e.jsonl"),
                    &t,
                    RecorderOptions {
                        queue_capacity: N as usize * 2,
                        ..RecorderOptions::default()
                    },
                )
                .unwrap();
                let e = Emitter::new(t, "node1");
                let start = Instant::now();
                for i in 0..N {
                    emit_one(&e, i);
                }
                let stats = rec.finish().unwrap();
                total += start.elapsed();
                assert_eq!(stats.events + stats.dropped, N);
                if stats.dropped > 0 {
                    eprintln!("record/end_to_end: dropped {} of {N}", stats.dropped);
                }
            }
            total
        })
    });
    g.finish();
}

criterion_group!(benches, monitor, read_reduce, record);
criterion_main!(benches);
