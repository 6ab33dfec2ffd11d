//! How protocol messages travel between the master and its nodes.
//!
//! The master holds one [`NodeLink`] per node and reaches the node only through it: a
//! [`Request`] goes in, a [`Reply`] comes back; a node's unsolicited reports (a `Leave` that
//! finished: `Down`; a stop that finished: `Finished`) go to the master's inbox, an unbounded
//! channel the master's inbox task drains.
//!
//! * [`NodeLink::InProcess`]: the simulated cluster. The node lives in this process and
//!   answers at once, in the caller's thread; nothing the node owns is shared with the master
//!   or with other nodes, and the messages are the same values a network carries.
//! * Over a network (the NATS cluster, `crate::cluster_nats`) the master encodes the envelope
//!   ([`protocol::encode`](super::protocol::encode)), publishes it, and matches the reply by
//!   its request id, timing out with [`Pending`](super::protocol::Pending); the worker process
//!   decodes it and hands it to its own node through a [`NodeLink::local`] link, so a worker's
//!   node runs the same code as a simulated one.

use std::sync::Arc;

use tokio::sync::mpsc;

use super::controller::Controller;
use super::events::Emitter;
use super::node::{Catalogue, NodeActor};
use super::protocol::{NodeCommand, NodeReport, Reply, Request, RequestId};

/// Where a node's unsolicited reports go.
pub(crate) type Inbox = mpsc::UnboundedSender<Reply>;

/// How the master reaches one node.
#[derive(Clone)]
pub(crate) enum NodeLink {
    /// A node in this process (the simulated cluster).
    InProcess(Arc<NodeActor>),
}

impl NodeLink {
    /// A node in this process named after `emitter`'s node, running `controller`'s users and
    /// the scenarios of `catalogue`; its unsolicited reports go to `inbox`.
    pub(crate) fn local(
        rt: tokio::runtime::Handle,
        emitter: Emitter,
        controller: Controller,
        catalogue: Catalogue,
        inbox: Inbox,
    ) -> NodeLink {
        NodeLink::InProcess(Arc::new(NodeActor::new(
            rt, emitter, controller, catalogue, inbox,
        )))
    }

    /// Sends `request` and returns the node's answer.
    pub(crate) fn call(&self, request: Request) -> Reply {
        match self {
            NodeLink::InProcess(node) => node.handle(&request),
        }
    }

    /// Sends `command` as request `id` to this link's node and returns the report.
    pub(crate) fn ask(&self, id: RequestId, command: NodeCommand) -> NodeReport {
        let node = match self {
            NodeLink::InProcess(n) => n.name().clone(),
        };
        self.call(Request::new(id, node, command)).report
    }

    /// The in-process node's controller (Amoc's per-node API); `None` over a network.
    pub(crate) fn controller(&self) -> Option<super::controller::Controller> {
        match self {
            NodeLink::InProcess(n) => Some(n.controller().clone()),
        }
    }
}
