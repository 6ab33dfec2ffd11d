//! `rookery run` through the real binary: the headless summary, record → replay equality, and
//! the exit-status contract (0 ok, 2 usage, 1 other with a one-line reason on stderr).

mod results_support;

use std::process::{Command, Stdio};

use results_support::rookery;
use serde_json::Value;

#[test]
fn headless_run_prints_the_summary_and_a_recording_replays_to_the_same_summary() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("run.jsonl.gz");
    let log = log.to_str().unwrap();
    let (code, out, err) = rookery(&[
        "run",
        "--headless",
        "--duration",
        "1.5",
        "--users",
        "12",
        "--record",
        log,
        "--set",
        "user_rate=infinity",
    ]);
    assert_eq!(code, 0, "stderr: {err}");
    let live: Value = serde_json::from_str(&out).expect("summary JSON on stdout");
    assert_eq!(live["users"]["added"], 12);
    assert_eq!(live["users"]["started"], 12);
    assert_eq!(
        live["users"]["running"], 0,
        "the run ends with every user stopped"
    );
    assert_eq!(live["nodes"]["node1"], "up");
    assert!(live["throttles"]["messages"]["executes"].as_u64().unwrap() > 0);
    assert!(live["by_event"]["demo.message.stop"].as_u64().unwrap() > 0);

    let (code, out, err) = rookery(&["replay", "--headless", log]);
    assert_eq!(code, 0, "stderr: {err}");
    let replayed: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(replayed, live, "record → replay gives the live summary");
}

#[test]
fn bad_settings_fail_on_one_line_naming_them() {
    let (code, out, err) = rookery(&[
        "run",
        "--headless",
        "--duration",
        "1",
        "--set",
        "message_rate=-5",
        "--set",
        "colour=blue",
    ]);
    assert_eq!(code, 1);
    assert!(out.is_empty());
    assert_eq!(err.trim_end().lines().count(), 1, "one line: {err}");
    assert!(
        err.contains("message_rate") && err.contains("colour"),
        "{err}"
    );
}

#[test]
fn usage_errors_exit_2_and_other_failures_exit_1() {
    let (code, _, err) = rookery(&["run", "--no-such-flag"]);
    assert_eq!(code, 2, "{err}");
    let (code, _, err) = rookery(&["run", "--headless", "--scenario", "nope"]);
    assert_eq!(code, 2, "an unknown scenario is a usage error");
    assert!(
        err.contains("no scenario named \"nope\"") && err.contains("demo"),
        "{err}"
    );
    for bad in [
        &["run", "--headless", "--duration", "inf"][..],
        &["run", "--headless", "--duration=-1"],
        &["run", "--headless", "--users", "99999999999"],
        &["run", "--headless", "--nodes", "0"],
        &["run", "--headless", "--set", "no-equals-sign"],
    ] {
        let (code, _, err) = rookery(bad);
        assert_eq!(code, 2, "{bad:?}: {err}");
        assert!(!err.contains("panicked"), "{bad:?}: {err}");
    }
    // A well-formed command whose settings fail is status 1.
    let (code, _, err) = rookery(&["run", "--headless", "--set", "pair_every=0"]);
    assert_eq!(code, 1, "{err}");
}

#[test]
fn the_monitor_without_a_terminal_says_so_and_records_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("never.jsonl");
    let (code, _, err) = rookery(&["run", "--record", log.to_str().unwrap()]);
    assert_eq!(code, 1);
    assert!(
        err.contains("not a terminal") && err.contains("--headless"),
        "{err}"
    );
    assert!(!log.exists(), "nothing was started or recorded");
}

#[test]
fn list_settings_shows_the_engine_and_scenario_settings_with_their_source() {
    let (code, out, err) = rookery(&["run", "--list-settings", "--set", "think_time=2s"]);
    assert_eq!(code, 0, "{err}");
    for name in [
        "user_rate",
        "think_time",
        "message_rate",
        "login_rate",
        "pair_every",
    ] {
        assert!(out.contains(name), "{name} missing from:\n{out}");
    }
    assert!(out.contains("2s") && out.contains("from --set"), "{out}");
}

#[test]
fn run_options_work_without_the_word_run() {
    let (code, out, err) = rookery(&[
        "--headless",
        "--users",
        "5",
        "--duration",
        "0.3",
        "--theme",
        "light",
    ]);
    assert_eq!(code, 0, "{err}");
    let live: Value = serde_json::from_str(&out).expect("summary JSON");
    assert_eq!(live["users"]["added"], 5);
}

#[test]
fn a_duration_past_the_clock_is_a_usage_error() {
    for d in ["1e20", "1e300", "18446744073709552"] {
        let (code, out, err) = rookery(&["run", "--headless", "--duration", d]);
        assert_eq!(code, 2, "{d}: {err}");
        assert!(out.is_empty());
        assert!(err.contains("clock"), "{d}: {err}");
        assert!(!err.contains("panicked"), "{d}: {err}");
    }
}

#[test]
fn an_existing_record_target_needs_force_and_gz_is_case_insensitive() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("RUN.JSONL.GZ");
    std::fs::write(&log, b"precious").unwrap();
    let args = |force: bool| {
        let mut a = vec![
            "run",
            "--headless",
            "--duration",
            "0.3",
            "--users",
            "2",
            "--record",
            log.to_str().unwrap(),
        ];
        if force {
            a.push("--force");
        }
        a
    };
    let (code, out, err) = rookery(&args(false));
    assert_eq!(code, 2, "{err}");
    assert!(out.is_empty());
    assert!(
        err.contains("--force") && err.contains("RUN.JSONL.GZ"),
        "{err}"
    );
    assert_eq!(std::fs::read(&log).unwrap(), b"precious", "left alone");

    let (code, _, err) = rookery(&args(true));
    assert_eq!(code, 0, "{err}");
    let bytes = std::fs::read(&log).unwrap();
    assert!(bytes.starts_with(&[0x1f, 0x8b]), "gzip in any case");
}

#[test]
fn the_same_file_twice_in_replay_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("once.jsonl");
    let (code, _, err) = rookery(&[
        "run",
        "--headless",
        "--duration",
        "0.2",
        "--users",
        "1",
        "--record",
        log.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{err}");
    let other_path = dir.path().join(".").join("once.jsonl");
    let (code, out, err) = rookery(&[
        "replay",
        "--headless",
        log.to_str().unwrap(),
        other_path.to_str().unwrap(),
    ]);
    assert_eq!(code, 2, "{err}");
    assert!(out.is_empty());
    assert!(err.contains("same file"), "{err}");
}

#[cfg(target_os = "linux")]
#[test]
fn a_full_stderr_or_stdout_never_panics() {
    let full = || std::fs::OpenOptions::new().write(true).open("/dev/full");
    // stderr full: warnings are lost, the summary is not.
    let out = Command::new(env!("CARGO_BIN_EXE_rookery"))
        .args([
            "--headless",
            "--duration",
            "0.2",
            "--users",
            "1",
            "--nodes",
            "0",
        ])
        .stdin(Stdio::null())
        .stderr(full().expect("/dev/full"))
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(2), "a usage error, quietly");
    let out = Command::new(env!("CARGO_BIN_EXE_rookery"))
        .args(["--headless", "--duration", "0.3", "--users", "2"])
        .stdin(Stdio::null())
        .stderr(full().expect("/dev/full"))
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(0));
    let live: Value = serde_json::from_slice(&out.stdout).expect("the summary");
    assert_eq!(live["users"]["added"], 2);
    // stdout full: a one-line failure, not a panic.
    let out = Command::new(env!("CARGO_BIN_EXE_rookery"))
        .args(["--headless", "--duration", "0.2", "--users", "1"])
        .stdin(Stdio::null())
        .stdout(full().expect("/dev/full"))
        .output()
        .expect("run");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("writing the summary"), "{err}");
    assert!(!err.contains("panicked"), "{err}");
}

/// Issue 12.6: the users escape the stop (a forced stop timeout of 0 s), the engine is shut
/// down under them; still the recording holds every event the live summary counted.
#[test]
fn after_a_stop_timeout_the_recording_equals_the_live_summary() {
    let dir = tempfile::tempdir().unwrap();
    for round in 0..3 {
        let log = dir.path().join(format!("timeout{round}.jsonl"));
        let (code, out, err) = rookery(&[
            "--headless",
            "--duration",
            "0.5",
            "--users",
            "20000",
            "--nodes",
            "2",
            "--set",
            "user_rate=60000",
            "--stop-timeout",
            "0",
            "--record",
            log.to_str().unwrap(),
        ]);
        assert!(code == 0 || code == 1, "round {round}: {code} {err}");
        let live: Value = serde_json::from_str(&out).expect("summary JSON");
        assert!(live["events"].as_u64().unwrap() > 0);
        let (code, out, err) = rookery(&["replay", "--headless", log.to_str().unwrap()]);
        assert_eq!(code, 0, "{err}");
        let replayed: Value = serde_json::from_str(&out).unwrap();
        assert_eq!(replayed, live, "round {round}");
    }
}

#[test]
fn outputs_that_cannot_be_written_are_refused_before_the_run() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("no-such-folder").join("summary.json");
    let missing = missing.to_str().unwrap();
    let folder = dir.path().to_str().unwrap();
    // A 60 s run refused at once: nothing ran, no summary was printed.
    for args in [
        vec![
            "run",
            "--headless",
            "--duration",
            "60",
            "--summary-json",
            missing,
        ],
        vec!["run", "--headless", "--duration", "60", "--report", folder],
    ] {
        let started = std::time::Instant::now();
        let (code, out, err) = rookery(&args);
        assert_eq!(code, 2, "{args:?}: {err}");
        assert!(out.is_empty(), "nothing ran: {out}");
        assert_eq!(err.trim_end().lines().count(), 1, "{err}");
        assert!(err.starts_with("rookery: --"), "{err}");
        assert!(started.elapsed() < std::time::Duration::from_secs(30));
    }
    let log = dir.path().join("run.jsonl");
    results_support::write_log(&log, 2);
    let (code, _, err) = rookery(&["report", log.to_str().unwrap(), "-o", missing]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("does not exist"), "{err}");
}
