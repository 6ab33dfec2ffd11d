//! One node's controller: Amoc's status machine over that node's users.
//!
//! | operation | allowed in | result |
//! |---|---|---|
//! | [`start_scenario`](Controller::start_scenario) | idle, finished, error | runs `init`; `running`, or `error` if `init` fails |
//! | [`add_users`](Controller::add_users) | running | ids `start..=end`, `start > highest`, else `InvalidRange` |
//! | [`remove_users`](Controller::remove_users) | running | number of users picked |
//! | [`stop_scenario`](Controller::stop_scenario) | running | `terminating` until every user ended, then `terminate` runs: `finished` |
//! | [`disable`](Controller::disable) | idle | `disabled` |
//!
//! Anything else is [`ControllerError::InvalidStatus`].
//!
//! Differences from Amoc, on purpose:
//! * **Rerun.** A scenario can start again after `finished` or `error` (Amoc needs
//!   `amoc:reset()`). Ids keep counting from the highest one ever given, so they are never
//!   reused on a node.
//! * **Counters** are exact: a user counts as waiting until it passes `user_rate`, then as
//!   running; a user cancelled while waiting is taken off the waiting count (Amoc's unsigned
//!   counters can wrap there).
//! * **Removal** never picks a user twice and also cancels users still waiting on `user_rate`
//!   (see the `users` module). A stop also cancels waiting users (Amoc leaves them).
//! * **Forced removal** sends the removal signal, then cancels the users still running after
//!   the grace period ([`ControllerOptions::grace`], 2 s by default).
//!
//! Locks: the status lock is held only to decide; `init`, `terminate` and every event run
//! after it is released. What takes time goes to the node's worker (the `worker` module), one
//! task per controller fed by a bounded mailbox: an add answers at once and its users are
//! spawned by the worker, in chunks, checking before each chunk that the run goes on, so a stop
//! (or a halt) interrupts it; a stop's walk over every user is done there too, and the
//! users' "last one out" signal is awaited by a task that then runs `terminate`. A full mailbox
//! refuses the command ([`ControllerError::Busy`]).

mod worker;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tokio::runtime::Handle;
use tokio::sync::watch;

use crate::telemetry::{Key, Value};

use super::error::ControllerError;

use super::events::{CONTROLLER_USERS, Emitter};
use super::scenario::{DynScenario, ScenarioRun};
use super::services::Services;
use super::status::{ControllerStatus, RunningInfo, UserCounts};
use super::user::registry::Users;
use super::user::slot::UserSlot;
use super::user::task::{Outcome, RunEnv};
use worker::{AddJob, Mailbox, Work};

pub use worker::MAILBOX;

/// Settings of a controller.
#[derive(Debug, Clone)]
pub struct ControllerOptions {
    /// How long a forced removal or a stop waits before cancelling users (Amoc: 2 s).
    pub grace: Duration,
    /// Also told of every change (the cluster's watch, for `wait_for`).
    pub(crate) notify: Option<Arc<super::changes::Changes>>,
    /// Threads users run on instead of the controller's runtime (see
    /// [`UserThreads`](crate::engine::UserThreads)).
    pub threads: Option<super::user::UserThreads>,
}

impl Default for ControllerOptions {
    fn default() -> Self {
        ControllerOptions {
            grace: Duration::from_secs(2),
            notify: None,
            threads: None,
        }
    }
}

impl ControllerOptions {
    /// The default options with a grace period of `grace`.
    pub fn with_grace(grace: Duration) -> ControllerOptions {
        ControllerOptions {
            grace,
            ..ControllerOptions::default()
        }
    }
}

enum State {
    Idle,
    Disabled,
    /// `init` runs (outside the lock); reported as the status before it.
    Starting(ControllerStatus),
    Running(Active),
    Terminating {
        active: Active,
        finishing: bool,
    },
    Finished(Key),
    Error(String),
}

struct Active {
    name: Key,
    run: Arc<dyn ScenarioRun>,
    env: Arc<RunEnv>,
}

pub(crate) struct ControllerCore {
    rt: Handle,
    emitter: Emitter,
    services: Services,
    options: ControllerOptions,
    state: Mutex<State>,
    highest: AtomicU64,
    users: Users,
    /// Bumped by [`Controller::halt`]: a running add stops spawning.
    halts: AtomicU64,
    /// The node's worker's mailbox.
    work: Mailbox,
    /// Sent to only while someone subscribed (a user's start or end costs no lock otherwise).
    changed: watch::Sender<u64>,
    /// Bumped on status changes only (not on user counts).
    status_changed: watch::Sender<u64>,
}

/// One node's controller. Cheap to clone; every method is synchronous and returns at once
/// (an add's users are spawned by the node's worker task).
#[derive(Clone)]
pub struct Controller {
    core: Arc<ControllerCore>,
}

impl std::fmt::Debug for Controller {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Controller")
            .field("node", self.core.emitter.node())
            .field("status", &self.status())
            .finish()
    }
}

/// Users spawned per step of an add; the worker yields and reads its mailbox between steps.
const SPAWN_CHUNK: u64 = 4096;

/// What one step of an add did.
enum Chunk {
    /// Users up to this id were spawned and registered.
    Spawned(u64),
    /// The run ended (or the node was halted): ids from `given_up_from` are never used.
    Interrupted { given_up_from: u64 },
}

impl Controller {
    /// A controller for `emitter`'s node. Users start through `services`' `user_rate`
    /// throttle and run on `rt`.
    pub fn new(
        rt: Handle,
        emitter: Emitter,
        services: Services,
        options: ControllerOptions,
    ) -> Controller {
        let (work, mailbox) = worker::mailbox();
        let core = Arc::new(ControllerCore {
            rt,
            emitter,
            services,
            options,
            state: Mutex::new(State::Idle),
            highest: AtomicU64::new(0),
            users: Users::default(),
            halts: AtomicU64::new(0),
            work,
            changed: watch::Sender::new(0),
            status_changed: watch::Sender::new(0),
        });
        core.rt.spawn(worker::run(Arc::downgrade(&core), mailbox));
        Controller { core }
    }

    /// The node's name.
    pub fn node(&self) -> &Key {
        self.core.emitter.node()
    }

    /// The status, as Amoc's `get_status/0`.
    pub fn status(&self) -> ControllerStatus {
        let state = self.core.lock();
        self.core.describe(&state)
    }

    /// Waiting and running users and the highest id.
    pub fn counts(&self) -> UserCounts {
        let users = &self.core.users;
        UserCounts {
            waiting: users.waiting(),
            running: users.running(),
            highest_user_id: self.core.highest(),
            returned: users.ended_with(Outcome::Returned),
            failed: users.ended_with(Outcome::Failed),
            cancelled: users.ended_with(Outcome::Cancelled),
        }
    }

    /// A receiver that changes whenever the status or the user counts change.
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.core.changed.subscribe()
    }

    /// A receiver that changes whenever the status changes (not on every user's start or end).
    pub fn subscribe_status(&self) -> watch::Receiver<u64> {
        self.core.status_changed.subscribe()
    }

    /// Amoc's `disable/0`: only from idle.
    pub fn disable(&self) -> Result<(), ControllerError> {
        let mut state = self.core.lock();
        match &*state {
            State::Idle => {
                *state = State::Disabled;
                drop(state);
                self.core.status_bump();
                Ok(())
            }
            _ => Err(ControllerError::InvalidStatus(self.core.describe(&state))),
        }
    }

    /// Starts `scenario` on this node: runs its `init` (in its span).
    pub fn start_scenario(&self, scenario: &Arc<dyn DynScenario>) -> Result<(), ControllerError> {
        let mut state = self.core.lock();
        match &*state {
            State::Idle | State::Finished(_) | State::Error(_) => {}
            _ => return Err(ControllerError::InvalidStatus(self.core.describe(&state))),
        }
        let before = self.core.describe(&state);
        *state = State::Starting(before);
        drop(state);
        let name = scenario.name().clone();
        let result = scenario.init_on(&self.core.emitter, &self.core.services);
        let mut state = self.core.lock();
        let outcome = match result {
            Ok(run) => {
                let env = Arc::new(RunEnv {
                    emitter: self.core.emitter.clone(),
                    scenario: name.clone(),
                    state: run.state_value().clone(),
                    services: self.core.services.clone(),
                    controller: Arc::downgrade(&self.core),
                });
                *state = State::Running(Active { name, run, env });
                Ok(())
            }
            Err(reason) => {
                *state = State::Error(format!("{name}: {reason}"));
                Err(ControllerError::InitFailed {
                    scenario: name,
                    reason,
                })
            }
        };
        drop(state);
        self.core.status_bump();
        outcome
    }

    /// Adds users with ids `start..=end` (Amoc's `add_users/2`). Returns at once: they count
    /// as waiting from now on and are spawned by the node's worker, in chunks; a stop or a halt
    /// before the last chunk ends the add there (ids not spawned are never used). With the
    /// worker's mailbox full the add is refused ([`ControllerError::Busy`]).
    pub fn add_users(&self, start: u64, end: u64) -> Result<(), ControllerError> {
        let state = self.core.lock();
        let State::Running(active) = &*state else {
            return Err(ControllerError::InvalidStatus(self.core.describe(&state)));
        };
        let highest = self.core.highest();
        if start == 0 || start > end || start <= highest {
            return Err(ControllerError::InvalidRange {
                start,
                end,
                highest,
            });
        }
        let job = AddJob {
            scenario: active.name.clone(),
            run: active.run.clone(),
            env: active.env.clone(),
            first: start,
            last: end,
            halts: self.core.halts.load(Ordering::SeqCst),
            announced: false,
        };
        // Posted under the status lock: the worker cannot take the job (it locks the status
        // before a chunk) before the users are counted.
        self.core.post(Work::Add(job))?;
        self.core.highest.store(end, Ordering::SeqCst);
        self.core.users.expect(end - start + 1);
        drop(state);
        self.core.bump();
        Ok(())
    }

    /// Picks up to `count` users and asks them to leave; with `force`, cancels those still
    /// running after the grace period. Returns how many were picked.
    pub fn remove_users(&self, count: u64, force: bool) -> Result<u64, ControllerError> {
        let state = self.core.lock();
        let State::Running(active) = &*state else {
            return Err(ControllerError::InvalidStatus(self.core.describe(&state)));
        };
        let name = active.name.clone();
        let sel = self.core.users.select(count, force);
        drop(state);
        self.core.emit_users(&name, sel.picked, "remove");
        self.core.abort_after_grace(sel.abort_later);
        self.core.bump();
        Ok(sel.picked)
    }

    /// Stops the scenario: the status is `terminating` at once; every user is asked to leave
    /// (by a task) and cancelled after the grace period; when none is left (the users' "last
    /// one out" signal), `terminate` runs and the status is `finished`.
    pub fn stop_scenario(&self) -> Result<(), ControllerError> {
        let mut state = self.core.lock();
        let old = std::mem::replace(&mut *state, State::Idle);
        let active = match old {
            State::Running(active) => active,
            other => {
                *state = other;
                return Err(ControllerError::InvalidStatus(self.core.describe(&state)));
            }
        };
        *state = State::Terminating {
            active,
            finishing: false,
        };
        drop(state);
        self.core.status_bump();
        if self.core.users.live() == 0 {
            self.core.finish();
        } else if self.core.post(Work::Stop).is_err() {
            // Asking every user to leave walks them all: the worker does it, so the stop
            // answers at once however many users there are. A stop is never refused: with the
            // mailbox full, a task of its own does the walk.
            let core = self.core.clone();
            self.core.rt.spawn(async move { core.stop_walk() });
        }
        Ok(())
    }

    /// Cancels every user at once, without `terminate` (the node was killed or lost its
    /// master), and ends a running add. The status is left as it was.
    pub fn halt(&self) {
        self.core.halts.fetch_add(1, Ordering::SeqCst);
        self.core.users.abort_all();
        self.core.bump();
    }
}

impl ControllerCore {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn highest(&self) -> u64 {
        self.highest.load(Ordering::SeqCst)
    }

    fn status_bump(&self) {
        self.status_changed.send_modify(|n| *n = n.wrapping_add(1));
        self.bump();
    }

    fn bump(&self) {
        if self.changed.receiver_count() > 0 {
            self.changed.send_modify(|n| *n = n.wrapping_add(1));
        }
        if let Some(n) = &self.options.notify {
            n.bump();
        }
    }

    /// Posts `work` to the node's worker; a full mailbox is [`ControllerError::Busy`]. With
    /// the worker gone (its runtime shut down) the work is dropped, as a task spawned on that
    /// runtime would be: nothing can run there any more.
    fn post(&self, work: Work) -> Result<(), ControllerError> {
        match self.work.try_send(work) {
            Ok(()) | Err(tokio::sync::mpsc::error::TrySendError::Closed(_)) => Ok(()),
            Err(tokio::sync::mpsc::error::TrySendError::Full(_)) => Err(ControllerError::Busy {
                node: self.emitter.node().clone(),
                capacity: MAILBOX,
            }),
        }
    }

    /// A stop's walk (in the worker): every user is asked to leave (no user can be added
    /// meanwhile, the status is `terminating`, so the walk sees every one), running ones are
    /// cancelled after the grace period; a task awaits the last one out and runs `terminate`.
    fn stop_walk(self: &Arc<Self>) {
        let sel = self.users.select_all();
        self.abort_after_grace(sel.abort_later);
        self.bump();
        let core = self.clone();
        self.rt.spawn(async move {
            core.users.all_out().await;
            core.users.clear_leaving();
            core.finish();
        });
    }

    fn describe(&self, state: &State) -> ControllerStatus {
        match state {
            State::Idle => ControllerStatus::Idle,
            State::Disabled => ControllerStatus::Disabled,
            State::Starting(before) => before.clone(),
            State::Running(a) => ControllerStatus::Running(RunningInfo {
                scenario: a.name.clone(),
                currently_running_users: self.users.running(),
                highest_user_id: self.highest(),
            }),
            State::Terminating { active, .. } => ControllerStatus::Terminating(active.name.clone()),
            State::Finished(n) => ControllerStatus::Finished(n.clone()),
            State::Error(r) => ControllerStatus::Error(r.clone()),
        }
    }

    fn emit_users(&self, scenario: &Key, count: u64, kind: &'static str) {
        self.emitter.emit(
            &CONTROLLER_USERS,
            &[(
                Key::new_static("count"),
                Value::Int(i64::try_from(count).unwrap_or(i64::MAX)),
            )],
            &[
                (Key::new_static("scenario"), Value::Str(scenario.clone())),
                (Key::new_static("type"), Value::atom(kind)),
            ],
        );
    }

    /// Whether the add's run still goes on (`state` is the locked status).
    fn goes_on(&self, state: &State, env: &Arc<RunEnv>, halts: u64) -> bool {
        matches!(state, State::Running(a) if Arc::ptr_eq(&a.env, env))
            && self.halts.load(Ordering::SeqCst) == halts
    }

    fn spawn_chunk(
        &self,
        run: &Arc<dyn ScenarioRun>,
        env: &Arc<RunEnv>,
        first: u64,
        end: u64,
        halts: u64,
    ) -> Chunk {
        if !self.goes_on(&self.lock(), env, halts) {
            return Chunk::Interrupted {
                given_up_from: first,
            };
        }
        let last = end.min(first.saturating_add(SPAWN_CHUNK - 1));
        let mut spawned = Vec::with_capacity(usize::try_from(last - first + 1).unwrap_or(0));
        for id in first..=last {
            let slot = Arc::new(UserSlot::new(id));
            let (ctx, guard) = env.user(slot.clone());
            let rt = match &self.options.threads {
                Some(threads) => threads.handle_for(id),
                None => &self.rt,
            };
            spawned.push((slot, run.spawn_user(rt, ctx, guard)));
        }
        let state = self.lock();
        if self.goes_on(&state, env, halts) {
            self.users.insert(spawned);
            drop(state);
            return Chunk::Spawned(last);
        }
        drop(state);
        // A stop or halt came while this chunk was spawned: it did not see these users.
        for (slot, abort) in spawned {
            slot.set(super::user::slot::SELECTED);
            abort.abort();
        }
        Chunk::Interrupted {
            given_up_from: last.saturating_add(1),
        }
    }

    fn abort_after_grace(&self, handles: Vec<tokio::task::AbortHandle>) {
        if handles.is_empty() {
            return;
        }
        let grace = self.options.grace;
        self.rt.spawn(async move {
            tokio::time::sleep(grace).await;
            for h in handles {
                h.abort();
            }
        });
    }

    pub(crate) fn user_started(&self, slot: &UserSlot) -> bool {
        let ok = self.users.started(slot);
        self.bump();
        ok
    }

    /// Counts a user out (from its task's guard). The last one out wakes the stop task;
    /// nothing else runs here.
    pub(crate) fn user_ended(&self, slot: &UserSlot, outcome: Outcome) {
        self.users.ended(slot, outcome);
        self.bump();
    }

    /// While terminating with no user left: run `terminate` once, then `finished`.
    fn finish(&self) {
        let mut state = self.lock();
        let State::Terminating { active, finishing } = &mut *state else {
            return;
        };
        if *finishing || self.users.live() != 0 {
            return;
        }
        *finishing = true;
        let run = active.run.clone();
        let name = active.name.clone();
        drop(state);
        run.terminate_on(&self.emitter);
        *self.lock() = State::Finished(name);
        self.status_bump();
    }
}
