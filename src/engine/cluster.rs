//! The simulated cluster: N nodes in one process, a master handing out user ids.
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

use std::sync::{Arc, Mutex, MutexGuard};

use tokio::runtime::Handle;

use crate::telemetry::{Key, Telemetry};

use super::controller::{Controller, ControllerOptions};
use super::error::{ControllerError, EngineError};
use super::events::{CLUSTER_CONNECT_NODES, CLUSTER_MASTER_NODE_DOWN, CLUSTER_NODEDOWN, Emitter};
use super::node::{Node, cluster_event};
use super::scenario::DynScenario;
use super::services::{Services, UserRate};
use super::status::{ControllerStatus, NodeInfo, NodeShare};

pub(crate) struct ClusterState {
    pub(crate) nodes: Vec<Node>,
    pub(crate) master: Key,
    pub(crate) master_down: bool,
    pub(crate) last_id: u64,
    pub(crate) scenario: Option<Arc<dyn DynScenario>>,
    pub(crate) running: bool,
    next_index: usize,
}

/// The cluster behind an [`EngineHandle`](super::EngineHandle).
pub(crate) struct Cluster {
    pub(crate) rt: Handle,
    pub(crate) telemetry: Telemetry,
    /// Throttles (`user_rate` among them), coordinators and settings, owned by the master.
    pub(crate) services: Services,
    options: ControllerOptions,
    state: Mutex<ClusterState>,
}

impl Cluster {
    pub(crate) fn new(
        rt: Handle,
        telemetry: Telemetry,
        nodes: usize,
        rate: UserRate,
        options: ControllerOptions,
    ) -> Arc<Cluster> {
        let services = Services::new(&Emitter::new(telemetry.clone(), "node1"));
        {
            let _rt = rt.enter();
            if let Err(e) = services.set_user_rate(rate) {
                log::error!(target: "engine", "cannot start the user_rate throttle: {e}");
            }
        }
        let cluster = Arc::new(Cluster {
            rt,
            telemetry,
            services,
            options,
            state: Mutex::new(ClusterState {
                nodes: Vec::new(),
                master: Key::new_static("node1"),
                master_down: false,
                last_id: 0,
                scenario: None,
                running: false,
                next_index: 1,
            }),
        });
        for _ in 0..nodes.max(1) {
            let mut st = cluster.lock();
            cluster.join(&mut st);
        }
        cluster
    }

    pub(crate) fn lock(&self) -> MutexGuard<'_, ClusterState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn check_master(st: &ClusterState) -> Result<(), EngineError> {
        if st.master_down {
            Err(EngineError::MasterDown(st.master.clone()))
        } else {
            Ok(())
        }
    }

    /// A new node joins (and starts the running scenario with 0 users).
    fn join(&self, st: &mut ClusterState) -> Key {
        let name = Key::new(format!("node{}", st.next_index));
        st.next_index += 1;
        let emitter = Emitter::new(self.telemetry.clone(), name.clone());
        let controller = Controller::new(
            self.rt.clone(),
            emitter.clone(),
            self.services.clone(),
            self.options.clone(),
        );
        let master = st.nodes.is_empty();
        let peers: Vec<Key> = st
            .nodes
            .iter()
            .filter(|n| n.up)
            .map(|n| n.name.clone())
            .collect();
        st.nodes.push(Node {
            name: name.clone(),
            emitter,
            controller,
            up: true,
            stopping: false,
            master,
        });
        let me = st.nodes.len() - 1;
        if !peers.is_empty() {
            cluster_event(
                &st.nodes,
                &st.nodes[me],
                &st.master,
                &CLUSTER_CONNECT_NODES,
                &peers,
            );
            for n in st.nodes.iter().filter(|n| n.up && n.name != name) {
                cluster_event(
                    &st.nodes,
                    n,
                    &st.master,
                    &CLUSTER_CONNECT_NODES,
                    std::slice::from_ref(&name),
                );
            }
        }
        if st.running
            && let Some(s) = &st.scenario
        {
            // A failed init leaves the node in `error`; it shows in its status.
            let _ = st.nodes[me].controller.start_scenario(s);
        }
        name
    }

    pub(crate) fn add_node(&self) -> Result<Key, EngineError> {
        let mut st = self.lock();
        Self::check_master(&st)?;
        Ok(self.join(&mut st))
    }

    fn find<'a>(st: &'a ClusterState, node: &str) -> Result<&'a Node, EngineError> {
        let n = st
            .nodes
            .iter()
            .find(|n| n.name == node)
            .ok_or_else(|| EngineError::NoSuchNode(Key::new(node)))?;
        if n.up {
            Ok(n)
        } else {
            Err(EngineError::NodeDown(n.name.clone()))
        }
    }

    pub(crate) fn start_scenario(
        &self,
        scenario: Arc<dyn DynScenario>,
        rate: UserRate,
        config: Option<super::config::Config>,
    ) -> Result<(), EngineError> {
        let mut st = self.lock();
        Self::check_master(&st)?;
        if st.running
            && let Some(s) = &st.scenario
        {
            return Err(EngineError::ScenarioIsRunning(s.name().clone()));
        }
        if let Some(config) = config {
            self.services.set_config(config);
        }
        self.set_rate(&st, rate)?;
        let mut errors = Vec::new();
        let mut started = 0;
        for n in st.nodes.iter().filter(|n| n.available()) {
            match n.controller.start_scenario(&scenario) {
                Ok(()) => started += 1,
                Err(e) => errors.push((n.name.clone(), e)),
            }
        }
        st.running = started > 0;
        st.scenario = Some(scenario);
        if errors.is_empty() {
            Ok(())
        } else {
            Err(EngineError::Nodes(errors))
        }
    }

    /// Sets the cluster-wide `user_rate` throttle (which reports the `rate` event).
    pub(crate) fn set_rate(&self, st: &ClusterState, rate: UserRate) -> Result<(), EngineError> {
        Self::check_master(st)?;
        let _rt = self.rt.enter();
        self.services
            .set_user_rate(rate)
            .map_err(EngineError::Throttle)
    }

    /// The nodes that take new users (see the module docs).
    fn targets(st: &ClusterState) -> Vec<usize> {
        let running = |n: &Node| {
            n.available() && matches!(n.controller.status(), ControllerStatus::Running(_))
        };
        let workers: Vec<usize> = (0..st.nodes.len())
            .filter(|&i| !st.nodes[i].master && running(&st.nodes[i]))
            .collect();
        if workers.is_empty() {
            (0..st.nodes.len())
                .filter(|&i| running(&st.nodes[i]))
                .collect()
        } else {
            workers
        }
    }

    pub(crate) fn add_users(&self, count: u64) -> Result<Vec<NodeShare>, EngineError> {
        let mut st = self.lock();
        Self::check_master(&st)?;
        let targets = Self::targets(&st);
        if targets.is_empty() {
            return Err(if st.running {
                EngineError::NoNodes
            } else {
                EngineError::NoScenario
            });
        }
        let mut left = count;
        let mut shares = Vec::with_capacity(targets.len());
        let mut errors = Vec::new();
        for (k, &i) in targets.iter().enumerate() {
            let share = left / (targets.len() - k) as u64;
            left -= share;
            let name = st.nodes[i].name.clone();
            if share == 0 {
                shares.push(NodeShare::Skipped { node: name });
                continue;
            }
            let first = st.last_id + 1;
            let last = st.last_id + share;
            match st.nodes[i].controller.add_users(first, last) {
                Ok(()) => {
                    st.last_id = last;
                    shares.push(NodeShare::Added {
                        node: name,
                        first,
                        last,
                    })
                }
                Err(e) => errors.push((name, e)),
            }
        }
        if errors.is_empty() {
            Ok(shares)
        } else {
            Err(EngineError::Nodes(errors))
        }
    }

    pub(crate) fn add_users_to(&self, node: &str, count: u64) -> Result<NodeShare, EngineError> {
        let mut st = self.lock();
        Self::check_master(&st)?;
        let n = Self::find(&st, node)?;
        let name = n.name.clone();
        if count == 0 {
            return Ok(NodeShare::Skipped { node: name });
        }
        let (first, last) = (st.last_id + 1, st.last_id + count);
        n.controller
            .add_users(first, last)
            .map_err(|error| EngineError::Controller {
                node: name.clone(),
                error,
            })?;
        st.last_id = last;
        Ok(NodeShare::Added {
            node: name,
            first,
            last,
        })
    }

    pub(crate) fn remove_users(&self, count: u64, force: bool) -> Result<u64, EngineError> {
        let st = self.lock();
        Self::check_master(&st)?;
        let nodes: Vec<&Node> = st
            .nodes
            .iter()
            .filter(|n| {
                n.available() && matches!(n.controller.status(), ControllerStatus::Running(_))
            })
            .collect();
        if nodes.is_empty() {
            return Err(EngineError::NoScenario);
        }
        let mut left = count;
        let mut removed = 0;
        let mut maybe_more = Vec::new();
        for (k, n) in nodes.iter().enumerate() {
            let share = left / (nodes.len() - k) as u64;
            left -= share;
            let got = n.controller.remove_users(share, force).map_err(|error| {
                EngineError::Controller {
                    node: n.name.clone(),
                    error,
                }
            })?;
            removed += got;
            if got == share {
                maybe_more.push(*n);
            }
        }
        for n in maybe_more {
            if removed == count {
                break;
            }
            removed += n
                .controller
                .remove_users(count - removed, force)
                .map_err(|error| EngineError::Controller {
                    node: n.name.clone(),
                    error,
                })?;
        }
        Ok(removed)
    }

    pub(crate) fn stop(&self) -> Result<(), EngineError> {
        let mut st = self.lock();
        Self::check_master(&st)?;
        if !st.running {
            return Err(EngineError::NoScenario);
        }
        st.running = false;
        let mut errors = Vec::new();
        for n in st.nodes.iter().filter(|n| n.up) {
            match n.controller.stop_scenario() {
                Ok(()) | Err(ControllerError::InvalidStatus(_)) => {}
                Err(e) => errors.push((n.name.clone(), e)),
            }
        }
        if errors.is_empty() {
            Ok(())
        } else {
            Err(EngineError::Nodes(errors))
        }
    }

    pub(crate) fn kill_node(&self, node: &str) -> Result<(), EngineError> {
        let mut st = self.lock();
        Self::check_master(&st)?;
        let idx = Self::index(&st, node)?;
        self.take_down(&mut st, idx);
        Ok(())
    }

    /// Node `idx` goes down now: its users are cancelled, the others are told.
    fn take_down(&self, st: &mut ClusterState, idx: usize) {
        if !st.nodes[idx].up {
            return;
        }
        st.nodes[idx].controller.halt();
        st.nodes[idx].up = false;
        let gone = std::slice::from_ref(&st.nodes[idx].name).to_vec();
        if st.nodes[idx].master {
            st.master_down = true;
            st.running = false;
            // Users still waiting on a throttle get an error, as Amoc's runners do when the
            // master's throttle processes die.
            self.services.shut_down();
            for n in st.nodes.iter().filter(|n| n.up) {
                cluster_event(&st.nodes, n, &st.master, &CLUSTER_MASTER_NODE_DOWN, &gone);
            }
            for i in 0..st.nodes.len() {
                if st.nodes[i].up {
                    st.nodes[i].controller.halt();
                    st.nodes[i].up = false;
                }
            }
        } else {
            for n in st.nodes.iter().filter(|n| n.up) {
                cluster_event(&st.nodes, n, &st.master, &CLUSTER_NODEDOWN, &gone);
            }
        }
    }

    fn index(st: &ClusterState, node: &str) -> Result<usize, EngineError> {
        Self::find(st, node)?;
        st.nodes
            .iter()
            .position(|n| n.name == node)
            .ok_or_else(|| EngineError::NoSuchNode(Key::new(node)))
    }

    pub(crate) fn stop_node(self: &Arc<Self>, node: &str) -> Result<(), EngineError> {
        let mut st = self.lock();
        Self::check_master(&st)?;
        let idx = Self::index(&st, node)?;
        if st.nodes[idx].stopping {
            return Ok(());
        }
        st.nodes[idx].stopping = true;
        let controller = st.nodes[idx].controller.clone();
        if controller.stop_scenario().is_err() {
            self.take_down(&mut st, idx);
            return Ok(());
        }
        drop(st);
        let cluster = Arc::clone(self);
        let name = Key::new(node);
        self.rt.spawn(async move {
            let mut changes = controller.subscribe();
            while matches!(controller.status(), ControllerStatus::Terminating(_)) {
                if changes.changed().await.is_err() {
                    break;
                }
            }
            let mut st = cluster.lock();
            if let Some(idx) = st.nodes.iter().position(|n| n.name == name) {
                cluster.take_down(&mut st, idx);
            }
        });
        Ok(())
    }

    pub(crate) fn nodes(&self) -> Vec<NodeInfo> {
        self.lock()
            .nodes
            .iter()
            .map(|n| NodeInfo {
                name: n.name.clone(),
                up: n.up,
                master: n.master,
                status: n.controller.status(),
                users: n.controller.counts(),
            })
            .collect()
    }

    pub(crate) fn controller(&self, node: &str) -> Result<Controller, EngineError> {
        let st = self.lock();
        Ok(Self::find(&st, node)?.controller.clone())
    }

    /// Cancels every user on every node and shuts the master's services down.
    pub(crate) fn shutdown(&self) {
        for n in self.lock().nodes.iter() {
            n.controller.halt();
        }
        self.services.shut_down();
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        self.shutdown();
    }
}
