//! Test support for the NATS cluster tests: a `nats-server` on a free loopback port, the
//! compiled `rookery` binary as master and worker processes, and signals to hurt them.
//!
//! Every process started here is owned by a guard that kills it (SIGKILL, then waits) when
//! dropped, also when the test panics. A missing `nats-server` fails the test: it is a declared
//! dependency (`apt-get install nats-server`), not an optional one.
#![allow(dead_code)]

use std::fs::File;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

/// Where `nats-server` is: `$NATS_SERVER`, `PATH`, or Debian's `/usr/sbin`.
pub fn nats_server_binary() -> PathBuf {
    if let Some(p) = std::env::var_os("NATS_SERVER") {
        return PathBuf::from(p);
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    for dir in std::env::split_paths(&path).chain([PathBuf::from("/usr/sbin")]) {
        let candidate = dir.join("nats-server");
        if candidate.is_file() {
            return candidate;
        }
    }
    panic!(
        "nats-server not found (on PATH, in /usr/sbin, or $NATS_SERVER): these tests need it; \
         install the Debian package `nats-server`"
    );
}

/// A free TCP port on 127.0.0.1 (bound and released; the caller binds it again at once).
pub fn free_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind a loopback port");
    l.local_addr().expect("local address").port()
}

/// Polls `cond` every 20 ms until it holds or `limit` passes; returns whether it held.
pub fn wait_until(limit: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let end = Instant::now() + limit;
    loop {
        if cond() {
            return true;
        }
        if Instant::now() >= end {
            return false;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A child process killed (SIGKILL) and reaped when dropped. Its stdout and stderr go to files
/// in the test's directory, so a chatty child never blocks on a full pipe.
pub struct Proc {
    pub name: String,
    child: Option<Child>,
    pub stdout: PathBuf,
    pub stderr: PathBuf,
    status: Option<ExitStatus>,
}

impl Proc {
    /// Starts `cmd` with its output in `dir/<name>.out` and `dir/<name>.err`.
    pub fn spawn(name: &str, mut cmd: Command, dir: &Path) -> Proc {
        let stdout = dir.join(format!("{name}.out"));
        let stderr = dir.join(format!("{name}.err"));
        cmd.stdin(Stdio::null())
            .stdout(File::create(&stdout).expect("create stdout file"))
            .stderr(File::create(&stderr).expect("create stderr file"));
        let child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {name} ({cmd:?}): {e}"));
        Proc {
            name: name.to_owned(),
            child: Some(child),
            stdout,
            stderr,
            status: None,
        }
    }

    pub fn pid(&self) -> i32 {
        self.child.as_ref().map_or(0, |c| c.id() as i32)
    }

    fn signal(&self, sig: i32) {
        if self.status.is_none() && self.pid() > 0 {
            // SAFETY: kill(2) on our own child's pid; no memory is involved.
            unsafe {
                libc::kill(self.pid(), sig);
            }
        }
    }

    pub fn kill9(&mut self) {
        self.signal(libc::SIGKILL);
        let _ = self.wait_timeout(Duration::from_secs(10));
    }
    pub fn sigstop(&self) {
        self.signal(libc::SIGSTOP);
    }
    pub fn sigcont(&self) {
        self.signal(libc::SIGCONT);
    }
    pub fn sigterm(&self) {
        self.signal(libc::SIGTERM);
    }

    /// The exit status, if the process ended within `limit`.
    pub fn wait_timeout(&mut self, limit: Duration) -> Option<ExitStatus> {
        if self.status.is_some() {
            return self.status;
        }
        let child = self.child.as_mut()?;
        let end = Instant::now() + limit;
        loop {
            if let Ok(Some(s)) = child.try_wait() {
                self.status = Some(s);
                return self.status;
            }
            if Instant::now() >= end {
                return None;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Whether it ended with status 0 within `limit`.
    pub fn ends_ok(&mut self, limit: Duration) -> bool {
        self.wait_timeout(limit).is_some_and(|s| s.success())
    }

    /// Whether it is still running.
    pub fn running(&mut self) -> bool {
        self.wait_timeout(Duration::ZERO).is_none()
    }

    pub fn stdout_text(&self) -> String {
        std::fs::read_to_string(&self.stdout).unwrap_or_default()
    }
    pub fn stderr_text(&self) -> String {
        std::fs::read_to_string(&self.stderr).unwrap_or_default()
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            if self.status.is_none() {
                let _ = child.kill();
            }
            let _ = child.wait();
        }
    }
}

/// A `nats-server` on 127.0.0.1 at a free port; killed when dropped.
pub struct NatsServer {
    pub port: u16,
    proc: Option<Proc>,
    dir: PathBuf,
    extra: Vec<String>,
    starts: u32,
}

impl NatsServer {
    /// Starts a server and waits until it accepts connections.
    pub fn start(dir: &Path) -> NatsServer {
        Self::start_with(dir, &[])
    }

    /// [`start`](Self::start) with extra server arguments (e.g. `--auth TOKEN`).
    pub fn start_with(dir: &Path, extra: &[&str]) -> NatsServer {
        let mut s = NatsServer {
            port: free_port(),
            proc: None,
            dir: dir.to_path_buf(),
            extra: extra.iter().map(|s| s.to_string()).collect(),
            starts: 0,
        };
        s.launch();
        s
    }

    fn launch(&mut self) {
        let mut cmd = Command::new(nats_server_binary());
        cmd.args(["-a", "127.0.0.1", "-p", &self.port.to_string()])
            .args(&self.extra);
        self.starts += 1;
        let name = format!("nats-server-{}", self.starts);
        let mut proc = Proc::spawn(&name, cmd, &self.dir);
        let addr = SocketAddr::from(([127, 0, 0, 1], self.port));
        let up = wait_until(Duration::from_secs(10), || {
            TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok()
        });
        if !up {
            let err = proc.stderr_text();
            let _ = proc.running();
            panic!("nats-server did not listen on {addr} within 10 s: {err}");
        }
        self.proc = Some(proc);
    }

    /// `nats://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }

    /// Kills the server (SIGKILL).
    pub fn kill(&mut self) {
        if let Some(mut p) = self.proc.take() {
            p.kill9();
        }
    }

    /// Starts it again on the same port.
    pub fn restart(&mut self) {
        self.kill();
        self.launch();
    }
}

impl Drop for NatsServer {
    fn drop(&mut self) {
        self.kill();
    }
}

/// The compiled `rookery` binary.
pub fn rookery() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_rookery"));
    cmd.env_remove("ROOKERY_CLUSTER_FINGERPRINT");
    cmd
}

/// `rookery node --cluster URL --name NAME --run RUN` plus `extra`, as a guarded process.
pub fn worker(dir: &Path, url: &str, name: &str, run: &str, extra: &[&str]) -> Proc {
    let mut cmd = rookery();
    cmd.args(["node", "--cluster", url, "--name", name, "--run", run])
        .args(extra);
    Proc::spawn(name, cmd, dir)
}

/// `rookery run --headless --cluster URL --run RUN` plus `extra`, as a guarded process.
pub fn master(dir: &Path, url: &str, run: &str, extra: &[&str]) -> Proc {
    let mut cmd = rookery();
    cmd.args(["run", "--headless", "--cluster", url, "--run", run])
        .args(extra);
    Proc::spawn("master", cmd, dir)
}

/// Parses a process's stdout as the headless summary JSON.
pub fn summary(p: &Proc) -> serde_json::Value {
    let out = p.stdout_text();
    serde_json::from_str(&out).unwrap_or_else(|e| {
        panic!(
            "{}: stdout is not a summary ({e}): {out}\nstderr: {}",
            p.name,
            p.stderr_text()
        )
    })
}

/// A master in the test's own process (the library's `Master`) for run `run` of the demo on
/// the server at `url`, with these `NAME=VALUE` settings; every event goes to `telemetry`.
pub async fn demo_master(
    url: &str,
    run: &str,
    settings: &[&str],
    telemetry: &rookery::telemetry::Telemetry,
) -> rookery::cluster_nats::Master {
    use rookery::cluster_nats::{Master, MasterOptions};
    let opts = MasterOptions::at(url, run, "demo", settings);
    Master::start(opts, telemetry.clone(), Instant::now())
        .await
        .expect("the master starts")
}

/// [`wait_until`] for async tests: polls `cond` every 20 ms until it holds or `limit` passes.
pub async fn eventually(limit: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let end = Instant::now() + limit;
    loop {
        if cond() {
            return true;
        }
        if Instant::now() >= end {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
