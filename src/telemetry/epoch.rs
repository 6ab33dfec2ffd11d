//! Per-thread epochs: how a dispatch reads a registry's snapshot without reference counting,
//! and how a snapshot replaced by an attach or detach is freed as soon as the last dispatch
//! that may still read it ends (issue 13, item 8: "detaching a handler releases it promptly").
//!
//! * A thread entering a dispatch ([`pin`]) publishes, in its own [`Slot`], the global epoch it
//!   entered in, then loads the snapshot pointer; leaving, it clears the slot. Nested dispatches
//!   (a handler that emits) only count a depth.
//! * A writer that replaces a snapshot [`retire`]s the old one, tagged with a new epoch and its
//!   registry, and [`collect`]s: a retired snapshot is dropped when no slot on its registry (or
//!   on several, see [`widen`]) holds an epoch older than its tag: every dispatch that could
//!   have loaded it has ended. A thread outside any dispatch holds nothing, however long it
//!   lives, and a dispatch on one registry does not hold back another's.
//! * A dispatch that leaves while a snapshot it may have read is still retired collects, so the
//!   last one out drops it. Drops happen with no lock held (a handler's captures may run code).
//!
//! Why not a crate: `crossbeam-epoch` frees deferred objects at some later collection (not when
//! the dispatch ends), `seize` (Hyaline) keeps a batch until it holds one entry per active
//! thread, and hazard-pointer crates reclaim on the retiring thread's next pass. The cost of
//! this scheme on the read side is about 25 instructions, two of them `SeqCst` stores
//! (callgrind figures in the README).
//!
//! Ordering: the slot store, the pointer load, the writer's swap and its scan of the slots are
//! all `SeqCst`. A dispatch whose pointer load read the old snapshot therefore published its
//! slot before the writer's swap, and the scan sees it (or sees it cleared, once done); a
//! dispatch that read an epoch at least the tag loaded the new pointer. Leaving, the slot is
//! cleared before the pending tag is read, and the writer sets the pending tag before it scans:
//! one of the two sees the other, so a retired snapshot is never left behind.

use std::cell::{Cell, OnceCell};
use std::sync::atomic::{AtomicU64, Ordering::SeqCst};
use std::sync::{Arc, Mutex, MutexGuard};

/// What one thread publishes: 0 outside any dispatch, else the epoch it entered in (high
/// bits) and the registry it dispatches on ([`registry_tag`], low bits; [`ANY`] when a handler
/// dispatched on another registry inside it). Only the same registry's retirements wait for it.
struct Slot {
    state: AtomicU64,
}

/// Bits of a slot's state that name the registry.
const TAG_BITS: u32 = 24;
const TAG_MASK: u64 = (1 << TAG_BITS) - 1;
/// The registry part of a slot whose thread is inside dispatches on several registries.
const ANY: u64 = 0;

/// The registry part of a slot for registry `uid`: never [`ANY`]. Two registries may share a
/// tag (one in 16.7 million): they then wait for each other's dispatches, which is only slower.
pub(crate) fn registry_tag(uid: u64) -> u64 {
    uid % TAG_MASK + 1
}

/// The current epoch; every retirement moves it on. Starts at 1 (0 means "outside").
static EPOCH: AtomicU64 = AtomicU64::new(1);

/// The newest tag among retired objects not yet dropped (0: none). A leaving dispatch that
/// entered before it may be what keeps one alive, and collects.
static PENDING: AtomicU64 = AtomicU64::new(0);

struct Garbage {
    /// Every thread that has dispatched and still lives (pruned when one has ended).
    threads: Vec<Arc<Slot>>,
    /// Retired objects, with the epoch they were retired in and their registry's tag.
    retired: Vec<(u64, u64, Box<dyn Send>)>,
}

static GARBAGE: Mutex<Garbage> = Mutex::new(Garbage {
    threads: Vec::new(),
    retired: Vec::new(),
});

fn garbage() -> MutexGuard<'static, Garbage> {
    GARBAGE.lock().unwrap_or_else(|e| e.into_inner())
}

/// This thread's dispatch state. No destructor, so reaching it costs no check of whether it
/// is alive; [`OWNER`] (touched only when a thread registers) retires the slot at thread exit.
struct Local {
    /// Pinned dispatches this thread is inside; the slot is published while > 0.
    pins: Cell<u32>,
    /// Dispatches of persisted registries this thread is inside (they need no pin).
    marks: Cell<u32>,
    /// The epoch the outermost pinned dispatch entered in.
    entered: Cell<u64>,
    /// The registry tag published with it ([`ANY`] once another registry was pinned inside).
    registry: Cell<u64>,
    /// This thread's slot, owned by [`OWNER`] and the collector's list; null before the
    /// thread's first dispatch and after its locals are destroyed.
    slot: Cell<*const Slot>,
}

thread_local! {
    static LOCAL: Local = const {
        Local {
            pins: Cell::new(0),
            marks: Cell::new(0),
            entered: Cell::new(0),
            registry: Cell::new(ANY),
            slot: Cell::new(std::ptr::null()),
        }
    };
    static OWNER: Owner = const { Owner(OnceCell::new()) };
}

/// Keeps this thread's slot alive while the thread is, and retires it when the thread ends.
struct Owner(OnceCell<Arc<Slot>>);

impl Drop for Owner {
    fn drop(&mut self) {
        let _ = LOCAL.try_with(|l| l.slot.set(std::ptr::null()));
        if let Some(slot) = self.0.get() {
            slot.state.store(0, SeqCst);
        }
    }
}

/// This thread is inside a pinned dispatch while the value lives: pointers loaded (with
/// `SeqCst`) from a registry after [`pin`] returned stay valid until it is dropped.
pub(crate) struct Pin {
    local: *const Local,
}

/// This thread's [`Local`]. A raw pointer, so that the hot path is not a closure the compiler
/// may keep out of line; it stays valid while the thread lives (`Local` has no destructor, so
/// its storage is never torn down before the thread's end).
#[inline(always)]
fn local() -> *const Local {
    LOCAL.with(|l| l as *const Local)
}

/// Enters a pinned dispatch. `None` while this thread is ending and its slot is gone (the
/// caller then reads the snapshot another way).
#[inline(always)]
pub(crate) fn pin(registry: u64) -> Option<Pin> {
    let p = local();
    // SAFETY: see `local`; `Pin` is not `Send`, so it ends on this thread.
    let l = unsafe { &*p };
    let slot = l.slot.get();
    if slot.is_null() && !register(l) {
        return None;
    }
    let pins = l.pins.get();
    l.pins.set(pins + 1);
    if pins == 0 {
        let e = EPOCH.load(SeqCst);
        l.entered.set(e);
        l.registry.set(registry);
        // SAFETY: a non-null `slot` is this thread's, kept alive by `OWNER` until it is reset
        // to null, which happens only after every pin of the thread has ended.
        unsafe { &*l.slot.get() }
            .state
            .store(e << TAG_BITS | registry, SeqCst);
    } else if l.registry.get() != registry {
        widen(l);
    }
    Some(Pin { local: p })
}

impl Drop for Pin {
    #[inline(always)]
    fn drop(&mut self) {
        // SAFETY: made by `pin` on this thread (`Pin` is not `Send`), which still lives.
        let l = unsafe { &*self.local };
        let pins = l.pins.get() - 1;
        l.pins.set(pins);
        if pins == 0 {
            // SAFETY: as in `pin`: the slot outlives every pin made on this thread.
            unsafe { &*l.slot.get() }.state.store(0, SeqCst);
            if PENDING.load(SeqCst) > l.entered.get() {
                collect();
            }
        }
    }
}

/// A handler dispatches on another registry inside a pinned dispatch: the slot now holds back
/// every registry's retirements (until the outermost dispatch ends). Published before the new
/// registry's pointer is loaded, so the argument of the module docs holds for it too.
#[cold]
#[inline(never)]
fn widen(l: &Local) {
    if l.registry.get() != ANY {
        l.registry.set(ANY);
        // SAFETY: as in `pin`.
        unsafe { &*l.slot.get() }
            .state
            .store(l.entered.get() << TAG_BITS | ANY, SeqCst);
    }
}

/// Counts a dispatch that needs no pin (a persisted registry's), so handlers' panics are
/// known to be caught.
pub(crate) struct Mark(());

#[inline]
pub(crate) fn mark() -> Mark {
    LOCAL.with(|l| l.marks.set(l.marks.get() + 1));
    Mark(())
}

impl Drop for Mark {
    #[inline]
    fn drop(&mut self) {
        LOCAL.with(|l| l.marks.set(l.marks.get() - 1));
    }
}

/// True while this thread is inside a dispatch.
pub(crate) fn in_dispatch() -> bool {
    LOCAL.with(|l| l.pins.get() > 0 || l.marks.get() > 0)
}

/// Gives this thread a slot; false when it is ending (its `OWNER` is gone).
#[cold]
#[inline(never)]
fn register(l: &Local) -> bool {
    let slot = Arc::new(Slot {
        state: AtomicU64::new(0),
    });
    let owned = OWNER.try_with(|o| {
        let _ = o.0.set(slot.clone());
        o.0.get().map(Arc::as_ptr)
    });
    let Ok(Some(p)) = owned else {
        return false;
    };
    {
        let mut g = garbage();
        // Threads that have ended hold no dispatch: forget their slots.
        g.threads.retain(|s| Arc::strong_count(s) > 1);
        g.threads.push(slot);
    }
    l.slot.set(p);
    true
}

/// Runs `f` under the collector's lock: a writer swaps its snapshot pointer in `f` so that a
/// thread without locals ([`pin`] gave `None`) can take a counted reference under the same
/// lock, knowing the pointer it reads is not retired meanwhile.
pub(crate) fn locked<R>(f: impl FnOnce() -> R) -> R {
    let _g = garbage();
    f()
}

/// Hands `old` (just replaced, with `SeqCst`, by a writer) to the collector. It is dropped by
/// [`collect`] once no dispatch that may have loaded it is running: call `collect` after
/// releasing any lock the drop must not run under.
pub(crate) fn retire(registry: u64, old: Box<dyn Send>) {
    let mut g = garbage();
    let tag = EPOCH.fetch_add(1, SeqCst) + 1;
    g.retired.push((tag, registry, old));
    PENDING.store(tag, SeqCst);
}

/// Drops every retired object that no running dispatch may still read.
#[cold]
#[inline(never)]
pub(crate) fn collect() {
    let freed: Vec<Box<dyn Send>> = {
        let mut g = garbage();
        if g.retired.is_empty() {
            return;
        }
        let active: Vec<u64> = g
            .threads
            .iter()
            .map(|s| s.state.load(SeqCst))
            .filter(|&state| state != 0)
            .collect();
        // Held back by a dispatch on its registry (or on several) that entered before it.
        let held = |tag: u64, registry: u64| {
            active.iter().any(|&state| {
                let (entered, on) = (state >> TAG_BITS, state & TAG_MASK);
                entered < tag && (on == ANY || on == registry)
            })
        };
        let (freed, kept): (Vec<_>, Vec<_>) = std::mem::take(&mut g.retired)
            .into_iter()
            .partition(|(tag, registry, _)| !held(*tag, *registry));
        PENDING.store(kept.iter().map(|(tag, ..)| *tag).max().unwrap_or(0), SeqCst);
        g.retired = kept;
        freed.into_iter().map(|(.., o)| o).collect()
    };
    // A handler's captures are dropped here, possibly inside an unrelated dispatch that ends
    // (or while one unwinds): a panicking `Drop` is caught and logged, never passed on to that
    // emitter.
    for garbage in freed {
        if std::panic::catch_unwind(std::panic::AssertUnwindSafe(move || drop(garbage))).is_err() {
            log::error!(target: "telemetry", "a detached handler panicked while it was dropped");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registry_tags_fit_their_bits_and_never_mean_any() {
        for uid in [0, 1, 2, TAG_MASK - 1, TAG_MASK, TAG_MASK + 1, u64::MAX] {
            let tag = registry_tag(uid);
            assert_ne!(tag, ANY, "uid {uid}");
            assert!(tag <= TAG_MASK, "uid {uid}: {tag}");
        }
        assert_ne!(registry_tag(1), registry_tag(2));
    }

    #[test]
    fn a_pin_publishes_its_epoch_and_registry_and_clears_them_when_it_ends() {
        let slot_state = || {
            let p = LOCAL.with(|l| l.slot.get());
            // SAFETY: this thread's slot, alive while the thread is.
            unsafe { &*p }.state.load(SeqCst)
        };
        let outer = pin(registry_tag(7)).expect("a live thread pins");
        let state = slot_state();
        assert_eq!(state & TAG_MASK, registry_tag(7));
        assert!(state >> TAG_BITS >= 1, "an epoch is published");
        {
            let _same = pin(registry_tag(7)).unwrap();
            assert_eq!(
                slot_state(),
                state,
                "a nested pin on the same registry changes nothing"
            );
        }
        {
            let _other = pin(registry_tag(8)).unwrap();
            assert_eq!(slot_state(), (state >> TAG_BITS) << TAG_BITS | ANY);
        }
        assert!(in_dispatch());
        drop(outer);
        assert_eq!(slot_state(), 0);
        assert!(!in_dispatch());
    }
}
