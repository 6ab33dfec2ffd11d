//! The master of a real cluster: the node table, user ids, heartbeats, and the events of every
//! worker fed into the master's own telemetry registry (so its monitor and recorder see the
//! whole cluster, exactly as a simulated one).
//!
//! It drives each worker's node with the engine's node protocol
//! ([`NodeCommand`](crate::engine::protocol::NodeCommand) in a versioned `Request` envelope with
//! a request id, answered by a `Reply` or timed out: [`requests`]). A worker is started with
//! `Connected` and `StartScenario` once its first heartbeat shows that it listens; users go in
//! id blocks (`AddUsers`), a stop is `StopScenario` and its end the worker's `Finished` report.
//!
//! Concurrency: one task per subscription (joins, event batches, reports, leaves) and a
//! watchdog, sharing a small table behind a mutex; heartbeats on a thread of their own
//! (`liveness`). Decisions are taken under the lock;
//! replies, commands and events go out after it is released. The UI never waits on any of it.
//!
//! | module | holds |
//! |---|---|
//! | `table` | the node table |
//! | [`requests`] | a request to a node, answered or timed out |
//! | `joins` | joins, starting a node |
//! | `liveness` | heartbeats and silent nodes, on a thread and a NATS connection of their own |
//! | `events` | the workers' event batches, re-emitted on the master |
//! | `down` | leaves, reports, a node going down, the shares' watchdog |
//! | `users` | user id blocks, removing users, stopping, ending the run |
//! | `throttles` | cluster-wide throttle rates (split into shares), pauses and ramps |
//! | `coordinators` | the run's coordinators, fed by the workers' adds |

mod coordinators;
mod down;
mod events;
mod joins;
mod liveness;
pub mod requests;
mod table;
mod throttles;
mod users;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use tokio::sync::mpsc;

pub use events::{EVENTS_DROPPED, IGNORED, USERS_LOST};
pub use table::Block;

use super::connect::ClusterAddr;
use super::liveness::OwnThread;
use super::settings::SettingsFile;
use super::shares::Shares;
use super::wire::{self, JOIN, Subjects};
use crate::engine::coordinator::{CoordinatorInfo, Coordinators};
use crate::engine::events::Emitter;
use crate::engine::protocol::{Pending, RunId};
use crate::telemetry::{Key, Telemetry, Value, monotonic_time};
use table::Table;

/// The engine run id of a real cluster's one scenario run.
const RUN: RunId = RunId(1);

/// How a master runs.
#[derive(Clone, Debug)]
pub struct MasterOptions {
    pub addr: ClusterAddr,
    pub run: String,
    /// The master's node name in events (default `master`).
    pub name: String,
    pub scenario: String,
    /// `NAME=VALUE` settings handed to every worker.
    pub settings: Vec<String>,
    pub heartbeat: Duration,
    /// A worker silent this long (while the master's heartbeat connection is up) is declared down.
    pub timeout: Duration,
}

impl MasterOptions {
    /// A master of run `run` for `scenario` reached at `addr`: named `master`, no settings,
    /// the default heartbeat and timeout ([`HEARTBEAT`](super::HEARTBEAT),
    /// [`TIMEOUT`](super::TIMEOUT)). Change a field after for anything else.
    pub fn new(addr: ClusterAddr, run: &str, scenario: &str) -> MasterOptions {
        MasterOptions {
            addr,
            run: run.to_owned(),
            name: "master".into(),
            scenario: scenario.to_owned(),
            settings: Vec::new(),
            heartbeat: super::HEARTBEAT,
            timeout: super::TIMEOUT,
        }
    }

    /// [`new`](Self::new) for a server at `url` without credentials, with these `NAME=VALUE`
    /// settings.
    pub fn at(url: &str, run: &str, scenario: &str, settings: &[&str]) -> MasterOptions {
        let addr = ClusterAddr {
            url: url.to_owned(),
            ..ClusterAddr::default()
        };
        MasterOptions {
            settings: settings.iter().map(|s| (*s).to_owned()).collect(),
            ..MasterOptions::new(addr, run, scenario)
        }
    }
}

/// One item of the master's outbox.
pub(crate) enum Outgoing {
    /// Publish `payload` on the subject.
    Publish(String, bytes::Bytes),
    /// Everything queued before has been handed to the server: say so.
    Flushed(tokio::sync::oneshot::Sender<()>),
}

impl Shared {
    /// Waits (at most `limit`) until everything queued in the outbox so far has been handed to
    /// the server, so that a command sent next (a stop) cannot overtake it (a stop's leftover
    /// batches must reach their workers while their users still run).
    async fn flush_outbox(&self, limit: Duration) {
        let (done, flushed) = tokio::sync::oneshot::channel();
        if self.outbox.send(Outgoing::Flushed(done)).is_ok() {
            let _ = tokio::time::timeout(limit, flushed).await;
        }
    }
}

/// Messages ignored or lost, by kind.
#[derive(Debug, Default)]
pub struct Counters {
    /// Join requests of another run id.
    pub other_run: AtomicU64,
    /// Messages that did not decode (or spoke another protocol version).
    pub undecodable: AtomicU64,
    /// Batches or heartbeats of a node that is not up (declared down, or unknown).
    pub stale: AtomicU64,
    /// Joins refused.
    pub refused: AtomicU64,
    /// Events a worker's queue dropped (as it reported).
    pub dropped_queue: AtomicU64,
    /// Events sent but never received.
    pub dropped_transit: AtomicU64,
}

struct Shared {
    opts: MasterOptions,
    /// `--settings FILE`, handed to the workers with the `--set`s.
    settings_file: Option<SettingsFile>,
    client: async_nats::Client,
    subjects: Subjects,
    telemetry: Telemetry,
    emitter: Emitter,
    start: Instant,
    /// `monotonic_time` at `start`.
    mono0: i64,
    fingerprint: String,
    table: Mutex<Table>,
    shares: Mutex<Shares>,
    /// Throttles paused and ramping cluster-wide.
    control: Mutex<throttles::Control>,
    pending: Mutex<Pending>,
    /// The run's coordinators (the master owns them; workers forward their adds).
    coordinators: Coordinators<Value>,
    /// What to publish, in order, from code that cannot wait (coordinator actions).
    outbox: mpsc::UnboundedSender<Outgoing>,
    counters: Counters,
    changed: tokio::sync::watch::Sender<u64>,
    /// The heartbeats' thread (stopped by [`Master::end`]).
    liveness: Mutex<Option<OwnThread>>,
}

/// A running master. Cheap to clone.
#[derive(Clone)]
pub struct Master {
    shared: Arc<Shared>,
}

impl Master {
    /// Connects and starts listening for workers. `telemetry` gets the master's own events and
    /// every worker's; `start` is its `t_us = 0` (the monitor's and the recorder's).
    pub async fn start(
        opts: MasterOptions,
        telemetry: Telemetry,
        start: Instant,
    ) -> Result<Master, String> {
        Self::start_with(opts, None, telemetry, start).await
    }

    /// [`start`](Self::start) with a `--settings FILE` for the workers.
    pub async fn start_with(
        opts: MasterOptions,
        settings_file: Option<SettingsFile>,
        telemetry: Telemetry,
        start: Instant,
    ) -> Result<Master, String> {
        wire::check_token("--run", &opts.run)?;
        let (client, _link) = opts
            .addr
            .connect(
                &format!("rookery master {}", opts.run),
                Duration::from_secs(10),
            )
            .await?;
        let mono0 = monotonic_time() - start.elapsed().as_nanos() as i64;
        let (outbox, mut queued) = mpsc::unbounded_channel::<Outgoing>();
        let publisher = client.clone();
        tokio::spawn(async move {
            while let Some(out) = queued.recv().await {
                match out {
                    Outgoing::Publish(subject, payload) => {
                        let _ = publisher.publish(subject, payload).await;
                    }
                    Outgoing::Flushed(done) => {
                        let _ = publisher.flush().await;
                        let _ = done.send(());
                    }
                }
            }
        });
        let emitter = Emitter::new(telemetry.clone(), opts.name.as_str());
        let shared = Arc::new(Shared {
            subjects: Subjects::new(&opts.run),
            settings_file,
            coordinators: Coordinators::new(emitter.clone()),
            outbox,
            emitter,
            opts,
            client,
            telemetry,
            start,
            mono0,
            fingerprint: wire::fingerprint(),
            table: Mutex::new(Table::new()),
            shares: Mutex::new(Shares::default()),
            control: Mutex::default(),
            pending: Mutex::new(Pending::default()),
            counters: Counters::default(),
            changed: tokio::sync::watch::Sender::new(0),
            liveness: Mutex::new(None),
        });
        let sub = |s: String| {
            let client = shared.client.clone();
            async move {
                client
                    .subscribe(s.clone())
                    .await
                    .map_err(|e| format!("subscribing to {s}: {e}"))
            }
        };
        let joins = sub(JOIN.to_owned()).await?;
        let batches = sub(shared.subjects.all("ev")).await?;
        let reports = sub(shared.subjects.all("rep")).await?;
        let leaves = sub(shared.subjects.all("leave")).await?;
        let coordinating = sub(shared.subjects.all("co")).await?;
        shared
            .client
            .flush()
            .await
            .map_err(|e| format!("NATS: {e}"))?;
        let m = Master { shared };
        // Heartbeats are answered before anyone can join.
        let liveness = m.start_liveness().await?;
        *m.shared.liveness.lock().unwrap_or_else(|e| e.into_inner()) = Some(liveness);
        tokio::spawn(m.clone().on_joins(joins));
        tokio::spawn(m.clone().on_batches(batches));
        tokio::spawn(m.clone().on_reports(reports));
        tokio::spawn(m.clone().on_leaves(leaves));
        tokio::spawn(m.clone().on_coordinators(coordinating));
        tokio::spawn(m.clone().watchdog());
        Ok(m)
    }

    fn table(&self) -> MutexGuard<'_, Table> {
        self.shared.table.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn shares(&self) -> MutexGuard<'_, Shares> {
        self.shared.shares.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn control(&self) -> MutexGuard<'_, throttles::Control> {
        self.shared
            .control
            .lock()
            .unwrap_or_else(|e| e.into_inner())
    }

    fn pending(&self) -> MutexGuard<'_, Pending> {
        self.shared
            .pending
            .lock()
            .unwrap_or_else(|e| e.into_inner())
    }

    fn bump(&self) {
        self.shared.changed.send_modify(|n| *n += 1);
    }

    /// Waits until `done` holds on the table (checked on every change), at most `limit`;
    /// returns whether it held.
    async fn wait_table(&self, limit: Duration, done: impl Fn(&mut Table) -> bool) -> bool {
        let mut changes = self.shared.changed.subscribe();
        let wait = async {
            loop {
                if done(&mut self.table()) {
                    return true;
                }
                if changes.changed().await.is_err() {
                    return false;
                }
            }
        };
        tokio::time::timeout(limit, wait).await.unwrap_or(false)
    }

    /// Ignored and lost messages so far.
    pub fn counters(&self) -> &Counters {
        &self.shared.counters
    }

    /// The master's node name.
    pub fn name(&self) -> &str {
        &self.shared.opts.name
    }

    /// The run id workers join with.
    pub fn run(&self) -> &str {
        &self.shared.opts.run
    }

    /// The state and counters of the run's coordinator `name` (the master owns them):
    /// `items[i].forgotten` counts the users taken out because their node went down.
    pub fn coordinator_info(&self, name: &str) -> Result<CoordinatorInfo, String> {
        self.shared
            .coordinators
            .info(name)
            .map_err(|e| e.to_string())
    }

    /// The nodes up now.
    pub fn nodes_up(&self) -> Vec<String> {
        self.table().up()
    }

    /// Waits until `n` workers are up and running the scenario, at most `limit`.
    pub async fn wait_nodes(&self, n: usize, limit: Duration) -> Result<(), String> {
        if self.wait_table(limit, |t| t.ready().len() >= n).await {
            return Ok(());
        }
        Err(format!(
            "only {} of {n} workers joined within {}s (run {:?}; start them with `rookery \
             node --cluster {} --run {}`)",
            self.table().ready().len(),
            limit.as_secs(),
            self.shared.opts.run,
            self.shared.opts.addr.shown(),
            self.shared.opts.run
        ))
    }

    /// Counts an ignored message and reports it (`[rookery, cluster, ignored]`).
    fn ignore(&self, counter: &AtomicU64, reason: &str, subject: &str) {
        counter.fetch_add(1, Ordering::Relaxed);
        log::warn!(target: "cluster", "ignored a message on {subject}: {reason}");
        self.shared.emitter.emit(
            &IGNORED,
            &[(Key::new_static("count"), Value::Int(1))],
            &[
                (Key::new_static("reason"), Value::from(reason)),
                (Key::new_static("subject"), Value::from(subject)),
            ],
        );
    }
}

/// The `state` metadata of `[amoc, cluster, _]` events (the shape of Amoc's `amoc_cluster`
/// state), naming the master so that monitors count throttles the cluster's way.
pub(crate) fn cluster_state(master: &str, up: &[String], down: &[String]) -> Value {
    let list = |v: &[String]| Value::list(v.iter().map(|s| Value::from(s.as_str())));
    Value::map([
        (Key::new_static("master"), Value::from(master)),
        (Key::new_static("connected"), list(up)),
        (Key::new_static("slave"), list(up)),
        (Key::new_static("connection_lost"), list(down)),
        (Key::new_static("failed_to_connect"), Value::list([])),
        (Key::new_static("to_ack"), Value::list([])),
    ])
}
