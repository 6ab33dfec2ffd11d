//! What the engine's actor threads (the master and each in-process node) share: how a call
//! waits for its answer.
//!
//! A thread that is not an actor waits on a channel of its own. An actor's thread knows it
//! is one (a thread-local, [`current`]): the answer to its call comes to its own mailbox, and
//! while it waits it keeps serving that mailbox ([`Actor::wait`]). So an actor never waits on
//! itself (a handler on the master's thread may command the master), and two actors that wait
//! on each other (the master waiting for a node whose `init` runs a handler that commands the
//! master) serve each other instead of deadlocking.
//!
//! Both actors serve their mailbox the same way ([`Mailbox::serve`]); each says only what it
//! does with its own kind of mail ([`Serves`]), and [`run`] is the life of its thread.

use std::cell::{Cell, RefCell};
use std::collections::{BTreeMap, BTreeSet};
use std::rc::Rc;
use std::sync::mpsc::{self, Receiver, Sender};
use std::time::Instant;

use super::cluster::MasterAnswer;
use super::protocol::Reply;

/// An answer to a call: a node's reply, or the master's.
pub(crate) enum Answer {
    Node(Reply),
    Master(MasterAnswer),
}

/// Where a call's answer goes (called once, from any thread; nobody may be waiting any more).
pub(crate) type AnswerTo = Box<dyn FnOnce(Answer) + Send>;

/// An actor's thread, as seen by a call it makes.
pub(crate) trait Actor {
    /// A token for a call this thread is about to make, and where its answer goes (this
    /// thread's own mailbox).
    fn open(&self) -> (u64, AnswerTo);
    /// Serves this thread's mailbox until call `token` is answered (`Some`) or `deadline`
    /// passes (`None`).
    fn wait(&self, token: u64, deadline: Instant) -> Option<Answer>;
    /// Call `token` is no longer waited for: its answer is dropped when it comes.
    fn forget(&self, token: u64);
}

thread_local! {
    static CURRENT: RefCell<Option<Rc<dyn Actor>>> = const { RefCell::new(None) };
}

/// The actor whose thread this is, if it is one.
pub(crate) fn current() -> Option<Rc<dyn Actor>> {
    CURRENT.with(|c| c.borrow().clone())
}

/// This thread is `actor`'s from now on (`None`: no longer).
pub(crate) fn set_current(actor: Option<Rc<dyn Actor>>) {
    CURRENT.with(|c| *c.borrow_mut() = actor);
}

/// Why a call got no answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Missing {
    /// Its deadline passed.
    TimedOut,
    /// The callee ended without answering.
    Gone,
}

/// Where a call's answer goes, and the wait for it, for a call made on this thread.
pub(crate) fn call() -> (AnswerTo, Pending) {
    match current() {
        Some(actor) => {
            let (token, to) = actor.open();
            (to, Pending::Actor(Call { actor, token }))
        }
        None => {
            let (tx, rx) = mpsc::sync_channel(1);
            let to: AnswerTo = Box::new(move |answer| {
                // The caller may have given up waiting: then nobody reads it.
                let _ = tx.try_send(answer);
            });
            (to, Pending::Caller(rx))
        }
    }
}

/// The wait for one call's answer. Not `Send`: it is waited for on the thread that called.
/// Dropped unwaited, its answer is ignored when it comes.
pub(crate) enum Pending {
    /// A plain thread waits on its channel.
    Caller(mpsc::Receiver<Answer>),
    /// An actor's thread serves its own mailbox meanwhile.
    Actor(Call),
}

impl Pending {
    /// The answer, or why none came by `deadline`.
    pub(crate) fn wait(self, deadline: Instant) -> Result<Answer, Missing> {
        match self {
            Pending::Caller(rx) => {
                let left = deadline.saturating_duration_since(Instant::now());
                rx.recv_timeout(left).map_err(|e| match e {
                    mpsc::RecvTimeoutError::Timeout => Missing::TimedOut,
                    mpsc::RecvTimeoutError::Disconnected => Missing::Gone,
                })
            }
            Pending::Actor(call) => call
                .actor
                .wait(call.token, deadline)
                .ok_or(Missing::TimedOut),
        }
    }
}

/// A call an actor's thread made, forgotten when its wait ends or is dropped.
pub(crate) struct Call {
    actor: Rc<dyn Actor>,
    token: u64,
}

impl Drop for Call {
    fn drop(&mut self) {
        self.actor.forget(self.token);
    }
}

/// An actor's bookkeeping of the calls its thread waits for.
#[derive(Default)]
pub(crate) struct Calls {
    next: Cell<u64>,
    /// Calls still waiting for their answer.
    awaited: RefCell<BTreeSet<u64>>,
    /// Answers that came while a later (nested) call was waiting.
    arrived: RefCell<BTreeMap<u64, Answer>>,
}

impl Calls {
    /// A token for a new call.
    pub(crate) fn open(&self) -> u64 {
        let token = self.next.get() + 1;
        self.next.set(token);
        self.awaited.borrow_mut().insert(token);
        token
    }

    pub(crate) fn forget(&self, token: u64) {
        self.awaited.borrow_mut().remove(&token);
        self.arrived.borrow_mut().remove(&token);
    }

    /// The answer of `token` if it came while another call was waited for.
    pub(crate) fn take(&self, token: u64) -> Option<Answer> {
        self.arrived.borrow_mut().remove(&token)
    }

    /// `token`'s wait ended without its answer.
    pub(crate) fn give_up(&self, token: u64) {
        self.awaited.borrow_mut().remove(&token);
    }

    /// An answer came for `token`: returned if it is the one `waiting_for`, kept for later if
    /// another call still waits for it, dropped otherwise.
    pub(crate) fn arrive(
        &self,
        token: u64,
        answer: Answer,
        waiting_for: Option<u64>,
    ) -> Option<Answer> {
        if !self.awaited.borrow_mut().remove(&token) {
            return None;
        }
        if waiting_for == Some(token) {
            return Some(answer);
        }
        self.arrived.borrow_mut().insert(token, answer);
        None
    }
}

/// What an actor's mailbox carries, as far as its calls go: the answers to them, and other
/// mail the actor handles.
pub(crate) trait Mail: Send + Sized + 'static {
    /// The mail that carries `answer` to call `token`.
    fn answer(token: u64, answer: Answer) -> Self;
    /// The answer this mail carries, or the mail itself when it is not an answer.
    fn into_answer(self) -> Result<(u64, Answer), Self>;
}

/// An actor thread's mailbox (and its own sending side, where the answers to its calls come),
/// the calls it waits for, and whether it is ending.
pub(crate) struct Mailbox<M> {
    mailbox: Receiver<M>,
    own: Sender<M>,
    calls: Calls,
    ending: Cell<bool>,
}

impl<M: Mail> Mailbox<M> {
    /// Serves `mailbox`, whose sending side is `own`.
    pub(crate) fn new(mailbox: Receiver<M>, own: Sender<M>) -> Mailbox<M> {
        Mailbox {
            mailbox,
            own,
            calls: Calls::default(),
            ending: Cell::new(false),
        }
    }

    /// The thread ends once the mail being handled at the outermost level is done.
    pub(crate) fn end(&self) {
        self.ending.set(true);
    }

    pub(crate) fn is_ending(&self) -> bool {
        self.ending.get()
    }

    fn open(&self) -> (u64, AnswerTo) {
        let token = self.calls.open();
        let own = self.own.clone();
        let to: AnswerTo = Box::new(move |answer| {
            let _ = own.send(M::answer(token, answer));
        });
        (token, to)
    }

    /// Serves the mailbox, handing every mail that is not an awaited answer to `handle`,
    /// until call `token` is answered or its `deadline` passes (`None` then), or, with `until`
    /// `None`, until the actor ends or nobody can send to it any more.
    fn serve(&self, until: Option<(u64, Instant)>, mut handle: impl FnMut(M)) -> Option<Answer> {
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
            match mail.into_answer() {
                Ok((token, answer)) => {
                    if let Some(answer) = self.calls.arrive(token, answer, until.map(|(t, _)| t)) {
                        return Some(answer);
                    }
                }
                Err(mail) => handle(mail),
            }
        }
    }
}

/// An actor: its mailbox, and what it does with mail that is not an answer to its calls.
/// Every `Serves` is an [`Actor`]: a call its thread makes waits by serving this mailbox.
pub(crate) trait Serves {
    type Mail: Mail;

    fn mailbox(&self) -> &Mailbox<Self::Mail>;

    /// Handles one mail (may run user code, which may call an actor: then it is re-entered).
    fn handle(&self, mail: Self::Mail);

    /// A mail still there when the thread ends: a command in it is refused.
    fn left_over(&self, mail: Self::Mail);
}

impl<T: Serves> Actor for T {
    fn open(&self) -> (u64, AnswerTo) {
        self.mailbox().open()
    }

    fn wait(&self, token: u64, deadline: Instant) -> Option<Answer> {
        self.mailbox()
            .serve(Some((token, deadline)), |mail| self.handle(mail))
    }

    fn forget(&self, token: u64) {
        self.mailbox().calls.forget(token);
    }
}

/// The life of an actor's thread: it is `actor`'s, serves its mailbox until the actor ends,
/// refuses what is left ([`Serves::left_over`]), and is no actor's any more.
pub(crate) fn run<T: Serves + 'static>(actor: &Rc<T>) {
    set_current(Some(actor.clone() as Rc<dyn Actor>));
    actor.mailbox().serve(None, |mail| actor.handle(mail));
    while let Ok(mail) = actor.mailbox().mailbox.try_recv() {
        actor.left_over(mail);
    }
    set_current(None);
}
