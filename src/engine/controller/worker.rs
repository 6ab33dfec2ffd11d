//! The node's worker: one task per controller that does the node's long work, fed by a
//! bounded mailbox.
//!
//! The controller decides under its status lock and answers at once; what takes time is
//! posted here as [`Work`] and done by this task, in order: spawning an add's users block by
//! block, and a stop's walk over every user. Between two chunks of an add the task takes every
//! message waiting in its mailbox first, so a stop posted during a 10M-user add is seen before
//! the next chunk (and the add ends there: the status is no longer `running`).
//!
//! The mailbox holds [`MAILBOX`] messages. When it is full the command that would post one is
//! refused with [`ControllerError::Busy`](super::ControllerError::Busy): a clear error, never a
//! wait. The task ends when its controller is dropped.

use std::collections::VecDeque;
use std::sync::{Arc, Weak};

use tokio::sync::mpsc;

use crate::telemetry::Key;

use super::super::scenario::ScenarioRun;
use super::super::user::task::RunEnv;
use super::{Chunk, ControllerCore};

/// How many messages a node's mailbox holds.
pub const MAILBOX: usize = 1024;

/// What a node's worker does.
pub(crate) enum Work {
    /// Spawn users `first..=last` of run `env`, in chunks; `halts` is the controller's halt
    /// count when the add was accepted (a halt since ends the add).
    Add(AddJob),
    /// Ask every user to leave (cancel them after the grace period), wait for the last one
    /// out, then run `terminate`.
    Stop,
}

/// One accepted add.
pub(crate) struct AddJob {
    pub(crate) scenario: Key,
    pub(crate) run: Arc<dyn ScenarioRun>,
    pub(crate) env: Arc<RunEnv>,
    pub(crate) first: u64,
    pub(crate) last: u64,
    pub(crate) halts: u64,
    /// The `[amoc, controller, users]` event of this add was emitted.
    pub(crate) announced: bool,
}

/// The sending side of a node's mailbox.
pub(crate) type Mailbox = mpsc::Sender<Work>;

/// A mailbox and the receiving side for [`run`].
pub(crate) fn mailbox() -> (Mailbox, mpsc::Receiver<Work>) {
    mpsc::channel(MAILBOX)
}

/// The worker's loop (see the module docs).
pub(crate) async fn run(core: Weak<ControllerCore>, mut mailbox: mpsc::Receiver<Work>) {
    let mut adds: VecDeque<AddJob> = VecDeque::new();
    loop {
        // Messages first: a stop must not wait behind a chunk.
        let work = if adds.is_empty() {
            match mailbox.recv().await {
                Some(w) => Some(w),
                None => return,
            }
        } else {
            mailbox.try_recv().ok()
        };
        if let Some(work) = work {
            let Some(core) = core.upgrade() else { return };
            match work {
                Work::Add(job) => adds.push_back(job),
                Work::Stop => core.stop_walk(),
            }
            continue;
        }
        let Some(core) = core.upgrade() else { return };
        if let Some(job) = adds.front_mut() {
            if !job.announced {
                job.announced = true;
                core.emit_users(&job.scenario, job.last - job.first + 1, "add");
            }
            match core.spawn_chunk(&job.run, &job.env, job.first, job.last, job.halts) {
                Chunk::Spawned(upto) if upto < job.last => job.first = upto + 1,
                Chunk::Spawned(_) => {
                    adds.pop_front();
                    core.bump();
                }
                Chunk::Interrupted { given_up_from } => {
                    let last = job.last;
                    adds.pop_front();
                    core.users
                        .unexpect(last.checked_sub(given_up_from).map_or(0, |d| d + 1));
                    core.bump();
                }
            }
        }
        drop(core);
        tokio::task::yield_now().await;
    }
}
