//! `rookery-tui-demo`: a test harness for the monitor's terminal handling. It runs what
//! `rookery` runs (the engine with the built-in demo scenario on three simulated nodes, in the
//! monitor) and can panic on request, which `rookery` itself never should:
//!
//! ```text
//! rookery-tui-demo [--theme NAME|PATH] [--users N]
//!                  [--panic-when-file PATH] [--caught-panic-after-ms N]
//! ```
//!
//! `--panic-when-file` panics, outside any guarded section, once PATH exists (the end-to-end
//! test creates it once the monitor is up, then checks that the terminal is restored and the
//! message readable). `--caught-panic-after-ms` has a "virtual user" panic inside a guarded
//! section and catches it, as the engine does: the monitor must stay up and the screen clean.

use std::process::ExitCode;
use std::time::Duration;

use std::sync::Arc;

use rookery::cli::sink::EngineSink;
use rookery::demo::Demo;
use rookery::engine::config::ExplicitSettings;
use rookery::engine::{EngineHandle, EngineOptions, boxed};
use rookery::monitor::LiveFeed;
use rookery::telemetry::Telemetry;
use rookery::telemetry::guard::guarded;
use rookery::tui::{TuiOptions, run_live};

fn arg_value(args: &[String], flag: &str) -> Result<Option<String>, String> {
    match args.iter().position(|a| a == flag) {
        None => Ok(None),
        Some(i) => args
            .get(i + 1)
            .cloned()
            .map(Some)
            .ok_or_else(|| format!("{flag} needs a value")),
    }
}

fn number(args: &[String], flag: &str) -> Result<Option<u64>, String> {
    arg_value(args, flag)?
        .map(|v| v.parse::<u64>().map_err(|_| format!("bad {flag} `{v}`")))
        .transpose()
}

/// A virtual user that crashes after `ms`, caught the way the engine catches user panics.
fn crash_a_user_later(ms: u64) {
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(ms)).await;
        let caught = std::panic::catch_unwind(|| {
            guarded(|| panic!("virtual user 7 crashed (demo)"));
        });
        if caught.is_err() {
            log::warn!(target: "demo", "caught a virtual user's panic; the run goes on");
        }
    });
}

async fn run(args: Vec<String>) -> Result<(), String> {
    let theme = arg_value(&args, "--theme")?;
    let opts = TuiOptions::load(theme.as_deref()).map_err(|e| e.to_string())?;
    rookery::tui::terminal::ensure_terminal().map_err(|e| format!("terminal: {e}"))?;
    let users = number(&args, "--users")?.unwrap_or(12);
    // The monitor listens before the engine starts, so it sees every start-up event.
    let telemetry = Telemetry::new();
    let feed = LiveFeed::attach_default(&telemetry).map_err(|e| e.to_string())?;
    let engine = EngineHandle::start(EngineOptions {
        telemetry,
        ..EngineOptions::default()
    })
    .map_err(|e| e.to_string())?;
    engine
        .start_scenario_with(
            boxed(Demo),
            &ExplicitSettings::new().set("user_rate", "600"),
            &|_| None,
        )
        .map_err(|e| e.to_string())?;
    engine.add_users(users).map_err(|e| e.to_string())?;
    let sink = Arc::new(EngineSink::new(engine));
    if let Some(ms) = number(&args, "--caught-panic-after-ms")? {
        crash_a_user_later(ms);
    }
    let monitor = run_live(feed, sink, opts);
    match arg_value(&args, "--panic-when-file")? {
        None => monitor.await.map(|_| ()).map_err(|e| e.to_string()),
        Some(path) => {
            let appears = async {
                while !std::path::Path::new(&path).exists() {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            };
            tokio::select! {
                r = monitor => r.map(|_| ()).map_err(|e| e.to_string()),
                _ = appears => panic!("rookery-tui-demo: panic requested by --panic-when-file"),
            }
        }
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match run(args).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("rookery-tui-demo: {e}");
            ExitCode::from(1)
        }
    }
}
