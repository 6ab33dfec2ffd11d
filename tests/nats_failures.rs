//! Failures of a real cluster on loopback, each timed: a worker killed (-9), a worker frozen
//! (SIGSTOP) past the timeout and resumed, the master killed, the NATS server restarted, a
//! worker leaving on SIGTERM, and messages that must be ignored and counted.
//!
//! The tests of this file run one at a time (their timings are the point), with generous
//! margins only where the contract has none.

mod nats_support;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use nats_support::*;
use serde_json::Value;

static SERIAL: Mutex<()> = Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

/// The events of a (possibly still growing) event log; a torn last line is skipped.
fn events(path: &Path) -> Vec<Value> {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    text.lines()
        .skip(1)
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}

fn name(ev: &Value) -> String {
    ev["event"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .collect::<Vec<_>>()
                .join(".")
        })
        .unwrap_or_default()
}

fn lists(ev: &Value, node: &str) -> bool {
    ev["metadata"]["nodes"]
        .as_array()
        .is_some_and(|a| a.iter().any(|n| n == node))
}

/// Waits for an event of `log` that `pred` accepts; returns it.
fn wait_event(log: &Path, limit: Duration, pred: impl Fn(&Value) -> bool) -> Option<Value> {
    let mut found = None;
    wait_until(limit, || {
        found = events(log).into_iter().find(|e| pred(e));
        found.is_some()
    });
    found
}

/// A master (recording to `master.jsonl`) and three workers w1..w3 (recording to `wN.jsonl`)
/// on run `run`, with 30 users; returns once every worker has users running.
fn cluster(dir: &Path, url: &str, run: &str) -> (Proc, Vec<Proc>) {
    let workers: Vec<Proc> = ["w1", "w2", "w3"]
        .iter()
        .map(|w| {
            let log = dir.join(format!("{w}.jsonl"));
            worker(dir, url, w, run, &["--record", log.to_str().unwrap()])
        })
        .collect();
    let record = dir.join("master.jsonl");
    let m = master(
        dir,
        url,
        run,
        &[
            "--nodes-wait",
            "3",
            "--users",
            "30",
            "--duration",
            "60",
            "--set",
            "user_rate=infinity",
            "--set",
            "think_time=50ms",
            "--record",
            record.to_str().unwrap(),
        ],
    );
    for w in ["w1", "w2", "w3"] {
        let started = wait_event(&record, Duration::from_secs(30), |e| {
            name(e) == "amoc.scenario.start.start" && e["node"] == w
        });
        assert!(started.is_some(), "{w} runs no user: {}", m.stderr_text());
    }
    (m, workers)
}

/// Ends a master with SIGTERM; it must exit 0 and print its summary, which is returned.
fn end_master(m: &mut Proc) -> Value {
    m.sigterm();
    let s = m
        .wait_timeout(Duration::from_secs(30))
        .expect("the master ends");
    assert!(s.success(), "{}", m.stderr_text());
    summary(m)
}

fn t_us(ev: &Value) -> u64 {
    ev["t_us"].as_u64().unwrap_or(0)
}

#[test]
fn a_killed_worker_is_down_within_3s_and_its_users_are_counted_as_lost() {
    let _s = serial();
    let dir = tempfile::tempdir().unwrap();
    let server = NatsServer::start(dir.path());
    let (mut m, mut workers) = cluster(dir.path(), &server.url(), "kill");
    let record = dir.path().join("master.jsonl");
    let killed_at = Instant::now();
    workers[1].kill9();
    let down = wait_event(&record, Duration::from_secs(10), |e| {
        name(e) == "amoc.cluster.nodedown" && lists(e, "w2")
    });
    let took = killed_at.elapsed();
    assert!(down.is_some(), "no nodedown for w2: {}", m.stderr_text());
    assert!(took < Duration::from_secs(3), "nodedown took {took:?}");
    eprintln!("kill -9 → nodedown: {took:?}");
    let lost = wait_event(&record, Duration::from_secs(2), |e| {
        name(e) == "rookery.cluster.users_lost"
    })
    .expect("the lost users are reported");
    assert_eq!(lost["metadata"]["lost_node"], "w2");
    assert_eq!(lost["measurements"]["count"], 10, "w2 ran users 11-20");
    // The others go on; the master ends cleanly and its summary shows w2 down.
    let live = end_master(&mut m);
    assert_eq!(live["nodes"]["w2"], "down");
    assert_eq!(live["nodes"]["w1"], "up");
    assert_eq!(live["cluster"]["nodedown"], 1);
    for i in [0, 2] {
        assert!(workers[i].ends_ok(Duration::from_secs(10)));
    }
}

#[test]
fn a_frozen_worker_stops_its_users_and_rejoins_as_a_new_node() {
    let _s = serial();
    let dir = tempfile::tempdir().unwrap();
    let server = NatsServer::start(dir.path());
    let (mut m, workers) = cluster(dir.path(), &server.url(), "freeze");
    let record = dir.path().join("master.jsonl");
    let stopped_at = Instant::now();
    workers[0].sigstop();
    let down = wait_event(&record, Duration::from_secs(10), |e| {
        name(e) == "amoc.cluster.nodedown" && lists(e, "w1")
    });
    assert!(down.is_some(), "w1 was not declared down");
    let declared = stopped_at.elapsed();
    assert!(declared < Duration::from_secs(3), "{declared:?}");
    std::thread::sleep(Duration::from_millis(500));
    let resumed_at = Instant::now();
    workers[0].sigcont();
    let rejoined = wait_event(&record, Duration::from_secs(10), |e| {
        name(e) == "amoc.cluster.connect_nodes" && e["node"] == "master" && lists(e, "w1~2")
    });
    assert!(
        rejoined.is_some(),
        "w1 did not rejoin: {}",
        workers[0].stderr_text()
    );
    eprintln!(
        "SIGSTOP → nodedown {declared:?}; SIGCONT → rejoined as w1~2 in {:?}",
        resumed_at.elapsed()
    );
    assert!(
        workers[0]
            .stderr_text()
            .contains("joining again as a new node")
    );
    // No zombie: the old incarnation's users are gone. Its own log stops growing, and the
    // master accepted nothing from `w1` after declaring it down.
    let own = dir.path().join("w1.jsonl");
    std::thread::sleep(Duration::from_millis(500));
    let count = |n: &str| events(&own).iter().filter(|e| e["node"] == n).count();
    let before = count("w1");
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(count("w1"), before, "the frozen incarnation still emits");
    let down_t = t_us(&down.unwrap());
    let late: Vec<_> = events(&record)
        .into_iter()
        .filter(|e| e["node"] == "w1" && t_us(e) > down_t + 100_000)
        .collect();
    assert!(
        late.is_empty(),
        "events from w1 after it was down: {late:?}"
    );
    let live = end_master(&mut m);
    assert_eq!(live["nodes"]["w1"], "down");
    assert_eq!(live["nodes"]["w1~2"], "up");
    // Ids 1-30 went to w1..w3 once; the new node got none (ids are never handed out twice).
    assert_eq!(live["users"]["added"], 30);
}

#[test]
fn workers_stop_and_exit_within_5s_when_the_master_dies() {
    let _s = serial();
    let dir = tempfile::tempdir().unwrap();
    let server = NatsServer::start(dir.path());
    let (mut m, mut workers) = cluster(dir.path(), &server.url(), "nomaster");
    let killed_at = Instant::now();
    m.kill9();
    for w in &mut workers {
        let s = w
            .wait_timeout(Duration::from_secs(5))
            .unwrap_or_else(|| panic!("{} still runs 5 s after the master died", w.name));
        let took = killed_at.elapsed();
        eprintln!("master kill -9 → {} exited after {took:?}", w.name);
        assert_eq!(s.code(), Some(1));
        let err = w.stderr_text();
        assert!(err.contains("the master master stopped answering"), "{err}");
        let log = dir.path().join(format!("{}.jsonl", w.name));
        let evs = events(&log);
        let down = evs
            .iter()
            .find(|e| name(e) == "amoc.cluster.master_node_down")
            .unwrap_or_else(|| panic!("{}: no master_node_down", w.name));
        // Its users were cancelled then: nothing starts afterwards.
        let t = t_us(down);
        let later = evs
            .iter()
            .filter(|e| name(e) == "amoc.throttle.request" && t_us(e) > t + 50_000)
            .count();
        assert_eq!(later, 0, "{} kept sending load", w.name);
    }
}

#[test]
fn the_run_goes_on_through_a_nats_server_restart() {
    let _s = serial();
    let dir = tempfile::tempdir().unwrap();
    let mut server = NatsServer::start(dir.path());
    let (mut m, mut workers) = cluster(dir.path(), &server.url(), "restart");
    let record = dir.path().join("master.jsonl");
    server.restart();
    let restarted = Instant::now();
    let after = events(&record).last().map_or(0, t_us);
    for w in ["w1", "w2", "w3"] {
        let seen = wait_event(&record, Duration::from_secs(15), |e| {
            e["node"] == w && t_us(e) > after + 500_000
        });
        assert!(
            seen.is_some(),
            "no events from {w} after the restart: {}",
            m.stderr_text()
        );
    }
    eprintln!(
        "NATS restart → events from every worker again within {:?}",
        restarted.elapsed()
    );
    let live = end_master(&mut m);
    assert_eq!(live["cluster"]["nodedown"], 0, "nobody was declared down");
    for w in ["w1", "w2", "w3"] {
        assert_eq!(live["nodes"][w], "up");
    }
    for w in &mut workers {
        assert!(w.ends_ok(Duration::from_secs(10)));
    }
}

#[test]
fn a_worker_leaving_on_sigterm_stops_its_users_and_the_master_sees_it_go() {
    let _s = serial();
    let dir = tempfile::tempdir().unwrap();
    let server = NatsServer::start(dir.path());
    let (mut m, mut workers) = cluster(dir.path(), &server.url(), "leave");
    let record = dir.path().join("master.jsonl");
    workers[2].sigterm();
    let s = workers[2]
        .wait_timeout(Duration::from_secs(10))
        .expect("w3 leaves");
    assert!(s.success(), "{}", workers[2].stderr_text());
    let down = wait_event(&record, Duration::from_secs(5), |e| {
        name(e) == "amoc.cluster.nodedown" && lists(e, "w3")
    });
    assert!(down.is_some(), "the master did not see w3 leave");
    // Its users ended normally and `terminate` ran, and the master has those events.
    let mine: Vec<Value> = events(&record)
        .into_iter()
        .filter(|e| e["node"] == "w3")
        .collect();
    assert!(
        mine.iter()
            .any(|e| name(e) == "amoc.scenario.terminate.stop")
    );
    let starts = mine
        .iter()
        .filter(|e| name(e) == "amoc.scenario.start.start")
        .count();
    let ends = mine
        .iter()
        .filter(|e| {
            let n = name(e);
            n == "amoc.scenario.start.stop" || n == "amoc.scenario.start.exception"
        })
        .count();
    assert_eq!(starts, ends, "every user of w3 ended");
    assert!(
        events(&record)
            .iter()
            .all(|e| name(e) != "rookery.cluster.users_lost"),
        "a clean leave loses no users"
    );
    m.sigterm();
    assert!(m.ends_ok(Duration::from_secs(30)));
}

/// Publishes `payload` on `subject` with the NATS text protocol.
fn publish_raw(port: u16, subject: &str, payload: &[u8]) {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut r = BufReader::new(s.try_clone().unwrap());
    let mut info = String::new();
    r.read_line(&mut info).unwrap();
    assert!(info.starts_with("INFO"), "{info}");
    write!(s, "CONNECT {{\"verbose\":false,\"pedantic\":false}}\r\n").unwrap();
    write!(s, "PUB {subject} {}\r\n", payload.len()).unwrap();
    s.write_all(payload).unwrap();
    s.write_all(b"\r\nPING\r\n").unwrap();
    let mut pong = [0u8; 6];
    r.read_exact(&mut pong).unwrap();
    assert_eq!(&pong, b"PONG\r\n");
}

#[test]
fn another_runs_worker_and_undecodable_messages_are_ignored_and_counted() {
    let _s = serial();
    let dir = tempfile::tempdir().unwrap();
    let server = NatsServer::start(dir.path());
    let url = server.url();
    let mut m = master(
        dir.path(),
        &url,
        "mine",
        &["--nodes-wait", "1", "--users", "4", "--duration", "4"],
    );
    let mut stranger = worker(dir.path(), &url, "stranger", "theirs", &[]);
    let mut w = worker(dir.path(), &url, "w1", "mine", &[]);
    assert!(
        wait_until(Duration::from_secs(20), || w
            .stderr_text()
            .contains("joined run")),
        "{}",
        w.stderr_text()
    );
    publish_raw(server.port, "rookery.mine.hb.w1", b"not json");
    publish_raw(
        server.port,
        "rookery.mine.ev.w1",
        b"{\"rookery_batch\":9}\n",
    );
    publish_raw(server.port, "rookery.join", b"\x00\x01");
    let s = m
        .wait_timeout(Duration::from_secs(30))
        .expect("the master ends");
    assert!(s.success(), "{}", m.stderr_text());
    let live = summary(&m);
    let ignored = live["by_event"]["rookery.cluster.ignored"]
        .as_u64()
        .unwrap_or(0);
    // The stranger asks about once a second; the three bad messages once each.
    assert!(ignored >= 4, "{live}");
    assert!(live["nodes"].get("stranger").is_none());
    assert_eq!(live["users"]["added"], 4, "the run went on");
    assert!(
        stranger.running(),
        "the stranger still waits for its own master"
    );
    assert!(w.ends_ok(Duration::from_secs(10)));
}
