//! A node's own thread: it owns the [`NodeActor`] and serves the node's mailbox, one message
//! at a time, until the node goes down or its last handle is dropped.
//!
//! A thread-local ([`Serving`]) names the node whose thread this is. A call the thread makes
//! (from a telemetry handler or scenario code it runs) waits for its answer by serving this
//! same mailbox (see [`Serving::serve`]), so a node never waits on itself, and two nodes
//! waiting on each other serve each other.

use std::cell::{Cell, RefCell};
use std::collections::{BTreeMap, BTreeSet};
use std::rc::Rc;
use std::sync::mpsc::{Receiver, Sender};
use std::time::Instant;

use tokio::runtime::Handle;

use crate::telemetry::Key;

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
    pub(super) own: Sender<Mail>,
    actor: NodeActor,
    next_token: Cell<u64>,
    /// Calls of this thread still waiting for their answer.
    awaited: RefCell<BTreeSet<u64>>,
    /// Answers that came while a later (nested) call was waiting.
    arrived: RefCell<BTreeMap<u64, Reply>>,
    /// The node is down or its last handle is gone: the thread ends at the outermost level.
    ending: Cell<bool>,
}

thread_local! {
    static SERVING: RefCell<Option<Rc<Serving>>> = const { RefCell::new(None) };
}

/// The node whose thread this is, if it is one.
pub(super) fn current() -> Option<Rc<Serving>> {
    SERVING.with(|s| s.borrow().clone())
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
            next_token: Cell::new(0),
            awaited: RefCell::default(),
            arrived: RefCell::default(),
            ending: Cell::new(false),
        });
        SERVING.with(|s| *s.borrow_mut() = Some(serving.clone()));
        serving.serve(None);
        serving.drain();
        SERVING.with(|s| s.borrow_mut().take());
    })?;
    Ok(())
}

impl Serving {
    /// A token for a call this thread is about to make (its answer comes to [`Self::own`]).
    pub(super) fn open(&self) -> u64 {
        let token = self.next_token.get() + 1;
        self.next_token.set(token);
        self.awaited.borrow_mut().insert(token);
        token
    }

    /// Call `token` is no longer waited for: its answer is dropped when it comes.
    pub(super) fn forget(&self, token: u64) {
        self.awaited.borrow_mut().remove(&token);
        self.arrived.borrow_mut().remove(&token);
    }

    /// Serves the mailbox until call `token` is answered or its `deadline` passes (`None` for
    /// a timeout), or, with `until` `None`, until the node ends.
    pub(super) fn serve(&self, until: Option<(u64, Instant)>) -> Option<Reply> {
        loop {
            let mail = match until {
                Some((token, deadline)) => {
                    if let Some(reply) = self.arrived.borrow_mut().remove(&token) {
                        return Some(reply);
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
                            self.awaited.borrow_mut().remove(&token);
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
                    reply_to.send(reply);
                    if self.actor.is_down() {
                        self.ending.set(true);
                    }
                }
                Mail::Answer(token, reply) => {
                    if self.awaited.borrow_mut().remove(&token) {
                        if until.is_some_and(|(t, _)| t == token) {
                            return Some(reply);
                        }
                        self.arrived.borrow_mut().insert(token, reply);
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
                reply_to.send(Reply::to(&request, NodeReport::Down));
            }
        }
    }
}
