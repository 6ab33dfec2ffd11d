//! Spans: `prefix ++ [start]`, then `prefix ++ [stop]` or `prefix ++ [exception]`.
//!
//! Follows `telemetry:span/3`:
//! * start: measurements `monotonic_time`, `system_time`; metadata = start metadata plus
//!   `telemetry_span_context` when the caller gave none;
//! * stop: measurements `duration`, `monotonic_time` plus any extra measurements the function
//!   returned (which cannot override those two); metadata = the returned stop metadata plus the
//!   context;
//! * exception (the function panicked): measurements `duration`, `monotonic_time`; metadata =
//!   start metadata plus `kind` (`"panic"`), `reason`, `stacktrace` and the context; then the
//!   panic continues.
//!
//! Differences from Erlang, on purpose: the context on stop and exception is the one the start
//! event carried (Erlang gives a fresh default context to a stop whose metadata lacks the one
//! the caller put on start), and contexts are integers from a process-wide counter.
//!
//! A panic inside a span is not a guarded section: it continues after the exception event, so the
//! panic hook reports it as usual. Code that catches it (the engine, around a virtual user) wraps
//! the span in [`guard::guarded`](super::guard::guarded) itself.
//!
//! **`Err` results.** A function that returns `Err` has not raised, so [`Telemetry::span_result`]
//! emits `stop` (not `exception`) with an `error` key holding the error's `Display` text in the
//! stop metadata, as the seed's span documentation allows. `exception` means a panic.

use std::future::Future;
use std::mem::ManuallyDrop;
use std::panic::{AssertUnwindSafe, catch_unwind, resume_unwind};
use std::sync::atomic::{AtomicI64, Ordering};

use futures::FutureExt;
use smallvec::SmallVec;

use super::guard;
use super::registry::Telemetry;
use super::{EventName, Field, Fields, Key, Value, monotonic_time, system_time_at};

/// What a span function hands back for the stop event besides its result.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct SpanStop {
    /// Added to `duration` and `monotonic_time` (those two cannot be overridden).
    pub measurements: Vec<Field>,
    pub metadata: Vec<Field>,
}

impl SpanStop {
    /// Stop metadata only.
    pub fn metadata(metadata: Vec<Field>) -> SpanStop {
        SpanStop {
            measurements: Vec::new(),
            metadata,
        }
    }
}

const CONTEXT: &str = "telemetry_span_context";

/// A span whose start event has been emitted. End it with [`stop`](Self::stop) or
/// [`exception`](Self::exception); this is what the closure-based spans are built on, and what
/// code that cannot wrap its work in one closure uses.
#[must_use = "a started span should be stopped"]
#[derive(Debug)]
pub struct ActiveSpan {
    names: &'static [EventName; 3],
    start_time: i64,
    context: Value,
}

impl ActiveSpan {
    /// The span's `telemetry_span_context`.
    pub fn context(&self) -> &Value {
        &self.context
    }

    /// Emits `prefix ++ [stop]`.
    pub fn stop(self, telemetry: &Telemetry, extra_measurements: &[Field], metadata: &[Field]) {
        if telemetry.0.silent.has_none(&self.names[1]) {
            // Nobody listens: no clock read, no fields.
            return;
        }
        let now = monotonic_time();
        let timing = timing_fields(("duration", now - self.start_time), ("monotonic_time", now));
        if extra_measurements.is_empty() {
            emit_with_context(
                telemetry,
                self.names[1].clone(),
                &*timing,
                metadata,
                &self.context,
                metadata.has(CONTEXT),
            );
            return;
        }
        let reserved = |(k, _): &Field| k == "duration" || k == "monotonic_time";
        if 2 + extra_measurements.len() <= INLINE && !extra_measurements.iter().any(reserved) {
            // The common case (an HTTP request's stop): no clone or drop of the caller's fields.
            shallow_concat(&*timing, extra_measurements, |m| {
                emit_with_context(
                    telemetry,
                    self.names[1].clone(),
                    m,
                    metadata,
                    &self.context,
                    metadata.has(CONTEXT),
                )
            });
            return;
        }
        let mut m: Buf = SmallVec::with_capacity(2 + extra_measurements.len());
        m.extend(timing.iter().cloned());
        m.extend(
            extra_measurements
                .iter()
                .filter(|(k, _)| k != "duration" && k != "monotonic_time")
                .cloned(),
        );
        emit_with_context(
            telemetry,
            self.names[1].clone(),
            &m,
            metadata,
            &self.context,
            metadata.has(CONTEXT),
        );
    }

    /// Emits `prefix ++ [exception]` with the start metadata and the failure's details.
    pub fn exception(
        self,
        telemetry: &Telemetry,
        start_metadata: &[Field],
        kind: &str,
        reason: impl Into<Value>,
        stacktrace: Value,
    ) {
        let now = monotonic_time();
        let m = [
            (
                Key::new_static("duration"),
                Value::Int(now - self.start_time),
            ),
            (Key::new_static("monotonic_time"), Value::Int(now)),
        ];
        let mut md: Buf = start_metadata
            .iter()
            .filter(|(k, _)| k != "kind" && k != "reason" && k != "stacktrace")
            .cloned()
            .collect();
        md.push((Key::new_static("kind"), Value::from(kind)));
        md.push((Key::new_static("reason"), reason.into()));
        md.push((Key::new_static("stacktrace"), stacktrace));
        let has_context = md.has(CONTEXT);
        emit_with_context(
            telemetry,
            self.names[2].clone(),
            &m,
            &md,
            &self.context,
            has_context,
        );
    }
}

/// Fields on the stack: spans build their events without allocating for up to 8 fields.
type Buf = SmallVec<[Field; 8]>;

/// Executes `name` with `metadata` plus `telemetry_span_context` unless `has_context` (the
/// caller looked: `metadata` has one). Up to [`INLINE`] fields are laid out on the stack as
/// shallow copies of the caller's (no clone, no drop: see `shallow_plus`); more are cloned into
/// a vector.
fn emit_with_context(
    telemetry: &Telemetry,
    name: EventName,
    measurements: &[Field],
    metadata: &[Field],
    context: &Value,
    has_context: bool,
) {
    if has_context {
        telemetry.execute(name, measurements, metadata);
        return;
    }
    if metadata.len() < INLINE {
        shallow_plus(metadata, context, |md| {
            telemetry.execute(name, measurements, md)
        });
        return;
    }
    let mut md: Vec<Field> = Vec::with_capacity(metadata.len() + 1);
    md.extend(metadata.iter().cloned());
    md.push((Key::new_static(CONTEXT), context.clone()));
    telemetry.execute(name, measurements, &md);
}

/// Two integer measurements under static keys. They own no memory, so they are never dropped
/// (dropping a field is a call that inspects both halves: two of them per span event).
#[inline]
fn timing_fields(a: (&'static str, i64), b: (&'static str, i64)) -> ManuallyDrop<[Field; 2]> {
    ManuallyDrop::new([
        (Key::new_static(a.0), Value::Int(a.1)),
        (Key::new_static(b.0), Value::Int(b.1)),
    ])
}

/// Fields a span event lays out on the stack.
const INLINE: usize = 8;

/// Calls `f` with `fields ++ [(telemetry_span_context, context)]` laid out on the stack
/// (`fields.len() < INLINE`).
///
/// Every field is a bit-for-bit copy that is never dropped: the copies only lend shared
/// references while the originals (the caller's fields, and the span's context), borrowed for
/// the whole call, keep owning what they point to (a handler that clones a copy takes its own
/// reference count, as cloning the original would). The context's key is static and owns
/// nothing. This saves a clone and a drop per field on every span event (the `span` bench,
/// issue 13.7).
#[inline]
fn shallow_plus(fields: &[Field], context: &Value, f: impl FnOnce(&[Field])) {
    use std::mem::MaybeUninit;
    debug_assert!(fields.len() < INLINE);
    let n = fields.len();
    let mut buf: [MaybeUninit<Field>; INLINE] = [const { MaybeUninit::uninit() }; INLINE];
    // SAFETY: `n < INLINE`, so the copies and the context fit; the sources and `buf` do not
    // overlap. All `n + 1` slots are shallow copies, never dropped (`MaybeUninit` does not
    // drop) nor handed out by value.
    let all = unsafe {
        std::ptr::copy_nonoverlapping(fields.as_ptr(), buf.as_mut_ptr().cast::<Field>(), n);
        buf[n].write((Key::new_static(CONTEXT), std::ptr::read(context)));
        std::slice::from_raw_parts(buf.as_ptr().cast::<Field>(), n + 1)
    };
    f(all);
}

/// Calls `f` with `a ++ b` laid out on the stack (`a.len() + b.len() <= INLINE`), every field
/// a shallow copy as in [`shallow_plus`]: never dropped, the originals keep owning what they
/// point to.
#[inline]
fn shallow_concat(a: &[Field], b: &[Field], f: impl FnOnce(&[Field])) {
    use std::mem::MaybeUninit;
    let n = a.len() + b.len();
    assert!(n <= INLINE);
    let mut buf: [MaybeUninit<Field>; INLINE] = [const { MaybeUninit::uninit() }; INLINE];
    // SAFETY: both fit (checked above) and overlap nothing; the copies are only lent out by
    // shared reference and never dropped (`MaybeUninit` does not drop).
    let all = unsafe {
        let dst = buf.as_mut_ptr().cast::<Field>();
        std::ptr::copy_nonoverlapping(a.as_ptr(), dst, a.len());
        std::ptr::copy_nonoverlapping(b.as_ptr(), dst.add(a.len()), b.len());
        std::slice::from_raw_parts(buf.as_ptr().cast::<Field>(), n)
    };
    f(all);
}

/// A new span context: unique in the process. Each thread takes contexts from a block of
/// [`CONTEXT_BLOCK`] it reserved, so a span does not contend on one shared counter.
fn next_context() -> Value {
    use std::cell::Cell;
    static NEXT: AtomicI64 = AtomicI64::new(1);
    thread_local! {
        /// The next context of this thread's block, and the end of the block.
        static BLOCK: Cell<(i64, i64)> = const { Cell::new((0, 0)) };
    }
    let reserve = || NEXT.fetch_add(CONTEXT_BLOCK, Ordering::Relaxed);
    let id = BLOCK
        .try_with(|b| {
            let (next, end) = b.get();
            if next < end {
                b.set((next + 1, end));
                next
            } else {
                let start = reserve();
                b.set((start + 1, start + CONTEXT_BLOCK));
                start
            }
        })
        .unwrap_or_else(|_| NEXT.fetch_add(1, Ordering::Relaxed));
    Value::Int(id)
}

/// Span contexts a thread reserves at a time.
const CONTEXT_BLOCK: i64 = 1024;

impl Telemetry {
    /// Emits `prefix ++ [start]` and returns the running span.
    pub fn span_start(&self, prefix: EventName, start_metadata: &[Field]) -> ActiveSpan {
        let names = prefix.span_names();
        let start_time = monotonic_time();
        let given = start_metadata.lookup(CONTEXT);
        let context = given.cloned().unwrap_or_else(next_context);
        if !self.0.silent.has_none(&names[0]) {
            let m = timing_fields(
                ("monotonic_time", start_time),
                ("system_time", system_time_at(start_time)),
            );
            emit_with_context(
                self,
                names[0].clone(),
                &*m,
                start_metadata,
                &context,
                given.is_some(),
            );
        }
        ActiveSpan {
            names,
            start_time,
            context,
        }
    }

    /// Runs `f` inside a span (`telemetry:span/3`). `f` returns its result and the stop data.
    /// If `f` panics, the exception event is emitted and the panic continues.
    pub fn span<R>(
        &self,
        prefix: EventName,
        start_metadata: &[Field],
        f: impl FnOnce() -> (R, SpanStop),
    ) -> R {
        let span = self.span_start(prefix, start_metadata);
        self.end_span(span, start_metadata, catch_unwind(AssertUnwindSafe(f)))
    }

    /// Emits stop for a result, or exception for a panic (which then continues).
    fn end_span<R>(
        &self,
        span: ActiveSpan,
        start_metadata: &[Field],
        outcome: std::thread::Result<(R, SpanStop)>,
    ) -> R {
        match outcome {
            Ok((result, stop)) => {
                span.stop(self, &stop.measurements, &stop.metadata);
                if stop.measurements.capacity() == 0 && stop.metadata.capacity() == 0 {
                    // Two empty vectors own nothing: skip their drop (the common case).
                    std::mem::forget(stop);
                }
                result
            }
            Err(payload) => {
                let reason = guard::panic_message(&*payload);
                span.exception(
                    self,
                    start_metadata,
                    "panic",
                    reason,
                    guard::take_last_panic_trace(),
                );
                resume_unwind(payload)
            }
        }
    }

    /// A span around a fallible function: the stop metadata is the start metadata, plus
    /// `error` (the error's `Display` text) when `f` returns `Err`. See the module docs.
    pub fn span_result<T, E: std::fmt::Display>(
        &self,
        prefix: EventName,
        start_metadata: &[Field],
        f: impl FnOnce() -> Result<T, E>,
    ) -> Result<T, E> {
        self.span(prefix, start_metadata, || {
            let r = f();
            let mut md = start_metadata.to_vec();
            if let Err(e) = &r {
                md.push((Key::new_static("error"), Value::from(e.to_string())));
            }
            (r, SpanStop::metadata(md))
        })
    }

    /// [`span`](Self::span) for a future: start now, stop when it completes, exception if a
    /// poll panics (the panic then continues).
    pub async fn span_async<R, Fut>(
        &self,
        prefix: EventName,
        start_metadata: &[Field],
        fut: Fut,
    ) -> R
    where
        Fut: Future<Output = (R, SpanStop)>,
    {
        let span = self.span_start(prefix, start_metadata);
        let outcome = AssertUnwindSafe(fut).catch_unwind().await;
        self.end_span(span, start_metadata, outcome)
    }
}
