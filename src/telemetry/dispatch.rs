//! `execute`: the hot path.
//!
//! Handlers run synchronously in the emitting thread. The handler list comes from a snapshot
//! taken once per call (a handler detached by an earlier handler in the same dispatch still
//! runs, as in Erlang). No lock is taken:
//!
//! * after `persist`, the snapshot is one atomic pointer load;
//! * otherwise each thread caches the last snapshot it used together with the registry's write
//!   generation, and reloads it from the `ArcSwap` only after a write. This is the call-site
//!   cache that `shared/reference/telemetry.md` §3.7 measured at 2 ns / 7 ns for 0 / 1 handler,
//!   and it keeps two emitting threads from touching a shared cache line.
//!
//! A handler that panics is detached from all of its events, `[telemetry, handler, failure]` is
//! emitted, and dispatch goes on with the remaining handlers. The emitter never sees the panic.

use std::cell::RefCell;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::sync::atomic::Ordering;

use smol_str::SmolStr;

use super::guard;
use super::registry::{Registration, Snapshot, Telemetry};
use super::{EventName, Field, Key, StaticName, Value, monotonic_time, system_time};

/// `[telemetry, handler, failure]`, emitted when a handler panics.
pub static HANDLER_FAILURE: StaticName = StaticName::new(&["telemetry", "handler", "failure"]);

struct Cached {
    uid: u64,
    generation: u64,
    snapshot: Arc<Snapshot>,
}

thread_local! {
    static CACHE: RefCell<Option<Cached>> = const { RefCell::new(None) };
}

impl Telemetry {
    /// Emits an event: every handler attached to `event` (or to a prefix of it) runs now, in
    /// this thread, in no promised order.
    #[inline]
    pub fn execute(&self, event: EventName, measurements: &[Field], metadata: &[Field]) {
        self.with_snapshot(|snap| {
            if let Some(handlers) = snap.by_event.get(event.id() as usize) {
                for h in handlers.iter() {
                    self.call(h, event, measurements, metadata);
                }
            }
        })
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
        self.with_snapshot(|snap| {
            snap.by_event
                .get(event.id() as usize)
                .is_some_and(|h| !h.is_empty())
        })
    }

    #[inline]
    fn with_snapshot<R>(&self, f: impl FnOnce(&Snapshot) -> R) -> R {
        let inner = &*self.0;
        let persisted = inner.persisted.load(Ordering::Acquire);
        if !persisted.is_null() {
            // SAFETY: a persisted snapshot is kept alive by the registry's `retired` list for
            // as long as the registry lives, and `self` keeps the registry alive.
            return f(unsafe { &*persisted });
        }
        let generation = inner.generation.load(Ordering::Acquire);
        let mut f = Some(f);
        let cached = CACHE.try_with(|cache| {
            // Fast path: a shared borrow, so handlers may execute re-entrantly.
            if let Ok(slot) = cache.try_borrow()
                && let Some(c) = &*slot
                && c.uid == inner.uid
                && c.generation == generation
            {
                return Some((f.take().expect("called once"))(&c.snapshot));
            }
            // Refresh, unless an outer dispatch on this thread is borrowing the cache.
            let snapshot = inner.current.load_full();
            if let Ok(mut slot) = cache.try_borrow_mut() {
                *slot = Some(Cached {
                    uid: inner.uid,
                    generation,
                    snapshot: snapshot.clone(),
                });
            }
            Some((f.take().expect("called once"))(&snapshot))
        });
        match cached {
            Ok(Some(r)) => r,
            // Thread-local storage is being torn down: read the registry directly.
            _ => (f.take().expect("called once"))(&inner.current.load()),
        }
    }

    #[inline]
    fn call(&self, h: &Registration, event: EventName, measurements: &[Field], metadata: &[Field]) {
        let outcome = guard::guarded(|| {
            catch_unwind(AssertUnwindSafe(|| {
                (h.function)(event, measurements, metadata, &h.config)
            }))
        });
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
