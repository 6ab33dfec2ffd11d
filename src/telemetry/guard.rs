//! Panics that Rookery catches on purpose (a failing handler, a crashing virtual user).
//!
//! Rust runs the panic hook *before* `catch_unwind` gets the payload, so without help a caught
//! panic still prints to stderr (garbling a full-screen terminal) and reaches any hook that
//! restores the terminal. Code that catches panics runs inside [`guarded`]; the hook installed by
//! [`install_panic_hook`] notices that, keeps the message and location for the failure event's
//! `stacktrace`, and stays quiet. Panics outside a guarded section go to the previous hook.

use std::backtrace::{Backtrace, BacktraceStatus};
use std::cell::{Cell, RefCell};
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};

use super::Value;

thread_local! {
    static DEPTH: Cell<u32> = const { Cell::new(0) };
    static LAST_TRACE: RefCell<Option<Vec<String>>> = const { RefCell::new(None) };
}

/// Runs `f` as a guarded section: a panic inside it is expected to be caught by the caller.
#[inline]
pub fn guarded<R>(f: impl FnOnce() -> R) -> R {
    struct Exit;
    impl Drop for Exit {
        fn drop(&mut self) {
            DEPTH.with(|d| d.set(d.get().saturating_sub(1)));
        }
    }
    DEPTH.with(|d| d.set(d.get() + 1));
    let _exit = Exit;
    f()
}

/// True inside [`guarded`] on this thread, or while telemetry handlers run on it.
pub fn is_guarded() -> bool {
    DEPTH.try_with(|d| d.get() > 0).unwrap_or(false) || super::dispatch::in_dispatch()
}

/// A future whose every poll runs in a guarded section (for tasks whose panics are caught).
pub struct Guarded<F>(pub F);

impl<F: Future> Future for Guarded<F> {
    type Output = F::Output;
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        // SAFETY: structural pinning of the only field.
        let inner = unsafe { self.map_unchecked_mut(|s| &mut s.0) };
        guarded(|| inner.poll(cx))
    }
}

static INSTALLED: AtomicBool = AtomicBool::new(false);

/// Installs the guard-aware panic hook, wrapping whatever hook is installed now. It records every
/// panic's location (and backtrace, when `RUST_BACKTRACE` asks for one) for the next failure or
/// exception event on that thread, and passes unguarded panics on. Call it after
/// any other code that installs a hook (for example a terminal-restoring one), so guarded panics
/// never reach that hook. Calling it more than once does nothing.
pub fn install_panic_hook() {
    if INSTALLED.swap(true, Ordering::SeqCst) {
        return;
    }
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let mut trace = Vec::new();
        if let Some(loc) = info.location() {
            trace.push(format!("{}:{}:{}", loc.file(), loc.line(), loc.column()));
        }
        let bt = Backtrace::capture();
        if bt.status() == BacktraceStatus::Captured {
            trace.extend(bt.to_string().lines().map(|l| l.trim().to_owned()));
        }
        let _ = LAST_TRACE.try_with(|t| *t.borrow_mut() = Some(trace));
        if !is_guarded() {
            previous(info);
        }
    }));
}

/// The trace recorded by the hook for the last guarded panic on this thread, as a list value
/// (empty when the hook is not installed).
pub fn take_last_panic_trace() -> Value {
    let trace = LAST_TRACE
        .with(|t| t.borrow_mut().take())
        .unwrap_or_default();
    Value::list(trace.into_iter().map(Value::from))
}

/// The message of a panic payload.
pub fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_owned()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "panic with a non-string payload".to_owned()
    }
}
