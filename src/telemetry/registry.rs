//! The handler registry: attach, detach, list, persist.
//!
//! Writes are serialised by one mutex (Erlang's single `telemetry_handler_table` gen_server) and
//! publish an immutable [`Snapshot`]: for every event name interned so far, the handlers to
//! call, in attach order. Readers never lock (see `dispatch.rs`). A snapshot is rebuilt on every
//! write, and by a dispatch that meets a name newer than the snapshot while prefix handlers
//! exist ([`Telemetry::refresh`]), so prefix handlers see names that did not exist when they
//! were attached. Names know nothing of registries.

use std::sync::atomic::{AtomicPtr, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};

use rustc_hash::FxHashSet;
use smol_str::SmolStr;

use super::epoch;
use super::name::validate_prefix;
use super::{EventName, Field, TelemetryError, Value};

/// A handler: called with the event name, measurements, metadata and the handler's config.
pub type HandlerFn = dyn Fn(EventName, &[Field], &[Field], &Value) + Send + Sync;

/// The id a handler is attached and detached by; unique within a registry.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct HandlerId(pub SmolStr);

impl From<&str> for HandlerId {
    fn from(s: &str) -> Self {
        HandlerId(SmolStr::new(s))
    }
}
impl From<String> for HandlerId {
    fn from(s: String) -> Self {
        HandlerId(SmolStr::from(s))
    }
}
impl From<&String> for HandlerId {
    fn from(s: &String) -> Self {
        HandlerId(SmolStr::new(s))
    }
}
impl std::fmt::Display for HandlerId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// What one attach call registered.
pub(crate) struct Registration {
    pub(crate) id: HandlerId,
    pub(crate) function: Arc<HandlerFn>,
    pub(crate) config: Value,
    targets: Vec<Target>,
}

#[derive(Clone, Debug)]
enum Target {
    Event(EventName),
    Prefix(Box<[SmolStr]>),
}

impl Target {
    fn matches(&self, name: &EventName) -> bool {
        match self {
            Target::Event(e) => e == name,
            Target::Prefix(p) => name.starts_with(p),
        }
    }
}

/// One entry of [`Telemetry::list_handlers`]: a handler as attached to one event (or prefix).
#[derive(Clone)]
pub struct HandlerInfo {
    pub id: HandlerId,
    /// The event name, or for a prefix attachment the prefix.
    pub event_name: Vec<SmolStr>,
    /// True for an attachment made with [`Telemetry::attach_prefix`] (a Rookery extension).
    pub prefix: bool,
    pub function: Arc<HandlerFn>,
    pub config: Value,
}

impl std::fmt::Debug for HandlerInfo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HandlerInfo")
            .field("id", &self.id)
            .field("event_name", &self.event_name)
            .field("prefix", &self.prefix)
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

/// The handlers of the name that had one id when a snapshot was built.
pub(crate) struct Slot {
    /// [`EventName::serial`] of that name (`u64::MAX`: the id was free).
    pub(crate) serial: u64,
    /// The name is permanent: its id is never another name's.
    permanent: bool,
    pub(crate) handlers: Box<[Arc<Registration>]>,
}

/// The read side: handlers per event id, immutable once published.
pub(crate) struct Snapshot {
    /// Indexed by [`EventName::id`], for every name alive when it was built.
    pub(crate) by_event: Vec<Slot>,
    /// A prefix handler is attached: a newer name may have handlers (rebuild to know).
    pub(crate) has_prefix: bool,
}

/// Event ids below this are summarised in [`Silent`].
const SILENT_IDS: usize = 4096;

/// Which event ids have no handler in the current snapshot, readable with one atomic load and
/// no guard: a dispatch of an event nobody listens to (most engine events, most of the time)
/// returns after it. Rewritten under the writer lock after every publish, one word at a time: a
/// reader racing with a rewrite sees each bit from the old or the new snapshot, as a dispatch
/// racing with an attach sees either. A clear bit only means "look at the snapshot".
pub(crate) struct Silent {
    bits: [AtomicU64; SILENT_IDS / 64],
}

impl Silent {
    fn new() -> Silent {
        Silent {
            bits: [const { AtomicU64::new(0) }; SILENT_IDS / 64],
        }
    }

    /// True when `event` surely has no handler (false: look at the snapshot).
    #[inline]
    pub(crate) fn has_none(&self, event: &EventName) -> bool {
        let id = event.id() as usize;
        id < SILENT_IDS && self.bits[id / 64].load(Ordering::Acquire) & (1 << (id % 64)) != 0
    }

    /// Summarises `snap` (under the writer lock). An id newer than the snapshot has no
    /// handler either unless prefix handlers exist (they may want it: the dispatch looks).
    /// Only a permanent name's id is summarised: a scoped name's id may be another name's
    /// later, which the dispatch tells by its serial.
    fn update(&self, snap: &Snapshot) {
        for (w, word) in self.bits.iter().enumerate() {
            let mut bits = 0u64;
            for b in 0..64 {
                let none = match snap.by_event.get(w * 64 + b) {
                    Some(slot) => slot.permanent && slot.handlers.is_empty(),
                    None => !snap.has_prefix,
                };
                if none {
                    bits |= 1 << b;
                }
            }
            word.store(bits, Ordering::Release);
        }
    }
}

pub(crate) struct Inner {
    /// Unique per registry (its `Debug` name).
    pub(crate) uid: u64,
    /// [`epoch::registry_tag`] of `uid`: what a dispatch on this registry publishes.
    pub(crate) reclaim_tag: u64,
    /// Event ids with no handler (see [`Silent`]).
    pub(crate) silent: Silent,
    /// The snapshot dispatches read: an `Arc` turned into a pointer (this field holds one
    /// count), read under an [`epoch::pin`] and replaced only under the writer lock.
    pub(crate) current: AtomicPtr<Snapshot>,
    /// Set by `persist`: a leaked snapshot read without reference counting.
    pub(crate) persisted: AtomicPtr<Snapshot>,
    writer: Mutex<Writer>,
}

#[derive(Default)]
struct Writer {
    registrations: Vec<Arc<Registration>>,
    ids: FxHashSet<HandlerId>,
    has_prefix: bool,
    /// Snapshots replaced after `persist`; readers may still hold plain references to them.
    retired: Vec<Arc<Snapshot>>,
}

/// A telemetry registry. [`Telemetry::global`] is the process-wide one behind the free
/// functions of this module; separate instances keep independent handler tables (tests, and
/// several engines in one process).
#[derive(Clone)]
pub struct Telemetry(pub(crate) Arc<Inner>);

impl Default for Telemetry {
    fn default() -> Self {
        Self::new()
    }
}

impl std::fmt::Debug for Telemetry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Telemetry#{}", self.0.uid)
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Telemetry {
    /// A new, empty registry.
    pub fn new() -> Telemetry {
        static NEXT_UID: AtomicU64 = AtomicU64::new(1);
        let uid = NEXT_UID.fetch_add(1, Ordering::Relaxed);
        let inner = Arc::new(Inner {
            uid,
            reclaim_tag: epoch::registry_tag(uid),
            silent: Silent::new(),
            current: AtomicPtr::new(
                Arc::into_raw(Arc::new(Snapshot {
                    by_event: Vec::new(),
                    has_prefix: false,
                }))
                .cast_mut(),
            ),
            persisted: AtomicPtr::new(std::ptr::null_mut()),
            writer: Mutex::new(Writer::default()),
        });
        inner.silent.update(inner.current_locked());
        Telemetry(inner)
    }

    /// The process-wide registry.
    pub fn global() -> &'static Telemetry {
        static GLOBAL: OnceLock<Telemetry> = OnceLock::new();
        GLOBAL.get_or_init(Telemetry::new)
    }

    /// Attaches `handler` to one event. Fails with [`TelemetryError::AlreadyExists`] when the id
    /// is in use (on any event).
    pub fn attach<F>(
        &self,
        id: impl Into<HandlerId>,
        event: EventName,
        handler: F,
        config: Value,
    ) -> Result<(), TelemetryError>
    where
        F: Fn(EventName, &[Field], &[Field], &Value) + Send + Sync + 'static,
    {
        self.attach_many(id, &[event], handler, config)
    }

    /// Attaches one handler, under one id, to several events. An empty list succeeds and
    /// registers nothing (as in Erlang). The same name twice in the list is refused with
    /// [`TelemetryError::DuplicateEvent`] rather than silently calling the handler twice.
    pub fn attach_many<F>(
        &self,
        id: impl Into<HandlerId>,
        events: &[EventName],
        handler: F,
        config: Value,
    ) -> Result<(), TelemetryError>
    where
        F: Fn(EventName, &[Field], &[Field], &Value) + Send + Sync + 'static,
    {
        let mut seen = FxHashSet::default();
        for e in events {
            if !seen.insert(e.id()) {
                return Err(TelemetryError::DuplicateEvent(e.dotted().to_owned()));
            }
        }
        let targets = events.iter().map(|e| Target::Event(e.clone())).collect();
        self.register(id.into(), targets, Arc::new(handler), config)
    }

    /// Rookery extension, not in Erlang's telemetry: attaches `handler` to every event whose
    /// name starts with `prefix` (whole segments; the empty prefix means every event), including
    /// names first used after this call. The monitor and the recorder use it to see the
    /// events that user scenarios define.
    pub fn attach_prefix<F, S>(
        &self,
        id: impl Into<HandlerId>,
        prefix: &[S],
        handler: F,
        config: Value,
    ) -> Result<(), TelemetryError>
    where
        F: Fn(EventName, &[Field], &[Field], &Value) + Send + Sync + 'static,
        S: AsRef<str>,
    {
        validate_prefix(prefix)?;
        let prefix: Box<[SmolStr]> = prefix.iter().map(|s| SmolStr::new(s.as_ref())).collect();
        self.register(
            id.into(),
            vec![Target::Prefix(prefix)],
            Arc::new(handler),
            config,
        )
    }

    fn register(
        &self,
        id: HandlerId,
        targets: Vec<Target>,
        function: Arc<HandlerFn>,
        config: Value,
    ) -> Result<(), TelemetryError> {
        let mut w = lock(&self.0.writer);
        if w.ids.contains(&id) {
            return Err(TelemetryError::AlreadyExists(id));
        }
        if targets.is_empty() {
            return Ok(());
        }
        w.has_prefix |= targets.iter().any(|t| matches!(t, Target::Prefix(_)));
        w.ids.insert(id.clone());
        w.registrations.push(Arc::new(Registration {
            id,
            function,
            config,
            targets,
        }));
        Self::publish(&self.0, &mut w);
        drop(w);
        epoch::collect();
        Ok(())
    }

    /// Detaches the handler from every event it was attached to.
    pub fn detach(&self, id: impl Into<HandlerId>) -> Result<(), TelemetryError> {
        let id = id.into();
        let mut w = lock(&self.0.writer);
        if !w.ids.remove(&id) {
            return Err(TelemetryError::NotFound(id));
        }
        // The registration leaves the table under the lock but is dropped after it: when no
        // snapshot holds it (a prefix handler that matched no name yet), this is the handler's
        // last reference, and its captures' `Drop` may call this registry.
        let (gone, kept): (Vec<_>, Vec<_>) = std::mem::take(&mut w.registrations)
            .into_iter()
            .partition(|r| r.id == id);
        w.registrations = kept;
        w.has_prefix = w
            .registrations
            .iter()
            .any(|r| r.targets.iter().any(|t| matches!(t, Target::Prefix(_))));
        Self::publish(&self.0, &mut w);
        drop(w);
        // The old snapshot (and with it the handler, if nothing else holds it) is dropped here
        // when no dispatch runs, else by the last dispatch that may read it, as it ends.
        epoch::collect();
        drop(gone);
        Ok(())
    }

    /// Handlers whose event name starts with `prefix` (whole segments; `[]` lists all). A handler
    /// attached to several events is listed once per event, in attach order.
    pub fn list_handlers<S: AsRef<str>>(
        &self,
        prefix: &[S],
    ) -> Result<Vec<HandlerInfo>, TelemetryError> {
        validate_prefix(prefix)?;
        let w = lock(&self.0.writer);
        let mut out = Vec::new();
        for r in &w.registrations {
            for t in &r.targets {
                let (event_name, is_prefix): (Vec<SmolStr>, bool) = match t {
                    Target::Event(e) => (e.segments().iter().map(SmolStr::new).collect(), false),
                    Target::Prefix(p) => (p.to_vec(), true),
                };
                let matches = prefix.len() <= event_name.len()
                    && prefix
                        .iter()
                        .zip(&event_name)
                        .all(|(a, b)| a.as_ref() == b.as_str());
                if matches {
                    out.push(HandlerInfo {
                        id: r.id.clone(),
                        event_name,
                        prefix: is_prefix,
                        function: r.function.clone(),
                        config: r.config.clone(),
                    });
                }
            }
        }
        Ok(out)
    }

    /// Switches this registry to its fastest read path: dispatch then reads a frozen table with
    /// one atomic load, without reference counting. Attach and detach keep working afterwards but
    /// cost more: each one also keeps the table it replaces for the life of the process, because
    /// a reader may still be using it (Erlang's `persist/0` likewise makes writes expensive).
    /// Calling it again does nothing.
    pub fn persist(&self) {
        let mut w = lock(&self.0.writer);
        if !self.0.persisted.load(Ordering::Acquire).is_null() {
            return;
        }
        let snap = self.0.current_arc();
        self.0
            .persisted
            .store(Arc::as_ptr(&snap).cast_mut(), Ordering::Release);
        w.retired.push(snap);
    }

    /// True once [`persist`](Self::persist) has been called.
    pub fn is_persisted(&self) -> bool {
        !self.0.persisted.load(Ordering::Acquire).is_null()
    }

    fn publish(inner: &Inner, w: &mut Writer) {
        let names = EventName::all();
        let len = names.last().map_or(0, |n| n.id() as usize + 1);
        let mut by_event: Vec<Vec<Arc<Registration>>> = vec![Vec::new(); len];
        for r in &w.registrations {
            for t in &r.targets {
                match t {
                    Target::Event(e) => {
                        if let Some(slot) = by_event.get_mut(e.id() as usize) {
                            slot.push(r.clone());
                        }
                    }
                    Target::Prefix(_) => {
                        for n in &names {
                            if t.matches(n) {
                                by_event[n.id() as usize].push(r.clone());
                            }
                        }
                    }
                }
            }
        }
        let mut slots: Vec<Slot> = by_event
            .into_iter()
            .map(|h| Slot {
                serial: u64::MAX,
                permanent: false,
                handlers: h.into_boxed_slice(),
            })
            .collect();
        for n in &names {
            let slot = &mut slots[n.id() as usize];
            slot.serial = n.serial();
            slot.permanent = n.is_permanent();
        }
        let snap = Arc::new(Snapshot {
            by_event: slots,
            has_prefix: w.has_prefix,
        });
        let new = Arc::into_raw(snap.clone()).cast_mut();
        let old = epoch::locked(|| inner.current.swap(new, Ordering::SeqCst));
        // SAFETY: `old` came from `Arc::into_raw`, and `current`'s count now passes to the
        // collector, which drops it once no dispatch may read it.
        epoch::retire(inner.reclaim_tag, Box::new(unsafe { Arc::from_raw(old) }));
        inner.silent.update(&snap);
        if !inner.persisted.load(Ordering::Acquire).is_null() {
            inner
                .persisted
                .store(Arc::as_ptr(&snap).cast_mut(), Ordering::Release);
            w.retired.push(snap);
        }
    }

    /// Rebuilds the snapshot if it predates `event` (a name interned after the last write);
    /// called by a dispatch that met such a name while prefix handlers exist.
    pub(crate) fn refresh(&self, event: &EventName) {
        let mut w = lock(&self.0.writer);
        if self.0.current_locked().handlers(event).is_none() {
            Self::publish(&self.0, &mut w);
        }
        drop(w);
        epoch::collect();
    }
}

impl Inner {
    /// The current snapshot, for a caller that holds the writer lock (or owns the registry
    /// alone): only writers under that lock replace it.
    fn current_locked(&self) -> &Snapshot {
        // SAFETY: `current` holds a count of the snapshot it points to, and it is not replaced
        // (nor its count given away) while the writer lock is held.
        unsafe { &*self.current.load(Ordering::SeqCst) }
    }

    /// A counted reference to the current snapshot (writer lock held).
    fn current_arc(&self) -> Arc<Snapshot> {
        let p = self.current.load(Ordering::SeqCst);
        // SAFETY: as in `current_locked`: `p` holds a count while the lock is held.
        unsafe {
            Arc::increment_strong_count(p);
            Arc::from_raw(p)
        }
    }

    /// A counted reference to the current snapshot, for a thread that cannot pin (its locals
    /// are being destroyed): taken under the collector's lock, which a writer holds to swap.
    pub(crate) fn current_unpinned(&self) -> Arc<Snapshot> {
        epoch::locked(|| {
            let p = self.current.load(Ordering::SeqCst);
            // SAFETY: `p` cannot be swapped out while the collector's lock is held, and until
            // then `current` holds a count of it.
            unsafe {
                Arc::increment_strong_count(p);
                Arc::from_raw(p)
            }
        })
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        // SAFETY: the registry is going away: no dispatch reads it (each holds a `Telemetry`),
        // and `current` holds one count of its snapshot.
        drop(unsafe { Arc::from_raw(self.current.load(Ordering::SeqCst)) });
    }
}
