//! Dispatch cost of `rookery::telemetry`, to compare with Erlang's telemetry measured on the same
//! kind of machine (Erlang/OTP's own figures there: 101 / 131 / 490 ns for 0 / 1 / 10
//! handlers, 33 / 42 / 100 ns after `persist`).
//!
//! `cargo bench --bench telemetry`

use std::hint::black_box;
use std::sync::Arc;
use std::sync::Barrier;
use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use rookery::fields;
use rookery::telemetry::{EventName, Field, SpanStop, Telemetry, Value};

fn noop(e: EventName, m: &[Field], md: &[Field], c: &Value) {
    black_box((e, m, md, c));
}

/// A registry with `handlers` handlers on the measured event and, if `others`, 1,000 other
/// events that each have a handler.
fn registry(handlers: usize, others: bool, persisted: bool) -> (Telemetry, EventName) {
    let t = Telemetry::new();
    let event = EventName::new(&["amoc", "throttle", "request"]).unwrap();
    if others {
        for i in 0..1000 {
            let other = EventName::new(&["bench", "other", &i.to_string()]).unwrap();
            t.attach(format!("other-{i}"), other, noop, Value::Null)
                .unwrap();
        }
    }
    for i in 0..handlers {
        t.attach(format!("h{i}"), event.clone(), noop, Value::Null)
            .unwrap();
    }
    if persisted {
        t.persist();
    }
    (t, event)
}

/// Measurements and metadata are built once, as Erlang's benchmark did with constant maps;
/// `1h_building_fields` shows the cost of building them on every call.
fn execute(c: &mut Criterion) {
    let m = fields! {"count" => 1};
    let md = fields! {"name" => "user_rate"};
    let mut g = c.benchmark_group("execute");
    for persisted in [false, true] {
        let mode = if persisted { "persisted" } else { "default" };
        for handlers in [0usize, 1, 10] {
            let (t, event) = registry(handlers, true, persisted);
            let id = BenchmarkId::new(mode, format!("{handlers}h_1000_others"));
            g.bench_function(id, |b| {
                b.iter(|| t.execute(black_box(event.clone()), black_box(&m), black_box(&md)))
            });
        }
        let (t, event) = registry(1, false, persisted);
        g.bench_function(BenchmarkId::new(mode, "1h_no_others"), |b| {
            b.iter(|| t.execute(black_box(event.clone()), black_box(&m), black_box(&md)))
        });
        g.bench_function(BenchmarkId::new(mode, "1h_building_fields"), |b| {
            b.iter(|| {
                t.execute(
                    black_box(event.clone()),
                    &fields! {"count" => 1},
                    &fields! {"name" => Value::atom("user_rate")},
                )
            })
        });
    }
    g.finish();
}

fn span(c: &mut Criterion) {
    let mut g = c.benchmark_group("span");
    for persisted in [false, true] {
        let t = Telemetry::new();
        let prefix = EventName::new(&["amoc", "scenario", "start"]).unwrap();
        let start = prefix.join("start").unwrap();
        let stop = prefix.join("stop").unwrap();
        t.attach_many("span-handler", &[start, stop], noop, Value::Null)
            .unwrap();
        if persisted {
            t.persist();
        }
        let mode = if persisted { "persisted" } else { "default" };
        g.bench_function(BenchmarkId::new(mode, "1h_start_stop"), |b| {
            b.iter(|| {
                t.span(black_box(prefix.clone()), &fields! {"user_id" => 1}, || {
                    (1, SpanStop::default())
                })
            })
        });
    }
    g.finish();
}

/// The same per-thread work on one and on two threads: with no shared hot-path state, two
/// threads finish in about the time one does, i.e. twice the throughput.
fn parallel(c: &mut Criterion) {
    let mut g = c.benchmark_group("parallel_1h");
    for threads in [1usize, 2] {
        let (t, event) = registry(1, true, false);
        g.throughput(Throughput::Elements(threads as u64));
        g.bench_function(
            BenchmarkId::from_parameter(format!("{threads}_threads")),
            |b| {
                b.iter_custom(|iters| {
                    let barrier = Arc::new(Barrier::new(threads + 1));
                    let workers: Vec<_> = (0..threads)
                        .map(|_| {
                            let t = t.clone();
                            let barrier = barrier.clone();
                            let event = event.clone();
                            std::thread::spawn(move || {
                                barrier.wait();
                                for _ in 0..iters {
                                    t.execute(
                                        black_box(event.clone()),
                                        &fields! {"count" => 1},
                                        &[],
                                    );
                                }
                            })
                        })
                        .collect();
                    barrier.wait();
                    let start = Instant::now();
                    for w in workers {
                        w.join().unwrap();
                    }
                    start.elapsed()
                })
            },
        );
    }
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    targets = execute, span, parallel
}
criterion_main!(benches);
