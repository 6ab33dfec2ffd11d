//! `rookery http` against a server nobody here wrote: Debian's nginx (`nginx-light`), started
//! on a free loopback port with a static file, in a folder of the test's own. nginx's own count
//! of the requests it received (`stub_status`) is the judge of what Rookery says it sent.
//!
//! A missing nginx fails the test (it is a declared dependency, installed by
//! `.ci/install-deps`), never skips it.

mod nats_support;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use nats_support::{Proc, free_port, wait_until};
use serde_json::Value;

const BODY: &str = "hello from nginx\n";

fn nginx_binary() -> PathBuf {
    let path = std::env::var_os("PATH").unwrap_or_default();
    for dir in std::env::split_paths(&path).chain([PathBuf::from("/usr/sbin")]) {
        let candidate = dir.join("nginx");
        if candidate.is_file() {
            return candidate;
        }
    }
    panic!("nginx not found (on PATH or in /usr/sbin): install the Debian package `nginx-light`");
}

/// nginx on 127.0.0.1 at a free port (HTTP/1.1) and another (HTTP/2 without TLS), serving
/// `BODY` as `/index.html`; killed when dropped. A connection serves at most
/// [`KEEPALIVE_REQUESTS`]: nginx then closes it (HTTP/1.1) or sends a GOAWAY (HTTP/2), which a
/// client must take in its stride.
struct Nginx {
    port: u16,
    h2_port: u16,
    proc: Proc,
}

impl Drop for Nginx {
    /// SIGTERM, so that the master stops its workers: a SIGKILL (what [`Proc`] sends when it
    /// is dropped) would leave them running without it.
    fn drop(&mut self) {
        self.proc.sigterm();
        if self.proc.wait_timeout(Duration::from_secs(10)).is_none() {
            eprintln!("nginx did not stop within 10 s of SIGTERM: killed");
        }
    }
}

const KEEPALIVE_REQUESTS: u64 = 50;

impl Nginx {
    fn start(dir: &Path) -> Nginx {
        let www = dir.join("www");
        std::fs::create_dir_all(www.join("logs")).unwrap();
        std::fs::write(www.join("index.html"), BODY).unwrap();
        // Started as root, nginx's workers run as `nobody`: the folders must be open to them,
        // or every answer is a 403.
        for d in [dir, &www] {
            std::fs::set_permissions(d, std::fs::Permissions::from_mode(0o755)).unwrap();
        }
        let port = free_port();
        let h2_port = free_port();
        let conf = dir.join("nginx.conf");
        let d = dir.display();
        std::fs::write(
            &conf,
            format!(
                "worker_processes 1;\ndaemon off;\npid {d}/nginx.pid;\nerror_log {d}/error.log;\n\
                 events {{ worker_connections 1024; }}\n\
                 http {{\n access_log off;\n keepalive_requests {KEEPALIVE_REQUESTS};\n\
                 client_body_temp_path {d}/body;\n\
                 proxy_temp_path {d}/proxy;\n fastcgi_temp_path {d}/fastcgi;\n\
                 uwsgi_temp_path {d}/uwsgi;\n scgi_temp_path {d}/scgi;\n\
                 server {{\n  listen 127.0.0.1:{port};\n  listen 127.0.0.1:{h2_port} http2;\n\
                 root {www};\n\
                 location = /stub_status {{ stub_status; }}\n }}\n}}\n",
                www = www.display()
            ),
        )
        .unwrap();
        let mut cmd = Command::new(nginx_binary());
        cmd.arg("-p")
            .arg(dir)
            .arg("-c")
            .arg(&conf)
            .arg("-e")
            .arg(dir.join("error.log"));
        let proc = Proc::spawn("nginx", cmd, dir);
        let n = Nginx {
            port,
            h2_port,
            proc,
        };
        let up = wait_until(Duration::from_secs(10), || n.received().is_some());
        let log = std::fs::read_to_string(dir.join("error.log")).unwrap_or_default();
        assert!(up, "nginx did not answer on port {port} within 10 s: {log}");
        n
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}/index.html", self.port)
    }

    fn h2_url(&self) -> String {
        format!("http://127.0.0.1:{}/index.html", self.h2_port)
    }

    /// Requests nginx has received so far (this one to `stub_status` included).
    fn received(&self) -> Option<u64> {
        let out = Command::new("curl")
            .args(["-s", "--max-time", "2"])
            .arg(format!("http://127.0.0.1:{}/stub_status", self.port))
            .output()
            .ok()?;
        let text = String::from_utf8_lossy(&out.stdout);
        // "Active connections: 1 \nserver accepts handled requests\n 1 1 1 \n..."
        text.lines().nth(2)?.split_whitespace().nth(2)?.parse().ok()
    }
}

fn rookery_http(args: &[&str]) -> Value {
    let out = Command::new(env!("CARGO_BIN_EXE_rookery"))
        .arg("http")
        .args(args)
        .arg("--headless")
        .stdin(Stdio::null())
        .output()
        .expect("run rookery");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "stderr: {err}");
    assert!(
        !err.contains("warning"),
        "a clean run warns of nothing: {err}"
    );
    serde_json::from_slice(&out.stdout).expect("summary JSON on stdout")
}

#[test]
fn a_closed_model_run_is_counted_by_nginx_as_rookery_counts_it() {
    let dir = tempfile::tempdir().unwrap();
    let nginx = Nginx::start(dir.path());
    let before = nginx.received().expect("stub_status");
    let s = rookery_http(&[&nginx.url(), "--duration", "2", "--users", "8"]);
    let after = nginx.received().expect("stub_status");
    let http = &s["http"];
    let requests = http["requests"].as_u64().expect("requests");
    // nginx counts the stub_status request that reads its count, once more than Rookery sent.
    assert_eq!(after - before - 1, requests, "{http}");
    assert!(requests > 100, "{http}");
    assert_eq!(http["status"]["200"].as_u64(), Some(requests), "{http}");
    for class in ["connect", "timeout", "tls", "other"] {
        assert_eq!(http["errors"][class], 0, "{http}");
    }
    assert_eq!(
        http["bytes_in"].as_u64(),
        Some(requests * BODY.len() as u64)
    );
    let latency = &http["latency_us"];
    assert!(latency["p50"].as_u64().unwrap() <= latency["max"].as_u64().unwrap());
    assert_eq!(s["users"]["added"], 8);
}

#[test]
fn a_fixed_rate_run_sends_the_requested_number_of_requests() {
    let dir = tempfile::tempdir().unwrap();
    let nginx = Nginx::start(dir.path());
    let before = nginx.received().expect("stub_status");
    let s = rookery_http(&[
        &nginx.url(),
        "--rate",
        "400",
        "--duration",
        "3",
        "--users",
        "8",
    ]);
    let after = nginx.received().expect("stub_status");
    let http = &s["http"];
    let requests = http["requests"].as_u64().expect("requests");
    assert_eq!(after - before - 1, requests, "{http}");
    // 400/s for 3 s: 1,200 requests. The bench holds this to ±1 % on a quiet machine; a test
    // shares the machine with the rest of the suite, so ±5 %.
    assert!(
        (1_140..=1_260).contains(&requests),
        "{requests} requests at 400/s for 3 s: {http}"
    );
    assert_eq!(s["throttles"]["requests"]["rate"], 400);
    assert_eq!(http["status"]["200"].as_u64(), Some(requests), "{http}");
}

#[test]
fn connections_nginx_ends_at_its_request_limit_are_replaced_without_errors() {
    let dir = tempfile::tempdir().unwrap();
    let nginx = Nginx::start(dir.path());
    for (proto, url, extra) in [
        ("HTTP/1.1", nginx.url(), None),
        ("HTTP/2", nginx.h2_url(), Some("--http2")),
    ] {
        let before = nginx.received().expect("stub_status");
        let mut args = vec![url.as_str(), "--duration", "1.5", "--users", "2"];
        args.extend(extra);
        let s = rookery_http(&args);
        let after = nginx.received().expect("stub_status");
        let http = &s["http"];
        let requests = http["requests"].as_u64().expect("requests");
        assert!(
            requests > 4 * KEEPALIVE_REQUESTS,
            "{proto}: enough requests that every connection reached nginx's limit: {http}"
        );
        assert_eq!(after - before - 1, requests, "{proto}: {http}");
        for class in ["connect", "timeout", "tls", "other"] {
            assert_eq!(http["errors"][class], 0, "{proto}: {http}");
        }
        assert_eq!(
            http["status"]["200"].as_u64(),
            Some(requests),
            "{proto}: {http}"
        );
    }
}
