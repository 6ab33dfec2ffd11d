//! Results on a real cluster's master, through the binary with three workers: `run --cluster`
//! honours `--threshold` (exit 99), `--summary-json`, `--report`, `--settings FILE` and
//! `--abort-on-fail` as a simulated `run` does.

mod nats_support;

use std::time::{Duration, Instant};

use nats_support::*;
use serde_json::Value;

fn three_workers(dir: &std::path::Path, url: &str, run: &str) -> Vec<Proc> {
    ["w1", "w2", "w3"]
        .iter()
        .map(|w| worker(dir, url, w, run, &[]))
        .collect()
}

#[test]
fn thresholds_summary_report_and_settings_file_on_the_master() {
    let dir = tempfile::tempdir().unwrap();
    let server = NatsServer::start(dir.path());
    let url = server.url();
    let settings = dir.path().join("run.toml");
    std::fs::write(
        &settings,
        "message_rate = 4321\nlogin_rate = 1234\nthink_time = \"50ms\"\n",
    )
    .unwrap();
    let (summary_path, report_path) = (dir.path().join("s.json"), dir.path().join("r.html"));
    let mut workers = three_workers(dir.path(), &url, "res");
    let mut m = master(
        dir.path(),
        &url,
        "res",
        &[
            "--nodes-wait",
            "3",
            "--users",
            "40",
            "--duration",
            "2",
            "--settings",
            settings.to_str().unwrap(),
            "--set",
            "login_rate=60000",
            "--set",
            "user_rate=infinity",
            // Every 37th user of the demo fails: this one fails; the other holds.
            "--threshold",
            "users failed == 0",
            "--threshold",
            "users added == 40",
            "--summary-json",
            summary_path.to_str().unwrap(),
            "--report",
            report_path.to_str().unwrap(),
        ],
    );
    let status = m
        .wait_timeout(Duration::from_secs(60))
        .expect("the master ends");
    let err = m.stderr_text();
    assert_eq!(status.code(), Some(99), "a failed threshold: {err}");
    assert!(
        err.contains("thresholds failed") && err.contains("users failed == 0"),
        "{err}"
    );
    assert!(!err.contains("users added == 40"), "that one passed: {err}");
    for w in &mut workers {
        assert!(w.ends_ok(Duration::from_secs(10)), "{}", w.stderr_text());
    }
    let printed = summary(&m);
    let written: Value =
        serde_json::from_str(&std::fs::read_to_string(&summary_path).unwrap()).unwrap();
    assert_eq!(printed, written, "the file is the printed summary");
    let thresholds = written["thresholds"].as_array().unwrap();
    assert_eq!(thresholds.len(), 2);
    assert_eq!(thresholds[0]["ok"], false);
    assert_eq!(thresholds[1]["ok"], true);
    // The settings file reached the workers, a `--set` won over it; the master shows the
    // cluster-wide rates.
    assert_eq!(written["throttles"]["messages"]["rate"], 4321);
    assert_eq!(written["throttles"]["logins"]["rate"], 60000);
    assert_eq!(written["users"]["added"], 40);
    let html = std::fs::read_to_string(&report_path).unwrap();
    assert!(
        html.contains("users failed == 0") && html.contains("<html"),
        "a report with the thresholds"
    );

    // A bad settings file is refused before any worker is involved.
    let bad = dir.path().join("bad.toml");
    std::fs::write(&bad, "pair_every = \"often\"\n").unwrap();
    let mut refused = master(
        dir.path(),
        &url,
        "res2",
        &["--nodes-wait", "1", "--settings", bad.to_str().unwrap()],
    );
    let s = refused
        .wait_timeout(Duration::from_secs(20))
        .expect("refused at once");
    let err = refused.stderr_text();
    assert_eq!(s.code(), Some(1), "{err}");
    assert!(
        err.contains("pair_every") && err.lines().count() == 1,
        "{err}"
    );
}

#[test]
fn abort_on_fail_stops_the_cluster_run_early_with_exit_99() {
    let dir = tempfile::tempdir().unwrap();
    let server = NatsServer::start(dir.path());
    let url = server.url();
    let mut workers = three_workers(dir.path(), &url, "ab");
    let started = Instant::now();
    let mut m = master(
        dir.path(),
        &url,
        "ab",
        &[
            "--nodes-wait",
            "3",
            "--users",
            "30",
            "--duration",
            "60",
            "--set",
            "user_rate=infinity",
            "--threshold",
            "demo.message p50[1s] < 1us",
            "--abort-on-fail",
        ],
    );
    let status = m
        .wait_timeout(Duration::from_secs(40))
        .expect("the run is aborted long before its 60 s");
    let took = started.elapsed();
    let err = m.stderr_text();
    assert_eq!(status.code(), Some(99), "{err}");
    assert!(err.contains("demo.message p50[1s] < 1us"), "{err}");
    assert!(took < Duration::from_secs(30), "aborted after {took:?}");
    eprintln!("--abort-on-fail over 3 workers: the master ended after {took:?}");
    for w in &mut workers {
        assert!(w.ends_ok(Duration::from_secs(10)), "{}", w.stderr_text());
    }
}
