//! The monitor's keys and the API on a real cluster: the master (this test's process, the
//! library's `Master`) owns the throttles' state: a pause and a resume, a gradual ramp, all
//! cluster-wide and shown as cluster-wide rates; a worker asked to leave (`X`), and the master
//! refusing to leave itself. Three `rookery node` workers run the demo.

mod nats_support;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use nats_support::*;
use rookery::cluster_nats::{ClusterAddr, Master, MasterOptions};
use rookery::monitor::{LiveFeed, MonitorState};
use rookery::telemetry::{Fields, Telemetry, Value};

/// A `[amoc, throttle, rate]` of `messages` as the master's registry saw it.
#[derive(Clone, Debug)]
struct RateEvent {
    node: String,
    rate: Option<i64>,
    ramping: bool,
    target: Option<i64>,
}

/// Polls `cond` every 20 ms for at most `limit`.
async fn eventually(limit: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let end = Instant::now() + limit;
    loop {
        if cond() {
            return true;
        }
        if Instant::now() >= end {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pause_resume_ramp_and_leave_work_cluster_wide() {
    let dir = tempfile::tempdir().unwrap();
    let server = NatsServer::start(dir.path());
    let url = server.url();
    let mut workers: Vec<Proc> = ["w1", "w2", "w3"]
        .iter()
        .map(|w| worker(dir.path(), &url, w, "keys", &[]))
        .collect();
    let telemetry = Telemetry::new();
    let feed = LiveFeed::attach_default(&telemetry).unwrap();
    let executes = Arc::new(AtomicU64::new(0));
    let rates = Arc::new(Mutex::new(Vec::<RateEvent>::new()));
    let down = Arc::new(Mutex::new(Vec::<String>::new()));
    let (e, r, d) = (executes.clone(), rates.clone(), down.clone());
    telemetry
        .attach_prefix(
            "probe",
            &[] as &[&str],
            move |name, m, md, _| {
                let name = name.dotted();
                if name == "amoc.cluster.nodedown" {
                    if let Some(Value::List(l)) = md.lookup("nodes") {
                        let mut d = d.lock().unwrap();
                        d.extend(l.iter().filter_map(|v| v.as_str().map(str::to_owned)));
                    }
                    return;
                }
                if md.get_str("name") != Some("messages") {
                    return;
                }
                if name == "amoc.throttle.execute" {
                    e.fetch_add(1, Ordering::Relaxed);
                } else if name == "amoc.throttle.rate" {
                    r.lock().unwrap().push(RateEvent {
                        node: md.get_str("node").unwrap_or("").to_owned(),
                        rate: m.lookup("rate").and_then(Value::as_i64),
                        ramping: md.lookup("ramping") == Some(&Value::Bool(true)),
                        target: md.lookup("ramp_target").and_then(Value::as_i64),
                    });
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
            run: "keys".into(),
            name: "master".into(),
            scenario: "demo".into(),
            // 100 messages/s cluster-wide, users always wanting more.
            settings: vec![
                "message_rate=6000".into(),
                "think_time=0s".into(),
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
    master.add_users(30).await.unwrap();
    let master_rate = |rate: i64| {
        let r = rates.clone();
        move || {
            r.lock()
                .unwrap()
                .iter()
                .any(|e| e.node == "master" && e.rate == Some(rate) && !e.ramping)
        }
    };
    assert!(
        eventually(Duration::from_secs(10), master_rate(6000)).await,
        "the master reports the cluster-wide rate: {:?}",
        rates.lock().unwrap()
    );
    assert!(
        eventually(Duration::from_secs(10), || executes.load(Ordering::Relaxed)
            > 50)
        .await,
        "messages flow"
    );

    // The workers run shares of it (their own rate events), yet the monitor's throttle pane
    // shows the cluster-wide rate.
    assert!(
        eventually(Duration::from_secs(5), || rates
            .lock()
            .unwrap()
            .iter()
            .any(|e| e.node != "master" && e.rate.is_some_and(|r| r < 6000)))
        .await,
        "workers run shares of it: {:?}",
        rates.lock().unwrap()
    );
    let mut state = MonitorState::new();
    feed.drain_into(&mut state);
    let summary = serde_json::to_value(state.summary()).unwrap();
    assert_eq!(summary["throttles"]["messages"]["rate"], 6000, "{summary}");

    // Pause: nothing is released anywhere; resume: it flows again.
    master.set_paused("messages", true).await.unwrap();
    tokio::time::sleep(Duration::from_millis(700)).await;
    let before = executes.load(Ordering::Relaxed);
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(
        executes.load(Ordering::Relaxed),
        before,
        "a paused throttle released requests"
    );
    assert!(master.set_paused("messages", true).await.is_err());
    master.set_paused("messages", false).await.unwrap();
    assert!(
        eventually(Duration::from_secs(3), || executes.load(Ordering::Relaxed)
            > before + 20)
        .await,
        "resumed"
    );

    // A ramp to 12000 per minute over 1 s: the master reports it ramping, then there.
    master
        .ramp("messages", 12_000, Duration::from_secs(1))
        .await
        .unwrap();
    assert!(
        eventually(Duration::from_secs(5), master_rate(12_000)).await,
        "{:?}",
        rates.lock().unwrap()
    );
    assert!(
        rates
            .lock()
            .unwrap()
            .iter()
            .any(|e| e.node == "master" && e.ramping && e.target == Some(12_000)),
        "no event said ramping: {:?}",
        rates.lock().unwrap()
    );
    assert!(master.cancel_ramp("messages").is_err(), "the ramp ended");
    feed.drain_into(&mut state);
    let summary = serde_json::to_value(state.summary()).unwrap();
    assert_eq!(summary["throttles"]["messages"]["rate"], 12_000);

    // `X` on a worker: it stops its users and leaves; the master never leaves itself.
    let err = master.kill_node("master").await.unwrap_err();
    assert!(err.contains("master") && err.contains("quit"), "{err}");
    master.kill_node("w3").await.unwrap();
    assert!(
        workers[2].ends_ok(Duration::from_secs(10)),
        "{}",
        workers[2].stderr_text()
    );
    assert!(
        eventually(Duration::from_secs(5), || down
            .lock()
            .unwrap()
            .contains(&"w3".to_owned()))
        .await
    );
    assert!(!master.nodes_up().contains(&"w3".to_owned()));
    master.stop(Duration::from_secs(15)).await.unwrap();
    master.end().await;
    for w in &mut workers[..2] {
        assert!(w.ends_ok(Duration::from_secs(10)), "{}", w.stderr_text());
    }
}
