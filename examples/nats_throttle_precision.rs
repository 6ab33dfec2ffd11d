//! Cluster-wide throttle precision over NATS: three `rookery node` worker processes with
//! uneven demand (think times 0, 100 ms and 5 s, 100 users each) share one `messages` rate;
//! the master (this process) prints every one-second window of releases, by node, and marks
//! the windows in which the always-busy worker `w1` could not run (see
//! `rookery::cluster_nats::precision`). Then the rate changes, and `w2` is killed.
//!
//! ```sh
//! cargo build --release --bin rookery --example nats_throttle_precision
//! target/release/examples/nats_throttle_precision [RATE_PER_S ...] [--windows N]
//! ```
//! Default rates: 100 10000 100000; 10 windows each (after 3 s to settle). Needs
//! `nats-server` (Debian package) on PATH or in /usr/sbin.

#[path = "common/nats_precision.rs"]
mod nats_precision;
#[path = "common/nats_server.rs"]
mod nats_server;

use std::process::{Command, Stdio};
use std::time::Duration;

use nats_precision::{Precision, WORKERS, fed, report};
use nats_server::{Guard, nats_server, rookery_binary};
use rookery::telemetry::monotonic_time;

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut rates: Vec<u64> = Vec::new();
    let mut windows = 10;
    let mut it = args.iter();
    while let Some(a) = it.next() {
        if a == "--windows" {
            windows = it.next().and_then(|n| n.parse().ok()).expect("--windows N");
        } else {
            rates.push(a.parse().expect("RATE_PER_S is a number"));
        }
    }
    if rates.is_empty() {
        rates = vec![100, 10_000, 100_000];
    }
    let server = nats_server(&[]);
    let url = server.url();
    let bin = rookery_binary();
    let dir = tempfile::tempdir().expect("a temporary directory");
    let mut workers = Vec::new();
    for (w, think) in WORKERS {
        let log = std::fs::File::create(dir.path().join(format!("{w}.err"))).expect("a log");
        let child = Command::new(&bin)
            .args(["node", "--cluster", &url, "--name", w, "--run", "precision"])
            .env("ROOKERY_THINK_TIME", think)
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("a worker process");
        workers.push(Guard(child));
    }
    let p = Precision::start(&url, "precision", rates[0], &[("w1", workers[0].0.id())])
        .await
        .expect("the master");
    for (i, &rate) in rates.iter().enumerate() {
        if i > 0 {
            let at = p.set_rate(rate).await.expect("a rate change");
            let took = p
                .shares_whole_after(at, &["w1", "w2", "w3"], rate * 60, Duration::from_secs(10))
                .await;
            println!("rate change to {rate}/s: the shares add up after {took:?}");
        }
        let pids: Vec<(String, u32)> = WORKERS
            .iter()
            .zip(&workers)
            .map(|((w, _), g)| (w.to_string(), g.0.id()))
            .chain([
                ("master".to_string(), std::process::id()),
                ("nats-server".to_string(), server.pid()),
            ])
            .collect();
        let cpu0: Vec<f64> = pids.iter().map(|(_, pid)| cpu_s(*pid)).collect();
        let t0 = std::time::Instant::now();
        let w = p.measure(Duration::from_secs(3), windows, windows).await;
        let wall = t0.elapsed().as_secs_f64();
        print!("{}", report(&format!("{rate}/s"), rate, &w));
        summary(rate, &w);
        cpu_report(&pids, &cpu0, wall, &w);
    }
    let rate = *rates.last().unwrap_or(&100);
    let killed_at = monotonic_time();
    drop(workers.remove(1));
    let took = p
        .shares_whole_after(killed_at, &["w1", "w3"], rate * 60, Duration::from_secs(15))
        .await;
    println!("w2 killed: w1 and w3 hold the whole rate after {took:?}");
    let w = p.measure(Duration::from_secs(2), windows, windows).await;
    print!("{}", report(&format!("{rate}/s without w2"), rate, &w));
    summary(rate, &w);
    p.finish().await.expect("the run ends");
}

/// CPU seconds process `pid` used so far (user + system, from `/proc/PID/stat`).
fn cpu_s(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the command name (which may hold spaces): state is field 3, utime 14.
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let f: Vec<u64> = rest
        .split_whitespace()
        .skip(11)
        .take(2)
        .filter_map(|x| x.parse().ok())
        .collect();
    // SAFETY: sysconf only reads a configuration value.
    let tck = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as f64;
    f.iter().sum::<u64>() as f64 / tck
}

/// The cores each process used while measuring, and its CPU time per release (releases: the
/// windows' mean rate over the whole measurement, settling included).
fn cpu_report(
    pids: &[(String, u32)],
    cpu0: &[f64],
    wall: f64,
    windows: &[rookery::cluster_nats::precision::Window],
) {
    let per_s = windows.iter().map(|w| w.total).sum::<u64>() as f64 / windows.len().max(1) as f64;
    let mut all = 0.0;
    let parts: Vec<String> = pids
        .iter()
        .zip(cpu0)
        .map(|((name, pid), c0)| {
            let cores = (cpu_s(*pid) - c0) / wall;
            all += cores;
            format!("{name} {cores:.2} ({:.1} µs)", cores * 1e6 / per_s.max(1.0))
        })
        .collect();
    println!(
        "CPU while measuring ({per_s:.0} releases/s): cores used (CPU µs per release): {}; all {all:.2} cores ({:.1} µs a release)",
        parts.join(", "),
        all * 1e6 / per_s.max(1.0)
    );
}

/// The judged windows' range of deviation.
fn summary(rate: u64, windows: &[rookery::cluster_nats::precision::Window]) {
    let judged = fed(windows);
    let dev = |t: u64| (t as f64 - rate as f64) / rate as f64 * 100.0;
    let lo = judged
        .iter()
        .map(|w| dev(w.total))
        .fold(f64::INFINITY, f64::min);
    let hi = judged
        .iter()
        .map(|w| dev(w.total))
        .fold(f64::NEG_INFINITY, f64::max);
    println!(
        "{rate}/s: {} of {} windows judged, from {lo:+.2}% to {hi:+.2}%",
        judged.len(),
        windows.len()
    );
}
