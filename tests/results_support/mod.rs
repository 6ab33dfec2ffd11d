//! Helpers shared by the results tests: the binary, a synthetic event log, a child process
//! that is killed on drop, Debian's `promtool` on a metrics page.

#![allow(dead_code)]

use std::io::Write;
use std::path::Path;
use std::process::{Child, Command, Stdio};

/// Where Debian's `prometheus` package puts `promtool`.
pub const PROMTOOL: &str = "/usr/bin/promtool";

/// `promtool check metrics` on `page`: whether it passed, and what it said (stdout and
/// stderr). Fails the test when promtool is not installed.
pub fn promtool(page: &str) -> (bool, String) {
    assert!(
        Path::new(PROMTOOL).exists(),
        "{PROMTOOL} is missing: install Debian's prometheus (.ci/install-deps does)"
    );
    let mut child = Command::new(PROMTOOL)
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start promtool");
    child
        .stdin
        .take()
        .expect("promtool's stdin")
        .write_all(page.as_bytes())
        .expect("write the page to promtool");
    let out = child.wait_with_output().expect("promtool's output");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr),
    )
}

pub fn rookery(args: &[&str]) -> (i32, String, String) {
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

/// Writes a v1 log: `seconds` seconds of 20 `http.request` spans a second (100 ms, except
/// 900 ms in seconds 10–11), a `messages` throttle executing 20 a second, two nodes with 10
/// users each, and one failed user.
pub fn write_log(path: &Path, seconds: u64) {
    let mut f = std::io::BufWriter::new(std::fs::File::create(path).expect("create log"));
    writeln!(
        f,
        r#"{{"rookery_log":1,"started_at":"2026-11-21T10:00:00Z","source":"test"}}"#
    )
    .unwrap();
    let ev = |f: &mut std::io::BufWriter<std::fs::File>,
              t: u64,
              node: &str,
              name: &str,
              m: &str,
              md: &str| {
        let parts: Vec<String> = name.split('.').map(|p| format!("\"{p}\"")).collect();
        writeln!(
            f,
            r#"{{"t_us":{t},"node":"{node}","event":[{}],"measurements":{m},"metadata":{md}}}"#,
            parts.join(",")
        )
        .unwrap();
    };
    ev(
        &mut f,
        0,
        "node1",
        "amoc.throttle.rate",
        r#"{"rate":1200,"interval":60000}"#,
        r#"{"name":"messages"}"#,
    );
    for u in 0..20u64 {
        let node = if u % 2 == 0 { "node1" } else { "node2" };
        ev(
            &mut f,
            10 + u,
            node,
            "amoc.scenario.start.start",
            r#"{"monotonic_time":1}"#,
            r#"{"scenario":"synthetic"}"#,
        );
    }
    for sec in 0..seconds {
        for i in 0..20u64 {
            let t = sec * 1_000_000 + 1_000 + i * 49_000;
            let node = if i % 2 == 0 { "node1" } else { "node2" };
            let ms: u64 = if (10..=11).contains(&sec) { 900 } else { 100 };
            ev(
                &mut f,
                t,
                "node1", // the master counts every request
                "amoc.throttle.request",
                r#"{"count":1}"#,
                r#"{"name":"messages"}"#,
            );
            ev(
                &mut f,
                t + 10,
                "node1", // the master counts every request
                "amoc.throttle.execute",
                r#"{"count":1}"#,
                r#"{"name":"messages"}"#,
            );
            ev(
                &mut f,
                t + 20,
                node,
                "http.request.stop",
                &format!(r#"{{"duration":{}}}"#, ms * 1_000_000),
                r#"{"status":200}"#,
            );
        }
    }
    let end = seconds * 1_000_000;
    ev(
        &mut f,
        end,
        "node2",
        "amoc.scenario.start.exception",
        r#"{"duration":5}"#,
        r#"{"scenario":"synthetic","kind":"error"}"#,
    );
    f.flush().unwrap();
}

/// A child process killed (and reaped) when dropped, even when the test fails.
pub struct ChildGuard(pub Child);

impl Drop for ChildGuard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}
