//! A Rust port of the Erlang [`telemetry`](https://hexdocs.pm/telemetry) library.
//!
//! Every part of Rookery reports what it does by *executing* events; whoever is interested
//! *attaches* a handler. The API follows Erlang's (`attach`, `attach_many`, `detach`,
//! `execute`, `span`, `list_handlers`, `persist`, failing handlers, and a `telemetry_test`-style
//! helper in [`testing`]), with Rust types:
//!
//! | Erlang | Rookery |
//! |---|---|
//! | event name `[atom()]` | [`EventName`]: interned, compared by pointer; permanent, or scoped (freed with its last handle) |
//! | measurements / metadata `map()` | `&[Field]`, a slice of `(Key, Value)` built on the stack |
//! | handler `fun/4` | `Fn(EventName, &[Field], &[Field], &Value)`; the last is its config |
//! | `{error, already_exists}` etc. | [`TelemetryError`] |
//!
//! The free functions use the process-wide registry [`Telemetry::global`]; a [`Telemetry`]
//! value is an independent registry with the same methods.
//!
//! **Extension beyond Erlang:** [`Telemetry::attach_prefix`] attaches a handler to every event
//! under a prefix (`["amoc"]`, or `[]` for all events), including names first used later.
//!
//! ```
//! use rookery::telemetry::{self, Fields, Telemetry, Value};
//! use rookery::{event_name, fields};
//! use std::sync::atomic::{AtomicI64, Ordering};
//! use std::sync::Arc;
//!
//! let t = Telemetry::new();
//! let seen = Arc::new(AtomicI64::new(0));
//! let s = seen.clone();
//! t.attach("counter", event_name!("shop", "order"), move |_name, m, _md, _cfg| {
//!     s.fetch_add(m.get_i64("count").unwrap_or(0), Ordering::Relaxed);
//! }, Value::Null).unwrap();
//! t.execute(event_name!("shop", "order"), &fields!{"count" => 3}, &fields!{"user" => "ann"});
//! assert_eq!(seen.load(Ordering::Relaxed), 3);
//! ```

mod dispatch;
mod epoch;
pub mod guard;
mod name;
mod registry;
mod span;
pub mod testing;
mod value;

pub use dispatch::HANDLER_FAILURE;
pub use name::{EventName, StaticName};
pub use registry::{HandlerFn, HandlerId, HandlerInfo, Telemetry};
pub use span::{ActiveSpan, SpanStop};
pub use value::{Field, Fields, Key, Value, collect_fields, deserialize_fields, serialize_fields};

/// Errors of the registry API.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TelemetryError {
    #[error("a handler with id {0} is already attached")]
    AlreadyExists(HandlerId),
    #[error("no handler with id {0} is attached")]
    NotFound(HandlerId),
    #[error("bad event name: {0}")]
    BadEventName(String),
    #[error("event {0} appears twice in one attach_many")]
    DuplicateEvent(String),
}

/// Nanoseconds on a monotonic clock (Erlang's `monotonic_time` in native units). The origin is
/// arbitrary (on Linux, the boot); only differences mean anything.
#[inline]
pub fn monotonic_time() -> i64 {
    clock_ns(libc::CLOCK_MONOTONIC)
}

/// Nanoseconds since the Unix epoch (Erlang's `system_time` in native units).
#[inline]
pub fn system_time() -> i64 {
    clock_ns(libc::CLOCK_REALTIME)
}

/// `system_time` at the monotonic instant `mono`, as Erlang defines it (monotonic time plus
/// the time offset). The offset is re-read from the wall clock at most once a second, so a
/// span start reads one clock instead of two. Two threads refreshing at once may pair an
/// instant with the other's offset: they differ by the clocks' drift over a second (µs).
#[inline]
pub(crate) fn system_time_at(mono: i64) -> i64 {
    use std::sync::atomic::{AtomicI64, Ordering::Relaxed};
    static OFFSET: AtomicI64 = AtomicI64::new(0);
    static READ_AT: AtomicI64 = AtomicI64::new(i64::MIN);
    let at = READ_AT.load(Relaxed);
    if at != i64::MIN && (0..1_000_000_000).contains(&mono.wrapping_sub(at)) {
        return mono.saturating_add(OFFSET.load(Relaxed));
    }
    let sys = system_time();
    OFFSET.store(sys.saturating_sub(mono), Relaxed);
    READ_AT.store(mono, Relaxed);
    sys
}

/// One `clock_gettime` read (a vDSO call, no system call), without `Instant`'s arithmetic: a
/// span reads the clock three times, and this halves what those reads cost.
#[inline]
// `time_t` and `c_long` are `i64` here but `i32` on 32-bit targets.
#[allow(clippy::useless_conversion)]
fn clock_ns(clock: libc::clockid_t) -> i64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec; both clocks exist on every supported OS.
    let rc = unsafe { libc::clock_gettime(clock, &mut ts) };
    if rc != 0 {
        return 0;
    }
    i64::from(ts.tv_sec)
        .saturating_mul(1_000_000_000)
        .saturating_add(i64::from(ts.tv_nsec))
}

/// [`Telemetry::attach`] on the global registry.
pub fn attach<F>(
    id: impl Into<HandlerId>,
    event: EventName,
    handler: F,
    config: Value,
) -> Result<(), TelemetryError>
where
    F: Fn(EventName, &[Field], &[Field], &Value) + Send + Sync + 'static,
{
    Telemetry::global().attach(id, event, handler, config)
}

/// [`Telemetry::attach_many`] on the global registry.
pub fn attach_many<F>(
    id: impl Into<HandlerId>,
    events: &[EventName],
    handler: F,
    config: Value,
) -> Result<(), TelemetryError>
where
    F: Fn(EventName, &[Field], &[Field], &Value) + Send + Sync + 'static,
{
    Telemetry::global().attach_many(id, events, handler, config)
}

/// [`Telemetry::attach_prefix`] on the global registry.
pub fn attach_prefix<F, S: AsRef<str>>(
    id: impl Into<HandlerId>,
    prefix: &[S],
    handler: F,
    config: Value,
) -> Result<(), TelemetryError>
where
    F: Fn(EventName, &[Field], &[Field], &Value) + Send + Sync + 'static,
{
    Telemetry::global().attach_prefix(id, prefix, handler, config)
}

/// [`Telemetry::detach`] on the global registry.
pub fn detach(id: impl Into<HandlerId>) -> Result<(), TelemetryError> {
    Telemetry::global().detach(id)
}

/// [`Telemetry::execute`] on the global registry.
#[inline]
pub fn execute(event: EventName, measurements: &[Field], metadata: &[Field]) {
    Telemetry::global().execute(event, measurements, metadata)
}

/// [`Telemetry::list_handlers`] on the global registry.
pub fn list_handlers<S: AsRef<str>>(prefix: &[S]) -> Result<Vec<HandlerInfo>, TelemetryError> {
    Telemetry::global().list_handlers(prefix)
}

/// [`Telemetry::persist`] on the global registry.
pub fn persist() {
    Telemetry::global().persist()
}

/// [`Telemetry::span`] on the global registry.
pub fn span<R>(
    prefix: EventName,
    start_metadata: &[Field],
    f: impl FnOnce() -> (R, SpanStop),
) -> R {
    Telemetry::global().span(prefix, start_metadata, f)
}
