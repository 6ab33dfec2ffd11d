//! `rookery run`: a scenario on the embedded engine, watched in the monitor or summarised
//! headless.
//!
//! Wiring, in order: signals are listened to first (SIGINT, SIGTERM, SIGHUP), so one that
//! arrives while the engine starts is not lost; a fresh telemetry registry; the monitor's feed
//! and the recorder attach to every event before the engine exists (so its first `rate` event
//! is seen); the engine starts with the chosen scenario and resolved settings and adds the
//! users; then either the monitor runs until `q`, or (headless) the run lasts `--duration` or
//! until a signal. On every exit path the scenario is stopped, the engine shut down, then the
//! recorder flushed (so it has the last events), and the terminal restored.

use std::sync::Arc;
use std::time::{Duration, Instant};

use super::RunArgs;
use super::signals::Signals;
use super::sink::EngineSink;
use crate::engine::config::{ExplicitSettings, format_settings, list_settings, process_env};
use crate::engine::{DynScenario, EngineHandle, EngineOptions};
use crate::eventlog::{Recorder, RecorderHandle, RecorderOptions};
use crate::monitor::{LiveFeed, MonitorState};
use crate::tap::{DEFAULT_TAP_CAPACITY, Tap, TapOptions};
use crate::telemetry::Telemetry;
use crate::tui::{TuiOptions, run_live};

/// How long a stop may take before the run ends anyway (users get a grace period of 2 s).
const STOP_TIMEOUT: Duration = Duration::from_secs(10);
/// Events the monitor may fall behind the tap by before it counts them as dropped.
const FEED_BACKLOG: usize = 1 << 20;
/// How often the headless run moves events from the feed's queue into the state: as often as
/// the monitor does. Every 10 ms cost a tenth of the requests/s of a closed-model `rookery http`
/// against a fast server (`MODES="headless monitor" SERVERS=hyper PRECISION=0
/// benches/http_vs_oha.sh 10 64 3`: median 73.5k req/s at 10 ms, 84.1k at 33 ms).
const HEADLESS_DRAIN: Duration = Duration::from_millis(33);

/// Why `rookery run` failed.
#[derive(Debug)]
pub enum RunError {
    /// The command line asks for something that does not exist (exit status 2).
    Usage(String),
    /// Anything else (exit status 1).
    Failed(String),
    /// The run went through but thresholds failed (exit status 99).
    Thresholds(String),
}

impl From<String> for RunError {
    fn from(s: String) -> Self {
        RunError::Failed(s)
    }
}

/// Runs `rookery run` with `scenarios` available by name.
pub fn run(args: &RunArgs, scenarios: &[Arc<dyn DynScenario>]) -> Result<(), RunError> {
    let names: Vec<&str> = scenarios.iter().map(|s| s.name().as_str()).collect();
    let scenario = match &args.scenario {
        None => scenarios.first().cloned(),
        Some(name) => scenarios
            .iter()
            .find(|s| s.name() == name.as_str())
            .cloned(),
    }
    .ok_or_else(|| {
        RunError::Usage(format!(
            "no scenario named {:?} (available: {})",
            args.scenario.as_deref().unwrap_or(""),
            names.join(", ")
        ))
    })?;
    super::report::check_metrics_args(&args.output).map_err(RunError::Usage)?;
    super::report::check_outputs(&args.results, args.output.report.as_deref())
        .map_err(RunError::Usage)?;
    if let Some(path) = &args.record
        && !args.force
        && std::fs::symlink_metadata(path).is_ok()
    {
        return Err(RunError::Usage(format!(
            "--record {}: the file exists; pass --force to replace it",
            path.display()
        )));
    }
    let explicit = args.explicit_settings()?;
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
) -> Result<(), RunError> {
    if args.list_settings {
        return Ok(print_settings(&scenario, &explicit)?);
    }
    if let Some(url) = &args.cluster.cluster {
        return super::master::run_master(args, scenario, url).await;
    }
    if !args.headless {
        // Before anything starts or is recorded: the monitor needs a terminal.
        crate::tui::terminal::ensure_terminal().map_err(|e| format!("terminal: {e}"))?;
    }
    let mut signals = Signals::new().map_err(|e| format!("cannot listen to signals: {e}"))?;
    let telemetry = Telemetry::new();
    // One tap feeds the monitor and the recorder (one copy per event), attached before the
    // engine exists, so both see its first events (the `user_rate` throttle starting).
    let tap = Tap::attach(
        &telemetry,
        TapOptions {
            handler_id: "rookery-tap".into(),
            capacity: DEFAULT_TAP_CAPACITY,
            start: Instant::now(),
        },
    )
    .map_err(|e| format!("monitor: {e}"))?;
    let feed = LiveFeed::on_tap(&tap, FEED_BACKLOG);
    feed.start_pumper()
        .map_err(|e| format!("cannot start the event pump's thread: {e}"))?;
    let hooks = super::report::RunHooks::install(args, &feed).await?;
    let recorder = match &args.record {
        Some(path) => Some(
            Recorder::start_on(path, &tap, RecorderOptions::default())
                .map_err(|e| e.to_string())?,
        ),
        None => None,
    };
    let engine = match EngineHandle::start(EngineOptions {
        nodes: args.nodes,
        telemetry: telemetry.clone(),
        user_threads: super::user_threads(args.user_threads),
        ..EngineOptions::default()
    }) {
        Ok(engine) => engine,
        Err(e) => {
            tap.close();
            finish_recording(recorder)?;
            return Err(e.to_string().into());
        }
    };
    let outcome = drive(
        args,
        &engine,
        scenario,
        &explicit,
        feed,
        &mut signals,
        &hooks,
    )
    .await;
    // The monitor has gone (or the headless wait ended): stop the users, unless a second
    // signal says not to wait.
    let stopped = tokio::select! {
        r = stop(&engine, stop_timeout(args)) => r,
        () = signals.recv() => Err("stopping the scenario: interrupted".to_owned()),
    };
    engine.shutdown();
    // After the shutdown, so the log has the users it cancelled. Closing the tap hands the
    // monitor and the recorder the same last events: the summary and the log agree.
    tap.close();
    let recorded = finish_recording(recorder);
    let (mut state, feed) = outcome?;
    if let Some(feed) = feed {
        // Headless: the users the shutdown cancelled count too.
        feed.drain_into(&mut state);
        if state.dropped() > 0 {
            super::say(&format!(
                "warning: the monitor's queue was full and dropped {} events: the summary \
                 undercounts{}",
                state.dropped(),
                if args.record.is_some() {
                    " (the recording has them)"
                } else {
                    ""
                }
            ));
        }
        let summary = state.summary();
        if let Some(http) = &summary.http {
            let warnings = [
                super::http::failure_warning(http),
                super::http::status_warning(http),
            ];
            for w in warnings.into_iter().flatten() {
                super::say(&w);
            }
        }
        super::replay::print_summary(&summary)?;
    }
    let verdict = hooks.finish(args, &state)?;
    stopped?;
    recorded?;
    match verdict {
        super::report::ThresholdVerdict::Passed => Ok(()),
        super::report::ThresholdVerdict::Failed(reason) => Err(RunError::Thresholds(reason)),
    }
}

/// `--stop-timeout` (hidden; tests force a timeout with it), or [`STOP_TIMEOUT`].
fn stop_timeout(args: &RunArgs) -> Duration {
    args.stop_timeout
        .map_or(STOP_TIMEOUT, Duration::from_secs_f64)
}

fn print_settings(
    scenario: &Arc<dyn DynScenario>,
    explicit: &ExplicitSettings,
) -> Result<(), String> {
    // A throwaway engine on its own registry: nothing is recorded or shown.
    let engine = EngineHandle::start(EngineOptions {
        nodes: 1,
        telemetry: Telemetry::new(),
        ..EngineOptions::default()
    })
    .map_err(|e| e.to_string())?;
    let decls = engine.declarations(scenario).map_err(|e| e.to_string())?;
    engine.shutdown();
    let text = format_settings(&list_settings(&decls, explicit, &process_env));
    let mut out = std::io::stdout().lock();
    std::io::Write::write_all(&mut out, text.as_bytes())
        .and_then(|()| std::io::Write::flush(&mut out))
        .map_err(|e| format!("writing the settings: {e}"))
}

/// Starts the scenario and runs the monitor or the headless wait; returns the final state, and
/// the feed when headless (the monitor owns it otherwise).
async fn drive(
    args: &RunArgs,
    engine: &EngineHandle,
    scenario: Arc<dyn DynScenario>,
    explicit: &ExplicitSettings,
    feed: LiveFeed,
    signals: &mut Signals,
    hooks: &super::report::RunHooks,
) -> Result<(MonitorState, Option<LiveFeed>), String> {
    let tui = if args.headless {
        None
    } else {
        Some(TuiOptions::load(args.theme.as_deref()).map_err(|e| e.to_string())?)
    };
    engine
        .start_scenario_with(scenario, explicit, &process_env)
        .map_err(|e| e.to_string())?;
    // Adding many users takes a while: it runs beside the feed's consumer, so the queue is
    // drained meanwhile and nothing is dropped.
    let users = args.users.unwrap_or(super::DEFAULT_USERS);
    let adding = {
        let engine = engine.clone();
        tokio::task::spawn_blocking(move || match users {
            0 => Ok(()),
            n => engine.add_users(n).map(|_| ()).map_err(|e| e.to_string()),
        })
    };
    let deadline = args.duration.map(Duration::from_secs_f64);
    match tui {
        None => {
            let mut state = MonitorState::new();
            let mut tick = tokio::time::interval(HEADLESS_DRAIN);
            tokio::pin!(adding);
            loop {
                tokio::select! {
                    _ = tick.tick() => { feed.drain_into(&mut state); }
                    r = &mut adding => {
                        r.map_err(|e| format!("adding users: {e}"))??;
                        break;
                    }
                }
            }
            let state = headless(
                engine,
                &feed,
                deadline,
                stop_timeout(args),
                signals,
                state,
                hooks,
            )
            .await;
            Ok((state, Some(feed)))
        }
        Some(opts) => {
            tokio::spawn(async move {
                match adding.await {
                    Ok(Ok(())) => {}
                    Ok(Err(e)) => log::error!(target: "engine", "adding users: {e}"),
                    Err(e) => log::error!(target: "engine", "adding users: {e}"),
                }
            });
            let sink = Arc::new(EngineSink::new(engine.clone()));
            let opts = crate::tui::TuiOptions {
                run_length: deadline,
                ..opts
            };
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
            tokio::pin!(monitor, stop_after);
            let mut stopped = false;
            loop {
                tokio::select! {
                    r = &mut monitor => return r.map(|s| (s, None)).map_err(|e| e.to_string()),
                    // At the deadline the scenario stops; the monitor stays until `q`.
                    () = &mut stop_after, if !stopped => stopped = true,
                    // So it does when a threshold fails with --abort-on-fail.
                    () = hooks.breached(), if !stopped => {
                        let _ = engine.stop();
                        stopped = true;
                    }
                    // Cancelling the monitor drops its terminal guard, which restores the screen.
                    // A signal ends the run as `q` does, and as it does headless: a success.
                    () = signals.recv() => return Ok((MonitorState::new(), None)),
                }
            }
        }
    }
}

async fn headless(
    engine: &EngineHandle,
    feed: &LiveFeed,
    deadline: Option<Duration>,
    stop_timeout: Duration,
    signals: &mut Signals,
    mut state: MonitorState,
    hooks: &super::report::RunHooks,
) -> MonitorState {
    let mut tick = tokio::time::interval(HEADLESS_DRAIN);
    let end = super::sleep_or_forever(deadline);
    tokio::pin!(end);
    loop {
        tokio::select! {
            _ = tick.tick() => { feed.drain_into(&mut state); }
            () = &mut end => break,
            () = signals.recv() => break,
            () = hooks.breached() => break,
        }
    }
    // Stop, and keep draining until the users are gone so the summary sees their last events;
    // a second signal stops waiting.
    let _ = engine.stop();
    let finished = engine.wait_finished(stop_timeout);
    tokio::pin!(finished);
    loop {
        tokio::select! {
            _ = tick.tick() => { feed.drain_into(&mut state); }
            _ = &mut finished => break,
            () = signals.recv() => break,
        }
    }
    feed.drain_into(&mut state);
    state
}

/// Stops the scenario (if it still runs) and waits for its users to end.
async fn stop(engine: &EngineHandle, timeout: Duration) -> Result<(), String> {
    let _ = engine.stop();
    match engine.wait_finished(timeout).await {
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
        super::say(&format!(
            "warning: the recorder lost {} events (counted in {path})",
            stats.dropped
        ));
    }
    Ok(())
}
