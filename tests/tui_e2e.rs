//! Runs `tests/e2e/tmux_smoke.sh` against the monitor binary in a real terminal (tmux): live
//! rate-up confirmed on screen, resize, quit; a caught user panic; an uncaught panic; a replay.
//!
//! The live and replay phases run `rookery` itself (the built-in demo; `rookery replay
//! assets/logs/amoc-sample.jsonl --speed max`); override with `ROOKERY_E2E_CMD` and
//! `ROOKERY_E2E_REPLAY_CMD`. The panic phases use the `rookery-tui-demo` harness (the same
//! monitor and engine, with panics on request): `ROOKERY_E2E_CAUGHT_CMD` and
//! `ROOKERY_E2E_PANIC_CMD` need commands that panic on request (the latter once the file
//! `ROOKERY_E2E_PANIC_FILE` exists); empty skips them.
//! Then a run with no users that lasts 4 s (the clock, FINISHED, the summary on quit) and the
//! steering keys on the demo (pause, kill confirmation, prompts, ramps, log pane, settings).
//! Without tmux the test fails (`.ci/install-deps` installs it).

use std::process::Command;

#[test]
fn tmux_smoke() {
    let has_tmux = Command::new("tmux")
        .arg("-V")
        .output()
        .is_ok_and(|o| o.status.success());
    assert!(
        has_tmux,
        "tmux is required for the end-to-end test (.ci/install-deps installs it)"
    );
    let root = env!("CARGO_MANIFEST_DIR");
    let rookery = env!("CARGO_BIN_EXE_rookery");
    let demo = env!("CARGO_BIN_EXE_rookery-tui-demo");
    let var = |name: &str, default: String| std::env::var(name).unwrap_or(default);
    let live = var("ROOKERY_E2E_CMD", rookery.to_owned());
    let caught = var(
        "ROOKERY_E2E_CAUGHT_CMD",
        format!("{demo} --caught-panic-after-ms 300"),
    );
    let dir = tempfile::tempdir().expect("tempdir");
    let panic_file = dir.path().join("panic-now");
    let panic = var(
        "ROOKERY_E2E_PANIC_CMD",
        format!("{demo} --panic-when-file {}", panic_file.display()),
    );
    let replay = var(
        "ROOKERY_E2E_REPLAY_CMD",
        format!("{rookery} replay {root}/assets/logs/amoc-sample.jsonl --speed max"),
    );
    let out = Command::new("bash")
        .arg(format!("{root}/tests/e2e/tmux_smoke.sh"))
        .env("ROOKERY_E2E_CMD", &live)
        .env("ROOKERY_E2E_CAUGHT_CMD", &caught)
        .env("ROOKERY_E2E_PANIC_CMD", &panic)
        .env("ROOKERY_E2E_PANIC_FILE", &panic_file)
        .env("ROOKERY_E2E_REPLAY_CMD", &replay)
        .env(
            "ROOKERY_E2E_CLOCK_CMD",
            format!("{rookery} run --users 0 --duration 4"),
        )
        .env("ROOKERY_E2E_CONTROLS_CMD", &live)
        .env("ROOKERY_E2E_OUT", format!("{root}/target/e2e"))
        .output()
        .expect("run bash");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "tmux smoke test failed\nstdout:\n{stdout}\nstderr:\n{stderr}"
    );
    let expect = |phase: &str, cmd: &str| {
        if !cmd.is_empty() {
            assert!(stdout.contains(phase), "missing `{phase}` in\n{stdout}");
        }
    };
    expect("(confirmed on screen)", &live);
    expect("live: resize: too-small message", &live);
    expect("live: quit: exit status 0, terminal restored", &live);
    expect("caught: monitor stayed up and clean", &caught);
    expect("panic: exit status 101, terminal restored", &panic);
    expect("replay: figures of the Amoc sample on screen", &replay);
    expect(
        "clock: moves without load, time left, FINISHED keeps",
        rookery,
    );
    expect("controls: a paused throttle's executes fall to 0", &live);
    expect("controls: a node kill asks first; n cancels", &live);
    expect(
        "controls: prompts show the unit and call overflow too big",
        &live,
    );
    expect("controls: the log pane tells the engine's life", &live);
    expect("controls: quit prints the final summary", &live);
    assert!(stdout.contains("PASS"), "{stdout}");
}
