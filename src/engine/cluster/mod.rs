//! The master: an actor that owns user id allocation, the node table and the run, and drives
//! the throttles, coordinators and settings ([`Services`]); it reaches each node only through
//! its `NodeLink` with [`NodeCommand`](super::protocol::NodeCommand)s (the simulated cluster:
//! N nodes in one process).
//!
//! **The master is an actor.** A thread of its own, named `master` and entered into the
//! engine's tokio runtime, owns the master's state outright (no lock around it) and serves
//! its mailbox one [`MasterCommand`] at a time: start scenario, set `user_rate`, update
//! settings, add users (over the cluster or to one node), remove users, add / stop / kill a
//! node, stop, shut down, and the nodes' unsolicited reports (`Down`, `Finished`) that a task
//! forwards from the master's inbox. [`Cluster`] is the front the [`EngineHandle`] holds: it
//! posts a command and waits for the answer at most `EngineOptions::master_timeout`, else
//! the command fails with [`EngineError::MasterNoAnswer`] naming it. Reads (`nodes()`,
//! `user_counts()`, `master()`, the status `wait_for` follows) never reach the thread: the
//! master publishes a [`Snapshot`](table::Snapshot) of its node table (an `ArcSwap`) every time
//! its state's borrow ends, and a node's status and counts come from the node's own published
//! status.
//!
//! **Re-entrancy.** The master's thread emits events (the `user_rate` throttle's) and the
//! nodes it waits for run scenario code and handlers, which may call the [`EngineHandle`].
//! The master's thread is an actor (`actor` module): a call it makes to a node, or to itself,
//! waits by serving its own mailbox, so commands are served one at a time except that a
//! command waiting for a node lets the next one in (it may be what that node waits for). A
//! node's thread that calls the master serves its own mailbox meanwhile. So a handler on `[amoc,
//! controller, users]` or in a node's `init` may command the master without a deadlock. The
//! state is borrowed only to decide, never while the master waits, emits or runs user code.
//! `AddUsers` is posted to the nodes while the state is borrowed, so id blocks reach each
//! node's mailbox in order; its answer is awaited after the borrow ends.
//!
//! Follows Amoc's `amoc_cluster` and `amoc_dist`:
//! * Nodes are named `node1`, `node2`, ...; `node1` is the master. A joining node emits
//!   `[amoc, cluster, connect_nodes]` listing the nodes it connected to, and each of those
//!   emits it listing the new node (metadata `nodes`, `state`; measurement `count`).
//! * A scenario starts on every up node (each runs its own `init`); a node that joins later
//!   starts it too, with 0 users.
//! * Adding `N` users walks the target nodes in order and gives each `left / nodes_left`
//!   users as one contiguous id block after the cluster's last id (10 over three nodes: 1-3,
//!   4-6, 7-10; 2 over three: skipped, 1, 1). **Targets:** the up workers running the scenario;
//!   the master gets users only when no worker can take them (a one-node cluster). Amoc's
//!   master runs none; with a master and two workers Rookery behaves the same.
//! * Removing `N` splits the same way; unlike Amoc, a node short of its share has the rest
//!   taken from the others, so `min(N, users)` are removed.
//! * Killing a node cancels its users at once and emits `[amoc, cluster, nodedown]` on every
//!   other up node. Stopping a node stops its scenario (users asked to leave, cancelled after
//!   the grace period, `terminate` runs) and then does the same. Losing the master emits
//!   `[amoc, cluster, master_node_down]` on every up worker, which then ends its users and goes
//!   down, as Amoc's workers halt; the cluster takes no further commands.
//!
//! Modules: `command` (what reaches the master), `master` (its thread and mailbox), `table`
//! (the node table and its published snapshot), `run` (start, stop, `user_rate`, settings,
//! shutdown), `membership` (nodes joining, stopped, killed, lost), `users` (adds in id blocks,
//! removals), `queries` (nodes, counts, the master, read from the snapshot).

mod command;
mod master;
mod membership;
mod queries;
mod run;
mod table;
mod users;

use std::sync::mpsc::{self, Sender};
use std::sync::{Arc, Mutex};
use std::thread::{JoinHandle, ThreadId};
use std::time::{Duration, Instant};

use arc_swap::ArcSwap;
use tokio::runtime::Handle;
use tokio::sync::mpsc as tokio_mpsc;

use crate::telemetry::{Key, Telemetry};

use super::actor::{self, Answer, Missing};
use super::changes::Changes;
use super::config::{Config, ExplicitSettings};
use super::controller::ControllerOptions;
use super::error::EngineError;
use super::events::Emitter;
use super::node::Catalogue;
use super::protocol::{Reply, RunId};
use super::scenario::DynScenario;
use super::services::{Services, UserRate};
use super::status::NodeShare;
pub(crate) use command::MasterAnswer;
use command::{Done, MasterCommand};
use master::MasterMail;
use table::{ClusterState, Snapshot};

/// The front of the master behind an [`EngineHandle`](super::EngineHandle): its mailbox, its
/// published snapshot, and what is shared with it (see the module docs).
pub(crate) struct Cluster {
    pub(crate) telemetry: Telemetry,
    /// Throttles (`user_rate` among them), coordinators and settings, driven by the master.
    pub(crate) services: Services,
    /// The scenarios nodes can start, by name.
    pub(crate) catalogue: Catalogue,
    /// Bumped on every change of a node or its users (for `wait_for`).
    pub(crate) changed: Arc<Changes>,
    mailbox: Sender<MasterMail>,
    published: Arc<ArcSwap<Snapshot>>,
    /// How long a caller waits for the master's answer.
    timeout: Duration,
    thread: Mutex<Option<MasterThread>>,
}

/// The master's thread, to wait for its end when the engine is dropped.
struct MasterThread {
    handle: JoinHandle<()>,
    id: ThreadId,
    ended: mpsc::Receiver<()>,
}

/// How an engine's master is set up.
pub(crate) struct Setup {
    pub(crate) nodes: usize,
    pub(crate) rate: UserRate,
    pub(crate) options: ControllerOptions,
    pub(crate) node_timeout: Duration,
    pub(crate) master_timeout: Duration,
}

impl Cluster {
    pub(crate) fn new(rt: Handle, telemetry: Telemetry, setup: Setup) -> Arc<Cluster> {
        let services = Services::new(&Emitter::new(telemetry.clone(), "node1"));
        {
            let _rt = rt.enter();
            if let Err(e) = services.set_user_rate(setup.rate) {
                log::error!(target: "engine", "cannot start the user_rate throttle: {e}");
            }
        }
        let changed = Arc::new(Changes::default());
        let options = ControllerOptions {
            notify: Some(changed.clone()),
            ..setup.options
        };
        let catalogue = Catalogue::default();
        let state = ClusterState {
            nodes: Vec::new(),
            master: Key::new_static("node1"),
            master_down: false,
            last_id: 0,
            scenario: None,
            run: RunId(0),
            running: false,
            next_index: 1,
            next_request: 0,
        };
        let published = Arc::new(ArcSwap::from_pointee(state.snapshot()));
        let (inbox, reports) = tokio_mpsc::unbounded_channel();
        let (tx, rx) = mpsc::channel();
        let (ended_tx, ended) = mpsc::sync_channel(1);
        let parts = master::Parts {
            tools: master::Tools {
                rt: rt.clone(),
                telemetry: telemetry.clone(),
                services: services.clone(),
                catalogue: catalogue.clone(),
                changed: changed.clone(),
                options,
                node_timeout: setup.node_timeout,
                inbox,
            },
            published: published.clone(),
            state,
        };
        let thread = match master::start(parts, rx, tx.clone(), ended_tx) {
            Ok(handle) => Some(MasterThread {
                id: handle.thread().id(),
                handle,
                ended,
            }),
            Err(e) => {
                // Every command is then refused with `ShutDown`.
                log::error!(target: "engine", "cannot start the master's thread: {e}");
                None
            }
        };
        rt.spawn(forward_reports(reports, tx.clone(), setup.master_timeout));
        let cluster = Arc::new(Cluster {
            telemetry,
            services,
            catalogue,
            changed,
            mailbox: tx,
            published,
            timeout: setup.master_timeout,
            thread: Mutex::new(thread),
        });
        for _ in 0..setup.nodes.max(1) {
            if let Err(e) = cluster.add_node() {
                log::error!(target: "engine", "a node could not join: {e}");
            }
        }
        cluster
    }

    /// Sends `command` to the master and waits for its answer (see the module docs).
    fn call(&self, command: MasterCommand) -> Result<Done, EngineError> {
        call(&self.mailbox, command, self.timeout)
    }

    pub(crate) fn start_scenario(
        &self,
        scenario: Arc<dyn DynScenario>,
        rate: UserRate,
        config: Option<Config>,
    ) -> Result<(), EngineError> {
        let command = MasterCommand::StartScenario {
            scenario,
            rate,
            config,
        };
        self.call(command).map(drop)
    }

    pub(crate) fn set_user_rate(&self, rate: UserRate) -> Result<(), EngineError> {
        self.call(MasterCommand::SetUserRate(rate)).map(drop)
    }

    pub(crate) fn update_settings(
        &self,
        settings: &ExplicitSettings,
    ) -> Result<Vec<String>, EngineError> {
        match self.call(MasterCommand::UpdateSettings(settings.clone()))? {
            Done::Changed(names) => Ok(names),
            other => Err(unexpected(other)),
        }
    }

    pub(crate) fn add_users(&self, count: u64) -> Result<Vec<NodeShare>, EngineError> {
        match self.call(MasterCommand::AddUsers(count))? {
            Done::Shares(shares) => Ok(shares),
            other => Err(unexpected(other)),
        }
    }

    pub(crate) fn add_users_to(&self, node: &str, count: u64) -> Result<NodeShare, EngineError> {
        match self.call(MasterCommand::AddUsersTo(Key::new(node), count))? {
            Done::Share(share) => Ok(share),
            other => Err(unexpected(other)),
        }
    }

    pub(crate) fn remove_users(&self, count: u64, force: bool) -> Result<u64, EngineError> {
        match self.call(MasterCommand::RemoveUsers { count, force })? {
            Done::Removed(picked) => Ok(picked),
            other => Err(unexpected(other)),
        }
    }

    pub(crate) fn add_node(&self) -> Result<Key, EngineError> {
        match self.call(MasterCommand::AddNode)? {
            Done::Node(name) => Ok(name),
            other => Err(unexpected(other)),
        }
    }

    pub(crate) fn stop_node(&self, node: &str) -> Result<(), EngineError> {
        self.call(MasterCommand::StopNode(Key::new(node))).map(drop)
    }

    pub(crate) fn kill_node(&self, node: &str) -> Result<(), EngineError> {
        self.call(MasterCommand::KillNode(Key::new(node))).map(drop)
    }

    pub(crate) fn stop(&self) -> Result<(), EngineError> {
        self.call(MasterCommand::Stop).map(drop)
    }

    /// Cancels every user on every node and shuts the master's services down.
    pub(crate) fn shutdown(&self) {
        if let Err(e) = self.call(MasterCommand::Shutdown) {
            log::warn!(target: "engine", "shutdown: {e}");
        }
    }
}

/// A command's answer of the wrong kind (a bug in the master): reported, never a panic.
fn unexpected(done: Done) -> EngineError {
    log::error!(target: "engine", "the master answered {done:?} to another command");
    EngineError::ShutDown
}

/// Posts `command` to the master's mailbox and waits at most `timeout` for the answer (on an
/// actor's thread, serving its own mailbox meanwhile).
fn call(
    mailbox: &Sender<MasterMail>,
    command: MasterCommand,
    timeout: Duration,
) -> Result<Done, EngineError> {
    let name = command.name();
    let (to, pending) = actor::call();
    let mail = MasterMail::Command { command, to };
    if mailbox.send(mail).is_err() {
        return Err(EngineError::ShutDown);
    }
    match pending.wait(Instant::now() + timeout) {
        Ok(Answer::Master(answer)) => answer,
        Ok(Answer::Node(_)) | Err(Missing::Gone) => Err(EngineError::ShutDown),
        Err(Missing::TimedOut) => Err(EngineError::MasterNoAnswer {
            command: name,
            waited_ms: u64::try_from(timeout.as_millis()).unwrap_or(u64::MAX),
        }),
    }
}

/// The master's inbox: nodes' unsolicited reports, handed to the master one at a time. Each
/// is handed over from a blocking thread, so a runtime on paused time does not jump ahead
/// while the master handles it (a node's `Down` shows in `nodes()` before time moves on).
async fn forward_reports(
    mut reports: tokio_mpsc::UnboundedReceiver<Reply>,
    master: Sender<MasterMail>,
    timeout: Duration,
) {
    while let Some(reply) = reports.recv().await {
        let master = master.clone();
        let handed = tokio::task::spawn_blocking(move || {
            call(&master, MasterCommand::Report(reply), timeout)
        })
        .await;
        if matches!(handed, Ok(Err(EngineError::ShutDown)) | Err(_)) {
            return;
        }
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let discard: actor::AnswerTo = Box::new(|_| {});
        let shutdown = MasterMail::Command {
            command: MasterCommand::Shutdown,
            to: discard,
        };
        let _ = self.mailbox.send(shutdown);
        let _ = self.mailbox.send(MasterMail::Stop);
        let Some(thread) = self
            .thread
            .get_mut()
            .unwrap_or_else(|e| e.into_inner())
            .take()
        else {
            return;
        };
        // On an actor's thread (a handler held the last handle) the master may be waiting for
        // this very thread: it ends by itself.
        if std::thread::current().id() == thread.id || actor::current().is_some() {
            return;
        }
        match thread.ended.recv_timeout(self.timeout) {
            Ok(()) | Err(mpsc::RecvTimeoutError::Disconnected) => {
                let _ = thread.handle.join();
            }
            Err(mpsc::RecvTimeoutError::Timeout) => {
                log::warn!(target: "engine", "the master's thread did not end within {:?}", self.timeout);
            }
        }
    }
}
