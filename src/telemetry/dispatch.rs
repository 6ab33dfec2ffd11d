//! `execute`: the hot path.
//!
//! Handlers run synchronously in the emitting thread. The handler list comes from a snapshot
//! taken once per call (a handler detached by an earlier handler in the same dispatch still
//! runs, as in Erlang). No lock is taken:
//!
//! * after `persist`, the snapshot is one atomic pointer load;
//! * otherwise each thread caches the last snapshot it used together with the registry's write
//!   generation, and reloads it from the `ArcSwap` only after a write (the thread-local cache
//!   that `shared/reference/telemetry.md` §3.7 measured at 2 ns / 7 ns for 0 / 1 handler). No
//!   reference count is touched per event, so two emitting threads share no written cache line.
//!
//! A handler that panics is detached from all of its events, `[telemetry, handler, failure]` is
//! emitted, and dispatch goes on with the remaining handlers. The emitter never sees the panic.

use std::cell::Cell;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::sync::atomic::Ordering;

use smol_str::SmolStr;

use super::guard;
use super::registry::{Registration, Snapshot, Telemetry};
use super::{EventName, Field, Key, StaticName, Value, monotonic_time, system_time};

/// `[telemetry, handler, failure]`, emitted when a handler panics.
pub static HANDLER_FAILURE: StaticName = StaticName::new(&["telemetry", "handler", "failure"]);

/// This thread's view of one registry: the last snapshot it used (kept alive by a reference
/// count it owns) and how deep in dispatches the thread is. The snapshot is only replaced at
/// depth 0, so a dispatch in progress never sees its handler list freed under it.
struct Local {
    uid: Cell<u64>,
    generation: Cell<u64>,
    snapshot: Cell<*const Snapshot>,
    depth: Cell<u32>,
}

impl Drop for Local {
    fn drop(&mut self) {
        let p = self.snapshot.get();
        if !p.is_null() {
            // SAFETY: `p` came from `Arc::into_raw` and this is its only owner.
            drop(unsafe { Arc::from_raw(p) });
        }
    }
}

thread_local! {
    static LOCAL: Local = const {
        Local {
            uid: Cell::new(0),
            generation: Cell::new(0),
            snapshot: Cell::new(std::ptr::null()),
            depth: Cell::new(0),
        }
    };
}

/// True while handlers are running on this thread (their panics are caught).
pub(crate) fn in_dispatch() -> bool {
    LOCAL.try_with(|l| l.depth.get() > 0).unwrap_or(false)
}

impl Snapshot {
    #[inline]
    fn handlers(&self, event: EventName) -> &[Arc<Registration>] {
        self.by_event
            .get(event.id() as usize)
            .map_or(&[], |h| &h[..])
    }
}

impl Telemetry {
    /// Emits an event: every handler attached to `event` (or to a prefix of it) runs now, in
    /// this thread, in no promised order.
    #[inline]
    pub fn execute(&self, event: EventName, measurements: &[Field], metadata: &[Field]) {
        let inner = &*self.0;
        let persisted = inner.persisted.load(Ordering::Acquire);
        if !persisted.is_null() {
            // SAFETY: a persisted snapshot is kept alive by the registry's `retired` list for
            // as long as the registry lives, and `self` keeps the registry alive.
            let handlers = unsafe { &*persisted }.handlers(event);
            if !handlers.is_empty() {
                let _ = LOCAL.try_with(|l| self.run(l, handlers, event, measurements, metadata));
            }
            return;
        }
        let generation = inner.generation.load(Ordering::Acquire);
        let done = LOCAL.try_with(|l| {
            if l.uid.get() != inner.uid || l.generation.get() != generation {
                if l.depth.get() > 0 {
                    // An outer dispatch on this thread uses the cached snapshot: leave it.
                    let snap = inner.current.load();
                    self.run(l, snap.handlers(event), event, measurements, metadata);
                    return;
                }
                let fresh = Arc::into_raw(inner.current.load_full());
                let old = l.snapshot.replace(fresh);
                l.uid.set(inner.uid);
                l.generation.set(generation);
                if !old.is_null() {
                    // SAFETY: as in `Drop for Local`; depth is 0, so nobody borrows it.
                    drop(unsafe { Arc::from_raw(old) });
                }
            }
            // SAFETY: set above or earlier, and only replaced at depth 0 on this thread.
            let snap = unsafe { &*l.snapshot.get() };
            let handlers = snap.handlers(event);
            if !handlers.is_empty() {
                self.run(l, handlers, event, measurements, metadata);
            }
        });
        if done.is_err() {
            // Thread-local storage is being torn down: read the registry directly.
            let snap = inner.current.load();
            for h in snap.handlers(event) {
                self.call(h, event, measurements, metadata);
            }
        }
    }

    #[inline]
    fn run(
        &self,
        local: &Local,
        handlers: &[Arc<Registration>],
        event: EventName,
        measurements: &[Field],
        metadata: &[Field],
    ) {
        local.depth.set(local.depth.get() + 1);
        for h in handlers {
            self.call(h, event, measurements, metadata);
        }
        local.depth.set(local.depth.get() - 1);
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
        let persisted = inner.persisted.load(Ordering::Acquire);
        if !persisted.is_null() {
            // SAFETY: see `execute`.
            return !unsafe { &*persisted }.handlers(event).is_empty();
        }
        // The thread's cached snapshot when it is current (the path `execute` takes), so an
        // emitter that checks first does not pay a registry load per event.
        let generation = inner.generation.load(Ordering::Acquire);
        let cached = LOCAL.try_with(|l| {
            (l.uid.get() == inner.uid && l.generation.get() == generation).then(|| {
                // SAFETY: as in `execute`; the pointer is current and only replaced at depth 0
                // by this thread, which is here.
                !unsafe { &*l.snapshot.get() }.handlers(event).is_empty()
            })
        });
        match cached {
            Ok(Some(has)) => has,
            _ => !inner.current.load().handlers(event).is_empty(),
        }
    }

    #[inline]
    fn call(&self, h: &Registration, event: EventName, measurements: &[Field], metadata: &[Field]) {
        let outcome = catch_unwind(AssertUnwindSafe(|| {
            (h.function)(event, measurements, metadata, &h.config)
        }));
        if let Err(payload) = outcome {
            self.handler_failed(h, event, &*payload);
        }
    }

    #[cold]
    fn handler_failed(
        &self,
        h: &Registration,
        event: EventName,
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
