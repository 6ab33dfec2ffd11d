//! Events per second from one worker to the master through NATS, as the cluster moves them:
//! an emitting thread → the worker's forwarder (bounded queue, batches of format-v1 lines) →
//! `nats-server` on loopback → the master's side (each batch parsed, each event emitted again
//! into a registry that a live feed drains). Prints what was sent, received and dropped.
//!
//! ```sh
//! cargo run --release --example nats_throughput -- [RATE_PER_S|max] [SECONDS] [--gzip]
//! ```
//! Needs `nats-server` (Debian package) on PATH or in /usr/sbin.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use futures::StreamExt;
use rookery::cluster_nats::batch::BatchReader;
use rookery::cluster_nats::forward::{Forwarder, NatsSink};
use rookery::engine::events::{Emitter, THROTTLE_REQUEST};
use rookery::monitor::{LiveFeed, LoggedEvent, MonitorState};
use rookery::telemetry::{Key, Telemetry, Value};

#[path = "common/nats_server.rs"]
mod nats_server;
use nats_server::nats_server;

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let rate: Option<u64> = match args.first().map(String::as_str) {
        None | Some("max") => None,
        Some(r) => Some(r.parse().expect("RATE_PER_S is a number or `max`")),
    };
    let secs: f64 = args.get(1).map_or(4.0, |s| s.parse().expect("SECONDS"));
    let gzip = args.iter().any(|a| a == "--gzip");

    let server = nats_server(&[]);
    let url = server.url();
    let worker_client = async_nats::connect(&url).await.expect("worker connects");
    let master_client = async_nats::connect(&url).await.expect("master connects");

    // The master's side: parse every batch, emit every event again into a registry that a
    // live feed drains (as `rookery run --cluster` does).
    let master_tel = Telemetry::new();
    let feed = LiveFeed::attach_default(&master_tel).expect("feed");
    let received = Arc::new(AtomicU64::new(0));
    let mut sub = master_client
        .subscribe("bench.ev.w1")
        .await
        .expect("subscribe");
    master_client.flush().await.expect("flush");
    let (rx_count, tel) = (received.clone(), master_tel.clone());
    let intake = tokio::spawn(async move {
        let mut ev = LoggedEvent::placeholder();
        while let Some(msg) = sub.next().await {
            let mut r = BatchReader::open(&msg.payload).expect("a batch");
            let mut n = 0;
            while r.next_into(&mut ev).expect("an event") {
                ev.metadata
                    .push((Key::new_static("node"), Value::from("w1")));
                tel.execute(ev.name.clone(), &ev.measurements, &ev.metadata);
                n += 1;
            }
            rx_count.fetch_add(n, Ordering::Relaxed);
        }
    });
    let draining = tokio::spawn(async move {
        let mut state = MonitorState::new();
        let mut told = 0;
        loop {
            tokio::time::sleep(Duration::from_millis(10)).await;
            feed.drain_into(&mut state);
            if state.dropped() > told {
                told = state.dropped();
                eprintln!("the master's feed has dropped {told} so far");
            }
        }
    });

    // The worker's side.
    let worker_tel = Telemetry::new();
    let start = Instant::now();
    let fwd = Forwarder::start(
        &worker_tel,
        "bench-forwarder",
        "w1",
        start,
        NatsSink {
            client: worker_client.clone(),
            subject: "bench.ev.w1".into(),
        },
        gzip,
    )
    .expect("forwarder");
    let emitter = Emitter::new(worker_tel.clone(), "w1");
    let emitting = std::thread::spawn(move || {
        let md = [(Key::new_static("name"), Value::from("messages"))];
        let m = [(Key::new_static("count"), Value::Int(1))];
        let t0 = Instant::now();
        let mut n: u64 = 0;
        while t0.elapsed().as_secs_f64() < secs {
            // Pace in steps of 1,000 events.
            if let Some(r) = rate {
                let due = (t0.elapsed().as_secs_f64() * r as f64) as u64;
                if n >= due {
                    std::thread::sleep(Duration::from_micros(200));
                    continue;
                }
            }
            for _ in 0..1000 {
                emitter.emit(&THROTTLE_REQUEST, &m, &md);
            }
            n += 1000;
        }
        (n, t0.elapsed())
    });
    let (emitted, took) = emitting.join().expect("the emitting thread");
    let dropped = fwd.dropped();
    let sent = fwd.finish().await;
    worker_client.flush().await.expect("flush");
    let wait = Instant::now();
    while received.load(Ordering::Relaxed) < sent && wait.elapsed() < Duration::from_secs(30) {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let all = start.elapsed();
    let got = received.load(Ordering::Relaxed);
    intake.abort();
    draining.abort();
    println!(
        "target {}: emitted {emitted} in {:.2}s ({:.0}/s), sent {sent}, received {got}, dropped \
         {dropped}; end to end {:.0} events/s{}",
        rate.map_or("max".to_string(), |r| format!("{r}/s")),
        took.as_secs_f64(),
        emitted as f64 / took.as_secs_f64(),
        got as f64 / all.as_secs_f64(),
        if gzip { " (gzip)" } else { "" }
    );
}
