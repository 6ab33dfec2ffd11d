//! `execute`: the hot path.
//!
//! Handlers run synchronously in the emitting thread. The handler list comes from a snapshot
//! taken once per call (a handler detached by an earlier handler in the same dispatch still
//! runs, as in Erlang). No lock is taken:
//!
//! * `has_handlers`, `execute` and `execute_with` of an event with no handler return after one
//!   atomic load (the registry's `Silent` summary of its snapshot);
//! * after `persist`, the snapshot is one atomic pointer load;
//! * otherwise the dispatch is *pinned* (see `epoch.rs`): the thread publishes the epoch it
//!   entered in, reads the snapshot through a plain pointer, and clears its slot when done. No
//!   thread keeps a snapshot (and the handlers in it) alive between its events: a detached
//!   handler is dropped as soon as the dispatches that may run it end.
//!
//! A snapshot covers the event names interned when it was built (dense ids below its length,
//! each with the [`EventName::serial`] of the name that had it, since a freed scoped name's id
//! is reused). A name interned later is noticed here, lazily: when a registry with prefix
//! handlers dispatches a name its snapshot does not know, it rebuilds first, so a prefix handler sees a new name's
//! very first event and the interner never calls into registries.
//!
//! A handler that panics is detached from all of its events, `[telemetry, handler, failure]` is
//! emitted, and dispatch goes on with the remaining handlers. The emitter never sees the panic.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::sync::atomic::Ordering;

use smol_str::SmolStr;

use super::registry::{Registration, Snapshot, Telemetry};
use super::{EventName, Field, Key, StaticName, Value, monotonic_time, system_time};
use super::{epoch, guard};

/// `[telemetry, handler, failure]`, emitted when a handler panics.
pub static HANDLER_FAILURE: StaticName = StaticName::new(&["telemetry", "handler", "failure"]);

/// True while handlers are running on this thread (their panics are caught).
pub(crate) fn in_dispatch() -> bool {
    epoch::in_dispatch()
}

impl Snapshot {
    /// The handlers of `event`, or `None` when the name is newer than this snapshot (its id
    /// is past the table, or was another name's when it was built) and the registry has prefix
    /// handlers (which may want it: rebuild first). A name with a handler of its own is held by
    /// the registry, so it is always in the table.
    #[inline]
    pub(crate) fn handlers(&self, event: &EventName) -> Option<&[Arc<Registration>]> {
        match self.by_event.get(event.id() as usize) {
            Some(slot) if slot.serial == event.serial() => Some(&slot.handlers[..]),
            _ if self.has_prefix => None,
            _ => Some(&[]),
        }
    }
}

impl Telemetry {
    /// Emits an event: every handler attached to `event` (or to a prefix of it) runs now, in
    /// this thread, in no promised order.
    #[inline]
    pub fn execute(&self, event: EventName, measurements: &[Field], metadata: &[Field]) {
        if self.0.silent.has_none(&event) {
            return;
        }
        self.dispatch(event, measurements, || metadata);
    }

    /// [`execute`](Self::execute) whose metadata is built (by `metadata`) only when a handler
    /// listens: one look at the handlers instead of [`has_handlers`](Self::has_handlers) and
    /// then `execute` (the engine's emitter adds `node` and the time this way).
    #[inline]
    pub fn execute_with<M: AsRef<[Field]>>(
        &self,
        event: EventName,
        measurements: &[Field],
        metadata: impl FnOnce() -> M,
    ) {
        if self.0.silent.has_none(&event) {
            return;
        }
        self.dispatch(event, measurements, metadata);
    }

    /// Runs the handlers of `event` from the persisted snapshot, or a pinned read of the
    /// current one.
    #[inline(always)]
    fn dispatch<M: AsRef<[Field]>>(
        &self,
        event: EventName,
        measurements: &[Field],
        metadata: impl FnOnce() -> M,
    ) {
        let inner = &*self.0;
        let persisted = inner.persisted.load(Ordering::Acquire);
        if !persisted.is_null() {
            let _mark = epoch::mark();
            // SAFETY: a persisted snapshot is kept alive by the registry's `retired` list for
            // as long as the registry lives, and `self` keeps the registry alive.
            match unsafe { &*persisted }.handlers(&event) {
                Some([]) => {}
                Some(handlers) => self.run(handlers, &event, measurements, metadata().as_ref()),
                None => {
                    self.refresh(&event);
                    // SAFETY: as above; `refresh` may have published a newer one.
                    let snap = unsafe { &*inner.persisted.load(Ordering::Acquire) };
                    self.run_new(snap, &event, measurements, metadata().as_ref());
                }
            }
            return;
        }
        let Some(_pin) = epoch::pin(inner.reclaim_tag) else {
            return self.dispatch_unpinned(event, measurements, metadata().as_ref());
        };
        // SAFETY: pinned: a snapshot loaded now is not dropped before `_pin` is.
        let snap = unsafe { &*inner.current.load(Ordering::SeqCst) };
        match snap.handlers(&event) {
            Some([]) => {}
            Some(handlers) => self.run(handlers, &event, measurements, metadata().as_ref()),
            None => {
                self.refresh(&event);
                // SAFETY: still pinned; `refresh` published a snapshot that knows `event`.
                let snap = unsafe { &*inner.current.load(Ordering::SeqCst) };
                self.run_new(snap, &event, measurements, metadata().as_ref());
            }
        }
    }

    /// A dispatch on a thread that is ending (its slot is gone): reads a counted snapshot.
    #[cold]
    fn dispatch_unpinned(&self, event: EventName, measurements: &[Field], metadata: &[Field]) {
        // Counted as a dispatch (`LOCAL` has no destructor, so this works while the thread
        // ends): the handlers' caught panics are known to be caught.
        let _mark = epoch::mark();
        let snap = self.0.current_unpinned();
        match snap.handlers(&event) {
            Some([]) => {}
            Some(handlers) => self.run(handlers, &event, measurements, metadata),
            None => {
                self.refresh(&event);
                let snap = self.0.current_unpinned();
                self.run_new(&snap, &event, measurements, metadata);
            }
        }
    }

    /// Dispatches a name interned after the previous snapshot, from the one `refresh` built.
    #[cold]
    fn run_new(&self, snap: &Snapshot, event: &EventName, m: &[Field], md: &[Field]) {
        if let Some(handlers) = snap.handlers(event)
            && !handlers.is_empty()
        {
            self.run(handlers, event, m, md);
        }
    }

    #[inline(always)]
    fn run(
        &self,
        handlers: &[Arc<Registration>],
        event: &EventName,
        measurements: &[Field],
        metadata: &[Field],
    ) {
        for h in handlers {
            self.call(h, event, measurements, metadata);
        }
    }

    /// Erlang's deprecated `execute(Name, Number, Metadata)`: the number arrives as the
    /// measurement `value`.
    pub fn execute_value(&self, event: EventName, value: impl Into<Value>, metadata: &[Field]) {
        self.execute(event, &[(Key::new_static("value"), value.into())], metadata)
    }

    /// True when at least one handler would receive `event`; lets an emitter skip building
    /// expensive metadata nobody reads.
    #[inline]
    pub fn has_handlers(&self, event: EventName) -> bool {
        let inner = &*self.0;
        if inner.silent.has_none(&event) {
            return false;
        }
        let persisted = inner.persisted.load(Ordering::Acquire);
        let found = if persisted.is_null() {
            match epoch::pin(inner.reclaim_tag) {
                // SAFETY: pinned while `_pin` lives.
                Some(_pin) => unsafe { &*inner.current.load(Ordering::SeqCst) }
                    .handlers(&event)
                    .map(|h| !h.is_empty()),
                None => inner
                    .current_unpinned()
                    .handlers(&event)
                    .map(|h| !h.is_empty()),
            }
        } else {
            // SAFETY: see `dispatch`.
            unsafe { &*persisted }
                .handlers(&event)
                .map(|h| !h.is_empty())
        };
        // A name newer than the snapshot, with prefix handlers about: they may want it.
        found.unwrap_or(true)
    }

    #[inline]
    fn call(
        &self,
        h: &Registration,
        event: &EventName,
        measurements: &[Field],
        metadata: &[Field],
    ) {
        let outcome = catch_unwind(AssertUnwindSafe(|| {
            (h.function)(event.clone(), measurements, metadata, &h.config)
        }));
        if let Err(payload) = outcome {
            self.handler_failed(h, event, &*payload);
        }
    }

    #[cold]
    fn handler_failed(
        &self,
        h: &Registration,
        event: &EventName,
        payload: &(dyn std::any::Any + Send),
    ) {
        let reason = guard::panic_message(payload);
        let stacktrace = guard::take_last_panic_trace();
        // Detach first, then report, as Erlang's telemetry does. Another thread may have
        // detached it already; that is fine.
        let _ = self.detach(h.id.clone());
        log::error!(
            target: "telemetry",
            "handler {} failed on event {} and was detached: {}",
            h.id,
            event,
            reason
        );
        let measurements = [
            (
                Key::new_static("monotonic_time"),
                Value::Int(monotonic_time()),
            ),
            (Key::new_static("system_time"), Value::Int(system_time())),
        ];
        let metadata = [
            (
                Key::new_static("event_name"),
                Value::list(event.segments().iter().map(|s| Value::Str(SmolStr::new(s)))),
            ),
            (Key::new_static("handler_id"), Value::Str(h.id.0.clone())),
            (Key::new_static("handler_config"), h.config.clone()),
            (Key::new_static("kind"), Value::atom("panic")),
            (Key::new_static("reason"), Value::from(reason)),
            (Key::new_static("stacktrace"), stacktrace),
        ];
        self.execute(HANDLER_FAILURE.get(), &measurements, &metadata);
    }
}
