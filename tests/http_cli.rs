//! `rookery http` through the real binary: usage errors (bad URL, header, method, missing body
//! file: one line, exit status 2), and a headless run against an in-process server whose
//! summary has the `http` key, the same as `rookery run --scenario http --set url=...`.

mod http_support;

use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use http_support::{Proto, TestServer};
use serde_json::Value;

fn rookery(args: &[&str]) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_rookery"));
    c.args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    c
}

/// Kills the child if the test ends before it does.
struct Guard(Option<Child>);

impl Drop for Guard {
    fn drop(&mut self) {
        if let Some(c) = &mut self.0 {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// Runs `args` while the test's runtime keeps serving; gives up (and kills it) after 60 s.
async fn run(args: &[&str]) -> Output {
    let mut guard = Guard(Some(rookery(args).spawn().expect("start rookery")));
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let child = guard.0.as_mut().expect("the child");
        if child.try_wait().expect("wait").is_some() {
            break;
        }
        assert!(Instant::now() < deadline, "rookery {args:?} did not end");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let child = guard.0.take().expect("the child");
    tokio::task::spawn_blocking(move || child.wait_with_output())
        .await
        .expect("join")
        .expect("output")
}

fn usage_error(args: &[&str], says: &str) {
    let out = rookery(args).output().expect("run rookery");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
    assert_eq!(err.trim_end().lines().count(), 1, "one line: {err}");
    assert!(err.starts_with("rookery: "), "{err}");
    assert!(err.contains(says), "{args:?}: {err}");
    assert!(out.stdout.is_empty());
}

#[test]
fn bad_input_is_a_one_line_usage_error() {
    usage_error(
        &["http", "localhost:8080/", "--headless"],
        "bad URL \"localhost:8080/\"",
    );
    usage_error(
        &["http", "ftp://example.com/", "--headless"],
        "only http:// and https://",
    );
    usage_error(
        &["http", "http://127.0.0.1:9/", "-H", "NoColon", "--headless"],
        "bad header \"NoColon\"",
    );
    usage_error(
        &[
            "http",
            "http://127.0.0.1:9/",
            "-H",
            "Bad Name: x",
            "--headless",
        ],
        "bad header",
    );
    // `\n` (backslash, n) separates headers in the `headers` setting every node reads, so the
    // command line splits -H the same way: the second part is checked here, not by every
    // node's init after the run started.
    usage_error(
        &[
            "http",
            "http://127.0.0.1:9/",
            "-H",
            "X: a\\nb",
            "--headless",
        ],
        "bad header \"b\"",
    );
    usage_error(
        &["http", "http://127.0.0.1:9/", "-m", "GE T", "--headless"],
        "bad method",
    );
    usage_error(
        &[
            "http",
            "http://127.0.0.1:9/",
            "--body-file",
            "/nonexistent/body.json",
            "--headless",
        ],
        "--body-file /nonexistent/body.json: no such file",
    );
    usage_error(
        &["http", "--urls", "/nonexistent/urls.txt", "--headless"],
        "--urls /nonexistent/urls.txt: no such file",
    );
    usage_error(&["http", "--headless"], "no URL to load");
    // clap's own errors (as for `run --duration x`) add a usage hint line.
    let out = rookery(&["http", "http://127.0.0.1:9/", "--rate", "fast"])
        .output()
        .expect("run rookery");
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("`fast` is not a rate"));
}

/// The `value:` line of `user_rate` in `rookery http ... --list-settings`.
fn listed_user_rate(args: &[&str], env: Option<&str>) -> String {
    let mut cmd = rookery(args);
    cmd.env_remove("ROOKERY_USER_RATE");
    if let Some(v) = env {
        cmd.env("ROOKERY_USER_RATE", v);
    }
    let out = cmd.output().expect("run rookery");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let block = text
        .split_once("\nuser_rate  (")
        .or_else(|| text.strip_prefix("user_rate  (").map(|t| ("", t)))
        .unwrap_or_else(|| panic!("no user_rate in:\n{text}"))
        .1;
    block
        .lines()
        .find(|l| l.trim_start().starts_with("value:"))
        .unwrap_or_else(|| panic!("no value line in:\n{text}"))
        .trim()
        .to_owned()
}

#[test]
fn list_settings_tells_that_user_rate_is_the_http_commands_default() {
    let url = "http://127.0.0.1:9/";
    let listed = |extra: &[&str], env| {
        let mut args = vec!["http", url, "--list-settings"];
        args.extend_from_slice(extra);
        listed_user_rate(&args, env)
    };
    // No --set given: the value is rookery http's own, not a --set.
    assert_eq!(
        listed(&[], None),
        "value:   infinity  (from rookery http default)"
    );
    // Real sources stay what they are, and win over the command's default.
    assert_eq!(
        listed(&["--set", "user_rate=600"], None),
        "value:   600  (from --set)"
    );
    assert_eq!(
        listed(&[], Some("300")),
        "value:   300  (from environment variable ROOKERY_USER_RATE)"
    );
    let dir = tempfile::tempdir().expect("a temporary folder");
    let file = dir.path().join("run.toml");
    std::fs::write(&file, "user_rate = 90\n").expect("write the settings file");
    let file = file.to_str().expect("a UTF-8 path");
    assert_eq!(
        listed(&["--settings", file], Some("300")),
        format!("value:   90  (from settings file {file})")
    );
    // `rookery run` has no such default: the declared one.
    assert_eq!(
        listed_user_rate(&["run", "--list-settings"], None),
        "value:   1200  (from default)"
    );
}

fn summary(out: &Output) -> Value {
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "stderr: {err}");
    serde_json::from_slice(&out.stdout).expect("summary JSON on stdout")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_headless_run_summarises_http_and_run_scenario_http_is_the_same_test() {
    let server = TestServer::start(Proto::default()).await;
    let url = server.url("/status/404");
    let out = run(&[
        "http",
        &url,
        "--headless",
        "--duration",
        "1.5",
        "--users",
        "4",
        "--rate",
        "100",
        "-H",
        "X-From: cli",
    ])
    .await;
    let s = summary(&out);
    let http = &s["http"];
    let requests = http["requests"].as_u64().expect("requests");
    assert!((100..=200).contains(&requests), "{http}");
    assert_eq!(http["status"]["404"].as_u64(), Some(requests));
    assert_eq!(s["throttles"]["requests"]["rate"], 100);
    assert_eq!(s["users"]["added"], 4);
    assert!(server.last_request().contains("header x-from: cli"));

    let before = server.received();
    let out = run(&[
        "run",
        "--scenario",
        "http",
        "--headless",
        "--duration",
        "1.5",
        "--users",
        "4",
        "--set",
        &format!("url={url}"),
        "--set",
        "request_rate=100",
        "--set",
        "user_rate=infinity",
    ])
    .await;
    let s = summary(&out);
    let requests = s["http"]["requests"].as_u64().expect("requests");
    assert!((100..=200).contains(&requests), "{s}");
    assert_eq!(server.received() - before, requests);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_connection_is_counted_not_fatal() {
    let port = http_support::closed_port();
    let url = format!("http://127.0.0.1:{port}/");
    let out = run(&[
        "http",
        &url,
        "--headless",
        "--duration",
        "1",
        "--users",
        "2",
        "--rate",
        "50",
    ])
    .await;
    let s = summary(&out);
    let connect = s["http"]["errors"]["connect"]
        .as_u64()
        .expect("connect errors");
    // Each user tries again after a backoff (1 ms doubling to 250 ms): about 12 attempts each
    // in the second, where 50/s would make 50 (and a closed model tens of thousands).
    assert!((10..=40).contains(&connect), "{}", s["http"]);
    assert_eq!(s["http"]["requests"].as_u64(), Some(connect));
}

/// Users on threads of their own (the default; `--user-threads 3` here) and on the engine's
/// shared runtime (`--user-threads 0`) speak TLS and HTTP/2 alike: every request answered, one
/// connection per user kept the whole run.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_and_http2_on_user_threads_and_on_the_shared_runtime() {
    let server = TestServer::start(Proto {
        http2: true,
        tls: true,
    })
    .await;
    let url = server.url("/");
    for threads in ["3", "0"] {
        let connections = server.connections();
        let out = run(&[
            "http",
            &url,
            "--insecure",
            "--http2",
            "--headless",
            "--duration",
            "1.5",
            "--users",
            "4",
            "--rate",
            "200",
            "--user-threads",
            threads,
        ])
        .await;
        let s = summary(&out);
        let http = &s["http"];
        let requests = http["requests"].as_u64().expect("requests");
        assert!(
            (200..=400).contains(&requests),
            "--user-threads {threads}: {http}"
        );
        assert_eq!(http["status"]["200"].as_u64(), Some(requests), "{http}");
        assert_eq!(
            server.connections() - connections,
            4,
            "--user-threads {threads}: one connection per user"
        );
    }
    let out = rookery(&["http", &url, "--user-threads", "2000"])
        .output()
        .expect("run rookery");
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("2000 is not in 0..=1024"));
}
