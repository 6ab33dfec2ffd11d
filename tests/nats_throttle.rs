//! Cluster-wide throttles over NATS: one rate for the whole cluster, split into shares by the
//! workers' demand. The master runs in this test's process (the library's `Master`); three
//! `rookery node` workers with uneven demand (their own `think_time` from the environment)
//! run the demo's users, whose messages pass the `messages` throttle (see
//! `examples/common/nats_precision.rs`; `cargo run --release --example
//! nats_throttle_precision` prints the same figures, up to 100k/s).
//!
//! Every one-second window must hold the set rate ±2 %. A window is judged only when `w1`
//! could run: its users never think, so its throttle always has requests waiting and releases
//! at its own spacing whenever its process is scheduled. A window is excluded (and reported)
//! when `w1` shows a gap over twice its spacing plus 10 ms, or its threads waited for a CPU
//! longer than the window in all (Linux's schedstat; see `rookery::cluster_nats::precision`).
//! Windows are measured until 5 of each rate were judged (at most 40 at 10k/s): on a machine
//! too loaded for that, the test fails and says so.

mod nats_support;

#[path = "../examples/common/nats_precision.rs"]
mod nats_precision;

use std::time::Duration;

use nats_precision::{Precision, WORKERS, fed, report};
use nats_support::*;
use rookery::cluster_nats::precision::Window;
use rookery::telemetry::monotonic_time;

/// Asserts that at least `min` windows were judged and each holds `per_s` ±2 %.
fn assert_within_2_percent(label: &str, per_s: u64, windows: &[Window], min: usize) {
    eprint!("{}", report(label, per_s, windows));
    let judged = fed(windows);
    assert!(
        judged.len() >= min,
        "{label}: only {} of {} windows had w1 running (need {min})",
        judged.len(),
        windows.len()
    );
    let (lo, hi) = (per_s * 98 / 100, per_s * 102 / 100);
    for w in judged {
        assert!(
            (lo..=hi).contains(&w.total),
            "{label}: a window of {} is off by more than 2%: {:?}",
            w.total,
            windows.iter().map(|w| w.total).collect::<Vec<_>>()
        );
    }
}

const WORKER_NAMES: [&str; 3] = [WORKERS[0].0, WORKERS[1].0, WORKERS[2].0];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cluster_rate_holds_per_second_over_uneven_workers_follows_a_change_and_a_loss() {
    let dir = tempfile::tempdir().unwrap();
    let server = NatsServer::start(dir.path());
    let url = server.url();
    let mut workers = Vec::new();
    for (w, think) in WORKERS {
        let mut cmd = rookery();
        cmd.args(["node", "--cluster", &url, "--name", w, "--run", "thr"])
            .env("ROOKERY_THINK_TIME", think);
        workers.push(Proc::spawn(w, cmd, dir.path()));
    }
    let p = Precision::start(&url, "thr", 100, &[("w1", workers[0].pid() as u32)])
        .await
        .unwrap();

    // 100/s.
    let at_100 = p.measure(Duration::from_secs(4), 5, 30).await;
    assert_within_2_percent("100/s", 100, &at_100, 5);

    // A change is in force cluster-wide within 200 ms: the shares the workers run add up to
    // the new rate (a worker whose share stays the same gets no message).
    let changed_at = p.set_rate(10_000).await.unwrap();
    let took = p
        .shares_whole_after(changed_at, &WORKER_NAMES, 600_000, Duration::from_secs(10))
        .await;
    eprintln!("rate change → the workers' shares add up to 10k/s after {took:?}");
    let took = took.expect("the workers' shares never added up to the new rate");
    assert!(took < Duration::from_millis(200), "{took:?}");
    let at_10k = p.measure(Duration::from_secs(3), 5, 40).await;
    assert_within_2_percent("10k/s", 10_000, &at_10k, 5);

    // A lost node's share goes to the others as soon as it is declared down.
    let killed_at = monotonic_time();
    workers[1].kill9();
    let timeout = rookery::cluster_nats::TIMEOUT;
    let took = p
        .shares_whole_after(killed_at, &["w1", "w3"], 600_000, Duration::from_secs(15))
        .await;
    eprintln!("w2 killed → w1 and w3 hold the whole rate after {took:?}");
    let took = took.expect("w2's share was never given to w1 and w3");
    assert!(
        took <= timeout + Duration::from_millis(500),
        "redistributed {took:?} after the kill (timeout {timeout:?})"
    );
    let after_loss = p.measure(Duration::from_secs(2), 3, 30).await;
    assert_within_2_percent("10k/s after losing w2", 10_000, &after_loss, 3);

    p.finish().await.unwrap();
    for w in workers.iter_mut().filter(|w| w.name != "w2") {
        assert!(w.ends_ok(Duration::from_secs(10)), "{} did not end", w.name);
    }
}
