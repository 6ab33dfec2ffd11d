//! `rookery-tui-demo`: the monitor on the stand-in engine (`rookery::tui::demo`), for trying
//! the keys and for the tmux end-to-end test until `rookery run` drives the real engine.
//!
//! Usage: `rookery-tui-demo [--theme NAME|PATH] [--users N] [--panic-after-ms N]`
//!
//! `--panic-after-ms` panics on purpose while the monitor runs: the end-to-end test uses it to
//! check that a panic restores the terminal and prints its message readably.

use std::process::ExitCode;

use rookery::monitor::LiveFeed;
use rookery::telemetry::Telemetry;
use rookery::tui::demo::DemoEngine;
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

async fn run(args: Vec<String>) -> Result<(), String> {
    let theme = arg_value(&args, "--theme")?;
    let users = match arg_value(&args, "--users")? {
        Some(u) => u.parse::<u64>().map_err(|_| format!("bad --users `{u}`"))?,
        None => 12,
    };
    let opts = TuiOptions::load(theme.as_deref()).map_err(|e| e.to_string())?;
    let telemetry = Telemetry::new();
    let feed = LiveFeed::attach_default(&telemetry).map_err(|e| e.to_string())?;
    let engine = DemoEngine::new(telemetry, 3, users);
    let panic_after = match arg_value(&args, "--panic-after-ms")? {
        Some(ms) => Some(
            ms.parse::<u64>()
                .map_err(|_| format!("bad --panic-after-ms `{ms}`"))?,
        ),
        None => None,
    };
    tokio::spawn(engine.clone().run());
    let monitor = run_live(feed, engine, opts);
    match panic_after {
        None => monitor.await.map(|_| ()).map_err(|e| e.to_string()),
        Some(ms) => {
            tokio::select! {
                r = monitor => r.map(|_| ()).map_err(|e| e.to_string()),
                _ = tokio::time::sleep(std::time::Duration::from_millis(ms)) => {
                    panic!("rookery-tui-demo: panic requested by --panic-after-ms")
                }
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
