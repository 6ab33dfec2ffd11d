//! `rookery run --cluster URL`: the master of a real cluster. The same monitor (or headless
//! summary) and recorder as a simulated run, fed with every worker's events.

use std::sync::Arc;
use std::time::{Duration, Instant};

use super::RunArgs;
use super::signals::Signals;
use crate::cluster_nats::{self, ClusterAddr, Master, MasterOptions};
use crate::engine::DynScenario;
use crate::monitor::{DEFAULT_FEED_CAPACITY, LiveFeed, MonitorState};
use crate::telemetry::Telemetry;
use crate::tui::{CommandSink, OperatorCommand, TuiOptions, run_live};

/// How long `--nodes-wait` waits.
const NODES_WAIT: Duration = Duration::from_secs(60);
/// How long the workers get to stop their users and send their last events.
const STOP_LIMIT: Duration = Duration::from_secs(15);
const DRAIN: Duration = Duration::from_millis(10);

/// The monitor's commands, sent to the workers in the background (the UI never waits).
struct ClusterSink {
    master: Master,
    rt: tokio::runtime::Handle,
}

impl CommandSink for ClusterSink {
    fn send(&self, command: OperatorCommand) -> Result<(), String> {
        let master = self.master.clone();
        match command {
            OperatorCommand::AddUsers { count } => {
                self.rt.spawn(async move {
                    if let Err(e) = master.add_users(count).await {
                        log::error!(target: "cluster", "{e}");
                    }
                });
                Ok(())
            }
            OperatorCommand::RemoveUsers { count } => {
                self.rt.spawn(async move {
                    if let Err(e) = master.remove_users(count, false).await {
                        log::error!(target: "cluster", "{e}");
                    }
                });
                Ok(())
            }
            OperatorCommand::SetRate {
                throttle,
                rate,
                interval_ms,
            } => {
                self.rt.spawn(async move {
                    if let Err(e) = master.set_rate(&throttle, Some(rate), interval_ms).await {
                        log::error!(target: "cluster", "{e}");
                    }
                });
                Ok(())
            }
            OperatorCommand::Quit => Ok(()),
            OperatorCommand::AddNode => {
                Err("a real cluster grows by starting `rookery node` on another machine".into())
            }
            other => Err(format!("{other}: not available on a real cluster yet")),
        }
    }
}

/// Runs the master until `--duration`, `q` or a signal; then stops the workers' users, waits
/// for their last events, prints or shows the result, and ends the run.
pub async fn run_master(
    args: &RunArgs,
    scenario: Arc<dyn DynScenario>,
    url: &str,
) -> Result<(), String> {
    if args.settings.is_some() {
        return Err("--settings FILE is not supported with --cluster yet: use --set".into());
    }
    if !args.headless {
        crate::tui::terminal::ensure_terminal().map_err(|e| format!("terminal: {e}"))?;
    }
    let mut signals = Signals::new().map_err(|e| format!("cannot listen to signals: {e}"))?;
    let telemetry = Telemetry::new();
    let start = Instant::now();
    let mut feed = Some(
        LiveFeed::attach(&telemetry, "rookery-monitor", DEFAULT_FEED_CAPACITY, start)
            .map_err(|e| format!("monitor: {e}"))?,
    );
    let recorder = cluster_nats::record(args.record.as_deref(), &telemetry, start)?;
    let opts = MasterOptions {
        addr: ClusterAddr {
            url: url.to_owned(),
            creds: args.cluster.cluster_creds.clone(),
            token: None,
            ca: args.cluster.cluster_ca.clone(),
        },
        run: args.cluster.run.clone(),
        name: "master".into(),
        scenario: scenario.name().to_string(),
        settings: args.set.clone(),
        heartbeat: cluster_nats::HEARTBEAT,
        timeout: cluster_nats::TIMEOUT,
    };
    let master = Master::start(opts, telemetry.clone(), start).await?;
    let mut state = MonitorState::new();
    let result = async {
        if args.cluster.nodes_wait > 0 {
            let wait = master.wait_nodes(args.cluster.nodes_wait, NODES_WAIT);
            tokio::pin!(wait);
            loop {
                tokio::select! {
                    r = &mut wait => { r?; break; }
                    _ = tokio::time::sleep(DRAIN) => { drain(&feed, &mut state); }
                    () = signals.recv() => return Err("interrupted while waiting for workers".into()),
                }
            }
        }
        let users = args.users.unwrap_or(super::DEFAULT_USERS);
        if users > 0 {
            let adding = master.add_users(users);
            tokio::pin!(adding);
            loop {
                tokio::select! {
                    r = &mut adding => { r?; break; }
                    _ = tokio::time::sleep(DRAIN) => { drain(&feed, &mut state); }
                }
            }
        }
        let deadline = args.duration.map(Duration::from_secs_f64);
        if args.headless {
            let end = async {
                match deadline {
                    Some(d) => tokio::time::sleep(d).await,
                    None => std::future::pending().await,
                }
            };
            tokio::pin!(end);
            loop {
                tokio::select! {
                    _ = tokio::time::sleep(DRAIN) => { drain(&feed, &mut state); }
                    () = &mut end => break,
                    () = signals.recv() => break,
                }
            }
            Ok(())
        } else {
            let opts = TuiOptions::load(args.theme.as_deref()).map_err(|e| e.to_string())?;
            let sink = Arc::new(ClusterSink {
                master: master.clone(),
                rt: tokio::runtime::Handle::current(),
            });
            let Some(live) = feed.take() else {
                return Ok(());
            };
            let monitor = run_live(live, sink, opts);
            let stop_after = {
                let master = master.clone();
                async move {
                    match deadline {
                        Some(d) => {
                            tokio::time::sleep(d).await;
                            if let Err(e) = master.stop(STOP_LIMIT).await {
                                log::error!(target: "cluster", "{e}");
                            }
                        }
                        None => std::future::pending::<()>().await,
                    }
                }
            };
            tokio::pin!(monitor, stop_after);
            let mut stopped = false;
            loop {
                tokio::select! {
                    r = &mut monitor => return r.map(|_| ()).map_err(|e| e.to_string()),
                    // At the deadline the users stop; the monitor stays until `q`.
                    () = &mut stop_after, if !stopped => stopped = true,
                    () = signals.recv() => return Err("terminated by a signal".into()),
                }
            }
        }
    }
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
    result?;
    if args.headless {
        let c = master.counters();
        let lost = c.dropped_queue.load(std::sync::atomic::Ordering::Relaxed)
            + c.dropped_transit.load(std::sync::atomic::Ordering::Relaxed);
        if lost > 0 {
            eprintln!("rookery: warning: {lost} worker events were lost: the summary undercounts");
        }
        super::replay::print_summary(&state.summary())?;
    }
    if let Err(e) = stopped {
        eprintln!("rookery: warning: {e}");
    }
    Ok(())
}

fn drain(feed: &Option<LiveFeed>, state: &mut MonitorState) {
    if let Some(f) = feed {
        f.drain_into(state);
    }
}
