//! A node's own thread: it owns the [`NodeActor`] and serves the node's mailbox, one message
//! at a time, until the node goes down or its last handle is dropped.
//!
//! The thread is an actor ([`actor::current`](super::super::actor::current) names it): a call
//! the thread makes (from a telemetry handler or scenario code it runs, to a node or to the
//! master) waits for its answer by serving this same mailbox (see [`actor::Serves`]), so a
//! node never waits on itself, and a node and the master (or two nodes) waiting on each other
//! serve each other.

use std::rc::Rc;
use std::sync::mpsc::{Receiver, Sender};

use tokio::runtime::Handle;

use crate::telemetry::Key;

use super::super::actor::{self, Answer, Mail as ActorMail, Mailbox, Serves};
use super::super::controller::Controller;
use super::super::events::Emitter;
use super::super::protocol::{NodeReport, Reply};
use super::super::transport::Inbox;
use super::mailbox::Mail;
use super::{Catalogue, NodeActor};

/// What a node's thread is built from.
pub(crate) struct Parts {
    pub(crate) rt: Handle,
    pub(crate) emitter: Emitter,
    pub(crate) controller: Controller,
    pub(crate) catalogue: Catalogue,
    pub(crate) inbox: Inbox,
}

/// The node this thread serves, and its mailbox (which ends when the node is down or its
/// last handle is gone).
pub(super) struct Serving {
    mailbox: Mailbox<Mail>,
    actor: NodeActor,
}

impl ActorMail for Mail {
    fn answer(token: u64, answer: Answer) -> Mail {
        Mail::Answer(token, answer)
    }

    fn into_answer(self) -> Result<(u64, Answer), Mail> {
        match self {
            Mail::Answer(token, answer) => Ok((token, answer)),
            mail => Err(mail),
        }
    }
}

/// The thread's name for node `node` (a name must hold no NUL byte).
fn thread_name(node: &Key) -> String {
    node.as_str().replace('\0', "?")
}

/// Starts the node's thread, serving `mailbox` (`own` is its sending side).
pub(super) fn start(
    parts: Parts,
    mailbox: Receiver<Mail>,
    own: Sender<Mail>,
) -> std::io::Result<()> {
    let name = thread_name(parts.emitter.node());
    std::thread::Builder::new().name(name).spawn(move || {
        let rt = parts.rt.clone();
        let _rt = rt.enter();
        let serving = Rc::new(Serving {
            mailbox: Mailbox::new(mailbox, own.clone()),
            actor: NodeActor::new(parts, own),
        });
        actor::run(&serving);
    })?;
    Ok(())
}

impl Serves for Serving {
    type Mail = Mail;

    fn mailbox(&self) -> &Mailbox<Mail> {
        &self.mailbox
    }

    fn handle(&self, mail: Mail) {
        match mail {
            Mail::Request(request, reply_to) => {
                let reply = if self.mailbox.is_ending() {
                    Reply::to(&request, NodeReport::Down)
                } else {
                    self.actor.handle(&request)
                };
                reply_to(Answer::Node(reply));
                if self.actor.is_down() {
                    self.mailbox.end();
                }
            }
            // Answers are the mailbox's.
            Mail::Answer(..) => {}
            Mail::Down => {
                self.actor.went_down();
                self.mailbox.end();
            }
            Mail::Stop => self.mailbox.end(),
        }
    }

    /// The thread ends: what is still in the mailbox is answered `Down`.
    fn left_over(&self, mail: Mail) {
        if let Mail::Request(request, reply_to) = mail {
            reply_to(Answer::Node(Reply::to(&request, NodeReport::Down)));
        }
    }
}
