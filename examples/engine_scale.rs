//! Scale figures of the engine core, printed as a table.
//!
//! ```text
//! cargo run --release --example engine_scale            # 100,000 idle users + 1,000,000
//! cargo run --release --example engine_scale -- 200000 2000000
//! ```
//!
//! * users started per second with `user_rate` infinity (3 nodes, nobody listening to events);
//! * resident memory per idle user (RSS from `/proc/self/statm`, 100,000 users waiting for
//!   their removal signal), and per user held back by `user_rate` 0;
//! * one million users held across the cluster, and how long stopping them takes.

use std::time::{Duration, Instant};

use rookery::engine::{EngineHandle, EngineOptions, UserRate, boxed};
use rookery::telemetry::Telemetry;

#[path = "common/idle.rs"]
mod idle;
use idle::Idle;

fn rss_bytes() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    let pages: u64 = statm
        .split_whitespace()
        .nth(1)
        .and_then(|p| p.parse().ok())
        .unwrap_or(0);
    pages * 4096
}

async fn run(e: &EngineHandle, users: u64) -> Result<(u64, Duration), String> {
    let before = rss_bytes();
    let t0 = Instant::now();
    e.add_users(users).map_err(|err| err.to_string())?;
    e.wait_for("users to start", Duration::from_secs(600), |h| {
        h.user_counts().running == users
    })
    .await
    .map_err(|err| err.to_string())?;
    let took = t0.elapsed();
    Ok((rss_bytes().saturating_sub(before), took))
}

async fn stop(e: &EngineHandle) -> Result<Duration, String> {
    let t0 = Instant::now();
    e.stop().map_err(|err| err.to_string())?;
    e.wait_finished(Duration::from_secs(600))
        .await
        .map_err(|err| err.to_string())?;
    Ok(t0.elapsed())
}

fn engine() -> Result<EngineHandle, String> {
    let e = EngineHandle::start(EngineOptions {
        nodes: 3,
        telemetry: Telemetry::new(),
        user_rate: UserRate::Infinity,
        ..EngineOptions::default()
    })
    .map_err(|err| err.to_string())?;
    e.start_scenario(boxed(Idle), UserRate::Infinity)
        .map_err(|err| err.to_string())?;
    Ok(e)
}

#[tokio::main(flavor = "multi_thread")]
async fn main() -> Result<(), String> {
    let mut args = std::env::args().skip(1);
    let small: u64 = args.next().and_then(|a| a.parse().ok()).unwrap_or(100_000);
    let big: u64 = args
        .next()
        .and_then(|a| a.parse().ok())
        .unwrap_or(1_000_000);
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());

    println!("engine scale (3 nodes, user_rate infinity, {threads} worker threads)");
    println!("{:<50} {:>12}", "measure", "value");

    let e = engine()?;
    let (mem, took) = run(&e, small).await?;
    println!(
        "{:<50} {:>12.0}",
        format!("users started per second ({small})"),
        small as f64 / took.as_secs_f64()
    );
    println!(
        "{:<50} {:>12.0}",
        format!("RSS bytes per idle user ({small})"),
        mem as f64 / small as f64
    );
    let stopped = stop(&e).await?;
    println!(
        "{:<50} {:>12.3}",
        format!("stop {small} users (s)"),
        stopped.as_secs_f64()
    );
    drop(e);

    // Users held back by `user_rate` 0 (waiting for their turn, not started).
    let e = engine()?;
    e.set_user_rate(UserRate::PerMinute(0))
        .map_err(|err| err.to_string())?;
    let before = rss_bytes();
    e.add_users(small).map_err(|err| err.to_string())?;
    // Added users count as waiting at once; wait until they all queue on `user_rate`.
    e.wait_for("users to queue", Duration::from_secs(600), |h| {
        h.services()
            .throttles()
            .info(rookery::engine::USER_RATE)
            .is_ok_and(|i| i.backlog as u64 == small)
    })
    .await
    .map_err(|err| err.to_string())?;
    println!(
        "{:<50} {:>12.0}",
        format!("RSS bytes per user held by user_rate 0 ({small})"),
        rss_bytes().saturating_sub(before) as f64 / small as f64
    );
    stop(&e).await?;
    drop(e);

    let e = engine()?;
    let base = rss_bytes();
    let (_, took) = run(&e, big).await?;
    let total = rss_bytes();
    println!(
        "{:<50} {:>12.0}",
        format!("users started per second ({big})"),
        big as f64 / took.as_secs_f64()
    );
    println!(
        "{:<50} {:>12.1}",
        format!("process RSS MiB with {big} users"),
        total as f64 / (1024.0 * 1024.0)
    );
    println!(
        "{:<50} {:>12.0}",
        format!("RSS bytes per idle user ({big})"),
        total.saturating_sub(base) as f64 / big as f64
    );
    let stopped = stop(&e).await?;
    println!(
        "{:<50} {:>12.3}",
        format!("stop {big} users (s)"),
        stopped.as_secs_f64()
    );
    Ok(())
}
