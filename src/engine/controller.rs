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

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tokio::runtime::Handle;

use crate::telemetry::{Key, Value};

use super::error::ControllerError;
use super::events::{CONTROLLER_USERS, Emitter};
use super::scenario::{DynScenario, ScenarioRun};
use super::services::Services;
use super::status::{ControllerStatus, RunningInfo, UserCounts};
use super::user::{Outcome, RunEnv, UserContext, UserGuard, UserSlot};
use super::users::Users;

/// Settings of a controller.
#[derive(Debug, Clone)]
pub struct ControllerOptions {
    /// How long a forced removal or a stop waits before cancelling users (Amoc: 2 s).
    pub grace: Duration,
}

impl Default for ControllerOptions {
    fn default() -> Self {
        ControllerOptions {
            grace: Duration::from_secs(2),
        }
    }
}

enum State {
    Idle,
    Disabled,
    Running(Active),
    Terminating { active: Active, finishing: bool },
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
    highest: Mutex<u64>,
    users: Users,
    /// Set (under the state lock) while terminating, so that a user ending inside a
    /// controller call on the same thread does not take the state lock again.
    terminating: AtomicBool,
    changed: tokio::sync::watch::Sender<u64>,
}

/// One node's controller. Cheap to clone; every method is synchronous.
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

const SPAWN_CHUNK: u64 = 4096;

impl Controller {
    /// A controller for `emitter`'s node. Users start through `services`' `user_rate`
    /// throttle and run on `rt`.
    pub fn new(
        rt: Handle,
        emitter: Emitter,
        services: Services,
        options: ControllerOptions,
    ) -> Controller {
        Controller {
            core: Arc::new(ControllerCore {
                rt,
                emitter,
                services,
                options,
                state: Mutex::new(State::Idle),
                highest: Mutex::new(0),
                users: Users::default(),
                terminating: AtomicBool::new(false),
                changed: tokio::sync::watch::Sender::new(0),
            }),
        }
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
            highest_user_id: *self.core.highest(),
            returned: users.ended_with(Outcome::Returned),
            failed: users.ended_with(Outcome::Failed),
            cancelled: users.ended_with(Outcome::Cancelled),
        }
    }

    /// A receiver that changes whenever the status or the user counts change.
    pub fn subscribe(&self) -> tokio::sync::watch::Receiver<u64> {
        self.core.changed.subscribe()
    }

    /// Amoc's `disable/0`: only from idle.
    pub fn disable(&self) -> Result<(), ControllerError> {
        let mut state = self.core.lock();
        match &*state {
            State::Idle => {
                *state = State::Disabled;
                self.core.bump();
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
        let name = scenario.name().clone();
        let result = scenario.init_on(&self.core.emitter, &self.core.services);
        self.core.bump();
        match result {
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
        }
    }

    /// Adds users with ids `start..=end` (Amoc's `add_users/2`).
    pub fn add_users(&self, start: u64, end: u64) -> Result<(), ControllerError> {
        let state = self.core.lock();
        let State::Running(active) = &*state else {
            return Err(ControllerError::InvalidStatus(self.core.describe(&state)));
        };
        let mut highest = self.core.highest();
        if start == 0 || start > end || start <= *highest {
            return Err(ControllerError::InvalidRange {
                start,
                end,
                highest: *highest,
            });
        }
        *highest = end;
        drop(highest);
        let count = end - start + 1;
        self.core.emit_users(&active.name, count, "add");
        let run = active.run.clone();
        let env = active.env.clone();
        drop(state);
        // Users are spawned in chunks, each under the status lock, so status queries are not
        // blocked for long and a stop sees every user spawned so far; ids of chunks not spawned
        // yet when a stop comes are never used.
        let mut first = start;
        while first <= end {
            let state = self.core.lock();
            match &*state {
                State::Running(a) if Arc::ptr_eq(&a.env, &env) => {}
                _ => break,
            }
            let last = end.min(first.saturating_add(SPAWN_CHUNK - 1));
            self.core.users.expect(last - first + 1);
            let mut spawned = Vec::with_capacity((last - first + 1) as usize);
            for id in first..=last {
                let slot = Arc::new(UserSlot::new(id));
                let ctx = UserContext::new(env.clone(), slot.clone());
                let guard = UserGuard::new(env.clone(), slot.clone());
                let abort = run.spawn_user(&self.core.rt, ctx, guard);
                spawned.push((slot, abort));
            }
            self.core.users.insert(spawned);
            drop(state);
            first = match last.checked_add(1) {
                Some(n) => n,
                None => break,
            };
        }
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
        let sel = self.core.users.select(count, force);
        self.core.emit_users(&active.name, sel.picked, "remove");
        drop(state);
        self.core.abort_after_grace(sel.abort_later);
        self.core.bump();
        Ok(sel.picked)
    }

    /// Stops the scenario: every user is asked to leave and cancelled after the grace period;
    /// when none is left, `terminate` runs and the status is `finished`.
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
        self.core.terminating.store(true, Ordering::SeqCst);
        drop(state);
        let sel = self.core.users.select(u64::MAX, true);
        self.core.abort_after_grace(sel.abort_later);
        self.core.bump();
        self.core.maybe_finish();
        Ok(())
    }

    /// Cancels every user at once, without `terminate` (the node was killed or lost its
    /// master). The status is left as it was.
    pub fn halt(&self) {
        self.core.users.abort_all();
        self.core.bump();
    }
}

impl ControllerCore {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn highest(&self) -> MutexGuard<'_, u64> {
        self.highest.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn bump(&self) {
        self.changed.send_modify(|n| *n = n.wrapping_add(1));
    }

    fn describe(&self, state: &State) -> ControllerStatus {
        match state {
            State::Idle => ControllerStatus::Idle,
            State::Disabled => ControllerStatus::Disabled,
            State::Running(a) => ControllerStatus::Running(RunningInfo {
                scenario: a.name.clone(),
                currently_running_users: self.users.running(),
                highest_user_id: *self.highest(),
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

    pub(crate) fn user_ended(&self, slot: &UserSlot, outcome: Outcome) {
        let left = self.users.ended(slot, outcome);
        self.bump();
        if left == 0 {
            self.maybe_finish();
        }
    }

    /// While terminating with no user left: run `terminate` once, then `finished`.
    fn maybe_finish(&self) {
        if !self.terminating.load(Ordering::SeqCst) {
            return;
        }
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
        let mut state = self.lock();
        *state = State::Finished(name);
        self.terminating.store(false, Ordering::SeqCst);
        drop(state);
        self.bump();
    }
}
