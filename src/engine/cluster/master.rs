//! The master's own thread, named `master`: it owns the [`ClusterState`] (no lock around it)
//! and serves the master's mailbox, one command at a time, until the engine is dropped.
//!
//! The thread is an actor ([`actor::current`] names it; [`actor::run`] is its life). While a
//! command waits for a node's answer, the thread keeps serving its mailbox: the command that
//! comes may be what the awaited node waits for (a handler in its `init` or `terminate`
//! commanding the master, or another caller's stop of the node that handler waits for), so
//! commands interleave only where one waits for a node, as an async actor's would at an
//! `await`. The state is borrowed
//! only to decide, never while the master waits, emits an event or runs user code, so a
//! command served within another finds it free.

use std::cell::{RefCell, RefMut};
use std::ops::{Deref, DerefMut};
use std::rc::Rc;
use std::sync::Arc;
use std::sync::mpsc::{Receiver, Sender, SyncSender};
use std::thread::JoinHandle;
use std::time::Duration;

use arc_swap::ArcSwap;
use tokio::runtime::Handle;

use crate::telemetry::Telemetry;

use super::super::actor::{self, Answer, AnswerTo, Mail, Mailbox, Serves};
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

impl Mail for MasterMail {
    fn answer(token: u64, answer: Answer) -> MasterMail {
        MasterMail::Answer(token, answer)
    }

    fn into_answer(self) -> Result<(u64, Answer), MasterMail> {
        match self {
            MasterMail::Answer(token, answer) => Ok((token, answer)),
            mail => Err(mail),
        }
    }
}

/// What the master works with besides its state (shared with the engine's front).
pub(super) struct Tools {
    pub(super) rt: Handle,
    pub(super) telemetry: Telemetry,
    pub(super) services: Services,
    pub(super) catalogue: Catalogue,
    pub(super) changed: Arc<Changes>,
    pub(super) options: ControllerOptions,
    /// How long the master waits for a node's answer.
    pub(super) node_timeout: Duration,
    pub(super) inbox: Inbox,
}

/// What the master is built from.
pub(super) struct Parts {
    pub(super) tools: Tools,
    pub(super) published: Arc<ArcSwap<Snapshot>>,
    pub(super) state: ClusterState,
}

/// The master: what its thread owns. Not `Sync`: only that thread touches it.
pub(super) struct Master {
    pub(super) tools: Tools,
    published: Arc<ArcSwap<Snapshot>>,
    state: RefCell<ClusterState>,
    mailbox: Mailbox<MasterMail>,
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
            let rt = parts.tools.rt.clone();
            let _rt = rt.enter();
            parts.published.store(Arc::new(parts.state.snapshot()));
            let master = Rc::new(Master {
                tools: parts.tools,
                published: parts.published,
                state: RefCell::new(parts.state),
                mailbox: Mailbox::new(mailbox, own),
            });
            actor::run(&master);
            // The node table goes with the master: nodes whose last link this was end.
            drop(master);
            let _ = ended.send(());
        })
}

impl Serves for Master {
    type Mail = MasterMail;

    fn mailbox(&self) -> &Mailbox<MasterMail> {
        &self.mailbox
    }

    fn handle(&self, mail: MasterMail) {
        match mail {
            MasterMail::Command { command, to } => {
                let answer = if self.mailbox.is_ending() {
                    Err(EngineError::ShutDown)
                } else {
                    self.handle_command(command)
                };
                to(Answer::Master(answer));
            }
            // Answers are the mailbox's.
            MasterMail::Answer(..) => {}
            MasterMail::Stop => self.mailbox.end(),
        }
    }

    /// The thread ends: commands still waiting are answered `ShutDown`.
    fn left_over(&self, mail: MasterMail) {
        if let MasterMail::Command { to, .. } = mail {
            to(Answer::Master(Err(EngineError::ShutDown)));
        }
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
        self.tools.changed.bump();
    }

    fn handle_command(&self, command: MasterCommand) -> MasterAnswer {
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
