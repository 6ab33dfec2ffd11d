//! A worker process (`rookery node`): joins the master of its run, runs the scenario's users in
//! the id blocks the master hands out, forwards every event, and keeps a heartbeat.
//!
//! The worker's node is the engine's own node (the one the simulated cluster runs), reached
//! through the engine's transport seam (`NodeLink::local`): the master's
//! [`Request`](crate::engine::protocol::Request)s arrive on the worker's command subject, are
//! handed to the node unchanged, and the node's [`Reply`](crate::engine::protocol::Reply) goes
//! back as the NATS reply. Its unsolicited reports (`Finished` after a stop, `Down` after a `Leave`) come out of the node's
//! inbox and are sent on (a [`Report`](super::wire::Report)) or end the membership (a
//! [`Leave`](super::wire::Leave)).
//!
//! Failure rules (see the module docs of [`cluster_nats`](super)):
//! * the master says "down" to a heartbeat, or the worker notices it was frozen (SIGSTOP, a
//!   suspended VM) longer than the timeout: it was declared down, so it cancels its users at
//!   once (never a zombie still sending load) and joins again as a new node (`NAME~2`);
//! * the master is silent past the timeout while the worker's own link is up: the worker emits
//!   `[amoc, cluster, master_node_down]`, cancels its users and exits with a message;
//! * SIGTERM/SIGINT: the scenario stops (users leave, `terminate` runs), the last events are
//!   sent, the master is told, and the worker exits 0.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::connect::ClusterAddr;
use super::wire::{self, JOIN, Join, JoinReply, PROTOCOL, Subjects};
use crate::cli::signals::Signals;
use crate::engine::DynScenario;
use crate::telemetry::Telemetry;

mod heartbeat;
mod session;

use session::Session;

/// How a worker runs.
#[derive(Clone, Debug)]
pub struct WorkerOptions {
    pub addr: ClusterAddr,
    /// The node name it asks for.
    pub name: String,
    pub run: String,
    /// Its own event log (the same events it forwards).
    pub record: Option<PathBuf>,
    /// Compress event batches.
    pub gzip: bool,
    /// Threads its users run on (0: the current runtime); see
    /// [`UserThreads`](crate::engine::UserThreads).
    pub user_threads: usize,
}

/// How one membership ended.
pub(super) enum Outcome {
    /// The run is over (the master said so).
    Ended,
    /// Left on a signal.
    Left,
    /// Declared down: join again as a new node.
    Fenced(String),
}

/// Runs a worker until the run ends, it is told to leave, or the master is lost.
pub async fn run_worker(
    opts: &WorkerOptions,
    scenarios: &[Arc<dyn DynScenario>],
    signals: &mut Signals,
) -> Result<(), String> {
    wire::check_token("--run", &opts.run)?;
    wire::check_token("--name", &opts.name)?;
    let start = Instant::now();
    let telemetry = Telemetry::new();
    let recorder = super::record(opts.record.as_deref(), &telemetry, start)?;
    let result = async {
        let conn_name = format!("rookery node {}", opts.name);
        let (client, _link) = tokio::select! {
            r = opts.addr.connect(&conn_name, Duration::from_secs(30)) => r?,
            () = signals.recv() => return Ok(()),
        };
        let subjects = Subjects::new(&opts.run);
        let mut end = client
            .subscribe(subjects.end())
            .await
            .map_err(|e| format!("NATS: {e}"))?;
        loop {
            let accepted = tokio::select! {
                r = join(&client, opts, scenarios, start) => r?,
                () = signals.recv() => return Ok(()),
            };
            let session = Session::begin(
                accepted,
                &client,
                &opts.addr,
                &subjects,
                &telemetry,
                scenarios,
                start,
                opts.gzip,
                opts.user_threads,
            )
            .await?;
            match session.serve(&mut end, signals).await? {
                Outcome::Ended | Outcome::Left => return Ok(()),
                Outcome::Fenced(why) => {
                    eprintln!("rookery: {why}: users stopped; joining again as a new node");
                }
            }
        }
    }
    .await;
    if let Some(rec) = recorder
        && let Err(e) = rec.finish()
    {
        eprintln!("rookery: recording: {e}");
    }
    result
}

/// Asks to join until a master of the run answers (every second; workers may start first).
async fn join(
    client: &async_nats::Client,
    opts: &WorkerOptions,
    scenarios: &[Arc<dyn DynScenario>],
    start: Instant,
) -> Result<JoinReply, String> {
    let mut told = false;
    loop {
        let msg = Join {
            v: PROTOCOL,
            run: opts.run.clone(),
            name: opts.name.clone(),
            fingerprint: wire::fingerprint(),
            scenarios: scenarios.iter().map(|s| s.name().to_string()).collect(),
            now_us: start.elapsed().as_micros() as u64,
        };
        let asked = tokio::time::timeout(
            Duration::from_secs(1),
            client.request(JOIN, wire::encode(&msg)),
        )
        .await;
        match asked {
            Ok(Ok(reply)) => match wire::decode::<JoinReply>(&reply.payload) {
                Ok(JoinReply::Refused { reason, .. }) => {
                    return Err(format!("the master refused this worker: {reason}"));
                }
                Ok(accepted) => return Ok(accepted),
                Err(e) => log::warn!(target: "cluster", "join reply ignored: {e}"),
            },
            Ok(Err(_)) | Err(_) => {
                if !told {
                    eprintln!(
                        "rookery: waiting for the master of run {:?} on {}",
                        opts.run,
                        opts.addr.shown()
                    );
                    told = true;
                }
                tokio::time::sleep(Duration::from_millis(250)).await;
            }
        }
    }
}
