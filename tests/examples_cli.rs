//! The examples as users run them: the compiled `http` and `chat` binaries with the normal
//! command line (`run --headless --duration S`, no `--scenario`), checking the summary on
//! stdout against the server's count line on stderr.

use std::path::PathBuf;
use std::process::Command;

/// Builds example `name` (a no-op when `cargo test` already did) and returns its path.
fn example(name: &str) -> PathBuf {
    let status = Command::new(env!("CARGO"))
        .args(["build", "--quiet", "--example", name])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .status()
        .expect("cargo runs");
    assert!(status.success(), "cargo build --example {name}");
    // target/<profile>/deps/this-test → target/<profile>/examples/<name>
    let exe = std::env::current_exe().expect("the test's path");
    let profile_dir = exe
        .parent()
        .and_then(|deps| deps.parent())
        .expect("target/<profile>");
    profile_dir.join("examples").join(name)
}

/// Runs an example headless; returns the summary and its stderr.
fn run_headless(name: &str, extra: &[&str]) -> (serde_json::Value, String) {
    let out = Command::new(example(name))
        .args(["run", "--headless", "--duration", "1.5", "--users", "6"])
        .args(["--set", "user_rate=infinity"])
        .args(extra)
        .output()
        .expect("the example runs");
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "{name} failed: {stderr}");
    let summary = serde_json::from_slice(&out.stdout).expect("the summary is JSON");
    (summary, stderr)
}

/// The `N` of the line `<prefix> N <unit>` on stderr.
fn server_count(stderr: &str, prefix: &str, unit: &str) -> u64 {
    stderr
        .lines()
        .find_map(|l| {
            l.strip_prefix(prefix)?
                .strip_suffix(unit)?
                .trim()
                .parse()
                .ok()
        })
        .unwrap_or_else(|| panic!("no `{prefix} N {unit}` line in {stderr:?}"))
}

#[test]
fn the_http_example_runs_headless_and_its_server_count_matches_the_summary() {
    let (summary, stderr) = run_headless("http", &["--set", "request_rate=200"]);
    let received = server_count(&stderr, "http example: server received", "requests");
    assert!(received > 0);
    assert_eq!(summary["by_event"]["http.request.stop"], received);
    assert_eq!(summary["throttles"]["requests"]["executes"], received);
    assert_eq!(summary["throttles"]["requests"]["rate"], 200);
}

#[test]
fn the_chat_example_runs_headless_and_its_server_count_matches_the_summary() {
    let (summary, stderr) = run_headless("chat", &["--set", "rounds=3"]);
    let received = server_count(&stderr, "chat example: server received", "messages");
    assert!(received > 0);
    assert_eq!(summary["by_event"]["chat.message.stop"], received);
    assert_eq!(summary["throttles"]["messages"]["executes"], received);
    assert!(summary["coordinators"]["pairs"]["add"].as_u64() > Some(0));
}
