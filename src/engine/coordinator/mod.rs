//! Coordinators: groups of users that act together (Amoc's `amoc_coordinator`).
//!
//! A coordinator is started under a name with a [`Plan`]; users [`add`](Coordinators::add)
//! themselves with some data, and every time an item's group is full its actions run with the
//! batch (pairs that chat, rooms of ten). What is left over is handed to the actions on
//! [`reset`](Coordinators::reset), on timeout (the given time after the last add, once) and on
//! [`stop`](Coordinators::stop).
//!
//! ```
//! use rookery::engine::coordinator::{Action, Coordinators, Plan, Size};
//! use rookery::engine::events::Emitter;
//! use rookery::telemetry::{Telemetry, Value};
//! use std::sync::{Arc, Mutex};
//!
//! let coordinators: Coordinators = Coordinators::new(Emitter::new(Telemetry::new(), "master"));
//! let pairs = Arc::new(Mutex::new(Vec::new()));
//! let p = pairs.clone();
//! let plan = Plan::new()
//!     .item(2, Action::pairs(move |_ev, a, b| {
//!         p.lock().unwrap().push((a.map(|m| m.user), b.map(|m| m.user)));
//!     }))
//!     .item(Size::All, Action::event(|ev| println!("{} with {}", ev.kind, ev.count)));
//! coordinators.start("chat", plan, None).unwrap(); // None: no timeout
//! for user in 1..=5 {
//!     coordinators.add("chat", user, Value::from(format!("user{user}"))).unwrap();
//! }
//! coordinators.stop("chat").unwrap();
//! assert_eq!(*pairs.lock().unwrap(), [(Some(1), Some(2)), (Some(3), Some(4)), (Some(5), None)]);
//! ```
//!
//! ## Differences from Amoc
//! - **Cluster-wide.** One [`Coordinators`] registry serves the whole simulated cluster: the
//!   engine hands the same (cloned) registry to the users of every node, so users on different
//!   nodes meet in one group. Amoc's coordinators are local to the node that started them.
//! - **Ranges include both ends**: `min..=max` draws uniformly from `min` to `max`, as Amoc's
//!   documentation promises; Amoc's code draws from `[min, max - 1]`. `min == max` is allowed.
//! - Starting a running name is an error ([`CoordinatorError::AlreadyStarted`]; Amoc silently
//!   replaces it); a stopped name may be started again. Adding to an unknown or stopped name, or
//!   resetting or stopping one, is an error value; rejected adds emit no `add` event.
//! - `[amoc, coordinator, execute]` carries `name` as well as `event` and `configured`.
//! - Batches are handed over in arrival order (Amoc: newest first); pairs `(a, b)` have `a`
//!   added before `b`.
//! - A `coordinate` batch runs its actions on the thread of the user whose add completed it,
//!   outside any lock, so actions of different batches may run at the same time and must be
//!   `Sync`. Reset, timeout and stop run every item in plan order, one at a time (`all` items
//!   last); the timeout runs on the Tokio runtime the coordinator was started on. An action
//!   must not reset or stop its own coordinator (that would wait for itself).
//! - An add racing with `stop` may be taken by the items drained after it and refused by the
//!   others (it then returns [`CoordinatorError::Stopped`]); nothing is delivered twice.
//!
//! Panicking actions are caught (and logged); the coordinator goes on.

mod error;
mod info;
mod instance;
mod item;
mod plan;
mod timer;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use arc_swap::ArcSwap;
use rustc_hash::FxHashMap;
use smol_str::SmolStr;

pub use error::CoordinatorError;
pub use info::{CoordinatorInfo, ExecuteCounts, ExecuteTotals, ItemInfo};
pub use plan::{
    Action, Actions, BatchFn, Event, EventFn, EventKind, Member, PairFn, Plan, PlanError, PlanItem,
    Size, UserId,
};

use crate::engine::events::Emitter;
use crate::telemetry::Value;
use instance::Coordinator;

/// Amoc's default coordinator timeout (30 s).
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

type Map<D> = FxHashMap<SmolStr, Arc<Coordinator<D>>>;

struct Registry<D> {
    emitter: Emitter,
    /// Set on a real cluster's worker: the master owns the coordinators (see [`Forward`]).
    forward: Option<Arc<dyn Forward<D>>>,
    map: ArcSwap<Map<D>>,
    /// Serialises `start`s (the map is copied on write; adds read it without locking).
    write: Mutex<()>,
    seed: AtomicU64,
}

/// The registry of named coordinators, shared by every node's users (clone it freely).
///
/// `D` is the data users attach to an add; the default, [`Value`], carries strings, numbers,
/// lists and maps. Use your own type (for example a channel sender, or
/// `Arc<dyn Any + Send + Sync>`) with a registry of your own.
pub struct Coordinators<D = Value> {
    inner: Arc<Registry<D>>,
}

impl<D> Clone for Coordinators<D> {
    fn clone(&self) -> Self {
        Coordinators {
            inner: self.inner.clone(),
        }
    }
}

/// One coordinator, looked up once: adds through it skip the name lookup.
pub struct CoordinatorHandle<D = Value> {
    coordinator: Arc<Coordinator<D>>,
    forward: Option<Arc<dyn Forward<D>>>,
}

impl<D> Clone for CoordinatorHandle<D> {
    fn clone(&self) -> Self {
        CoordinatorHandle {
            coordinator: self.coordinator.clone(),
            forward: self.forward.clone(),
        }
    }
}

/// Where a forwarding registry sends its coordinators and adds: on a real cluster's worker the
/// master owns every coordinator (it runs the plans, emits the coordinator events once, and
/// hands each batch back to the nodes of its members, which run the plan's actions with
/// [`Coordinators::run_batch`]).
pub(crate) trait Forward<D>: Send + Sync {
    /// Coordinator `name` was started on this node with items of these sizes (in normalised
    /// order: item `i` here is item `i` of the batches handed back) and this timeout.
    fn started(&self, name: &str, sizes: Vec<Size>, timeout: Option<Duration>);
    /// A user of this node added itself to coordinator `name`.
    fn add(&self, name: &str, user: UserId, data: D);
    /// A scenario on this node reset coordinator `name` (the owner resets its copy).
    fn reset(&self, name: &str);
    /// A scenario on this node stopped coordinator `name` (the owner stops its copy).
    fn stop(&self, name: &str);
}

fn seed() -> u64 {
    crate::telemetry::system_time() as u64 ^ crate::telemetry::monotonic_time() as u64
}

impl<D: Clone + Send + Sync + 'static> Coordinators<D> {
    /// An empty registry reporting through `emitter` (the master node's).
    pub fn new(emitter: Emitter) -> Coordinators<D> {
        Self::with_forward(emitter, None)
    }

    /// A registry whose coordinators are owned elsewhere (a real cluster's master): `start`
    /// keeps the plan here (its actions run here on the batches handed back) and tells
    /// `forward`; `add` goes to `forward`; the local copies emit no events.
    pub(crate) fn forwarding(node: &Emitter, forward: Arc<dyn Forward<D>>) -> Coordinators<D> {
        let silent = Emitter::new(crate::telemetry::Telemetry::new(), node.node().clone());
        Self::with_forward(silent, Some(forward))
    }

    fn with_forward(emitter: Emitter, forward: Option<Arc<dyn Forward<D>>>) -> Coordinators<D> {
        Coordinators {
            inner: Arc::new(Registry {
                emitter,
                forward,
                map: ArcSwap::from_pointee(Map::default()),
                write: Mutex::new(()),
                seed: AtomicU64::new(seed()),
            }),
        }
    }

    /// Starts coordinator `name` with `plan`. `timeout`: the time after the last add at which
    /// the leftovers are handed over, or `None` for never (Amoc's `infinity`); Amoc's default
    /// is [`DEFAULT_TIMEOUT`] (see [`start_default`](Self::start_default)). With a timeout this
    /// must be called inside a Tokio runtime. Emits `[amoc, coordinator, start]`.
    pub fn start(
        &self,
        name: impl Into<SmolStr>,
        plan: Plan<D>,
        timeout: Option<Duration>,
    ) -> Result<(), CoordinatorError> {
        let name = name.into();
        let plan = plan
            .normalise()
            .map_err(|reason| CoordinatorError::BadPlan {
                name: name.to_string(),
                reason,
            })?;
        let _w = self.inner.write.lock().unwrap_or_else(|e| e.into_inner());
        let current = self.inner.map.load_full();
        if current.get(&name).is_some_and(|c| c.is_running()) {
            return Err(CoordinatorError::AlreadyStarted {
                name: name.to_string(),
            });
        }
        let seed = self
            .inner
            .seed
            .fetch_add(0x5851_F42D_4C95_7F2D, Ordering::Relaxed);
        let sizes: Vec<Size> = plan.items().iter().map(PlanItem::size).collect();
        // Forwarding: the owner keeps the time; the local copy only holds the actions.
        let local_timeout = if self.inner.forward.is_some() {
            None
        } else {
            timeout
        };
        let c = Coordinator::start(
            name.clone(),
            self.inner.emitter.clone(),
            plan,
            local_timeout,
            seed,
        )?;
        let mut next = Map::clone(&current);
        next.insert(name.clone(), c.clone());
        self.inner.map.store(Arc::new(next));
        drop(_w);
        c.announce();
        if let Some(f) = &self.inner.forward {
            f.started(&name, sizes, timeout);
        }
        Ok(())
    }

    /// [`start`](Self::start) with Amoc's default timeout of 30 s.
    pub fn start_default(
        &self,
        name: impl Into<SmolStr>,
        plan: Plan<D>,
    ) -> Result<(), CoordinatorError> {
        self.start(name, plan, Some(DEFAULT_TIMEOUT))
    }

    fn get(&self, name: &str) -> Result<Arc<Coordinator<D>>, CoordinatorError> {
        self.inner
            .map
            .load()
            .get(name)
            .cloned()
            .ok_or_else(|| CoordinatorError::Unknown {
                name: name.to_owned(),
            })
    }

    /// A handle to coordinator `name` (running or stopped) for repeated adds.
    pub fn handle(&self, name: &str) -> Result<CoordinatorHandle<D>, CoordinatorError> {
        Ok(CoordinatorHandle {
            coordinator: self.get(name)?,
            forward: self.inner.forward.clone(),
        })
    }

    /// Adds `user` with `data` to coordinator `name`; runs any batch this add completes (on
    /// this thread). Emits `[amoc, coordinator, add]` and, per full batch, `execute`.
    pub fn add(&self, name: &str, user: UserId, data: D) -> Result<(), CoordinatorError> {
        let map = self.inner.map.load();
        match map.get(name) {
            Some(c) => add_to(c, self.inner.forward.as_ref(), user, data),
            None => Err(CoordinatorError::Unknown {
                name: name.to_owned(),
            }),
        }
    }

    /// Runs item `item` of coordinator `name`'s actions on a batch its owner decided (a real
    /// cluster's master hands batches back to the nodes of their members); emits nothing (the
    /// owner emitted `execute`). An unknown name or item is an error.
    pub(crate) fn run_batch(
        &self,
        name: &str,
        item: usize,
        event: Event,
        members: Vec<Member<D>>,
    ) -> Result<(), CoordinatorError> {
        self.get(name)?.run_batch(item, event, members)
    }

    /// Hands every item what it holds with event `reset` and disarms the timeout. On a real
    /// cluster's worker the master's coordinator is reset (the cluster-wide one).
    pub fn reset(&self, name: &str) -> Result<(), CoordinatorError> {
        reset_at(&*self.get(name)?, self.inner.forward.as_ref())
    }

    /// Hands every item what it holds with event `stop` and refuses further adds. The
    /// coordinator stays listed (not running) and its name may be started again. On a real
    /// cluster's worker the master's coordinator is stopped (the cluster-wide one), and this
    /// worker's copy refuses adds from now on.
    pub fn stop(&self, name: &str) -> Result<(), CoordinatorError> {
        stop_at(&*self.get(name)?, self.inner.forward.as_ref())
    }

    /// Takes the held users that `gone` picks (their node went down) out of every running
    /// coordinator; returns, per coordinator that held some, its name and their ids.
    pub(crate) fn forget(&self, gone: &dyn Fn(UserId) -> bool) -> Vec<(String, Vec<UserId>)> {
        let map = self.inner.map.load_full();
        let mut out: Vec<(String, Vec<UserId>)> = map
            .values()
            .filter(|c| c.is_running())
            .map(|c| (c.name().to_owned(), c.forget(gone)))
            .filter(|(_, users)| !users.is_empty())
            .collect();
        out.sort();
        out
    }

    /// Stops every running coordinator (scenario end); returns how many were stopped.
    pub fn stop_all(&self) -> usize {
        let map = self.inner.map.load_full();
        map.values().filter(|c| c.stop().is_ok()).count()
    }

    /// The state and counters of coordinator `name`.
    pub fn info(&self, name: &str) -> Result<CoordinatorInfo, CoordinatorError> {
        Ok(self.get(name)?.info())
    }

    /// Every coordinator started so far (stopped ones included), sorted by name.
    pub fn list(&self) -> Vec<CoordinatorInfo> {
        let map = self.inner.map.load_full();
        let mut out: Vec<_> = map.values().map(|c| c.info()).collect();
        out.sort_by(|a, b| a.name.cmp(&b.name));
        out
    }
}

impl<D: Clone + Send + Sync + 'static> CoordinatorHandle<D> {
    pub fn name(&self) -> &str {
        self.coordinator.name()
    }

    /// See [`Coordinators::add`].
    pub fn add(&self, user: UserId, data: D) -> Result<(), CoordinatorError> {
        add_to(&self.coordinator, self.forward.as_ref(), user, data)
    }

    /// See [`Coordinators::reset`].
    pub fn reset(&self) -> Result<(), CoordinatorError> {
        reset_at(&self.coordinator, self.forward.as_ref())
    }

    /// See [`Coordinators::stop`].
    pub fn stop(&self) -> Result<(), CoordinatorError> {
        stop_at(&self.coordinator, self.forward.as_ref())
    }

    pub fn info(&self) -> CoordinatorInfo {
        self.coordinator.info()
    }
}

/// An add, here or to the owner.
fn add_to<D: Clone + Send + Sync + 'static>(
    c: &Coordinator<D>,
    forward: Option<&Arc<dyn Forward<D>>>,
    user: UserId,
    data: D,
) -> Result<(), CoordinatorError> {
    match forward {
        None => c.add(user, data),
        Some(_) if !c.is_running() => Err(CoordinatorError::Stopped {
            name: c.name().to_owned(),
        }),
        Some(f) => {
            f.add(c.name(), user, data);
            Ok(())
        }
    }
}

/// A reset, here or at the owner.
fn reset_at<D: Clone + Send + Sync + 'static>(
    c: &Coordinator<D>,
    forward: Option<&Arc<dyn Forward<D>>>,
) -> Result<(), CoordinatorError> {
    match forward {
        None => c.reset(),
        Some(_) if !c.is_running() => Err(CoordinatorError::Stopped {
            name: c.name().to_owned(),
        }),
        Some(f) => {
            f.reset(c.name());
            Ok(())
        }
    }
}

/// A stop, here or at the owner (the local copy then only refuses adds).
fn stop_at<D: Clone + Send + Sync + 'static>(
    c: &Coordinator<D>,
    forward: Option<&Arc<dyn Forward<D>>>,
) -> Result<(), CoordinatorError> {
    match forward {
        None => c.stop(),
        Some(f) => {
            if !c.mark_stopped() {
                return Err(CoordinatorError::Stopped {
                    name: c.name().to_owned(),
                });
            }
            f.stop(c.name());
            Ok(())
        }
    }
}

/// The operations a control handle or monitor needs, independent of the data type, so
/// registries of different `D` can sit behind one `dyn CoordinatorControl`.
pub trait CoordinatorControl: Send + Sync {
    fn reset(&self, name: &str) -> Result<(), CoordinatorError>;
    fn stop(&self, name: &str) -> Result<(), CoordinatorError>;
    fn list(&self) -> Vec<CoordinatorInfo>;
}

impl<D: Clone + Send + Sync + 'static> CoordinatorControl for Coordinators<D> {
    fn reset(&self, name: &str) -> Result<(), CoordinatorError> {
        Coordinators::reset(self, name)
    }
    fn stop(&self, name: &str) -> Result<(), CoordinatorError> {
        Coordinators::stop(self, name)
    }
    fn list(&self) -> Vec<CoordinatorInfo> {
        Coordinators::list(self)
    }
}
