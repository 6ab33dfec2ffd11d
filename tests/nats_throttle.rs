//! Cluster-wide throttles over NATS: one rate for the whole cluster, split into shares by the
//! workers' demand. The master runs in this test's process (the library's `Master`); three
//! `rookery node` workers with uneven demand (their own `think_time` from the environment)
//! run the demo's users, whose messages pass the `messages` throttle.

mod nats_support;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use nats_support::*;
use rookery::cluster_nats::{ClusterAddr, Master, MasterOptions};
use rookery::telemetry::{Fields, Telemetry, Value, monotonic_time};

/// Releases of `messages` seen by the master, by arrival time; and the workers' rate events.
#[derive(Default)]
struct Seen {
    /// Their `monotonic_time` (the master maps each worker's clock onto its own).
    executes: Vec<i64>,
    rates: Vec<(Instant, String, i64)>,
}

/// Events per one-second window from `from` (ns on the `monotonic_time` clock).
fn windows(times: &[i64], from: i64, seconds: i64) -> Vec<usize> {
    (0..seconds)
        .map(|k| {
            let a = from + k * 1_000_000_000;
            let b = a + 1_000_000_000;
            times.iter().filter(|t| **t >= a && **t < b).count()
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cluster_rate_holds_per_second_over_uneven_workers_and_follows_a_change() {
    let dir = tempfile::tempdir().unwrap();
    let server = NatsServer::start(dir.path());
    let url = server.url();
    let mut workers = Vec::new();
    for (w, think) in [("w1", "0s"), ("w2", "100ms"), ("w3", "5s")] {
        let mut cmd = rookery();
        cmd.args(["node", "--cluster", &url, "--name", w, "--run", "thr"])
            .env("ROOKERY_THINK_TIME", think);
        workers.push(Proc::spawn(w, cmd, dir.path()));
    }
    let telemetry = Telemetry::new();
    let seen = Arc::new(Mutex::new(Seen::default()));
    let s = seen.clone();
    telemetry
        .attach_prefix(
            "probe",
            &["amoc", "throttle"],
            move |name, m, md, _| {
                if md.get_str("name") != Some("messages") {
                    return;
                }
                let mut s = s.lock().unwrap();
                let name = name.dotted();
                if name == "amoc.throttle.execute" {
                    if let Some(Value::Int(t)) = md.lookup("monotonic_time") {
                        s.executes.push(*t);
                    }
                } else if name == "amoc.throttle.rate"
                    && let Some(Value::Int(r)) = m.lookup("rate")
                {
                    let node = md.get_str("node").unwrap_or("").to_owned();
                    s.rates.push((Instant::now(), node, *r));
                }
            },
            Value::Null,
        )
        .unwrap();
    let master = Master::start(
        MasterOptions {
            addr: ClusterAddr {
                url: url.clone(),
                ..ClusterAddr::default()
            },
            run: "thr".into(),
            name: "master".into(),
            scenario: "demo".into(),
            // 100 messages/s cluster-wide; logins out of the way.
            settings: vec![
                "message_rate=6000".into(),
                "login_rate=6000000".into(),
                "user_rate=infinity".into(),
            ],
            heartbeat: rookery::cluster_nats::HEARTBEAT,
            timeout: rookery::cluster_nats::TIMEOUT,
        },
        telemetry.clone(),
        Instant::now(),
    )
    .await
    .unwrap();
    master.wait_nodes(3, Duration::from_secs(30)).await.unwrap();
    master.add_users(300).await.unwrap();
    // Let the shares settle, then measure 5 one-second windows.
    tokio::time::sleep(Duration::from_secs(4)).await;
    let from = monotonic_time();
    tokio::time::sleep(Duration::from_secs(6)).await;
    let at_100 = windows(&seen.lock().unwrap().executes, from, 5);
    eprintln!("100/s over w1 (think 0), w2 (100 ms), w3 (5 s): {at_100:?}");
    for n in &at_100 {
        assert!(
            (98..=102).contains(n),
            "a window off by more than 2%: {at_100:?}"
        );
    }

    // A change is in force on every worker within 200 ms.
    let changed_at = Instant::now();
    master
        .set_rate("messages", Some(60_000), None)
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_secs(1)).await;
    {
        let s = seen.lock().unwrap();
        for w in ["w1", "w2", "w3"] {
            let first = s
                .rates
                .iter()
                .find(|(t, node, _)| *t >= changed_at && node == w)
                .unwrap_or_else(|| panic!("{w} got no new share"));
            let took = first.0 - changed_at;
            eprintln!("rate change → {w}'s new share in force after {took:?}");
            assert!(took < Duration::from_millis(200), "{w}: {took:?}");
        }
    }
    tokio::time::sleep(Duration::from_secs(3)).await;
    let from = monotonic_time();
    tokio::time::sleep(Duration::from_secs(5)).await;
    let at_1000 = windows(&seen.lock().unwrap().executes, from, 4);
    eprintln!("1000/s: {at_1000:?}");
    for n in &at_1000 {
        assert!(
            (980..=1020).contains(n),
            "a window off by more than 2%: {at_1000:?}"
        );
    }
    master.stop(Duration::from_secs(15)).await.unwrap();
    master.end().await;
    for w in &mut workers {
        assert!(w.ends_ok(Duration::from_secs(10)));
    }
}
