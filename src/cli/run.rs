//! `rookery run`: a scenario on the embedded engine, watched in the monitor or summarised
//! headless.
//!
//! Wiring, in order: a fresh telemetry registry; the monitor's feed and the recorder attach to
//! every event before the engine exists (so its first `rate` event is seen); the engine starts
//! with the chosen scenario and resolved settings and adds the users; then either the monitor
//! runs until `q` or Ctrl-C, or (headless) the run lasts `--duration` or until SIGINT/SIGTERM.
//! On every exit path the scenario is stopped, the recorder flushed, and the terminal restored.

use std::sync::Arc;
use std::time::{Duration, Instant};

use super::RunArgs;
use super::sink::EngineSink;
use crate::engine::config::{ExplicitSettings, format_settings, list_settings, process_env};
use crate::engine::{DynScenario, EngineHandle, EngineOptions};
use crate::eventlog::{Recorder, RecorderHandle, RecorderOptions};
use crate::monitor::{DEFAULT_FEED_CAPACITY, LiveFeed, MonitorState};
use crate::telemetry::Telemetry;
use crate::tui::{TuiOptions, run_live};

/// How long a stop may take before the run ends anyway (users get a grace period of 2 s).
const STOP_TIMEOUT: Duration = Duration::from_secs(10);
/// How often the headless run moves events from the feed's queue into the state.
const HEADLESS_DRAIN: Duration = Duration::from_millis(10);

/// Runs `rookery run` with `scenarios` available by name. Errors are one-line reasons.
pub fn run(args: &RunArgs, scenarios: &[Arc<dyn DynScenario>]) -> Result<(), String> {
    let names: Vec<&str> = scenarios.iter().map(|s| s.name().as_str()).collect();
    let scenario = match &args.scenario {
        None => scenarios.first().cloned(),
        Some(name) => scenarios
            .iter()
            .find(|s| s.name() == name.as_str())
            .cloned(),
    }
    .ok_or_else(|| {
        format!(
            "no scenario named {:?} (available: {})",
            args.scenario.as_deref().unwrap_or(""),
            names.join(", ")
        )
    })?;
    let explicit = ExplicitSettings::from_cli(&args.set, args.settings.as_deref())
        .map_err(|e| format!("settings: {e}"))?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("rookery-engine")
        .build()
        .map_err(|e| format!("cannot start the async runtime: {e}"))?;
    runtime.block_on(async move { run_async(args, scenario, explicit).await })
}

async fn run_async(
    args: &RunArgs,
    scenario: Arc<dyn DynScenario>,
    explicit: ExplicitSettings,
) -> Result<(), String> {
    if !args.headless && !args.list_settings {
        // Before anything starts or is recorded: the monitor needs a terminal.
        crate::tui::terminal::ensure_terminal().map_err(|e| format!("terminal: {e}"))?;
    }
    if args.list_settings {
        // A throwaway engine on its own registry: nothing is recorded or shown.
        let engine = EngineHandle::start(EngineOptions {
            nodes: 1,
            telemetry: Telemetry::new(),
            ..EngineOptions::default()
        })
        .map_err(|e| e.to_string())?;
        let decls = engine.declarations(&scenario).map_err(|e| e.to_string())?;
        print!(
            "{}",
            format_settings(&list_settings(&decls, &explicit, &process_env))
        );
        engine.shutdown();
        return Ok(());
    }
    let telemetry = Telemetry::new();
    let start = Instant::now();
    // The monitor and the recorder attach before the engine exists, so they see its first
    // events (the `user_rate` throttle starting).
    let feed = LiveFeed::attach(&telemetry, "rookery-monitor", DEFAULT_FEED_CAPACITY, start)
        .map_err(|e| format!("monitor: {e}"))?;
    let recorder = match &args.record {
        Some(path) => Some(
            Recorder::start_with(
                path,
                &telemetry,
                RecorderOptions {
                    start: Some(start),
                    ..RecorderOptions::default()
                },
            )
            .map_err(|e| e.to_string())?,
        ),
        None => None,
    };
    let engine = match EngineHandle::start(EngineOptions {
        nodes: args.nodes,
        telemetry: telemetry.clone(),
        ..EngineOptions::default()
    }) {
        Ok(engine) => engine,
        Err(e) => {
            finish_recording(recorder)?;
            return Err(e.to_string());
        }
    };
    let outcome = drive(args, &engine, scenario, &explicit, feed).await;
    let stopped = stop(&engine).await;
    let recorded = finish_recording(recorder);
    engine.shutdown();
    let state = outcome?;
    stopped?;
    recorded?;
    if args.headless {
        super::replay::print_summary(&state.summary())?;
    }
    Ok(())
}

/// Starts the scenario and runs the monitor or the headless wait; returns the final state.
async fn drive(
    args: &RunArgs,
    engine: &EngineHandle,
    scenario: Arc<dyn DynScenario>,
    explicit: &ExplicitSettings,
    feed: LiveFeed,
) -> Result<MonitorState, String> {
    let tui = if args.headless {
        None
    } else {
        Some(TuiOptions::load(args.theme.as_deref()).map_err(|e| e.to_string())?)
    };
    engine
        .start_scenario_with(scenario, explicit, &process_env)
        .map_err(|e| e.to_string())?;
    let users = args.users.unwrap_or(super::DEFAULT_USERS);
    if users > 0 {
        engine.add_users(users).map_err(|e| e.to_string())?;
    }
    let deadline = args.duration.map(Duration::from_secs_f64);
    match tui {
        None => headless(engine, feed, deadline).await,
        Some(opts) => {
            let sink = Arc::new(EngineSink::new(engine.clone()));
            let stop_after = {
                let engine = engine.clone();
                async move {
                    match deadline {
                        Some(d) => {
                            tokio::time::sleep(d).await;
                            let _ = engine.stop();
                        }
                        None => std::future::pending::<()>().await,
                    }
                }
            };
            let monitor = run_live(feed, sink, opts);
            let term = terminated();
            tokio::pin!(monitor, stop_after, term);
            let mut stopped = false;
            loop {
                tokio::select! {
                    r = &mut monitor => return r.map_err(|e| e.to_string()),
                    // At the deadline the scenario stops; the monitor stays until `q`.
                    () = &mut stop_after, if !stopped => stopped = true,
                    // Cancelling the monitor drops its terminal guard, which restores the screen.
                    () = &mut term => return Err("terminated by a signal".into()),
                }
            }
        }
    }
}

async fn headless(
    engine: &EngineHandle,
    feed: LiveFeed,
    deadline: Option<Duration>,
) -> Result<MonitorState, String> {
    let mut state = MonitorState::new();
    let mut tick = tokio::time::interval(HEADLESS_DRAIN);
    let end = async {
        match deadline {
            Some(d) => {
                tokio::select! {
                    () = tokio::time::sleep(d) => {}
                    () = terminated() => {}
                }
            }
            None => terminated().await,
        }
    };
    tokio::pin!(end);
    loop {
        tokio::select! {
            _ = tick.tick() => { feed.drain_into(&mut state); }
            () = &mut end => break,
        }
    }
    // Stop, and keep draining until the users are gone so the summary sees their last events.
    let _ = engine.stop();
    let finished = engine.wait_finished(STOP_TIMEOUT);
    tokio::pin!(finished);
    loop {
        tokio::select! {
            _ = tick.tick() => { feed.drain_into(&mut state); }
            _ = &mut finished => break,
        }
    }
    feed.drain_into(&mut state);
    Ok(state)
}

/// Stops the scenario (if it still runs) and waits for its users to end.
async fn stop(engine: &EngineHandle) -> Result<(), String> {
    let _ = engine.stop();
    match engine.wait_finished(STOP_TIMEOUT).await {
        Ok(()) | Err(crate::engine::EngineError::NoScenario) => Ok(()),
        Err(e) => Err(format!("stopping the scenario: {e}")),
    }
}

fn finish_recording(recorder: Option<RecorderHandle>) -> Result<(), String> {
    let Some(recorder) = recorder else {
        return Ok(());
    };
    let path = recorder.path().display().to_string();
    let stats = recorder.finish().map_err(|e| e.to_string())?;
    if stats.dropped > 0 {
        eprintln!(
            "rookery: warning: the recorder lost {} events (counted in {path})",
            stats.dropped
        );
    }
    Ok(())
}

/// Completes on SIGINT or SIGTERM.
async fn terminated() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = term.recv() => {}
                    _ = tokio::signal::ctrl_c() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
