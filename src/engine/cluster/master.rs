//! The master's own thread, named `master`: it owns the [`ClusterState`] (no lock around it)
//! and serves the master's mailbox, one command at a time, until the engine is dropped.
//!
//! The thread is an actor ([`actor::current`] names it). While a command waits for a node's
//! answer, the thread keeps serving its mailbox: the command that comes may be what the
//! awaited node waits for (a handler in its `init` or `terminate` commanding the master, or
//! another caller's stop of the node that handler waits for), so commands interleave only
//! where one waits for a node, as an async actor's would at an `await`. The state is borrowed
//! only to decide, never while the master waits, emits an event or runs user code, so a
//! command served within another finds it free.

use std::cell::{Cell, RefCell, RefMut};
use std::ops::{Deref, DerefMut};
use std::rc::Rc;
use std::sync::Arc;
use std::sync::mpsc::{Receiver, Sender, SyncSender};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use arc_swap::ArcSwap;
use tokio::runtime::Handle;

use crate::telemetry::Telemetry;

use super::super::actor::{self, Actor, Answer, AnswerTo, Calls};
use super::super::changes::Changes;
use super::super::controller::ControllerOptions;
use super::super::error::EngineError;
use super::super::node::Catalogue;
use super::super::protocol::NodeReport;
use super::super::services::Services;
use super::super::transport::Inbox;
use super::command::{Done, MasterAnswer, MasterCommand};
use super::table::{ClusterState, Snapshot};

/// What the master's thread receives.
pub(crate) enum MasterMail {
    /// A command, and where its answer goes.
    Command {
        command: MasterCommand,
        to: AnswerTo,
    },
    /// The answer to call `token` the master's thread made (to a node, or to itself).
    Answer(u64, Answer),
    /// The engine is dropped: the thread ends once the current command is answered.
    Stop,
}

/// What the master is built from (shared with the engine's front, except the state).
pub(super) struct Parts {
    pub(super) rt: Handle,
    pub(super) telemetry: Telemetry,
    pub(super) services: Services,
    pub(super) catalogue: Catalogue,
    pub(super) changed: Arc<Changes>,
    pub(super) options: ControllerOptions,
    /// How long the master waits for a node's answer.
    pub(super) node_timeout: Duration,
    pub(super) inbox: Inbox,
    pub(super) published: Arc<ArcSwap<Snapshot>>,
    pub(super) state: ClusterState,
}

/// The master: what its thread owns. Not `Sync`: only that thread touches it.
pub(super) struct Master {
    pub(super) rt: Handle,
    pub(super) telemetry: Telemetry,
    pub(super) services: Services,
    pub(super) catalogue: Catalogue,
    pub(super) changed: Arc<Changes>,
    pub(super) options: ControllerOptions,
    pub(super) node_timeout: Duration,
    pub(super) inbox: Inbox,
    published: Arc<ArcSwap<Snapshot>>,
    state: RefCell<ClusterState>,
    mailbox: Receiver<MasterMail>,
    own: Sender<MasterMail>,
    calls: Calls,
    ending: Cell<bool>,
}

/// The master's state, borrowed to decide; its snapshot is published when the borrow ends.
pub(super) struct StateMut<'a> {
    state: RefMut<'a, ClusterState>,
    published: &'a ArcSwap<Snapshot>,
}

impl Deref for StateMut<'_> {
    type Target = ClusterState;
    fn deref(&self) -> &ClusterState {
        &self.state
    }
}

impl DerefMut for StateMut<'_> {
    fn deref_mut(&mut self) -> &mut ClusterState {
        &mut self.state
    }
}

impl Drop for StateMut<'_> {
    fn drop(&mut self) {
        self.published.store(Arc::new(self.state.snapshot()));
    }
}

/// Starts the master's thread, serving `mailbox` (`own` is its sending side); `ended` hears
/// when it has ended.
pub(super) fn start(
    parts: Parts,
    mailbox: Receiver<MasterMail>,
    own: Sender<MasterMail>,
    ended: SyncSender<()>,
) -> std::io::Result<JoinHandle<()>> {
    std::thread::Builder::new()
        .name("master".to_owned())
        .spawn(move || {
            let rt = parts.rt.clone();
            let _rt = rt.enter();
            parts.published.store(Arc::new(parts.state.snapshot()));
            let master = Rc::new(Master {
                rt: parts.rt,
                telemetry: parts.telemetry,
                services: parts.services,
                catalogue: parts.catalogue,
                changed: parts.changed,
                options: parts.options,
                node_timeout: parts.node_timeout,
                inbox: parts.inbox,
                published: parts.published,
                state: RefCell::new(parts.state),
                mailbox,
                own,
                calls: Calls::default(),
                ending: Cell::new(false),
            });
            actor::set_current(Some(master.clone() as Rc<dyn Actor>));
            master.serve(None);
            master.drain();
            actor::set_current(None);
            // The node table goes with the master: nodes whose last link this was end.
            drop(master);
            let _ = ended.send(());
        })
}

impl Actor for Master {
    fn open(&self) -> (u64, AnswerTo) {
        let token = self.calls.open();
        let own = self.own.clone();
        let to: AnswerTo = Box::new(move |answer| {
            let _ = own.send(MasterMail::Answer(token, answer));
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

impl Master {
    /// The state, to decide (see [`StateMut`]); never held across a wait, an event or user
    /// code.
    pub(super) fn state(&self) -> StateMut<'_> {
        StateMut {
            state: self.state.borrow_mut(),
            published: &self.published,
        }
    }

    /// Something readers may wait for changed (`wait_for`).
    pub(super) fn bump(&self) {
        self.changed.bump();
    }

    /// Serves the mailbox until call `token` is answered or its `deadline` passes (`None`
    /// then), or, with `until` `None`, until the engine is dropped.
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
                None => {
                    if self.ending.get() {
                        return None;
                    }
                    match self.mailbox.recv() {
                        Ok(mail) => mail,
                        Err(_) => return None,
                    }
                }
            };
            match mail {
                MasterMail::Command { command, to } => self.answer(command, to),
                MasterMail::Answer(token, answer) => {
                    if let Some(answer) = self.calls.arrive(token, answer, until.map(|(t, _)| t)) {
                        return Some(answer);
                    }
                }
                MasterMail::Stop => self.ending.set(true),
            }
        }
    }

    fn answer(&self, command: MasterCommand, to: AnswerTo) {
        let answer = if self.ending.get() {
            Err(EngineError::ShutDown)
        } else {
            self.handle(command)
        };
        to(Answer::Master(answer));
    }

    /// The thread ends: commands still waiting are answered `ShutDown`.
    fn drain(&self) {
        while let Ok(mail) = self.mailbox.try_recv() {
            if let MasterMail::Command { to, .. } = mail {
                to(Answer::Master(Err(EngineError::ShutDown)));
            }
        }
    }

    fn handle(&self, command: MasterCommand) -> MasterAnswer {
        let answer = match command {
            MasterCommand::StartScenario {
                scenario,
                rate,
                config,
            } => self
                .start_scenario(scenario, rate, config)
                .map(|()| Done::Nothing),
            MasterCommand::SetUserRate(rate) => self.set_user_rate(rate).map(|()| Done::Nothing),
            MasterCommand::UpdateSettings(settings) => {
                self.update_settings(&settings).map(Done::Changed)
            }
            MasterCommand::AddUsers(count) => self.add_users(count).map(Done::Shares),
            MasterCommand::AddUsersTo(node, count) => {
                self.add_users_to(&node, count).map(Done::Share)
            }
            MasterCommand::RemoveUsers { count, force } => {
                self.remove_users(count, force).map(Done::Removed)
            }
            MasterCommand::AddNode => self.add_node().map(Done::Node),
            MasterCommand::StopNode(node) => self.stop_node(&node).map(|()| Done::Nothing),
            MasterCommand::KillNode(node) => self.kill_node(&node).map(|()| Done::Nothing),
            MasterCommand::Stop => self.stop().map(|()| Done::Nothing),
            MasterCommand::Shutdown => {
                self.shutdown();
                Ok(Done::Nothing)
            }
            MasterCommand::Report(reply) => {
                match reply.report {
                    NodeReport::Down => self.went_down(&reply.node),
                    _ => self.bump(),
                }
                Ok(Done::Nothing)
            }
        };
        self.bump();
        answer
    }
}
