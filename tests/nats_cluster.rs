//! A real cluster on loopback: a `nats-server` on a free port, `rookery run --cluster` as the
//! master and `rookery node` worker processes (see `nats_support`).

mod nats_support;

use std::net::TcpStream;
use std::process::Command;
use std::time::Duration;

use nats_support::*;
use serde_json::Value;

#[test]
fn the_harness_starts_restarts_and_stops_nats_server() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = NatsServer::start(dir.path());
    let addr = format!("127.0.0.1:{}", server.port);
    assert!(TcpStream::connect(&addr).is_ok());
    server.kill();
    assert!(
        wait_until(Duration::from_secs(5), || TcpStream::connect(&addr)
            .is_err()),
        "a killed server still listens"
    );
    server.restart();
    assert!(
        TcpStream::connect(&addr).is_ok(),
        "the restarted server listens on the same port"
    );
    let port = server.port;
    drop(server);
    assert!(
        wait_until(Duration::from_secs(5), || TcpStream::connect((
            "127.0.0.1",
            port
        ))
        .is_err()),
        "dropping the guard stops the server"
    );
}

/// `rookery replay --headless FILES…`.
fn replay(files: &[std::path::PathBuf]) -> Value {
    let out = rookery()
        .args(["replay", "--headless"])
        .args(files)
        .output()
        .expect("rookery replay runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("a summary")
}

#[test]
fn the_masters_summary_is_the_merge_of_the_workers_logs() {
    let dir = tempfile::tempdir().unwrap();
    let server = NatsServer::start(dir.path());
    let url = server.url();
    let logs: Vec<_> = ["w1", "w2", "w3"]
        .iter()
        .map(|w| dir.path().join(format!("{w}.jsonl")))
        .collect();
    // Workers first (they wait for the master), then the master.
    let mut workers: Vec<Proc> = ["w1", "w2", "w3"]
        .iter()
        .zip(&logs)
        .map(|(w, log)| {
            worker(
                dir.path(),
                &url,
                w,
                "sum",
                &["--record", log.to_str().unwrap()],
            )
        })
        .collect();
    let mut m = master(
        dir.path(),
        &url,
        "sum",
        &[
            "--nodes-wait",
            "3",
            "--users",
            "30",
            "--duration",
            "3",
            "--set",
            "think_time=50ms",
            "--set",
            "user_rate=infinity",
        ],
    );
    let status = m
        .wait_timeout(Duration::from_secs(60))
        .expect("the master ends");
    assert!(status.success(), "master: {}", m.stderr_text());
    for w in &mut workers {
        let s = w
            .wait_timeout(Duration::from_secs(10))
            .expect("workers exit when the run ends");
        assert!(s.success(), "{}: {}", w.name, w.stderr_text());
    }
    let live = summary(&m);
    let merged = replay(&logs);
    assert_eq!(live["users"]["added"], 30);
    assert_eq!(live["users"], merged["users"]);
    assert!(live["events"].as_u64().unwrap() > 300, "{live}");
    // Throttle counts are equal; the `rate` each shows is the last `[amoc, throttle, rate]`
    // event, a share one worker applied, which depends on the order the logs are merged in.
    let without_rate = |v: &Value| {
        let mut v = v.clone();
        for t in v.as_object_mut().unwrap().values_mut() {
            t.as_object_mut().unwrap().remove("rate");
        }
        v
    };
    assert_eq!(
        without_rate(&live["throttles"]),
        without_rate(&merged["throttles"])
    );
    for key in ["config", "spans", "handler_failures"] {
        assert_eq!(live[key], merged[key], "{key}");
    }
    // The master owns the coordinators: their events are its own, emitted once, and no
    // worker emits any (their copies only run the actions on the batches handed back).
    assert!(
        live["coordinators"]["pairs"]["add"].as_u64().unwrap() > 0,
        "{live}"
    );
    assert_eq!(merged["coordinators"], serde_json::json!({}));
    // The other difference: the master's own `connect_nodes`, one per worker that joined.
    let mut by_event = live["by_event"].as_object().unwrap().clone();
    let connects = by_event["amoc.cluster.connect_nodes"].as_u64().unwrap();
    assert_eq!(
        connects,
        merged["by_event"]["amoc.cluster.connect_nodes"]
            .as_u64()
            .unwrap()
            + 3
    );
    let masters_own: u64 = by_event
        .iter()
        .filter(|(k, _)| k.starts_with("amoc.coordinator."))
        .map(|(_, v)| v.as_u64().unwrap())
        .sum();
    by_event.retain(|k, _| !k.starts_with("amoc.coordinator."));
    // And the master's own `[amoc, throttle, rate]`: the cluster-wide rate of each throttle,
    // once when it first hears of it (the workers' rate events are their shares), which the
    // summary shows.
    let throttles = live["throttles"].as_object().unwrap().len() as u64;
    let rate_events = |v: &Value| v["by_event"]["amoc.throttle.rate"].as_u64().unwrap();
    assert_eq!(rate_events(&live), rate_events(&merged) + throttles);
    assert_eq!(
        live["throttles"]["messages"]["rate"], 3000,
        "the demo's default"
    );
    let masters_own = masters_own + throttles;
    by_event.remove("amoc.throttle.rate");
    by_event.remove("amoc.cluster.connect_nodes");
    let mut merged_by_event = merged["by_event"].as_object().unwrap().clone();
    merged_by_event.remove("amoc.cluster.connect_nodes");
    merged_by_event.remove("amoc.throttle.rate");
    assert_eq!(by_event, merged_by_event);
    assert_eq!(
        live["events"].as_u64().unwrap(),
        merged["events"].as_u64().unwrap() + 3 + masters_own
    );
    for w in ["w1", "w2", "w3"] {
        assert_eq!(live["nodes"][w], "up", "{}", live["nodes"]);
    }
}

#[test]
fn a_worker_of_another_build_is_refused_on_both_sides_and_the_run_goes_on() {
    let dir = tempfile::tempdir().unwrap();
    let server = NatsServer::start(dir.path());
    let url = server.url();
    let mut m = master(
        dir.path(),
        &url,
        "ref",
        &["--nodes-wait", "1", "--users", "0", "--duration", "1"],
    );
    let mut cmd = rookery();
    cmd.args(["node", "--cluster", &url, "--name", "old", "--run", "ref"])
        .env("ROOKERY_BUILD_ID", "another-commit");
    let mut other = Proc::spawn("old", cmd, dir.path());
    let s = other
        .wait_timeout(Duration::from_secs(20))
        .expect("a refused worker exits");
    assert_eq!(s.code(), Some(1));
    let err = other.stderr_text();
    assert!(
        err.contains("refused") && err.contains("fingerprint") && err.contains("another-commit"),
        "{err}"
    );
    assert!(
        wait_until(Duration::from_secs(5), || m
            .stderr_text()
            .contains("refused worker \"old\"")),
        "master: {}",
        m.stderr_text()
    );
    // A good worker still joins, and the run goes on.
    let mut good = worker(dir.path(), &url, "good", "ref", &[]);
    let s = m
        .wait_timeout(Duration::from_secs(30))
        .expect("the master ends");
    assert!(s.success(), "{}", m.stderr_text());
    assert!(good.ends_ok(Duration::from_secs(10)));
    let live = summary(&m);
    assert_eq!(live["nodes"]["good"], "up");
    assert!(live["nodes"].get("old").is_none(), "{}", live["nodes"]);
}

#[test]
fn a_worker_that_lacks_the_scenario_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let server = NatsServer::start(dir.path());
    let url = server.url();
    // The master runs a scenario the plain `rookery` binary does not have: `chat`, from the
    // example of that name (built here).
    let status = Command::new(env!("CARGO"))
        .args(["build", "--quiet", "--example", "chat"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .status()
        .expect("cargo runs");
    assert!(status.success());
    let exe = std::env::current_exe().unwrap();
    let chat = exe
        .parent()
        .and_then(|d| d.parent())
        .unwrap()
        .join("examples/chat");
    let mut cmd = Command::new(chat);
    cmd.args([
        "run",
        "--headless",
        "--cluster",
        &url,
        "--run",
        "sc",
        "--nodes-wait",
        "1",
    ]);
    let m = Proc::spawn("master", cmd, dir.path());
    let mut w = worker(dir.path(), &url, "plain", "sc", &[]);
    let s = w
        .wait_timeout(Duration::from_secs(20))
        .expect("a refused worker exits");
    assert_eq!(s.code(), Some(1));
    let err = w.stderr_text();
    assert!(err.contains("no scenario") && err.contains("demo"), "{err}");
    assert!(
        wait_until(Duration::from_secs(5), || m
            .stderr_text()
            .contains("no scenario")),
        "master: {}",
        m.stderr_text()
    );
    m.sigterm();
}
