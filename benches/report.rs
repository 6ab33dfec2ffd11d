//! The HTML report of a recorded run (issue 15: a 10M-event log in under 10 s): read the log,
//! reduce it with thresholds, take the summary (with its series) and render the HTML.
//!
//! `cargo bench --bench report -- --warm-up-time 1 --measurement-time 3` runs it on 1M events;
//! `ROOKERY_BENCH_EVENTS=10000000 cargo bench --bench report -- --sample-size 10` on 10M (the
//! log, about 1.3 GB, is written to a temporary directory first).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Instant;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use rookery::eventlog::{Header, ReadOptions, Replay, Speed, write_event};
use rookery::monitor::MonitorState;
use rookery::report::threshold::ThresholdSet;
use rookery::telemetry::{Field, Key, Value};
use rookery::{event_name, fields};

fn f(k: &'static str, v: impl Into<Value>) -> Field {
    (Key::new_static(k), v.into())
}

/// A 10-minute-a-10M-events run: throttle traffic on four nodes, `http.request` spans with
/// latencies from 1 ms to 1 s, users starting; one event per 60 µs.
fn write_log(path: &Path, n: u64) {
    let mut file = std::io::BufWriter::new(std::fs::File::create(path).expect("create log"));
    let mut buf = Header::new(chrono::Utc::now()).to_line().into_bytes();
    buf.push(b'\n');
    let req = event_name!("amoc", "throttle", "request");
    let exec = event_name!("amoc", "throttle", "execute");
    let stop = event_name!("http", "request", "stop");
    let start = event_name!("amoc", "scenario", "start", "start");
    let nodes = ["node1", "node2", "node3", "node4"];
    let name = fields! {"name" => "messages"};
    let count = fields! {"count" => 1};
    for i in 0..n {
        let t = i * 60;
        let node = nodes[(i / 4 % 4) as usize];
        match i % 4 {
            0 => write_event(&mut buf, t, Some(node), &req, &count, &name),
            1 => write_event(&mut buf, t, Some(node), &exec, &count, &name),
            2 if i % 4000 == 2 => write_event(
                &mut buf,
                t,
                Some(node),
                &start,
                &[f("monotonic_time", t as i64)],
                &[f("scenario", "bench")],
            ),
            _ => {
                let ms = 1 + (i.wrapping_mul(2654435761) >> 7) % 1000;
                write_event(
                    &mut buf,
                    t,
                    Some(node),
                    &stop,
                    &[f("duration", (ms * 1_000_000) as i64)],
                    &[f("status", 200)],
                )
            }
        }
        if buf.len() > 1 << 20 {
            file.write_all(&buf).expect("write log");
            buf.clear();
        }
    }
    file.write_all(&buf).expect("write log");
    file.flush().expect("flush log");
}

fn report_of(path: &PathBuf, thresholds: &ThresholdSet) -> usize {
    let mut replay = Replay::open(
        std::slice::from_ref(path),
        ReadOptions::default(),
        Speed::Max,
        Instant::now(),
    )
    .expect("open log");
    let mut state = MonitorState::with_thresholds(thresholds.clone());
    replay.run_to_end(&mut state).expect("read log");
    let summary = state.summary();
    rookery::report::html::render(&state, &summary, &[]).len()
}

fn report(c: &mut Criterion) {
    let n: u64 = std::env::var("ROOKERY_BENCH_EVENTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000);
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("big.jsonl");
    let t0 = Instant::now();
    write_log(&path, n);
    eprintln!(
        "report: wrote {n} events ({} MB) in {:.1} s",
        std::fs::metadata(&path).map_or(0, |m| m.len() >> 20),
        t0.elapsed().as_secs_f64()
    );
    let thresholds = ThresholdSet::parse(&[
        "http.request p99 < 2s",
        "http.request p99[10s] < 2s",
        "throttle messages executes/s >= 1",
    ])
    .expect("thresholds");
    let mut g = c.benchmark_group("report");
    g.sample_size(10);
    g.throughput(Throughput::Elements(n));
    g.bench_function(format!("log_to_html/{n}"), |b| {
        b.iter(|| report_of(&path, &thresholds))
    });
    g.finish();
}

criterion_group!(benches, report);
criterion_main!(benches);
