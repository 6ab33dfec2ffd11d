//! What a headless `rookery http` tells on stderr when its requests fail (the counts are in
//! the summary on stdout; a CI log shows stderr first).

mod http_support;

use std::process::{Command, Stdio};

#[test]
fn a_headless_run_whose_requests_all_failed_says_so_on_stderr() {
    let port = http_support::closed_port();
    let url = format!("http://127.0.0.1:{port}/");
    let out = Command::new(env!("CARGO_BIN_EXE_rookery"))
        .args([
            "http",
            &url,
            "--headless",
            "--duration",
            "1",
            "--users",
            "1",
            "--rate",
            "20",
        ])
        .stdin(Stdio::null())
        .output()
        .expect("run rookery");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{err}");
    let summary: serde_json::Value = serde_json::from_slice(&out.stdout).expect("summary JSON");
    let failed = summary["http"]["errors"]["connect"]
        .as_u64()
        .expect("count");
    assert!(failed > 0, "{}", summary["http"]);
    let line = err
        .lines()
        .find(|l| l.contains("requests failed"))
        .unwrap_or_else(|| panic!("no warning on stderr: {err}"));
    assert!(
        line.starts_with(&format!(
            "rookery: warning: every request failed: {failed} of {failed} requests failed \
             (connect {failed}); connect: nothing accepted the connection"
        )),
        "{line}"
    );
}
