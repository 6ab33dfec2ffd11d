//! `rookery run --cluster URL`: the master of a real cluster. The same monitor (or headless
//! summary) and recorder as a simulated run, fed with every worker's events.

use std::sync::Arc;
use std::time::{Duration, Instant};

use super::RunArgs;
use super::report::ThresholdVerdict;
use super::run::RunError;
use super::signals::Signals;
use crate::cluster_nats::{self, ClusterAddr, Master, MasterOptions};
use crate::engine::DynScenario;
use crate::engine::config::Config;
use crate::monitor::{DEFAULT_FEED_CAPACITY, LiveFeed, MonitorState};
use crate::telemetry::Telemetry;
use crate::tui::{CommandSink, OperatorCommand, SettingRow, TuiOptions, run_live};

/// How long `--nodes-wait` waits.
const NODES_WAIT: Duration = Duration::from_secs(60);
/// How long the workers get to stop their users and send their last events.
const STOP_LIMIT: Duration = Duration::from_secs(15);
const DRAIN: Duration = Duration::from_millis(10);

/// The monitor's commands, carried out by the master. The monitor's driver calls the sink on a
/// blocking thread (the UI never waits), so each call waits for its outcome, which the monitor
/// shows.
struct ClusterSink {
    master: Master,
    rt: tokio::runtime::Handle,
    /// The settings as the master resolved them (the workers resolve the same).
    config: Arc<Config>,
}

impl CommandSink for ClusterSink {
    fn send(&self, command: OperatorCommand) -> Result<(), String> {
        // The monitor sends `Quit` from its own task as it ends (the run's end stops the
        // workers): answered here, without waiting.
        if command == OperatorCommand::Quit {
            return Ok(());
        }
        let m = &self.master;
        self.rt.block_on(async move {
            match command {
                OperatorCommand::AddUsers { count } => m.add_users(count).await.map(|_| ()),
                OperatorCommand::RemoveUsers { count } => {
                    m.remove_users(count, false).await.map(|_| ())
                }
                OperatorCommand::SetRate {
                    throttle,
                    rate,
                    interval_ms,
                } => m.set_rate(&throttle, Some(rate), interval_ms).await,
                OperatorCommand::Pause { throttle } => m.set_paused(&throttle, true).await,
                OperatorCommand::Resume { throttle } => m.set_paused(&throttle, false).await,
                OperatorCommand::StartRamp {
                    throttle,
                    to,
                    duration_ms,
                } => {
                    m.ramp(&throttle, to, Duration::from_millis(duration_ms))
                        .await
                }
                OperatorCommand::CancelRamp { throttle } => m.cancel_ramp(&throttle),
                OperatorCommand::KillNode { node } => m.kill_node(&node).await,
                OperatorCommand::AddNode => Err(format!(
                    "a real cluster grows by its workers: start `rookery node --cluster ... \
                     --run {}` on another machine",
                    m.run()
                )),
                OperatorCommand::SetSetting { name, .. } => Err(format!(
                    "{name}: settings are fixed for a run on a real cluster (give them to \
                     `run --cluster` with --set or --settings)"
                )),
                other => Err(format!("{other}: not available on a real cluster")),
            }
        })
    }

    fn settings(&self) -> Result<Vec<SettingRow>, String> {
        let mut rows = super::sink::setting_rows(&self.config);
        for row in &mut rows {
            row.updatable = false;
        }
        Ok(rows)
    }

    fn run_finished(&self) -> bool {
        self.master.run_finished()
    }
}

/// The `--set`s the workers get: the command's own defaults (`rookery http`'s `user_rate`)
/// that neither a `--set` nor the settings file gives go first, as `--set`s (the join carries
/// only `--set`s and the file, so on a real cluster they are not under `ROOKERY_<NAME>`).
fn sets_with_command_defaults(
    args: &RunArgs,
    file: Option<&cluster_nats::settings::SettingsFile>,
) -> Vec<String> {
    let in_file = file.and_then(|f| {
        crate::engine::config::ExplicitSettings::from_toml_str(
            &f.text,
            std::path::Path::new(&f.path),
        )
        .ok()
    });
    let given = |name: &str| {
        args.set
            .iter()
            .any(|s| crate::engine::config::parse_set(s).is_ok_and(|(n, _)| n == name))
            || in_file.as_ref().is_some_and(|f| f.get(name).is_some())
    };
    args.command_defaults
        .iter()
        .filter(|d| !given(d.name))
        .map(|d| format!("{}={}", d.name, d.value))
        .chain(args.set.iter().cloned())
        .collect()
}

/// Runs the master until `--duration`, `q`, a signal or a failed threshold with
/// `--abort-on-fail`; then stops the workers' users, waits for their last events, shows or
/// prints the result, ends the run, and judges it as a simulated `run` does: `--threshold`
/// (exit 99), `--summary-json`, `--report`, `--metrics`.
pub async fn run_master(
    args: &RunArgs,
    scenario: Arc<dyn DynScenario>,
    url: &str,
) -> Result<(), RunError> {
    // The settings file goes to the workers as text, read by each with the same rules.
    let settings_file = match &args.settings {
        Some(path) => Some(cluster_nats::settings::SettingsFile::read(path)?),
        None => None,
    };
    let sets = sets_with_command_defaults(args, settings_file.as_ref());
    // Bad settings are refused here, before any worker is involved.
    let (config, _) =
        cluster_nats::settings::resolve(&scenario, &sets, settings_file.as_ref(), None)?;
    let config = Arc::new(config);
    if !args.headless {
        crate::tui::terminal::ensure_terminal().map_err(|e| format!("terminal: {e}"))?;
    }
    let mut signals = Signals::new().map_err(|e| format!("cannot listen to signals: {e}"))?;
    let telemetry = Telemetry::new();
    let start = Instant::now();
    let feed = LiveFeed::attach(&telemetry, "rookery-monitor", DEFAULT_FEED_CAPACITY, start)
        .map_err(|e| format!("monitor: {e}"))?;
    feed.start_pumper()
        .map_err(|e| format!("cannot start the event pump's thread: {e}"))?;
    let hooks = super::report::RunHooks::install(args, &feed).await?;
    let mut feed = Some(feed);
    let recorder = cluster_nats::record(args.record.as_deref(), &telemetry, start)?;
    let addr = ClusterAddr {
        url: url.to_owned(),
        creds: args.cluster.cluster_creds.clone(),
        token: None,
        ca: args.cluster.cluster_ca.clone(),
    };
    let opts = MasterOptions {
        settings: sets,
        ..MasterOptions::new(addr, &args.cluster.run, scenario.name())
    };
    let master = Master::start_with(opts, settings_file, telemetry.clone(), start).await?;
    let mut state = MonitorState::new();
    let result = drive(
        args,
        (&master, &config),
        &mut feed,
        &mut state,
        &mut signals,
        &hooks,
    )
    .await;
    // Stop the users everywhere and wait for the last events, still draining.
    let stopping = master.stop(STOP_LIMIT);
    tokio::pin!(stopping);
    let stopped = loop {
        tokio::select! {
            r = &mut stopping => break r,
            _ = tokio::time::sleep(DRAIN) => { drain(&feed, &mut state); }
        }
    };
    drain(&feed, &mut state);
    master.end().await;
    if let Some(rec) = recorder {
        rec.finish().map_err(|e| e.to_string())?;
    }
    if let Some(monitor_state) = result? {
        state = monitor_state;
    }
    if args.headless {
        let c = master.counters();
        let lost = c.dropped_queue.load(std::sync::atomic::Ordering::Relaxed)
            + c.dropped_transit.load(std::sync::atomic::Ordering::Relaxed);
        if lost > 0 {
            super::say(&format!(
                "warning: {lost} worker events were lost: the summary undercounts"
            ));
        }
        super::replay::print_summary(&state.summary())?;
    }
    if let Err(e) = stopped {
        super::say(&format!("warning: {e}"));
    }
    match hooks.finish(args, &state)? {
        ThresholdVerdict::Passed => Ok(()),
        ThresholdVerdict::Failed(reason) => Err(RunError::Thresholds(reason)),
    }
}

/// Headless: waits for the workers, adds the users and waits for the end (the state is
/// `state`, drained from `feed`). With the monitor: runs it (its final state is returned)
/// while the workers are waited for and the users added.
async fn drive(
    args: &RunArgs,
    (master, config): (&Master, &Arc<Config>),
    feed: &mut Option<LiveFeed>,
    state: &mut MonitorState,
    signals: &mut Signals,
    hooks: &super::report::RunHooks,
) -> Result<Option<MonitorState>, String> {
    let users = args.users.unwrap_or(super::DEFAULT_USERS);
    let deadline = args.duration.map(Duration::from_secs_f64);
    if args.headless {
        if args.cluster.nodes_wait > 0 {
            let wait = master.wait_nodes(args.cluster.nodes_wait, NODES_WAIT);
            tokio::pin!(wait);
            loop {
                tokio::select! {
                    r = &mut wait => { r?; break; }
                    _ = tokio::time::sleep(DRAIN) => { drain(feed, state); }
                    () = signals.recv() => return Err("interrupted while waiting for workers".into()),
                }
            }
        }
        if users > 0 {
            let adding = master.add_users(users);
            tokio::pin!(adding);
            loop {
                tokio::select! {
                    r = &mut adding => { r?; break; }
                    _ = tokio::time::sleep(DRAIN) => { drain(feed, state); }
                }
            }
        }
        let end = super::sleep_or_forever(deadline);
        tokio::pin!(end);
        loop {
            tokio::select! {
                _ = tokio::time::sleep(DRAIN) => { drain(feed, state); }
                () = &mut end => break,
                () = signals.recv() => break,
                () = hooks.breached() => break,
            }
        }
        return Ok(None);
    }
    // The monitor starts at once and shows the workers joining; the users are added once
    // enough have (an error shows in its log pane).
    let nodes_wait = args.cluster.nodes_wait;
    let m = master.clone();
    tokio::spawn(async move {
        let ready = match nodes_wait {
            0 => Ok(()),
            n => m.wait_nodes(n, NODES_WAIT).await,
        };
        let added = match ready {
            Ok(()) if users > 0 => m.add_users(users).await.map(|_| ()),
            other => other,
        };
        if let Err(e) = added {
            log::error!(target: "cluster", "{e}");
        }
    });
    let opts = TuiOptions::load(args.theme.as_deref()).map_err(|e| e.to_string())?;
    let opts = TuiOptions {
        run_length: deadline,
        ..opts
    };
    let sink = Arc::new(ClusterSink {
        master: master.clone(),
        rt: tokio::runtime::Handle::current(),
        config: config.clone(),
    });
    let Some(live) = feed.take() else {
        return Ok(None);
    };
    let monitor = run_live(live, sink, opts);
    let stop_after = super::sleep_or_forever(deadline);
    tokio::pin!(monitor, stop_after);
    let mut stopped = false;
    let stop = || {
        let master = master.clone();
        tokio::spawn(async move {
            if let Err(e) = master.stop(STOP_LIMIT).await {
                log::error!(target: "cluster", "{e}");
            }
        });
    };
    loop {
        tokio::select! {
            r = &mut monitor => return r.map(Some).map_err(|e| e.to_string()),
            // At the deadline the users stop; the monitor stays until `q`.
            () = &mut stop_after, if !stopped => { stop(); stopped = true; }
            // So they do when a threshold fails with --abort-on-fail.
            () = hooks.breached(), if !stopped => { stop(); stopped = true; }
            // A signal ends the run as `q` does.
            () = signals.recv() => return Ok(Some(MonitorState::new())),
        }
    }
}

fn drain(feed: &Option<LiveFeed>, state: &mut MonitorState) {
    if let Some(f) = feed {
        f.drain_into(state);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::CommandDefault;
    use crate::cluster_nats::settings::SettingsFile;

    #[test]
    fn a_command_default_goes_to_the_workers_unless_a_set_or_the_file_gives_it() {
        let args = |set: &[&str]| RunArgs {
            set: set.iter().map(|s| (*s).to_owned()).collect(),
            command_defaults: vec![CommandDefault {
                command: "rookery http",
                name: "user_rate",
                value: "infinity",
            }],
            ..RunArgs::default()
        };
        assert_eq!(
            sets_with_command_defaults(&args(&["url=http://x/"]), None),
            ["user_rate=infinity", "url=http://x/"]
        );
        assert_eq!(
            sets_with_command_defaults(&args(&["user_rate=60"]), None),
            ["user_rate=60"]
        );
        let file = SettingsFile {
            path: "run.toml".into(),
            text: "user_rate = 90\n".into(),
        };
        assert!(sets_with_command_defaults(&args(&[]), Some(&file)).is_empty());
    }
}
