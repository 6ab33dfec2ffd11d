//! The master: it owns user id allocation, the node table, the throttles, coordinators and
//! settings ([`Services`]), and reaches each node only through its
//! `NodeLink` with [`NodeCommand`]s (the simulated cluster: N nodes in one process).
//!
//! The master's lock is held only to decide (which node, which ids, who is up); the messages
//! are sent after it is released, and the master never waits for a node's answer while it
//! holds its lock (a node's thread may be running a handler that calls the master). The one
//! message posted under the lock is `AddUsers`, so that id blocks reach each node's mailbox in
//! order; its answer is awaited after the lock is released.
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
//! Modules: `table` (the node table, decided under the master's lock), `membership` (nodes
//! joining, stopped, killed, lost), `users` (adds in id blocks, removals), `queries` (nodes,
//! counts, the master).

mod membership;
mod queries;
mod table;
mod users;

use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::Duration;

use tokio::runtime::Handle;
use tokio::sync::mpsc;

use crate::telemetry::{Key, Telemetry};

use super::changes::Changes;
use super::controller::ControllerOptions;
use super::error::{ControllerError, EngineError};
use super::events::Emitter;
use super::node::Catalogue;
use super::protocol::{NodeCommand, NodeReport, Reply, RequestId, RunId};
use super::scenario::DynScenario;
use super::services::{Services, UserRate};
use super::transport::NodeLink;
use table::{ClusterState, Step};

/// The cluster behind an [`EngineHandle`](super::EngineHandle).
pub(crate) struct Cluster {
    pub(crate) rt: Handle,
    pub(crate) telemetry: Telemetry,
    /// Throttles (`user_rate` among them), coordinators and settings, owned by the master.
    pub(crate) services: Services,
    /// The scenarios nodes can start, by name.
    pub(crate) catalogue: Catalogue,
    /// Bumped on every change of a node or its users (for `wait_for`).
    pub(crate) changed: Arc<Changes>,
    options: ControllerOptions,
    /// How long the master waits for a node's answer.
    timeout: Duration,
    inbox: mpsc::UnboundedSender<Reply>,
    state: Mutex<ClusterState>,
}

impl Cluster {
    pub(crate) fn new(
        rt: Handle,
        telemetry: Telemetry,
        nodes: usize,
        rate: UserRate,
        options: ControllerOptions,
        timeout: Duration,
    ) -> Arc<Cluster> {
        let services = Services::new(&Emitter::new(telemetry.clone(), "node1"));
        {
            let _rt = rt.enter();
            if let Err(e) = services.set_user_rate(rate) {
                log::error!(target: "engine", "cannot start the user_rate throttle: {e}");
            }
        }
        let changed = Arc::new(Changes::default());
        let options = ControllerOptions {
            notify: Some(changed.clone()),
            ..options
        };
        let (inbox, reports) = mpsc::unbounded_channel();
        let cluster = Arc::new(Cluster {
            rt,
            telemetry,
            services,
            catalogue: Catalogue::default(),
            changed,
            options,
            timeout,
            inbox,
            state: Mutex::new(ClusterState {
                nodes: Vec::new(),
                master: Key::new_static("node1"),
                master_down: false,
                last_id: 0,
                scenario: None,
                run: RunId(0),
                running: false,
                next_index: 1,
                next_request: 0,
            }),
        });
        cluster
            .rt
            .spawn(read_inbox(Arc::downgrade(&cluster), reports));
        for _ in 0..nodes.max(1) {
            cluster.join();
        }
        cluster
    }

    fn lock(&self) -> MutexGuard<'_, ClusterState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn bump(&self) {
        self.changed.bump();
    }

    fn run_steps(&self, steps: Vec<Step>) {
        for step in steps {
            match step {
                Step::Send(link, id, command) => {
                    link.ask(id, command);
                }
                Step::ShutDownServices => self.services.shut_down(),
            }
        }
        self.bump();
    }

    pub(crate) fn start_scenario(
        &self,
        scenario: Arc<dyn DynScenario>,
        rate: UserRate,
        config: Option<super::config::Config>,
    ) -> Result<(), EngineError> {
        let name = scenario.name().clone();
        let (run, targets) = {
            let mut st = self.lock();
            st.check_master()?;
            if st.running
                && let Some(s) = &st.scenario
            {
                return Err(EngineError::ScenarioIsRunning(s.clone()));
            }
            st.run = RunId(st.run.0 + 1);
            st.running = true;
            st.scenario = Some(name.clone());
            let targets: Vec<(Key, NodeLink, RequestId)> = (0..st.nodes.len())
                .filter(|&i| st.nodes[i].available())
                .map(|i| (st.nodes[i].name.clone(), st.nodes[i].link.clone()))
                .collect::<Vec<_>>()
                .into_iter()
                .map(|(n, l)| (n, l, st.request()))
                .collect();
            (st.run, targets)
        };
        self.catalogue
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(name.clone(), scenario);
        if let Some(config) = config {
            self.services.set_config(config);
        }
        if let Err(e) = self.set_rate(rate) {
            self.lock().running = false;
            return Err(e);
        }
        let mut errors = Vec::new();
        let mut started = 0;
        for (node, link, id) in targets {
            let start = NodeCommand::StartScenario {
                run,
                scenario: name.clone(),
            };
            match link.ask(id, start) {
                NodeReport::Started { .. } => started += 1,
                NodeReport::Refused(e) => errors.push((node, e)),
                _ => {}
            }
        }
        {
            let mut st = self.lock();
            if st.run == run {
                st.running = started > 0;
            }
        }
        self.bump();
        if errors.is_empty() {
            Ok(())
        } else {
            Err(EngineError::Nodes(errors))
        }
    }

    /// Sets the cluster-wide `user_rate` throttle (which reports the `rate` event).
    pub(crate) fn set_rate(&self, rate: UserRate) -> Result<(), EngineError> {
        self.lock().check_master()?;
        let _rt = self.rt.enter();
        self.services
            .set_user_rate(rate)
            .map_err(EngineError::Throttle)
    }

    pub(crate) fn stop(&self) -> Result<(), EngineError> {
        let (run, targets) = {
            let mut st = self.lock();
            st.check_master()?;
            if !st.running {
                return Err(EngineError::NoScenario);
            }
            st.running = false;
            let targets: Vec<(Key, NodeLink)> = st
                .nodes
                .iter()
                .filter(|n| n.up)
                .map(|n| (n.name.clone(), n.link.clone()))
                .collect();
            (st.run, targets)
        };
        let mut errors = Vec::new();
        for (node, link) in targets {
            let id = self.lock().request();
            match link.ask(id, NodeCommand::StopScenario { run }) {
                NodeReport::Refused(
                    ControllerError::InvalidStatus(_) | ControllerError::OtherRun,
                ) => {}
                NodeReport::Refused(e) => errors.push((node, e)),
                _ => {}
            }
        }
        self.bump();
        if errors.is_empty() {
            Ok(())
        } else {
            Err(EngineError::Nodes(errors))
        }
    }

    /// Cancels every user on every node and shuts the master's services down.
    pub(crate) fn shutdown(&self) {
        let steps: Vec<Step> = {
            let mut st = self.lock();
            let links: Vec<NodeLink> = st.nodes.iter().map(|n| n.link.clone()).collect();
            links
                .into_iter()
                .map(|l| Step::Send(l, st.request(), NodeCommand::Halt))
                .chain([Step::ShutDownServices])
                .collect()
        };
        self.run_steps(steps);
    }
}

/// The master's inbox: nodes' unsolicited reports.
async fn read_inbox(cluster: Weak<Cluster>, mut reports: mpsc::UnboundedReceiver<Reply>) {
    while let Some(reply) = reports.recv().await {
        let Some(cluster) = cluster.upgrade() else {
            return;
        };
        match reply.report {
            NodeReport::Down => cluster.went_down(&reply.node),
            _ => cluster.bump(),
        }
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        self.shutdown();
    }
}
