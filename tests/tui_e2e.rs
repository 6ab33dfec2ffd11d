//! Runs `tests/e2e/tmux_smoke.sh` against the monitor binary in a real terminal (tmux).
//!
//! The binary is `rookery-tui-demo` (the monitor on the stand-in engine) unless
//! `ROOKERY_E2E_CMD` names another command, e.g. `target/debug/rookery` for the live demo.
//! `ROOKERY_E2E_PANIC_CMD` is a command that panics on request (default: the demo with
//! `--panic-after-ms 1500`; empty skips the panic check).
//! Without tmux the test fails under CI (`CI` set; `.ci/run` installs tmux) and is skipped
//! with a message elsewhere.

use std::process::Command;

#[test]
fn tmux_smoke() {
    let has_tmux = Command::new("tmux")
        .arg("-V")
        .output()
        .is_ok_and(|o| o.status.success());
    if !has_tmux {
        assert!(
            std::env::var_os("CI").is_none(),
            "tmux is required for the end-to-end test under CI"
        );
        eprintln!("skipping tmux_smoke: tmux is not installed");
        return;
    }
    let root = env!("CARGO_MANIFEST_DIR");
    let demo = env!("CARGO_BIN_EXE_rookery-tui-demo");
    let cmd = std::env::var("ROOKERY_E2E_CMD").unwrap_or_else(|_| demo.to_owned());
    let panic_cmd = std::env::var("ROOKERY_E2E_PANIC_CMD")
        .unwrap_or_else(|_| format!("{demo} --panic-after-ms 1500"));
    let out = Command::new("bash")
        .arg(format!("{root}/tests/e2e/tmux_smoke.sh"))
        .env("ROOKERY_E2E_CMD", &cmd)
        .env("ROOKERY_E2E_PANIC_CMD", &panic_cmd)
        .env("ROOKERY_E2E_OUT", format!("{root}/target/e2e"))
        .output()
        .expect("run bash");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "tmux smoke test failed\nstdout:\n{stdout}\nstderr:\n{stderr}"
    );
    assert!(
        stdout.contains("PASS: exit status 0, terminal restored"),
        "{stdout}"
    );
    assert!(stdout.contains("(confirmed on screen)"), "{stdout}");
    assert!(stdout.contains("resize: too-small message"), "{stdout}");
    if !panic_cmd.is_empty() {
        assert!(
            stdout.contains("panic: exit status 101, terminal restored"),
            "{stdout}"
        );
    }
}
