//! Processes for the NATS examples: a `nats-server` on a free loopback port and `rookery`
//! worker processes, each killed when its guard drops (also on a panic).
#![allow(dead_code)]

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// A child process, killed and reaped when dropped.
pub struct Guard(pub Child);

impl Drop for Guard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A `nats-server` on 127.0.0.1.
pub struct Server {
    pub port: u16,
    _child: Guard,
}

impl Server {
    /// `nats://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }

    /// The server's process id.
    #[allow(dead_code)]
    pub fn pid(&self) -> u32 {
        self._child.0.id()
    }
}

/// Starts `nats-server` (Debian's, or the one on PATH) on a free loopback port with `extra`
/// arguments and waits until it listens.
pub fn nats_server(extra: &[&str]) -> Server {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port");
    let bin = ["/usr/sbin/nats-server", "/usr/bin/nats-server"]
        .into_iter()
        .find(|p| std::path::Path::new(p).exists())
        .unwrap_or("nats-server");
    let child = Command::new(bin)
        .args(["-a", "127.0.0.1", "-p", &port.to_string()])
        .args(extra)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start nats-server ({bin}): {e}"));
    let server = Server {
        port,
        _child: Guard(child),
    };
    for _ in 0..200 {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return server;
        }
        std::thread::sleep(Duration::from_millis(25));
    }
    panic!("nats-server did not listen on {port}");
}

/// The `rookery` binary of this build profile: next to the examples' directory (build it with
/// `cargo build --release --bin rookery`), or `$ROOKERY_BIN`.
pub fn rookery_binary() -> PathBuf {
    if let Some(p) = std::env::var_os("ROOKERY_BIN") {
        return PathBuf::from(p);
    }
    let exe = std::env::current_exe().expect("the example's path");
    let bin = exe
        .parent()
        .and_then(|examples| examples.parent())
        .map(|profile| profile.join("rookery"))
        .expect("target/<profile>/rookery");
    assert!(
        bin.is_file(),
        "{} is missing: build it first (cargo build --release --bin rookery) or set ROOKERY_BIN",
        bin.display()
    );
    bin
}
