//! Thresholds through the real binary: CI gating on a replay (exit 99), the summary's
//! `thresholds` key and `--summary-json`, one-line usage errors (exit 2), `--abort-on-fail`.

mod results_support;

use std::time::{Duration, Instant};

use results_support::{rookery, write_log};
use serde_json::Value;

#[test]
fn a_replay_gates_ci_on_thresholds() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("run.jsonl");
    write_log(&log, 30);
    let log = log.to_str().unwrap();

    let (code, out, err) = rookery(&[
        "replay",
        "--headless",
        log,
        "--threshold",
        "http.request p99 < 2s",
        "--threshold",
        "throttle messages executes/s >= 15",
    ]);
    assert_eq!(code, 0, "stderr: {err}");
    let s: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(s["thresholds"].as_array().unwrap().len(), 2);
    assert!(
        s["thresholds"]
            .as_array()
            .unwrap()
            .iter()
            .all(|t| t["ok"] == true)
    );

    let json = dir.path().join("summary.json");
    let (code, out, err) = rookery(&[
        "replay",
        "--headless",
        log,
        "--threshold",
        "http.request p99[5s] < 400ms",
        "--threshold",
        "users failed == 0",
        "--threshold",
        "http.request p50 < 200ms",
        "--summary-json",
        json.to_str().unwrap(),
    ]);
    assert_eq!(code, 99, "stderr: {err}");
    let s: Value = serde_json::from_str(&out).expect("the summary is still printed");
    let t = s["thresholds"].as_array().unwrap();
    assert_eq!(t[0]["expr"], "http.request p99[5s] < 400ms");
    assert_eq!(t[0]["ok"], false);
    let worst = t[0]["value"].as_f64().unwrap();
    assert!(
        (900.0..=915.0).contains(&worst),
        "worst window p99 {worst} ms"
    );
    assert_eq!(
        (t[1]["ok"].clone(), t[1]["value"].clone()),
        (Value::Bool(false), 1.0.into())
    );
    assert_eq!(t[2]["ok"], true);
    let lines: Vec<&str> = err.lines().collect();
    assert_eq!(lines.len(), 1, "one line: {err}");
    assert!(lines[0].contains("thresholds failed"), "{err}");
    assert!(lines[0].contains("p99[5s] < 400ms") && lines[0].contains("users failed == 0"));
    assert!(!lines[0].contains("p50"), "only the failed ones: {err}");
    let file: Value = serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    assert_eq!(file, s, "--summary-json writes the printed summary");
}

#[test]
fn a_bad_threshold_is_a_usage_error_naming_the_bad_part() {
    for (expr, part) in [
        ("http.request p98 < 1s", "unknown metric `p98`"),
        ("http.request p99 < 250", "needs a unit"),
        ("http.request p99[1h] < 1s", "window `[1h]`"),
        ("users failed", "no comparison"),
    ] {
        let (code, out, err) = rookery(&["replay", "--headless", "x.jsonl", "--threshold", expr]);
        assert_eq!(code, 2, "{expr}: {err}");
        assert!(out.is_empty());
        let first = err.lines().next().unwrap_or_default();
        assert!(first.contains(part), "{expr}: {err}");
        assert!(first.contains(expr), "names the expression: {err}");
    }
    let (code, _, err) = rookery(&["run", "--headless", "--abort-on-fail"]);
    assert_eq!(code, 2, "--abort-on-fail needs a threshold: {err}");
}

#[test]
fn abort_on_fail_stops_a_live_run_at_the_first_breach() {
    let t0 = Instant::now();
    let (code, out, err) = rookery(&[
        "run",
        "--headless",
        "--duration",
        "120",
        "--users",
        "10",
        "--threshold",
        "demo.message p50[1s] < 1us",
        "--threshold",
        "users added >= 1",
        "--abort-on-fail",
    ]);
    let took = t0.elapsed();
    assert_eq!(code, 99, "stderr: {err}");
    assert!(
        took < Duration::from_secs(60),
        "stopped early, took {took:?}"
    );
    let s: Value = serde_json::from_str(&out).expect("summary JSON");
    assert_eq!(s["thresholds"][0]["ok"], false);
    assert_eq!(s["thresholds"][1]["ok"], true);
    assert!(s["duration_s"].as_f64().unwrap() < 60.0);
    assert!(err.contains("demo.message p50[1s] < 1us"), "{err}");
}

#[test]
fn abort_on_fail_is_refused_where_nothing_runs_report_and_replay() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("run.jsonl");
    write_log(&log, 3);
    let log = log.to_str().unwrap();
    let html = dir.path().join("report.html");
    let html = html.to_str().unwrap();
    let threshold = "users failed == 0";
    for args in [
        vec![
            "report",
            log,
            "-o",
            html,
            "--threshold",
            threshold,
            "--abort-on-fail",
        ],
        vec![
            "replay",
            "--headless",
            log,
            "--threshold",
            threshold,
            "--abort-on-fail",
        ],
    ] {
        let (code, out, err) = rookery(&args);
        assert_eq!(code, 2, "{args:?}: {err}");
        assert!(out.is_empty(), "{args:?}: {out}");
        let first = err.lines().next().unwrap_or_default();
        assert!(
            first.contains("unexpected argument '--abort-on-fail'"),
            "{args:?}: {err}"
        );
    }
    assert!(!std::path::Path::new(html).exists(), "no report is written");
    for command in ["report", "replay"] {
        let (code, help, err) = rookery(&[command, "--help"]);
        assert_eq!(code, 0, "{err}");
        assert!(help.contains("--threshold"), "{help}");
        assert!(
            !help.contains("--abort-on-fail"),
            "{command} --help: {help}"
        );
    }
    for command in ["run", "http", "attach"] {
        let (code, help, err) = rookery(&[command, "--help"]);
        assert_eq!(code, 0, "{err}");
        assert!(help.contains("--abort-on-fail"), "{command} --help: {help}");
    }
}
