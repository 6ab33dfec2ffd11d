//! A real Amoc for tests: built once from the vendored sources, run as Erlang nodes on
//! loopback, driven with `erl_call`.
//!
//! * The sources are the tarballs in `shared/vendor/` beside the clone (`../shared/vendor`
//!   from the manifest, or any ancestor's `shared/vendor`; `ROOKERY_AMOC_VENDOR` overrides).
//!   They are extracted and built with `rebar3` into `CARGO_TARGET_TMPDIR/amoc-4.1.0`, once:
//!   the build goes to a private directory renamed into place, so concurrent tests never see
//!   half a build. Nothing is written beside the tarballs.
//! * The bridge and the test scenario (`integrations/amoc/`) are compiled with `erlc` into a
//!   fresh temporary directory per test process (they are the code under test).
//! * `epmd`: every test starts its own on a free loopback port (`ERL_EPMD_PORT` for its nodes
//!   and `erl_call`), so tests do not share the machine's epmd and a test stops everything it
//!   started: epmd and every node are killed by Drop guards, also when the test fails.
//! * Node names are unique per test (`<prefix><pid>x<n>@localhost`) and the distribution
//!   listens on 127.0.0.1 only.
//!
//! Missing `erl`, `erlc`, `erl_call`, `epmd` or `rebar3` is a test failure, not a skip (Debian:
//! `erlang-nox` and `rebar3`).

#![allow(dead_code)]

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

const AMOC: &str = "amoc-4.1.0";
const TELEMETRY: &str = "telemetry-1.3.0";

/// The built Amoc: its code paths.
pub struct AmocBuild {
    pub amoc_ebin: PathBuf,
    pub telemetry_ebin: PathBuf,
}

fn tool_missing(tool: &str, e: std::io::Error) -> ! {
    panic!(
        "`{tool}` could not be run ({e}): the Amoc tests need Erlang/OTP 25+ and rebar3 \
         (Debian: apt-get install erlang-nox rebar3)"
    )
}

fn run_ok(cmd: &mut Command, what: &str) {
    let program = cmd.get_program().to_string_lossy().into_owned();
    let out = cmd.output().unwrap_or_else(|e| tool_missing(&program, e));
    assert!(
        out.status.success(),
        "{what} failed ({}):\n{}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// `shared/vendor` with Amoc's and telemetry's tarballs.
pub fn vendor_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("ROOKERY_AMOC_VENDOR") {
        return PathBuf::from(dir);
    }
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    manifest
        .ancestors()
        .skip(1)
        .map(|a| a.join("shared/vendor"))
        .find(|d| d.join(format!("{AMOC}.tar.gz")).is_file())
        .unwrap_or_else(|| {
            panic!(
                "no shared/vendor/{AMOC}.tar.gz beside {} or above it (set ROOKERY_AMOC_VENDOR)",
                manifest.display()
            )
        })
}

/// Builds Amoc once (cached in the target directory) and returns its code paths.
pub fn amoc() -> &'static AmocBuild {
    static BUILD: OnceLock<AmocBuild> = OnceLock::new();
    BUILD.get_or_init(|| {
        let root = Path::new(env!("CARGO_TARGET_TMPDIR")).join(AMOC);
        if !root.join("built").is_file() {
            build_into(&root);
        }
        AmocBuild {
            amoc_ebin: root.join(AMOC).join("_build/default/lib/amoc/ebin"),
            telemetry_ebin: root
                .join(AMOC)
                .join("_build/default/checkouts/telemetry/ebin"),
        }
    })
}

fn build_into(root: &Path) {
    let vendor = vendor_dir();
    let parent = root.parent().expect("the target dir has a parent");
    std::fs::create_dir_all(parent).expect("creating the target tmp dir");
    let work = parent.join(format!("{AMOC}.building-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&work);
    std::fs::create_dir_all(&work).expect("creating the build dir");
    for tarball in [AMOC, TELEMETRY] {
        run_ok(
            Command::new("tar")
                .arg("xzf")
                .arg(vendor.join(format!("{tarball}.tar.gz")))
                .arg("-C")
                .arg(&work),
            "extracting the vendored sources",
        );
    }
    let src = work.join(AMOC);
    let checkouts = src.join("_checkouts");
    std::fs::create_dir_all(&checkouts).expect("creating _checkouts");
    std::fs::rename(work.join(TELEMETRY), checkouts.join("telemetry"))
        .expect("moving telemetry into _checkouts");
    // The project plugins would need hex, which is not reachable: drop that stanza.
    let config_path = src.join("rebar.config");
    let config = std::fs::read_to_string(&config_path).expect("reading rebar.config");
    let mut kept = String::new();
    let mut skipping = false;
    for line in config.lines() {
        if line.trim_start().starts_with("{project_plugins") {
            skipping = true;
        }
        if !skipping {
            kept.push_str(line);
            kept.push('\n');
        } else if line.trim_end().ends_with("]}.") {
            skipping = false;
        }
    }
    std::fs::write(&config_path, kept).expect("writing rebar.config");
    run_ok(
        Command::new("rebar3")
            .arg("compile")
            .current_dir(&src)
            .env("HOME", &work),
        "rebar3 compile (Amoc)",
    );
    std::fs::write(work.join("built"), b"ok\n").expect("writing the stamp");
    // Another test process may have won the race: then its build stays and ours goes.
    if std::fs::rename(&work, root).is_err() {
        let _ = std::fs::remove_dir_all(&work);
        assert!(
            root.join("built").is_file(),
            "the Amoc build in {} is incomplete: remove it",
            root.display()
        );
    }
}

/// The bridge and the test scenario, compiled for this test process.
pub fn beams() -> &'static Path {
    static DIR: OnceLock<tempfile::TempDir> = OnceLock::new();
    DIR.get_or_init(|| {
        let build = amoc();
        let dir = tempfile::Builder::new()
            .prefix("rookery-amoc-ebin")
            .tempdir_in(env!("CARGO_TARGET_TMPDIR"))
            .expect("a temp dir for the beams");
        let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("integrations/amoc");
        run_ok(
            Command::new("erlc")
                .arg("-o")
                .arg(dir.path())
                .arg("-pa")
                .arg(&build.amoc_ebin)
                .arg(src.join("rookery_bridge.erl"))
                .arg(src.join("rookery_test_scenario.erl")),
            "erlc (bridge and test scenario)",
        );
        dir
    })
    .path()
}

/// A free TCP port on loopback (bound then released).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}

/// A child process killed (and reaped) when dropped.
pub struct Guard {
    pub child: Child,
    what: String,
}

impl Guard {
    pub fn new(child: Child, what: impl Into<String>) -> Guard {
        Guard {
            child,
            what: what.into(),
        }
    }

    pub fn id(&self) -> u32 {
        self.child.id()
    }

    /// Waits (at most `within`, else the test fails) for it to exit, with what it printed.
    pub fn wait_output(&mut self, within: Duration) -> std::process::Output {
        use std::io::Read;
        let deadline = Instant::now() + within;
        let status = loop {
            if let Some(s) = self.child.try_wait().expect("waiting for a child") {
                break s;
            }
            assert!(Instant::now() < deadline, "{} did not exit", self.what);
            std::thread::sleep(Duration::from_millis(50));
        };
        let (mut stdout, mut stderr) = (Vec::new(), Vec::new());
        if let Some(mut o) = self.child.stdout.take() {
            o.read_to_end(&mut stdout).expect("reading stdout");
        }
        if let Some(mut e) = self.child.stderr.take() {
            e.read_to_end(&mut stderr).expect("reading stderr");
        }
        std::process::Output {
            status,
            stdout,
            stderr,
        }
    }

    /// Kills it now (like `kill -9`).
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
        }
        let _ = self.child.wait();
    }
}

/// An epmd of the test's own, on a free loopback port.
pub struct Epmd {
    pub port: u16,
    _guard: Guard,
}

impl Epmd {
    pub fn start() -> Epmd {
        let port = free_port();
        let child = Command::new("epmd")
            .args(["-port", &port.to_string(), "-address", "127.0.0.1"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| tool_missing("epmd", e));
        let guard = Guard::new(child, "epmd");
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "epmd did not listen on {port}");
            std::thread::sleep(Duration::from_millis(20));
        }
        Epmd {
            port,
            _guard: guard,
        }
    }
}

/// One Erlang node with Amoc, the bridge and the test scenario on its code path.
pub struct Node {
    pub name: String,
    pub cookie: String,
    pub epmd_port: u16,
    pub log: PathBuf,
    guard: Guard,
}

static NODES: AtomicU32 = AtomicU32::new(0);

/// A node name unique to this test process and call.
pub fn unique_name(prefix: &str) -> String {
    format!(
        "{prefix}{}x{}",
        std::process::id(),
        NODES.fetch_add(1, Ordering::Relaxed)
    )
}

impl Node {
    /// Starts `erl -sname NAME@localhost` with `env` set (e.g. a bad `AMOC_…` value), waits
    /// until it answers, and starts the amoc application on it.
    pub fn start(epmd: &Epmd, prefix: &str, cookie: &str, env: &[(&str, &str)]) -> Node {
        Self::start_with(epmd, prefix, cookie, env, true)
    }

    /// [`start`](Self::start) with or without the bridge and the test scenario on the code
    /// path (without: only what the master sends it).
    pub fn start_with(
        epmd: &Epmd,
        prefix: &str,
        cookie: &str,
        env: &[(&str, &str)],
        with_beams: bool,
    ) -> Node {
        let build = amoc();
        let short = unique_name(prefix);
        let name = format!("{short}@localhost");
        let log = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("{short}.log"));
        let log_file = std::fs::File::create(&log).expect("a node log file");
        let mut cmd = Command::new("erl");
        cmd.args(["-noshell", "-sname", &name, "-setcookie", cookie])
            .args(["-kernel", "inet_dist_use_interface", "{127,0,0,1}"])
            .arg("-pa")
            .arg(&build.amoc_ebin)
            .arg(&build.telemetry_ebin)
            .args(with_beams.then(beams))
            .env("ERL_EPMD_PORT", epmd.port.to_string())
            .stdin(Stdio::null())
            .stdout(log_file.try_clone().expect("log file"))
            .stderr(log_file);
        for (k, v) in env {
            cmd.env(k, v);
        }
        let child = cmd.spawn().unwrap_or_else(|e| tool_missing("erl", e));
        let node = Node {
            name,
            cookie: cookie.to_owned(),
            epmd_port: epmd.port,
            log,
            guard: Guard::new(child, "erl"),
        };
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let answer = node.try_eval("ok.");
            if answer.as_deref() == Ok("ok") {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "node {} did not come up ({answer:?}); its log:\n{}",
                node.name,
                std::fs::read_to_string(&node.log).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        let started = node.eval("element(1, application:ensure_all_started(amoc)).");
        assert_eq!(started, "ok", "starting amoc on {}", node.name);
        node
    }

    /// Evaluates Erlang expressions on the node (`erl_call -e`); the result as Erlang prints
    /// it, or the error. erl_call's own connection now and then fails on a loaded machine
    /// (seen once in CI, right after the node had answered): the expression was not sent
    /// then, so it is tried again, up to three times.
    pub fn try_eval(&self, exprs: &str) -> Result<String, String> {
        let mut tries = 0;
        loop {
            match self.eval_once(exprs) {
                Err(e) if e.contains("failed to connect") && tries < 2 => {
                    tries += 1;
                    std::thread::sleep(Duration::from_millis(300));
                }
                other => return other,
            }
        }
    }

    fn eval_once(&self, exprs: &str) -> Result<String, String> {
        use std::io::Write;
        let mut child = Command::new("erl_call")
            .args(["-c", &self.cookie, "-n", &self.name, "-timeout", "60", "-e"])
            .env("ERL_EPMD_PORT", self.epmd_port.to_string())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| tool_missing("erl_call", e));
        let written = child
            .stdin
            .take()
            .expect("stdin")
            .write_all(format!("{exprs}\n").as_bytes());
        let out = child.wait_with_output().map_err(|e| e.to_string())?;
        written.map_err(|e| e.to_string())?;
        let text = String::from_utf8_lossy(&out.stdout).trim().to_owned();
        if !out.status.success() {
            return Err(format!(
                "{text} {}",
                String::from_utf8_lossy(&out.stderr).trim()
            ));
        }
        // erl_call prints {ok, Result} or {error, ...}.
        match text.strip_prefix("{ok, ").and_then(|t| t.strip_suffix('}')) {
            Some(v) => Ok(v.to_owned()),
            None => Err(text),
        }
    }

    /// [`try_eval`](Self::try_eval) that fails the test on an error.
    pub fn eval(&self, exprs: &str) -> String {
        self.try_eval(exprs)
            .unwrap_or_else(|e| panic!("on {}: `{exprs}` failed: {e}", self.name))
    }

    /// Evaluates until the result is `want` (or fails the test after `within`).
    pub fn wait_for(&self, exprs: &str, want: &str, within: Duration) {
        let deadline = Instant::now() + within;
        let mut last = String::new();
        while Instant::now() < deadline {
            match self.try_eval(exprs) {
                Ok(v) if v == want => return,
                Ok(v) => last = v,
                Err(e) => last = e,
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!("on {}: `{exprs}` is still {last}, not {want}", self.name);
    }

    /// Kills the node (SIGKILL), as a crash would.
    pub fn kill(&mut self) {
        self.guard.kill();
    }

    /// The node's OS process id.
    pub fn os_pid(&self) -> u32 {
        self.guard.id()
    }
}

/// An epmd and `n` nodes (the first is the master; the others are connected to it as Amoc
/// workers).
pub struct Cluster {
    pub nodes: Vec<Node>,
    pub dir: tempfile::TempDir,
    // Dropped last: the nodes go first.
    pub epmd: Epmd,
}

impl Cluster {
    pub fn start(n: usize, prefix: &str, env: &[(&str, &str)]) -> Cluster {
        let epmd = Epmd::start();
        let cookie = format!("rookery{}", std::process::id());
        let nodes: Vec<Node> = (0..n)
            .map(|i| {
                Node::start(
                    &epmd,
                    &format!("{prefix}{}", if i == 0 { "m" } else { "w" }),
                    &cookie,
                    env,
                )
            })
            .collect();
        // One worker at a time, each settled before the next. Told of two new nodes at once,
        // the workers would ping each other with synchronous calls at the same moment, which
        // blocks both amoc_cluster servers for the 5 s call timeout, again and again (an Amoc
        // defect); a user asking amoc_cluster for the master meanwhile crashes on the timeout.
        for i in 1..n {
            nodes[0].eval(&format!(
                "amoc_cluster:connect_nodes(['{}']).",
                nodes[i].name
            ));
            for node in &nodes[..=i] {
                node.wait_for(
                    &format!(
                        "#{{connected := C, to_ack := A}} = amoc_cluster:get_status(), \
                         {{A, lists:sort([node() | C])}} =:= {{[], lists:sort([{}])}}.",
                        nodes[..=i]
                            .iter()
                            .map(|n| format!("'{}'", n.name))
                            .collect::<Vec<_>>()
                            .join(",")
                    ),
                    "true",
                    Duration::from_secs(60),
                );
            }
        }
        let dir = tempfile::Builder::new()
            .prefix("rookery-amoc-test")
            .tempdir_in(env!("CARGO_TARGET_TMPDIR"))
            .expect("a temp dir");
        Cluster { nodes, dir, epmd }
    }

    pub fn master(&self) -> &Node {
        &self.nodes[0]
    }

    /// Starts the bridge on the master with `opts` (an Erlang map body); returns its port.
    pub fn start_bridge(&self, opts: &str) -> u16 {
        let out = self
            .master()
            .eval(&format!("rookery_bridge:start(#{{{opts}}})."));
        out.strip_prefix("{ok,")
            .and_then(|p| p.trim().strip_suffix('}'))
            .and_then(|p| p.trim().parse().ok())
            .unwrap_or_else(|| panic!("rookery_bridge:start/1 returned {out}"))
    }

    /// Waits until the bridge has `n` clients.
    pub fn wait_clients(&self, n: usize) {
        self.master().wait_for(
            "maps:get(clients, rookery_bridge:info()).",
            &n.to_string(),
            Duration::from_secs(30),
        );
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        // The nodes first (their guards kill them), then epmd.
        self.nodes.clear();
    }
}

/// The `rookery` binary.
pub fn rookery_cmd() -> Command {
    Command::new(env!("CARGO_BIN_EXE_rookery"))
}

/// `rookery replay --headless FILE`: the summary JSON.
pub fn replay_summary(file: &Path) -> serde_json::Value {
    let out = rookery_cmd()
        .args(["replay", "--headless"])
        .arg(file)
        .output()
        .expect("running rookery replay");
    assert!(
        out.status.success(),
        "rookery replay {} failed: {}",
        file.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("the replay summary is JSON")
}

/// Lines of `file` that are the event `dotted` (e.g. `amoc.scenario.start.stop`).
pub fn count_events(file: &Path, dotted: &str) -> usize {
    let needle = format!(
        "\"event\":[{}]",
        dotted
            .split('.')
            .map(|p| format!("\"{p}\""))
            .collect::<Vec<_>>()
            .join(",")
    );
    std::fs::read_to_string(file)
        .unwrap_or_default()
        .lines()
        .filter(|l| l.contains(&needle))
        .count()
}

/// Waits until `file` holds `n` events `dotted`.
pub fn wait_events(file: &Path, dotted: &str, n: usize, within: Duration) {
    let deadline = Instant::now() + within;
    loop {
        let seen = count_events(file, dotted);
        if seen >= n {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{} has {seen} {dotted} events, not {n}",
            file.display()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}
