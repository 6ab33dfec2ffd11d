//! A node: its controller and users, reached only by [`NodeCommand`]s in its mailbox.
//!
//! Each in-process node is an actor: a std thread of its own (named after the node, `node2`,
//! entered into the engine's tokio runtime so it can spawn tasks and create timers) owns the
//! node's state ([`NodeActor`]: what it knows of the cluster, the id blocks it was given, its
//! reply cache) and serves its mailbox one request at a time (`thread`). Callers reach it
//! through a [`NodeHandle`] (`mailbox`): a request goes in with a reply channel, the caller
//! waits for the [`Reply`] at most the link's timeout, and a request not answered in time
//! becomes a `Refused(NoAnswer)` report naming the node and the command. A node that went
//! down (halted, or its `Leave` finished) ends its thread; what is sent to it then is
//! answered `Down`.
//!
//! The one query, `Status`, is answered by the handle from the node's published status (its
//! controller's status and counters), without waiting for the node's thread: a read never
//! waits behind a command or behind scenario code.
//!
//! **Re-entrancy.** The node's thread emits events (`[amoc, cluster, _]`, `init` and
//! `terminate` spans, removals) and runs scenario code, and a telemetry handler there may call
//! the engine, which sends to the master, to this node or to others. A thread-local names the
//! actor whose thread this is (the `actor` module); a call made from a node's thread posts its
//! request like any other and, while it waits, serves its own mailbox: a request to itself is
//! served in order, a master that waits for this node while this node waits for the master is
//! served, and two nodes calling each other from handlers serve each other instead of
//! deadlocking. The node's state
//! is borrowed only to decide, never while an event is emitted or scenario code runs, so
//! these nested requests find it free.
//!
//! What takes time (an add's users, a stop's walk) the controller posts to the node's worker
//! task through its bounded mailbox, so every request is answered at once; a full mailbox is a
//! `Refused(Busy)` report.

mod cluster_state;
mod mailbox;
mod thread;

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::mpsc::Sender;
use std::sync::{Arc, Mutex};

use tokio::runtime::Handle;

use crate::telemetry::Key;

use super::controller::Controller;
use super::error::ControllerError;
use super::events::{CLUSTER_CONNECT_NODES, CLUSTER_MASTER_NODE_DOWN, CLUSTER_NODEDOWN, Emitter};
use super::protocol::{NodeCommand, NodeReport, NodeStatus, Reply, ReplyCache, Request, RunId};
use super::scenario::DynScenario;
use super::status::ControllerStatus;
use super::transport::Inbox;

pub(crate) use cluster_state::View;
use mailbox::Mail;
pub(crate) use mailbox::{NodeHandle, Waiting};
pub(crate) use thread::Parts;

/// The scenarios a node can run, by name (in a real cluster: those its build has).
pub(crate) type Catalogue = Arc<Mutex<BTreeMap<Key, Arc<dyn DynScenario>>>>;

/// Looks a scenario up in `catalogue`.
pub(crate) fn lookup(catalogue: &Catalogue, name: &str) -> Option<Arc<dyn DynScenario>> {
    catalogue
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .get(name)
        .cloned()
}

/// A node's status report, read from its controller (see the module docs).
pub(crate) fn status_report(controller: &Controller) -> NodeReport {
    NodeReport::Status(NodeStatus {
        status: controller.status(),
        users: controller.counts(),
    })
}

#[derive(Default)]
struct Inner {
    run: Option<RunId>,
    view: View,
    /// Peers already reported in `connect_nodes`.
    known: BTreeSet<Key>,
    /// Id blocks accepted in the current run, `first -> last`.
    blocks: BTreeMap<u64, u64>,
    replies: ReplyCache,
    leaving: bool,
    down: bool,
}

/// One node of the cluster: the state its thread owns (see the module docs). Not `Sync`: only
/// the node's thread touches it.
pub(crate) struct NodeActor {
    name: Key,
    emitter: Emitter,
    controller: Controller,
    catalogue: Catalogue,
    inbox: Inbox,
    rt: Handle,
    /// This node's own mailbox (a finished `Leave` ends the thread through it).
    own: Sender<Mail>,
    /// Borrowed only to decide (never across an event or scenario code): a nested request
    /// served while a handler waits finds it free.
    inner: RefCell<Inner>,
}

impl NodeActor {
    fn new(parts: thread::Parts, own: Sender<Mail>) -> NodeActor {
        NodeActor {
            name: parts.emitter.node().clone(),
            emitter: parts.emitter,
            controller: parts.controller,
            catalogue: parts.catalogue,
            inbox: parts.inbox,
            rt: parts.rt,
            own,
            inner: RefCell::default(),
        }
    }

    fn state(&self) -> std::cell::RefMut<'_, Inner> {
        self.inner.borrow_mut()
    }

    /// The node went down: its thread ends once the current request is answered.
    fn is_down(&self) -> bool {
        self.inner.borrow().down
    }

    /// The stop of a `Leave` finished: the node is down.
    fn went_down(&self) {
        self.state().down = true;
    }

    /// Answers one request (a repeated id from the reply cache, without applying it again).
    pub(crate) fn handle(&self, request: &Request) -> Reply {
        if let Some(r) = self.state().replies.get(request.id) {
            return Reply::to(request, r.clone());
        }
        let report = self.apply(&request.command);
        if !matches!(request.command, NodeCommand::Status) {
            self.state().replies.put(request.id, report.clone());
        }
        Reply::to(request, report)
    }

    fn apply(&self, command: &NodeCommand) -> NodeReport {
        match command {
            NodeCommand::Connected {
                master,
                nodes,
                up,
                down,
            } => {
                let (view, fresh) = {
                    let mut inner = self.state();
                    inner.view.master = master.clone();
                    inner.view.up = up.clone();
                    inner.view.lost = down.clone();
                    let fresh: Vec<Key> = nodes
                        .iter()
                        .filter(|n| inner.known.insert((*n).clone()))
                        .cloned()
                        .collect();
                    (inner.view.clone(), fresh)
                };
                if !fresh.is_empty() {
                    view.emit(&self.emitter, &CLUSTER_CONNECT_NODES, &fresh);
                }
                NodeReport::Done
            }
            NodeCommand::PeersDown {
                master,
                nodes,
                master_down,
                up,
            } => {
                let (view, fresh) = {
                    let mut inner = self.state();
                    inner.view.master = master.clone();
                    inner.view.up = up.clone();
                    let mut fresh = Vec::new();
                    for n in nodes {
                        if !inner.view.lost.contains(n) {
                            inner.view.lost.push(n.clone());
                            fresh.push(n.clone());
                        }
                    }
                    (inner.view.clone(), fresh)
                };
                if !fresh.is_empty() {
                    let event = if *master_down {
                        &CLUSTER_MASTER_NODE_DOWN
                    } else {
                        &CLUSTER_NODEDOWN
                    };
                    view.emit(&self.emitter, event, &fresh);
                }
                if *master_down {
                    // As Amoc's workers halt when their master is gone.
                    self.halt();
                }
                NodeReport::Done
            }
            NodeCommand::StartScenario { run, scenario } => self.start(*run, scenario),
            NodeCommand::AddUsers { run, first, last } => self.add(*run, *first, *last),
            NodeCommand::RemoveUsers { run, count, force } => {
                if let Err(e) = self.check_run(*run) {
                    return NodeReport::Refused(e);
                }
                match self.controller.remove_users(*count, *force) {
                    Ok(picked) => NodeReport::Removed { run: *run, picked },
                    Err(e) => NodeReport::Refused(e),
                }
            }
            NodeCommand::StopScenario { run } => {
                if self.state().run != Some(*run) {
                    return NodeReport::Refused(ControllerError::OtherRun);
                }
                match self.controller.stop_scenario() {
                    Ok(()) => {
                        self.report_when_stopped(NodeReport::Finished { run: *run }, false);
                        NodeReport::Done
                    }
                    Err(ControllerError::InvalidStatus(
                        ControllerStatus::Terminating(_) | ControllerStatus::Finished(_),
                    )) => NodeReport::Done,
                    Err(e) => NodeReport::Refused(e),
                }
            }
            NodeCommand::Leave => {
                {
                    let mut inner = self.state();
                    if inner.leaving || inner.down {
                        return NodeReport::Done;
                    }
                    inner.leaving = true;
                }
                match self.controller.stop_scenario() {
                    Ok(()) => {
                        self.report_when_stopped(NodeReport::Down, true);
                        NodeReport::Done
                    }
                    Err(_) => {
                        self.state().down = true;
                        NodeReport::Down
                    }
                }
            }
            NodeCommand::Halt => {
                self.halt();
                NodeReport::Done
            }
            NodeCommand::Status => status_report(&self.controller),
        }
    }

    fn halt(&self) {
        self.state().down = true;
        self.controller.halt();
    }

    fn check_run(&self, run: RunId) -> Result<(), ControllerError> {
        if self.state().run == Some(run) {
            Ok(())
        } else {
            Err(ControllerError::OtherRun)
        }
    }

    fn start(&self, run: RunId, scenario: &Key) -> NodeReport {
        if self.state().run == Some(run) {
            return NodeReport::Started { run };
        }
        let Some(s) = lookup(&self.catalogue, scenario) else {
            return NodeReport::Refused(ControllerError::UnknownScenario(scenario.clone()));
        };
        match self.controller.start_scenario(&s) {
            Ok(()) => {
                let mut inner = self.state();
                inner.run = Some(run);
                inner.blocks.clear();
                NodeReport::Started { run }
            }
            Err(e) => NodeReport::Refused(e),
        }
    }

    fn add(&self, run: RunId, first: u64, last: u64) -> NodeReport {
        let mut inner = self.state();
        if inner.run != Some(run) {
            return NodeReport::Refused(ControllerError::OtherRun);
        }
        let seen = inner
            .blocks
            .range(..=first)
            .next_back()
            .is_some_and(|(_, &l)| last <= l);
        if seen {
            return NodeReport::Added {
                run,
                first,
                last,
                duplicate: true,
            };
        }
        // The controller only decides here (its users are spawned by a task): nothing is
        // emitted while the node's state is borrowed.
        match self.controller.add_users(first, last) {
            Ok(()) => {
                inner.blocks.insert(first, last);
                NodeReport::Added {
                    run,
                    first,
                    last,
                    duplicate: false,
                }
            }
            Err(e) => NodeReport::Refused(e),
        }
    }

    /// Sends `report` to the master once the scenario is no longer terminating; with `ends`,
    /// the node is down then, and its thread ends.
    fn report_when_stopped(&self, report: NodeReport, ends: bool) {
        let controller = self.controller.clone();
        let inbox = self.inbox.clone();
        let name = self.name.clone();
        let own = self.own.clone();
        self.rt.spawn(async move {
            let mut changes = controller.subscribe_status();
            while matches!(controller.status(), ControllerStatus::Terminating(_)) {
                if changes.changed().await.is_err() {
                    break;
                }
            }
            if ends {
                // The thread may have ended already (halted meanwhile).
                let _ = own.send(Mail::Down);
            }
            // The master may be gone (the engine shut down): nobody to tell.
            let _ = inbox.send(Reply::unsolicited(name, report));
        });
    }
}
