//! A node's own thread: it owns the [`NodeActor`] and serves the node's mailbox, one message
//! at a time, until the node goes down or its last handle is dropped.
//!
//! The thread is an actor ([`actor::current`](super::super::actor::current) names it): a call
//! the thread makes (from a telemetry handler or scenario code it runs, to a node or to the
//! master) waits for its answer by serving this same mailbox (see [`Serving::serve`]), so a
//! node never waits on itself, and a node and the master (or two nodes) waiting on each other
//! serve each other.

use std::cell::Cell;
use std::rc::Rc;
use std::sync::mpsc::{Receiver, Sender};
use std::time::Instant;

use tokio::runtime::Handle;

use crate::telemetry::Key;

use super::super::actor::{self, Actor, Answer, AnswerTo, Calls};
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

/// The node this thread serves, its mailbox, and the calls it waits for.
pub(super) struct Serving {
    mailbox: Receiver<Mail>,
    /// This node's own mailbox, where the answers to its calls come.
    own: Sender<Mail>,
    actor: NodeActor,
    /// The calls this thread waits for.
    calls: Calls,
    /// The node is down or its last handle is gone: the thread ends at the outermost level.
    ending: Cell<bool>,
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
            mailbox,
            own: own.clone(),
            actor: NodeActor::new(parts, own),
            calls: Calls::default(),
            ending: Cell::new(false),
        });
        actor::set_current(Some(serving.clone() as Rc<dyn Actor>));
        serving.serve(None);
        serving.drain();
        actor::set_current(None);
    })?;
    Ok(())
}

impl Actor for Serving {
    fn open(&self) -> (u64, AnswerTo) {
        let token = self.calls.open();
        let own = self.own.clone();
        let to: AnswerTo = Box::new(move |answer| {
            let _ = own.send(Mail::Answer(token, answer));
        });
        (token, to)
    }

    fn wait(&self, token: u64, deadline: Instant) -> Option<Answer> {
        self.serve(Some((token, deadline)))
    }

    fn forget(&self, token: u64) {
        self.calls.forget(token);
    }
}

impl Serving {
    /// Serves the mailbox until call `token` is answered or its `deadline` passes (`None` for
    /// a timeout), or, with `until` `None`, until the node ends.
    fn serve(&self, until: Option<(u64, Instant)>) -> Option<Answer> {
        loop {
            let mail = match until {
                Some((token, deadline)) => {
                    if let Some(answer) = self.calls.take(token) {
                        return Some(answer);
                    }
                    // Checked before every message: a busy mailbox does not stretch the wait.
                    let left = deadline.saturating_duration_since(Instant::now());
                    let mail = if left.is_zero() {
                        None
                    } else {
                        self.mailbox.recv_timeout(left).ok()
                    };
                    match mail {
                        Some(mail) => mail,
                        None => {
                            self.calls.give_up(token);
                            return None;
                        }
                    }
                }
                None if self.ending.get() => return None,
                None => match self.mailbox.recv() {
                    Ok(mail) => mail,
                    Err(_) => return None,
                },
            };
            match mail {
                Mail::Request(request, reply_to) => {
                    let reply = if self.ending.get() {
                        Reply::to(&request, NodeReport::Down)
                    } else {
                        self.actor.handle(&request)
                    };
                    reply_to(Answer::Node(reply));
                    if self.actor.is_down() {
                        self.ending.set(true);
                    }
                }
                Mail::Answer(token, answer) => {
                    if let Some(answer) = self.calls.arrive(token, answer, until.map(|(t, _)| t)) {
                        return Some(answer);
                    }
                }
                Mail::Down => {
                    self.actor.went_down();
                    self.ending.set(true);
                }
                Mail::Stop => self.ending.set(true),
            }
        }
    }

    /// The thread ends: what is still in the mailbox is answered `Down`.
    fn drain(&self) {
        while let Ok(mail) = self.mailbox.try_recv() {
            if let Mail::Request(request, reply_to) = mail {
                reply_to(Answer::Node(Reply::to(&request, NodeReport::Down)));
            }
        }
    }
}
