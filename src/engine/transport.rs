//! How protocol messages travel between the master and its nodes.
//!
//! The master holds one [`NodeLink`] per node and reaches the node only through it: a
//! [`Request`] goes in, a [`Reply`] comes back, or a `Refused(NoAnswer)` report naming the node
//! and the command when none came within the link's timeout; a node's unsolicited reports (a
//! `Leave` that finished: `Down`; a stop that finished: `Finished`) go to the master's inbox,
//! an unbounded channel whose task hands each report to the master's thread.
//!
//! * [`NodeLink::InProcess`]: the simulated cluster. The node is an actor in this process: a
//!   thread of its own owns its state and serves its mailbox one request at a time (see the
//!   `node` module); the caller posts the request and waits for the answer. Nothing the node
//!   owns is shared with the master or with other nodes, and the messages are the same values
//!   a network carries.
//! * Over a network (the NATS cluster, `crate::cluster_nats`) the master encodes the envelope
//!   ([`protocol::encode`](super::protocol::encode)), publishes it, and matches the reply by
//!   its request id, timing out with [`Pending`](super::protocol::Pending); the worker process
//!   decodes it and hands it to its own node through a [`NodeLink::local`] link, so a worker's
//!   node runs the same code as a simulated one.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;

use super::controller::Controller;
use super::events::Emitter;
use super::node::{Catalogue, NodeHandle, Parts, Waiting};
use super::protocol::{DEFAULT_TIMEOUT, NodeCommand, NodeReport, Reply, Request, RequestId};

/// Where a node's unsolicited reports go.
pub(crate) type Inbox = mpsc::UnboundedSender<Reply>;

/// How the master reaches one node.
#[derive(Clone)]
pub(crate) enum NodeLink {
    /// A node in this process (the simulated cluster, or a worker's own node).
    InProcess(Arc<NodeHandle>),
}

impl NodeLink {
    /// A node in this process named after `emitter`'s node, running `controller`'s users and
    /// the scenarios of `catalogue` on a thread of its own (entered into `rt`); its unsolicited
    /// reports go to `inbox`. A request it does not answer within
    /// [`DEFAULT_TIMEOUT`](super::protocol::DEFAULT_TIMEOUT) is refused with `NoAnswer`.
    pub(crate) fn local(
        rt: tokio::runtime::Handle,
        emitter: Emitter,
        controller: Controller,
        catalogue: Catalogue,
        inbox: Inbox,
    ) -> NodeLink {
        NodeLink::with_timeout(rt, emitter, controller, catalogue, inbox, DEFAULT_TIMEOUT)
    }

    /// As [`local`](Self::local), waiting at most `timeout` for each answer.
    pub(crate) fn with_timeout(
        rt: tokio::runtime::Handle,
        emitter: Emitter,
        controller: Controller,
        catalogue: Catalogue,
        inbox: Inbox,
        timeout: Duration,
    ) -> NodeLink {
        let parts = Parts {
            rt,
            emitter,
            controller,
            catalogue,
            inbox,
        };
        NodeLink::InProcess(Arc::new(NodeHandle::start(parts, timeout)))
    }

    /// Sends `request` and returns the node's answer (at most the link's timeout later).
    pub(crate) fn call(&self, request: Request) -> Reply {
        self.post(request).reply()
    }

    /// Sends `request` now, in order with every other request to this node, and returns the
    /// wait for its answer (so a caller can send under a lock and wait after releasing it).
    pub(crate) fn post(&self, request: Request) -> Waiting {
        match self {
            NodeLink::InProcess(node) => node.post(request),
        }
    }

    /// Sends `command` as request `id` to this link's node and returns the report.
    pub(crate) fn ask(&self, id: RequestId, command: NodeCommand) -> NodeReport {
        self.send(id, command).report()
    }

    /// Sends `command` as request `id` to this link's node; the answer comes with the wait.
    pub(crate) fn send(&self, id: RequestId, command: NodeCommand) -> Waiting {
        let node = match self {
            NodeLink::InProcess(n) => n.name().clone(),
        };
        self.post(Request::new(id, node, command))
    }

    /// The in-process node's controller (Amoc's per-node API); `None` over a network.
    pub(crate) fn controller(&self) -> Option<Controller> {
        match self {
            NodeLink::InProcess(n) => Some(n.controller().clone()),
        }
    }
}
