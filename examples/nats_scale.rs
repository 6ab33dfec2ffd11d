//! Scale of a real cluster over NATS, and its cost against the simulated cluster.
//!
//! 1. **Users across worker processes**: 3 worker processes (this same program run as
//!    `nats_scale node …`, i.e. a user's crate through `rookery::cli::main_with`, with an idle
//!    scenario whose users wait for their removal) join a master in this process; the master
//!    hands out USERS users (default 1,000,000) and then stops them. Printed: each worker's RSS
//!    before and with the users, how long until the master has seen every user start (its
//!    `[amoc, scenario, start, start]` event, forwarded through NATS) and stop.
//! 2. **Cluster mode on one node against the simulated cluster**, the same idle scenario and
//!    COMPARE users (default 200,000): users started per second and events per second seen by
//!    the monitor's registry, once with one worker process over NATS, once in one process
//!    (`EngineHandle`, one simulated node).
//!
//! ```sh
//! cargo build --release --example nats_scale
//! target/release/examples/nats_scale [USERS] [COMPARE]
//! ```
//! Needs `nats-server` (Debian package) on PATH or in /usr/sbin.

#[path = "common/idle.rs"]
mod idle;
#[path = "common/nats_server.rs"]
mod nats_server;

use std::process::{Command, ExitCode, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use idle::Idle;
use nats_server::{Guard, nats_server};
use rookery::cluster_nats::{Master, MasterOptions};
use rookery::engine::{EngineHandle, EngineOptions, UserRate, boxed};
use rookery::telemetry::{Telemetry, Value};

fn main() -> ExitCode {
    if std::env::args().nth(1).as_deref() == Some("node") {
        // A worker process: the CLI of a crate with its own scenario.
        return rookery::cli::main_with(vec![boxed(Idle)]);
    }
    let mut args = std::env::args().skip(1);
    let users: u64 = args
        .next()
        .and_then(|a| a.parse().ok())
        .unwrap_or(1_000_000);
    let compare: u64 = args.next().and_then(|a| a.parse().ok()).unwrap_or(200_000);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    match runtime.block_on(async {
        across_workers(users).await?;
        one_node(compare).await
    }) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("nats_scale: {e}");
            ExitCode::FAILURE
        }
    }
}

/// RSS of process `pid` in MiB.
fn rss_mib(pid: u32) -> f64 {
    let statm = std::fs::read_to_string(format!("/proc/{pid}/statm")).unwrap_or_default();
    let pages: u64 = statm
        .split_whitespace()
        .nth(1)
        .and_then(|p| p.parse().ok())
        .unwrap_or(0);
    (pages * 4096) as f64 / (1024.0 * 1024.0)
}

/// Counts of what a registry saw: users started, users stopped, all events.
#[derive(Clone, Default)]
struct Seen {
    started: Arc<AtomicU64>,
    stopped: Arc<AtomicU64>,
    events: Arc<AtomicU64>,
}

impl Seen {
    fn attach(telemetry: &Telemetry) -> Result<Seen, String> {
        let seen = Seen::default();
        let s = seen.clone();
        telemetry
            .attach_prefix(
                "scale-count",
                &[] as &[&str],
                move |name, _, _, _| {
                    s.events.fetch_add(1, Ordering::Relaxed);
                    match name.dotted() {
                        "amoc.scenario.start.start" => {
                            s.started.fetch_add(1, Ordering::Relaxed);
                        }
                        "amoc.scenario.start.stop" | "amoc.scenario.start.exception" => {
                            s.stopped.fetch_add(1, Ordering::Relaxed);
                        }
                        _ => {}
                    }
                },
                Value::Null,
            )
            .map_err(|e| e.to_string())?;
        Ok(seen)
    }

    /// Waits until `count` reaches `n` (at most `limit`); how long since `t0` it took.
    async fn until(count: &AtomicU64, n: u64, t0: Instant, what: &str) -> Result<Duration, String> {
        // Gives up when nothing moved for 15 s (events dropped, workers declared down).
        let (mut last, mut moved) = (0, Instant::now());
        while count.load(Ordering::Relaxed) < n {
            let now = count.load(Ordering::Relaxed);
            if now != last {
                (last, moved) = (now, Instant::now());
            }
            if t0.elapsed() > LIMIT || moved.elapsed() > Duration::from_secs(15) {
                return Err(format!(
                    "{what}: only {now} of {n} after {:.1} s",
                    t0.elapsed().as_secs_f64()
                ));
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        Ok(t0.elapsed())
    }
}

/// A master of run `run` on `url` for the idle scenario, and what its registry sees.
async fn master(url: &str, run: &str) -> Result<(Master, Seen), String> {
    let telemetry = Telemetry::new();
    let seen = Seen::attach(&telemetry)?;
    let master = Master::start(
        MasterOptions::at(url, run, "idle", &["user_rate=infinity"]),
        telemetry,
        Instant::now(),
    )
    .await?;
    Ok((master, seen))
}

/// `n` worker processes of this program for run `run`.
fn workers(url: &str, run: &str, n: usize) -> Result<Vec<Guard>, String> {
    let me = std::env::current_exe().map_err(|e| e.to_string())?;
    (1..=n)
        .map(|i| {
            Command::new(&me)
                .args([
                    "node",
                    "--cluster",
                    url,
                    "--name",
                    &format!("w{i}"),
                    "--run",
                    run,
                ])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .map(Guard)
                .map_err(|e| format!("a worker process: {e}"))
        })
        .collect()
}

const LIMIT: Duration = Duration::from_secs(900);

async fn across_workers(users: u64) -> Result<(), String> {
    let server = nats_server(&[]);
    let url = server.url();
    let procs = workers(&url, "scale", 3)?;
    let (master, seen) = master(&url, "scale").await?;
    master.wait_nodes(3, Duration::from_secs(60)).await?;
    let before: Vec<f64> = procs.iter().map(|p| rss_mib(p.0.id())).collect();
    let t0 = Instant::now();
    master.add_users(users).await?;
    let handed = t0.elapsed();
    let started = Seen::until(&seen.started, users, t0, "users started").await;
    let with: Vec<f64> = procs.iter().map(|p| rss_mib(p.0.id())).collect();
    let t1 = Instant::now();
    let stop = master.stop(LIMIT).await;
    let stopped = Seen::until(&seen.stopped, users, t1, "users stopped").await;
    let c = master.counters();
    println!("{users} users across 3 worker processes (idle scenario, user_rate infinity)");
    println!("  ids handed out in {:.2} s", handed.as_secs_f64());
    match started {
        Ok(took) => println!(
            "  every start seen by the master after {:.2} s ({:.0} users/s)",
            took.as_secs_f64(),
            users as f64 / took.as_secs_f64()
        ),
        Err(e) => println!("  start: {e}"),
    }
    for (i, (b, w)) in before.iter().zip(&with).enumerate() {
        println!(
            "  w{}: RSS {b:.1} MiB before, {w:.1} MiB with its users ({:.0} bytes a user)",
            i + 1,
            (w - b) * 1024.0 * 1024.0 / (users as f64 / 3.0)
        );
    }
    match (stop, stopped) {
        (Ok(()), Ok(took)) => {
            println!("  stopped (every stop seen) in {:.2} s", took.as_secs_f64())
        }
        (Err(e), _) | (_, Err(e)) => println!("  stop: {e}"),
    }
    println!(
        "  events seen by the master: {}; dropped in worker queues {}, in transit {}; nodes up \
         at the end: {:?}",
        seen.events.load(Ordering::Relaxed),
        c.dropped_queue.load(Ordering::Relaxed),
        c.dropped_transit.load(Ordering::Relaxed),
        master.nodes_up()
    );
    master.end().await;
    drop(procs);
    Ok(())
}

/// Starts `n` users with `add` and stops them with `stop`; prints users/s and events/s as the
/// registry behind `seen` saw them.
async fn start_stop(
    label: &str,
    n: u64,
    seen: &Seen,
    add: impl Future<Output = Result<(), String>>,
    stop: impl Future<Output = Result<(), String>>,
) -> Result<(), String> {
    let e0 = seen.events.load(Ordering::Relaxed);
    let t0 = Instant::now();
    add.await?;
    let start = Seen::until(&seen.started, n, t0, "users started").await?;
    let t1 = Instant::now();
    stop.await?;
    let stop = Seen::until(&seen.stopped, n, t1, "users stopped").await?;
    let events = seen.events.load(Ordering::Relaxed) - e0;
    println!(
        "  {label:<20} start {:>9.0} users/s   stop {:>9.0} users/s   {:>9.0} events/s",
        n as f64 / start.as_secs_f64(),
        n as f64 / stop.as_secs_f64(),
        events as f64 / (start + stop).as_secs_f64()
    );
    Ok(())
}

async fn one_node(n: u64) -> Result<(), String> {
    println!("{n} idle users on one node: cluster mode (1 worker process over NATS) vs simulated");
    // Cluster mode.
    let server = nats_server(&[]);
    let url = server.url();
    let procs = workers(&url, "one", 1)?;
    let (master, seen) = master(&url, "one").await?;
    master.wait_nodes(1, Duration::from_secs(60)).await?;
    start_stop(
        "cluster, 1 worker",
        n,
        &seen,
        async { master.add_users(n).await.map(drop) },
        master.stop(LIMIT),
    )
    .await?;
    master.end().await;
    drop(procs);

    // The simulated cluster, one node, the same scenario.
    let telemetry = Telemetry::new();
    let seen = Seen::attach(&telemetry)?;
    let e = EngineHandle::start(EngineOptions {
        nodes: 1,
        telemetry,
        user_rate: UserRate::Infinity,
        ..EngineOptions::default()
    })
    .map_err(|err| err.to_string())?;
    e.start_scenario(boxed(Idle), UserRate::Infinity)
        .map_err(|err| err.to_string())?;
    start_stop(
        "simulated, 1 node",
        n,
        &seen,
        async { e.add_users(n).map(drop).map_err(|err| err.to_string()) },
        async { e.stop().map_err(|err| err.to_string()) },
    )
    .await?;
    e.wait_finished(LIMIT)
        .await
        .map_err(|err| err.to_string())?;
    Ok(())
}
