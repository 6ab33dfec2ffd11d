//! The CPU cost per event of moving events through a real cluster, without the network
//! (issue 14: ≥ 500k events/s per worker): what `examples/nats_throughput` measures end to end,
//! split by side.
//! * `nats_batch/encode`: the worker's forwarder writing events into a batch;
//! * `nats_batch/decode`: the master reading them back;
//! * `nats_batch/decode_reemit`: reading them and emitting each again into a registry with the
//!   monitor's live feed attached (the master's whole per-event work, `run --cluster`).
//!
//! `cargo bench --bench nats_batch -- --warm-up-time 1 --measurement-time 3`

use std::hint::black_box;
use std::time::Instant;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use rookery::cluster_nats::batch::{BatchHeader, BatchReader, BatchWriter};
use rookery::engine::events::{THROTTLE_EXECUTE, THROTTLE_REQUEST};
use rookery::monitor::{LiveFeed, LoggedEvent, MonitorState};
use rookery::telemetry::{Key, Telemetry, Value};

/// Events in one batch (about 100 KB of lines: a forwarder batch under load).
const N: u64 = 1000;

fn header() -> BatchHeader {
    BatchHeader {
        rookery_batch: 1,
        node: "w1".into(),
        seq: 0,
        first: 0,
        count: N,
        dropped: 0,
    }
}

/// One batch of throttle events, as a worker's users emit them.
fn batch() -> Vec<u8> {
    let mut w = BatchWriter::default();
    push(&mut w);
    w.finish(&header(), false)
}

fn push(w: &mut BatchWriter) {
    let m = [(Key::new_static("count"), Value::Int(1))];
    let md = [
        (Key::new_static("name"), Value::from("messages")),
        (Key::new_static("node"), Value::from("w1")),
    ];
    for i in 0..N {
        let name = if i % 2 == 0 {
            THROTTLE_REQUEST.get()
        } else {
            THROTTLE_EXECUTE.get()
        };
        w.push(1000 + i, &name, &m, &md);
    }
}

fn benches(c: &mut Criterion) {
    let mut g = c.benchmark_group("nats_batch");
    g.throughput(Throughput::Elements(N));
    g.bench_function("encode", |b| {
        let mut w = BatchWriter::default();
        b.iter(|| {
            push(&mut w);
            black_box(w.finish(&header(), false));
        })
    });
    let bytes = batch();
    g.bench_function("decode", |b| {
        let mut ev = LoggedEvent::placeholder();
        b.iter(|| {
            let mut r = BatchReader::open(&bytes).expect("a batch");
            while r.next_into(&mut ev).expect("an event") {
                black_box(&ev);
            }
        })
    });
    g.bench_function("decode_reemit", |b| {
        let telemetry = Telemetry::new();
        let feed =
            LiveFeed::attach(&telemetry, "bench-feed", 1 << 20, Instant::now()).expect("a feed");
        let mut state = MonitorState::new();
        let mut ev = LoggedEvent::placeholder();
        b.iter(|| {
            let mut r = BatchReader::open(&bytes).expect("a batch");
            while r.next_into(&mut ev).expect("an event") {
                ev.metadata
                    .push((Key::new_static("node"), Value::from("w1")));
                telemetry.execute(ev.name.clone(), &ev.measurements, &ev.metadata);
            }
            feed.drain_into(&mut state);
        })
    });
    g.finish();
}

criterion_group!(nats, benches);
criterion_main!(nats);
