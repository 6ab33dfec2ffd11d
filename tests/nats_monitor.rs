//! The master's monitor in a real terminal (tmux) on a real cluster: it shows the workers as
//! they join and their users, refuses `N` with how to add a worker, and quits cleanly (exit
//! status 0, the workers told the run is over). Without tmux the test fails
//! (`.ci/install-deps` installs it).

mod nats_support;

use std::process::Command;
use std::time::Duration;

use nats_support::*;

/// A tmux session, killed when dropped.
struct Tmux(String);

impl Tmux {
    fn start(name: &str, command: &str) -> Tmux {
        let ok = Command::new("tmux")
            .args([
                "new-session",
                "-d",
                "-s",
                name,
                "-x",
                "150",
                "-y",
                "40",
                command,
            ])
            .status()
            .expect("tmux is required (.ci/install-deps installs it)")
            .success();
        assert!(ok, "tmux new-session failed");
        Tmux(name.to_owned())
    }
    fn screen(&self) -> String {
        let out = Command::new("tmux")
            .args(["capture-pane", "-p", "-t", &self.0])
            .output()
            .expect("tmux capture-pane");
        String::from_utf8_lossy(&out.stdout).into_owned()
    }
    fn keys(&self, keys: &str) {
        let _ = Command::new("tmux")
            .args(["send-keys", "-t", &self.0, keys])
            .status();
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = Command::new("tmux")
            .args(["kill-session", "-t", &self.0])
            .status();
    }
}

#[test]
fn the_masters_monitor_shows_the_workers_refuses_n_and_quits_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let server = NatsServer::start(dir.path());
    let url = server.url();
    let (err, exit) = (
        dir.path().join("master.err"),
        dir.path().join("master.exit"),
    );
    let session = format!("rookery-nats-{}", std::process::id());
    let tmux = Tmux::start(
        &session,
        &format!(
            "{} run --cluster {url} --run mon --nodes-wait 3 --users 9 --set user_rate=infinity \
             2> {}; echo $? > {}",
            env!("CARGO_BIN_EXE_rookery"),
            err.display(),
            exit.display()
        ),
    );
    let mut workers: Vec<Proc> = ["w1", "w2", "w3"]
        .iter()
        .map(|w| worker(dir.path(), &url, w, "mon", &[]))
        .collect();
    assert!(
        wait_until(Duration::from_secs(20), || {
            let s = tmux.screen();
            s.contains("running 9") && ["w1", "w2", "w3"].iter().all(|w| s.contains(w))
        }),
        "{}",
        tmux.screen()
    );
    tmux.keys("N");
    assert!(
        wait_until(Duration::from_secs(5), || tmux
            .screen()
            .contains("grows by its workers")),
        "{}",
        tmux.screen()
    );
    tmux.keys("q");
    assert!(
        wait_until(Duration::from_secs(20), || exit.exists()
            && !std::fs::read_to_string(&exit).unwrap().is_empty()),
        "the master did not end: {}",
        tmux.screen()
    );
    let stderr = std::fs::read_to_string(&err).unwrap_or_default();
    assert_eq!(
        std::fs::read_to_string(&exit).unwrap().trim(),
        "0",
        "{stderr}"
    );
    assert!(!stderr.contains("panicked"), "{stderr}");
    for w in &mut workers {
        assert!(w.ends_ok(Duration::from_secs(10)), "{}", w.stderr_text());
    }
}
