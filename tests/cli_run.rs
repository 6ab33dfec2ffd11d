//! `rookery run` through the real binary: the headless summary, record → replay equality, and
//! the exit-status contract (0 ok, 2 usage, 1 other with a one-line reason on stderr).

use std::process::{Command, Stdio};

use serde_json::Value;

fn rookery(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_rookery"))
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("run rookery");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

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
