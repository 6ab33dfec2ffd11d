//! The sending side of a node's mailbox: [`NodeHandle`] posts requests to the node's thread
//! and [`Waiting`] waits for each answer, at most the handle's timeout.

use std::sync::mpsc::{self, Sender};
use std::time::{Duration, Instant};

use crate::telemetry::Key;

use super::super::actor::{self, Answer, AnswerTo, Missing, Pending};
use super::super::controller::Controller;
use super::super::error::ControllerError;
use super::super::protocol::{NodeCommand, NodeReport, Reply, Request};
use super::status_report;
use super::thread::{self, Parts};

/// What a node's thread receives.
pub(crate) enum Mail {
    /// A request, and where its answer goes.
    Request(Request, AnswerTo),
    /// The answer to call `token` this node's thread made (to a node or to the master).
    Answer(u64, Answer),
    /// The stop of a `Leave` finished: the node is down.
    Down,
    /// The node's last handle is gone.
    Stop,
}

/// How callers reach one in-process node: its mailbox, and its controller for the one
/// query answered without the node's thread (`Status`). Dropping the last handle ends the
/// node's thread.
pub(crate) struct NodeHandle {
    name: Key,
    /// `None` when the thread could not be started: every request is answered `Down`.
    mailbox: Option<Sender<Mail>>,
    controller: Controller,
    timeout: Duration,
}

impl NodeHandle {
    /// Starts a node's thread from `parts`; requests not answered within `timeout` are
    /// refused with [`ControllerError::NoAnswer`].
    pub(crate) fn start(parts: Parts, timeout: Duration) -> NodeHandle {
        let name = parts.emitter.node().clone();
        let controller = parts.controller.clone();
        let (tx, rx) = mpsc::channel();
        let mailbox = match thread::start(parts, rx, tx.clone()) {
            Ok(()) => Some(tx),
            Err(e) => {
                log::error!(target: "engine", "node {name}: cannot start its thread: {e}");
                None
            }
        };
        NodeHandle {
            name,
            mailbox,
            controller,
            timeout,
        }
    }

    pub(crate) fn name(&self) -> &Key {
        &self.name
    }

    pub(crate) fn controller(&self) -> &Controller {
        &self.controller
    }

    /// Posts `request` (in order with every other request to this node) and returns the
    /// wait for its answer. `Status` is answered at once from the node's published status.
    pub(crate) fn post(&self, request: Request) -> Waiting {
        if matches!(request.command, NodeCommand::Status) {
            let report = status_report(&self.controller);
            return Waiting(How::Answered(Reply::to(&request, report)));
        }
        let down = Reply::to(&request, NodeReport::Down);
        let Some(mailbox) = &self.mailbox else {
            return Waiting(How::Answered(down));
        };
        let asked = Asked {
            answer: down.clone(),
            command: request.command.name(),
            timeout: self.timeout,
            deadline: Instant::now() + self.timeout,
        };
        // On an actor's thread (a node's, the master's), the answer comes to its own mailbox,
        // which it serves while it waits.
        let (reply_to, pending) = actor::call();
        if mailbox.send(Mail::Request(request, reply_to)).is_err() {
            // The thread ended (the node went down).
            return Waiting(How::Answered(down));
        }
        Waiting(How::Pending(pending, asked))
    }
}

impl Drop for NodeHandle {
    fn drop(&mut self) {
        if let Some(mailbox) = &self.mailbox {
            let _ = mailbox.send(Mail::Stop);
        }
    }
}

/// What a waiting caller remembers of its request, to report a missing answer.
struct Asked {
    /// The envelope of the answer (`Down` until known).
    answer: Reply,
    command: &'static str,
    timeout: Duration,
    deadline: Instant,
}

impl Asked {
    /// The answer when none came: `NoAnswer` after the timeout, `Down` if the node ended.
    fn missing(self, timed_out: bool) -> Reply {
        let mut reply = self.answer;
        if timed_out {
            reply.report = NodeReport::Refused(ControllerError::NoAnswer {
                node: reply.node.clone(),
                command: self.command.to_owned(),
                waited_ms: u64::try_from(self.timeout.as_millis()).unwrap_or(u64::MAX),
            });
        }
        reply
    }
}

enum How {
    Answered(Reply),
    /// Waiting for the node's answer (see [`actor::call`]).
    Pending(Pending, Asked),
}

/// The wait for one request's answer (see [`NodeHandle::post`]). Not `Send`: it is waited
/// for on the thread that posted it. Dropped unwaited, its answer is ignored when it comes.
pub(crate) struct Waiting(How);

impl Waiting {
    /// The answer; a request not answered in time is refused with
    /// [`ControllerError::NoAnswer`] naming the node and the command, one whose node ended
    /// meanwhile is answered `Down`.
    pub(crate) fn reply(self) -> Reply {
        match self.0 {
            How::Answered(reply) => reply,
            How::Pending(pending, asked) => match pending.wait(asked.deadline) {
                Ok(Answer::Node(reply)) => reply,
                Ok(Answer::Master(_)) => asked.missing(false),
                Err(missing) => asked.missing(missing == Missing::TimedOut),
            },
        }
    }

    /// The report of [`Self::reply`].
    pub(crate) fn report(self) -> NodeReport {
        self.reply().report
    }
}
