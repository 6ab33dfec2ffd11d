//! One running coordinator: its items, its timeout and its counters.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use smol_str::SmolStr;
use tokio::task::JoinHandle;

use super::error::CoordinatorError;
use super::info::{CoordinatorInfo, ExecuteCounts, ItemInfo};
use super::item::{Fired, Item, Offer};
use super::plan::{Event, EventKind, Member, Plan, PlanError, UserId};
use super::timer::{self, Timer};
use crate::engine::events::{
    COORDINATOR_ADD, COORDINATOR_EXECUTE, COORDINATOR_RESET, COORDINATOR_START, COORDINATOR_STOP,
    COORDINATOR_TIMEOUT, Emitter,
};
use crate::telemetry::{Key, StaticName, Value};

pub(crate) struct Coordinator<D> {
    name: SmolStr,
    emitter: Emitter,
    /// Normalised order: numbered items, then `all` items.
    items: Box<[Item<D>]>,
    timer: Option<Arc<Timer>>,
    task: Mutex<Option<JoinHandle<()>>>,
    stopped: AtomicBool,
    /// Serialises the decisions of reset, timeout and stop (each drains every item in plan
    /// order); the events and actions run after it is released.
    ops: Mutex<()>,
    adds: AtomicU64,
    resets: AtomicU64,
    timeouts: AtomicU64,
}

impl<D> Drop for Coordinator<D> {
    fn drop(&mut self) {
        if let Some(task) = self.task.get_mut().ok().and_then(Option::take) {
            task.abort();
        }
    }
}

impl<D: Clone + Send + Sync + 'static> Coordinator<D> {
    /// Builds the coordinator and, with a timeout, spawns its timer task on the current
    /// runtime. `plan` must be normalised.
    pub fn start(
        name: SmolStr,
        emitter: Emitter,
        plan: Plan<D>,
        timeout: Option<Duration>,
        seed: u64,
    ) -> Result<Arc<Coordinator<D>>, CoordinatorError> {
        let runtime = match timeout {
            Some(t) if t.is_zero() => {
                return Err(CoordinatorError::ZeroTimeout {
                    name: name.to_string(),
                });
            }
            Some(_) => Some(tokio::runtime::Handle::try_current().map_err(|_| {
                CoordinatorError::NoRuntime {
                    name: name.to_string(),
                }
            })?),
            None => None,
        };
        let items = plan
            .into_items()
            .into_iter()
            .enumerate()
            .map(|(i, it)| {
                let (size, actions) = it.into_parts();
                Item::new(size, actions, seed.wrapping_add(i as u64))
            })
            .collect();
        let timer = timeout.map(|t| Arc::new(Timer::new(t)));
        let c = Arc::new(Coordinator {
            name,
            emitter,
            items,
            timer: timer.clone(),
            task: Mutex::new(None),
            stopped: AtomicBool::new(false),
            ops: Mutex::new(()),
            adds: AtomicU64::new(0),
            resets: AtomicU64::new(0),
            timeouts: AtomicU64::new(0),
        });
        if let (Some(rt), Some(timer)) = (runtime, timer) {
            let task = rt.spawn(timer::run(
                timer,
                Arc::downgrade(&c),
                |c: &Coordinator<D>, epoch| c.fire_timeout(epoch),
            ));
            *c.task.lock().unwrap_or_else(|e| e.into_inner()) = Some(task);
        }
        Ok(c)
    }

    /// Emits `[amoc, coordinator, start]` (the registry does, once it released its lock).
    pub(crate) fn announce(&self) {
        self.notify(&COORDINATOR_START);
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn is_running(&self) -> bool {
        !self.stopped.load(Ordering::Acquire)
    }

    fn stopped_error(&self) -> CoordinatorError {
        CoordinatorError::Stopped {
            name: self.name.to_string(),
        }
    }

    fn name_field(&self) -> (Key, Value) {
        (Key::new_static("name"), Value::Str(self.name.clone()))
    }

    fn notify(&self, event: &StaticName) {
        self.emitter
            .emit(event, &crate::fields! {"count" => 1}, &[self.name_field()]);
    }

    fn ops(&self) -> std::sync::MutexGuard<'_, ()> {
        self.ops.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Adds a user to every item; completes and runs any batch this add fills.
    pub fn add(&self, user: UserId, data: D) -> Result<(), CoordinatorError> {
        if !self.is_running() {
            return Err(self.stopped_error());
        }
        self.notify(&COORDINATOR_ADD);
        self.adds.fetch_add(1, Ordering::Relaxed);
        let mut closed = false;
        for item in self.items.iter() {
            match item.offer(user, || data.clone()) {
                Offer::Held => {}
                Offer::Fire(fired) => self.execute(item, &fired),
                Offer::Closed => closed = true,
            }
        }
        if closed {
            return Err(self.stopped_error());
        }
        if let Some(t) = &self.timer {
            t.touch();
        }
        Ok(())
    }

    fn execute(&self, item: &Item<D>, fired: &Fired<D>) {
        let md = [
            (
                Key::new_static("event"),
                Value::atom(fired.event.kind.as_str()),
            ),
            self.name_field(),
            (
                Key::new_static("configured"),
                item.size.configured(fired.configured),
            ),
        ];
        self.emitter.emit(
            &COORDINATOR_EXECUTE,
            &crate::fields! {"count" => fired.event.count},
            &md,
        );
        item.run(fired, &self.name);
    }

    /// Drains every item, in plan order (under the ops lock).
    fn drain_all(&self, kind: EventKind) -> Vec<Fired<D>> {
        self.items
            .iter()
            .map(|item| item.drain(kind, kind == EventKind::Stop))
            .collect()
    }

    /// Runs every item with what was drained from it (no lock held).
    fn run_all(&self, fired: Vec<Fired<D>>) {
        for (item, fired) in self.items.iter().zip(fired) {
            self.execute(item, &fired);
        }
    }

    pub fn reset(&self) -> Result<(), CoordinatorError> {
        let fired = {
            let _g = self.ops();
            if !self.is_running() {
                return Err(self.stopped_error());
            }
            if let Some(t) = &self.timer {
                t.disarm();
            }
            self.resets.fetch_add(1, Ordering::Relaxed);
            self.drain_all(EventKind::Reset)
        };
        self.notify(&COORDINATOR_RESET);
        self.run_all(fired);
        Ok(())
    }

    /// The timeout, decided in `epoch`: dropped if a reset came in between.
    fn fire_timeout(&self, epoch: u64) {
        let fired = {
            let _g = self.ops();
            if !self.is_running() || self.timer.as_ref().is_some_and(|t| t.epoch() != epoch) {
                return;
            }
            self.timeouts.fetch_add(1, Ordering::Relaxed);
            self.drain_all(EventKind::Timeout)
        };
        self.notify(&COORDINATOR_TIMEOUT);
        self.run_all(fired);
    }

    pub fn stop(&self) -> Result<(), CoordinatorError> {
        let fired = {
            let _g = self.ops();
            if self.stopped.swap(true, Ordering::AcqRel) {
                return Err(self.stopped_error());
            }
            if let Some(task) = self.task.lock().unwrap_or_else(|e| e.into_inner()).take() {
                task.abort();
            }
            self.drain_all(EventKind::Stop)
        };
        self.run_all(fired);
        self.notify(&COORDINATOR_STOP);
        Ok(())
    }

    /// Takes the held users that `gone` picks out of every item (under the ops lock, so no
    /// reset, timeout or stop drains meanwhile); returns their ids, each once, sorted.
    pub(crate) fn forget(&self, gone: &dyn Fn(UserId) -> bool) -> Vec<UserId> {
        let _g = self.ops();
        let mut out: Vec<UserId> = self.items.iter().flat_map(|it| it.forget(gone)).collect();
        out.sort_unstable();
        out.dedup();
        out
    }

    /// Marks a forwarding copy stopped (its owner stops the real one): adds are refused here,
    /// and nothing is drained or run. Returns false when it was stopped already.
    pub(crate) fn mark_stopped(&self) -> bool {
        let _g = self.ops();
        !self.stopped.swap(true, Ordering::AcqRel)
    }

    /// Runs item `index`'s actions on a batch decided by the coordinator's owner elsewhere (no
    /// event: the owner emitted it).
    pub(crate) fn run_batch(
        &self,
        index: usize,
        event: Event,
        members: Vec<Member<D>>,
    ) -> Result<(), CoordinatorError> {
        let item = self
            .items
            .get(index)
            .ok_or_else(|| CoordinatorError::BadPlan {
                name: self.name.to_string(),
                reason: PlanError::NoItem { item: index },
            })?;
        let fired = Fired {
            event,
            configured: 0,
            members: members.into_iter().collect(),
        };
        item.run(&fired, &self.name);
        Ok(())
    }

    pub fn info(&self) -> CoordinatorInfo {
        let items: Vec<ItemInfo> = self
            .items
            .iter()
            .map(|it| ItemInfo::from_snapshot(it.size, it.snapshot()))
            .collect();
        let mut executes = ExecuteCounts::default();
        for it in &items {
            executes.merge(&it.executes);
        }
        CoordinatorInfo {
            name: self.name.to_string(),
            running: self.is_running(),
            timeout: self.timer.as_ref().map(|t| t.timeout()),
            adds: self.adds.load(Ordering::Relaxed),
            resets: self.resets.load(Ordering::Relaxed),
            timeouts: self.timeouts.load(Ordering::Relaxed),
            executes,
            items,
        }
    }
}
