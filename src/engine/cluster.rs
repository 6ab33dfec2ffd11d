//! The master: it owns user id allocation, the node table, the throttles, coordinators and
//! settings ([`Services`]), and reaches each node only through its
//! `NodeLink` with [`NodeCommand`]s (the simulated cluster: N nodes in one process).
//!
//! The master's lock is held only to decide (which node, which ids, who is up); the messages
//! that make a node emit events or run scenario code (`init`, `terminate`) are sent after it
//! is released. The one exception is `AddUsers`, sent under the lock so that id blocks reach
//! each node in order: a node answers it without emitting anything (its users are spawned, and
//! the `[amoc, controller, users]` event emitted, by a task).
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

use std::sync::{Arc, Mutex, MutexGuard, Weak};

use tokio::runtime::Handle;
use tokio::sync::mpsc;

use crate::telemetry::{Key, Telemetry};

use super::changes::Changes;
use super::controller::{Controller, ControllerOptions};
use super::error::{ControllerError, EngineError};
use super::events::Emitter;
use super::node::{Catalogue, NodeActor};
use super::protocol::{NodeCommand, NodeReport, Reply, RequestId, RunId};
use super::scenario::DynScenario;
use super::services::{Services, UserRate};
use super::status::{ControllerStatus, NodeInfo, NodeShare, UserCounts};
use super::transport::NodeLink;

/// One row of the node table.
struct Entry {
    name: Key,
    link: NodeLink,
    up: bool,
    /// Being stopped: takes no new users, goes down when its users have ended.
    stopping: bool,
    master: bool,
}

impl Entry {
    /// Up and not being stopped.
    fn available(&self) -> bool {
        self.up && !self.stopping
    }
}

struct ClusterState {
    nodes: Vec<Entry>,
    master: Key,
    master_down: bool,
    last_id: u64,
    /// The scenario of the current (or last) run.
    scenario: Option<Key>,
    run: RunId,
    running: bool,
    next_index: usize,
    next_request: u64,
}

impl ClusterState {
    fn request(&mut self) -> RequestId {
        self.next_request += 1;
        RequestId(self.next_request)
    }

    fn check_master(&self) -> Result<(), EngineError> {
        if self.master_down {
            Err(EngineError::MasterDown(self.master.clone()))
        } else {
            Ok(())
        }
    }

    fn find(&self, node: &str) -> Result<usize, EngineError> {
        let i = self
            .nodes
            .iter()
            .position(|n| n.name == node)
            .ok_or_else(|| EngineError::NoSuchNode(Key::new(node)))?;
        if self.nodes[i].up {
            Ok(i)
        } else {
            Err(EngineError::NodeDown(self.nodes[i].name.clone()))
        }
    }

    fn names(&self, up: bool) -> Vec<Key> {
        self.nodes
            .iter()
            .filter(|n| n.up == up)
            .map(|n| n.name.clone())
            .collect()
    }
}

/// A node that runs the scenario and may take users.
struct Target {
    index: usize,
    link: NodeLink,
    master: bool,
}

/// A message decided under the master's lock, sent after it is released.
enum Step {
    Send(NodeLink, RequestId, NodeCommand),
    /// The master's throttles and coordinators stop (the master went down).
    ShutDownServices,
}

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

    /// Asks every node in `links` for its status (outside the lock).
    fn statuses(&self, links: Vec<(usize, NodeLink)>) -> Vec<(usize, NodeLink, ControllerStatus)> {
        links
            .into_iter()
            .filter_map(|(i, link)| {
                let id = self.lock().request();
                match link.ask(id, NodeCommand::Status) {
                    NodeReport::Status(s) => Some((i, link, s.status)),
                    _ => None,
                }
            })
            .collect()
    }

    fn counts(&self, link: &NodeLink) -> Option<(ControllerStatus, UserCounts)> {
        let id = self.lock().request();
        match link.ask(id, NodeCommand::Status) {
            NodeReport::Status(s) => Some((s.status, s.users)),
            _ => None,
        }
    }

    /// A new node joins (and starts the running scenario with 0 users).
    fn join(&self) -> Key {
        let mut st = self.lock();
        let name = Key::new(format!("node{}", st.next_index));
        st.next_index += 1;
        let emitter = Emitter::new(self.telemetry.clone(), name.clone());
        let controller = Controller::new(
            self.rt.clone(),
            emitter.clone(),
            self.services.clone(),
            self.options.clone(),
        );
        let node = NodeActor::new(
            self.rt.clone(),
            emitter,
            controller,
            self.catalogue.clone(),
            self.inbox.clone(),
        );
        let link = NodeLink::InProcess(Arc::new(node));
        let master = st.nodes.is_empty();
        let peers: Vec<(NodeLink, Key)> = st
            .nodes
            .iter()
            .filter(|n| n.up)
            .map(|n| (n.link.clone(), n.name.clone()))
            .collect();
        st.nodes.push(Entry {
            name: name.clone(),
            link: link.clone(),
            up: true,
            stopping: false,
            master,
        });
        let (up, down) = (st.names(true), st.names(false));
        let master_name = st.master.clone();
        let connect = |nodes: Vec<Key>| NodeCommand::Connected {
            master: master_name.clone(),
            nodes,
            up: up.clone(),
            down: down.clone(),
        };
        let mut steps = Vec::new();
        if !peers.is_empty() {
            let mine = connect(peers.iter().map(|(_, n)| n.clone()).collect());
            steps.push(Step::Send(link.clone(), st.request(), mine));
            for (peer, _) in &peers {
                let theirs = connect(vec![name.clone()]);
                steps.push(Step::Send(peer.clone(), st.request(), theirs));
            }
        }
        if st.running
            && let Some(scenario) = st.scenario.clone()
        {
            // A failed init leaves the node in `error`; it shows in its status.
            let start = NodeCommand::StartScenario {
                run: st.run,
                scenario,
            };
            steps.push(Step::Send(link, st.request(), start));
        }
        drop(st);
        self.run_steps(steps);
        name
    }

    pub(crate) fn add_node(&self) -> Result<Key, EngineError> {
        self.lock().check_master()?;
        Ok(self.join())
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

    /// The available nodes whose scenario runs, in order, and whether the cluster runs one.
    fn running_nodes(&self) -> Result<(Vec<Target>, bool), EngineError> {
        let (links, running) = {
            let st = self.lock();
            st.check_master()?;
            let links: Vec<(usize, NodeLink)> = (0..st.nodes.len())
                .filter(|&i| st.nodes[i].available())
                .map(|i| (i, st.nodes[i].link.clone()))
                .collect();
            (links, st.running)
        };
        let master: Vec<bool> = {
            let st = self.lock();
            st.nodes.iter().map(|n| n.master).collect()
        };
        let nodes = self
            .statuses(links)
            .into_iter()
            .filter(|(_, _, s)| matches!(s, ControllerStatus::Running(_)))
            .map(|(index, link, _)| Target {
                index,
                link,
                master: master[index],
            })
            .collect();
        Ok((nodes, running))
    }

    pub(crate) fn add_users(&self, count: u64) -> Result<Vec<NodeShare>, EngineError> {
        let (running, scenario_runs) = self.running_nodes()?;
        // The master gets users only when no worker can take them (see the module docs).
        let workers: Vec<usize> = running
            .iter()
            .filter(|t| !t.master)
            .map(|t| t.index)
            .collect();
        let targets = if workers.is_empty() {
            running.iter().map(|t| t.index).collect()
        } else {
            workers
        };
        if targets.is_empty() {
            return Err(if scenario_runs {
                EngineError::NoNodes
            } else {
                EngineError::NoScenario
            });
        }
        let mut st = self.lock();
        st.check_master()?;
        let run = st.run;
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
            if !st.nodes[i].available() {
                errors.push((name, ControllerError::OtherRun));
                continue;
            }
            let (first, last) = (st.last_id + 1, st.last_id + share);
            let id = st.request();
            let add = NodeCommand::AddUsers { run, first, last };
            match st.nodes[i].link.ask(id, add) {
                NodeReport::Added { .. } => {
                    st.last_id = last;
                    shares.push(NodeShare::Added {
                        node: name,
                        first,
                        last,
                    })
                }
                NodeReport::Refused(e) => errors.push((name, e)),
                _ => {}
            }
        }
        drop(st);
        self.bump();
        if errors.is_empty() {
            Ok(shares)
        } else {
            Err(EngineError::Nodes(errors))
        }
    }

    pub(crate) fn add_users_to(&self, node: &str, count: u64) -> Result<NodeShare, EngineError> {
        let mut st = self.lock();
        st.check_master()?;
        let i = st.find(node)?;
        let name = st.nodes[i].name.clone();
        if count == 0 {
            return Ok(NodeShare::Skipped { node: name });
        }
        let (first, last) = (st.last_id + 1, st.last_id + count);
        let id = st.request();
        let add = NodeCommand::AddUsers {
            run: st.run,
            first,
            last,
        };
        let report = st.nodes[i].link.ask(id, add);
        let refused = |error| EngineError::Controller {
            node: name.clone(),
            error,
        };
        let result = match report {
            NodeReport::Added { .. } => {
                st.last_id = last;
                Ok(NodeShare::Added {
                    node: name.clone(),
                    first,
                    last,
                })
            }
            NodeReport::Refused(ControllerError::OtherRun) => {
                // Not running this run: report the status, as the controller would.
                drop(st);
                let status = self
                    .counts(&self.link(i))
                    .map_or(ControllerStatus::Idle, |(s, _)| s);
                return Err(refused(ControllerError::InvalidStatus(status)));
            }
            NodeReport::Refused(e) => Err(refused(e)),
            _ => Err(EngineError::ShutDown),
        };
        drop(st);
        self.bump();
        result
    }

    fn link(&self, i: usize) -> NodeLink {
        self.lock().nodes[i].link.clone()
    }

    pub(crate) fn remove_users(&self, count: u64, force: bool) -> Result<u64, EngineError> {
        let (nodes, _) = self.running_nodes()?;
        if nodes.is_empty() {
            return Err(EngineError::NoScenario);
        }
        let (run, names) = {
            let st = self.lock();
            let names: Vec<Key> = nodes
                .iter()
                .map(|t| st.nodes[t.index].name.clone())
                .collect();
            (st.run, names)
        };
        let remove = |link: &NodeLink, node: &Key, count: u64| -> Result<u64, EngineError> {
            let id = self.lock().request();
            match link.ask(id, NodeCommand::RemoveUsers { run, count, force }) {
                NodeReport::Removed { picked, .. } => Ok(picked),
                NodeReport::Refused(error) => Err(EngineError::Controller {
                    node: node.clone(),
                    error,
                }),
                _ => Err(EngineError::ShutDown),
            }
        };
        let mut left = count;
        let mut removed = 0;
        let mut maybe_more = Vec::new();
        for (k, (t, name)) in nodes.iter().zip(&names).enumerate() {
            let share = left / (nodes.len() - k) as u64;
            left -= share;
            let got = remove(&t.link, name, share)?;
            removed += got;
            if got == share {
                maybe_more.push((&t.link, name));
            }
        }
        for (link, name) in maybe_more {
            if removed == count {
                break;
            }
            removed += remove(link, name, count - removed)?;
        }
        self.bump();
        Ok(removed)
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

    pub(crate) fn kill_node(&self, node: &str) -> Result<(), EngineError> {
        let steps = {
            let mut st = self.lock();
            st.check_master()?;
            let i = st.find(node)?;
            Self::take_down(&mut st, i)
        };
        self.run_steps(steps);
        Ok(())
    }

    /// Node `i` goes down now: it is halted (its users cancelled), the others are told.
    fn take_down(st: &mut ClusterState, i: usize) -> Vec<Step> {
        if !st.nodes[i].up {
            return Vec::new();
        }
        st.nodes[i].up = false;
        let mut steps = vec![Step::Send(
            st.nodes[i].link.clone(),
            st.request(),
            NodeCommand::Halt,
        )];
        let gone = vec![st.nodes[i].name.clone()];
        let master_down = st.nodes[i].master;
        let others: Vec<usize> = (0..st.nodes.len()).filter(|&j| st.nodes[j].up).collect();
        if master_down {
            st.master_down = true;
            st.running = false;
            // Users still waiting on a throttle get an error, as Amoc's runners do when the
            // master's throttle processes die.
            steps.push(Step::ShutDownServices);
            // Every worker ends its users and goes down.
            for &j in &others {
                st.nodes[j].up = false;
            }
        }
        let up = st.names(true);
        for j in others {
            let told = NodeCommand::PeersDown {
                master: st.master.clone(),
                nodes: gone.clone(),
                master_down,
                up: up.clone(),
            };
            steps.push(Step::Send(st.nodes[j].link.clone(), st.request(), told));
        }
        steps
    }

    /// A node reported that it went down (its `Leave` finished).
    fn went_down(&self, node: &str) {
        let steps = {
            let mut st = self.lock();
            match st.nodes.iter().position(|n| n.name == node) {
                Some(i) => Self::take_down(&mut st, i),
                None => Vec::new(),
            }
        };
        self.run_steps(steps);
    }

    pub(crate) fn stop_node(&self, node: &str) -> Result<(), EngineError> {
        let (link, id) = {
            let mut st = self.lock();
            st.check_master()?;
            let i = st.find(node)?;
            if st.nodes[i].stopping {
                return Ok(());
            }
            st.nodes[i].stopping = true;
            (st.nodes[i].link.clone(), st.request())
        };
        if let NodeReport::Down = link.ask(id, NodeCommand::Leave) {
            self.went_down(node);
        }
        self.bump();
        Ok(())
    }

    pub(crate) fn nodes(&self) -> Vec<NodeInfo> {
        let rows: Vec<(Key, bool, bool, NodeLink)> = self
            .lock()
            .nodes
            .iter()
            .map(|n| (n.name.clone(), n.up, n.master, n.link.clone()))
            .collect();
        rows.into_iter()
            .map(|(name, up, master, link)| {
                let (status, users) = self
                    .counts(&link)
                    .unwrap_or((ControllerStatus::Idle, UserCounts::default()));
                NodeInfo {
                    name,
                    up,
                    master,
                    status,
                    users,
                }
            })
            .collect()
    }

    /// User counts summed over the up nodes (see [`EngineHandle::user_counts`]).
    ///
    /// [`EngineHandle::user_counts`]: super::EngineHandle::user_counts
    pub(crate) fn user_counts(&self) -> UserCounts {
        let (last_id, links) = {
            let st = self.lock();
            let links: Vec<NodeLink> = st
                .nodes
                .iter()
                .filter(|n| n.up)
                .map(|n| n.link.clone())
                .collect();
            (st.last_id, links)
        };
        let mut total = UserCounts {
            highest_user_id: last_id,
            ..UserCounts::default()
        };
        for link in links {
            let Some((_, c)) = self.counts(&link) else {
                continue;
            };
            total.waiting += c.waiting;
            total.running += c.running;
            total.returned += c.returned;
            total.failed += c.failed;
            total.cancelled += c.cancelled;
            total.highest_user_id = total.highest_user_id.max(c.highest_user_id);
        }
        total
    }

    pub(crate) fn master(&self) -> Key {
        self.lock().master.clone()
    }

    pub(crate) fn master_down(&self) -> Option<Key> {
        let st = self.lock();
        st.master_down.then(|| st.master.clone())
    }

    pub(crate) fn controller(&self, node: &str) -> Result<Controller, EngineError> {
        let link = {
            let st = self.lock();
            let i = st.find(node)?;
            st.nodes[i].link.clone()
        };
        link.controller().ok_or(EngineError::ShutDown)
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
