//! The queue between the tap's telemetry handler (any emitting thread) and its pump (whichever
//! consumer pumps: the recorder's writer, or the UI draining the live feed).
//!
//! Per-thread shards of flat storage behind uncontended locks: queuing an event copies its
//! fields into a reused buffer (no allocation once warm), never waits for the consumer (only
//! for the `mem::swap` the consumer does under the lock), and is bounded: an event that does
//! not fit is counted in [`EventQueue::dropped`].

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Instant;

use crate::telemetry::{EventName, Field, Fields, Value, monotonic_time};

/// One event's place in a [`Batch`]: its fields are `fields[at..at + n_m + n_md]`.
struct Head {
    t_us: u64,
    name: EventName,
    at: u32,
    n_m: u16,
    n_md: u16,
}

/// Events of one shard: flat storage.
#[derive(Default)]
pub(crate) struct Batch {
    heads: Vec<Head>,
    fields: Vec<Field>,
    /// Some field owns heap memory (dropping the fields must run their destructors).
    owning: bool,
}

impl Batch {
    /// Copies the fields in: a field that owns no heap memory (a static or short key, a number,
    /// a short string: nearly every engine field) is copied bit for bit, others are cloned.
    /// Cloning through `Clone` costs several times more per field (issue 13.7: the tap's copy
    /// is the whole recording overhead on the emitting thread).
    #[inline]
    fn copy_in(&mut self, fields: &[Field]) {
        self.fields.reserve(fields.len());
        if fields.iter().all(owns_nothing) {
            // SAFETY: no field owns heap memory or has a `Drop` side effect (see above), so the
            // bits are independent values; `reserve` made room for them.
            unsafe {
                let len = self.fields.len();
                std::ptr::copy_nonoverlapping(
                    fields.as_ptr(),
                    self.fields.as_mut_ptr().add(len),
                    fields.len(),
                );
                self.fields.set_len(len + fields.len());
            }
            return;
        }
        for f in fields {
            if owns_nothing(f) {
                // SAFETY: the field owns no heap memory and no `Drop` side effect: its bits
                // are an independent value, a clone.
                self.fields.push(unsafe { std::ptr::read(f) });
            } else {
                self.owning = true;
                self.fields.push(f.clone());
            }
        }
    }

    fn clear(&mut self) {
        self.heads.clear();
        if self.owning {
            self.fields.clear();
            self.owning = false;
        } else {
            // SAFETY: no field owns anything (see `copy_in`): forgetting them leaks nothing.
            unsafe { self.fields.set_len(0) };
        }
    }
}

/// True when `f` owns no heap memory: its key and value are inline or static.
#[inline]
fn owns_nothing(f: &Field) -> bool {
    !f.0.is_heap_allocated()
        && match &f.1 {
            Value::Null | Value::Bool(_) | Value::Int(_) | Value::Float(_) => true,
            Value::Str(s) => !s.is_heap_allocated(),
            Value::List(_) | Value::Map(_) => false,
        }
}

/// A shard on its own cache lines, so emitting threads do not share one lock.
#[repr(align(128))]
struct Shard(Mutex<Batch>);

/// What [`EventQueue::push`] did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Pushed {
    Queued,
    /// Queued, and the shard is now half full: worth waking the consumer.
    QueuedHalfFull,
    /// Did not fit (counted).
    Dropped,
}

pub(crate) struct EventQueue {
    shards: Box<[Shard]>,
    per_shard: usize,
    dropped: AtomicU64,
    start: Instant,
    /// [`monotonic_time`] at `start`, in ns.
    start_mono: i64,
}

/// `start` on the [`monotonic_time`] clock, the same for every queue given the same `start`
/// (the live feed and the recorder must stamp an event alike): both clocks are read once per
/// process, and every instant is placed relative to that pair.
fn mono_of(start: Instant) -> i64 {
    static REFERENCE: std::sync::OnceLock<(Instant, i64)> = std::sync::OnceLock::new();
    let (r, m) = *REFERENCE.get_or_init(|| (Instant::now(), monotonic_time()));
    match start.checked_duration_since(r) {
        Some(d) => m + d.as_nanos() as i64,
        None => m - r.duration_since(start).as_nanos() as i64,
    }
}

fn thread_slot() -> usize {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    thread_local! {
        static SLOT: usize = NEXT.fetch_add(1, Ordering::Relaxed);
    }
    SLOT.try_with(|s| *s).unwrap_or(0)
}

impl EventQueue {
    /// A queue holding up to `capacity` events per shard (what one emitting thread sees; the
    /// total is bounded by `capacity` times the shard count, twice the cores, at most 32);
    /// `t_us` counts from `start`.
    pub(crate) fn new(capacity: usize, start: Instant) -> EventQueue {
        let n = std::thread::available_parallelism()
            .map_or(4, |n| n.get() * 2)
            .clamp(2, 32);
        EventQueue {
            shards: (0..n)
                .map(|_| Shard(Mutex::new(Batch::default())))
                .collect(),
            per_shard: capacity.max(1),
            dropped: AtomicU64::new(0),
            start,
            start_mono: mono_of(start),
        }
    }

    pub(crate) fn start(&self) -> Instant {
        self.start
    }

    /// Microseconds since `start`, now.
    pub(crate) fn now_us(&self) -> u64 {
        self.start.elapsed().as_micros() as u64
    }

    /// Events that did not fit.
    pub(crate) fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }

    /// Queues one event (the handler's whole work).
    #[inline]
    pub(crate) fn push(&self, name: EventName, m: &[Field], md: &[Field]) -> Pushed {
        // Engine events carry the emitter's own `monotonic_time` (ns) in their metadata, spans
        // in their measurements: use it rather than read the clock again, so that every queue
        // (the live feed, the recorder) stamps the event alike. A value from another clock is
        // bounded in `take`.
        // The emitter puts it last but one: look from the end.
        let own = md
            .iter()
            .rev()
            .find(|(k, _)| k == "monotonic_time")
            .map(|(_, v)| v)
            .or_else(|| m.lookup("monotonic_time"));
        let t_us = match own {
            Some(Value::Int(ns)) if *ns >= self.start_mono => {
                ((ns - self.start_mono) / 1000) as u64
            }
            _ => self.now_us(),
        };
        let shard = &self.shards[thread_slot() % self.shards.len()];
        let mut b = shard.0.lock().unwrap_or_else(|e| e.into_inner());
        let (Ok(n_m), Ok(n_md), Ok(at), true) = (
            u16::try_from(m.len()),
            u16::try_from(md.len()),
            u32::try_from(b.fields.len() + m.len() + md.len()),
            b.heads.len() < self.per_shard,
        ) else {
            drop(b);
            self.dropped.fetch_add(1, Ordering::Relaxed);
            return Pushed::Dropped;
        };
        let at = at - (m.len() + md.len()) as u32;
        b.copy_in(m);
        b.copy_in(md);
        b.heads.push(Head {
            t_us,
            name,
            at,
            n_m,
            n_md,
        });
        let len = b.heads.len();
        drop(b);
        if len == self.per_shard / 2 {
            Pushed::QueuedHalfFull
        } else {
            Pushed::Queued
        }
    }

    /// Events waiting.
    pub(crate) fn len(&self) -> usize {
        self.shards
            .iter()
            .map(|s| s.0.lock().map_or(0, |b| b.heads.len()))
            .sum()
    }

    /// Takes everything queued (swapping in buffers from `into.spares`) and orders it by time.
    pub(crate) fn take(&self, into: &mut Taken) {
        into.recycle();
        for shard in self.shards.iter() {
            let mut spare = into.spares.pop().unwrap_or_default();
            {
                let mut b = shard.0.lock().unwrap_or_else(|e| e.into_inner());
                if b.heads.is_empty() {
                    into.spares.push(spare);
                    continue;
                }
                std::mem::swap(&mut *b, &mut spare);
            }
            into.batches.push(spare);
        }
        // No event can be later than now: a `monotonic_time` from another clock sorts first
        // and is then clamped by the consumer's non-decreasing rule.
        let now_us = self.now_us();
        for (bi, b) in into.batches.iter().enumerate() {
            for (hi, h) in b.heads.iter().enumerate() {
                let t = if h.t_us > now_us { 0 } else { h.t_us };
                into.order.push((t, bi as u32, hi as u32));
            }
        }
        // Each shard is in time order already (one thread, or a few); interleave the shards.
        if into.batches.len() > 1 {
            into.order.sort_by_key(|o| o.0);
        }
    }
}

/// Events taken from an [`EventQueue`], in time order; reuse it so buffers are recycled.
#[derive(Default)]
pub(crate) struct Taken {
    batches: Vec<Batch>,
    spares: Vec<Batch>,
    order: Vec<(u64, u32, u32)>,
}

impl Taken {
    /// Adds an event after those taken (the tap's own `dropped` count).
    pub(crate) fn append(&mut self, t_us: u64, name: EventName, m: &[Field], md: &[Field]) {
        let mut b = self.spares.pop().unwrap_or_default();
        let at = b.fields.len() as u32;
        b.copy_in(m);
        b.copy_in(md);
        b.heads.push(Head {
            t_us,
            name,
            at,
            n_m: m.len() as u16,
            n_md: md.len() as u16,
        });
        self.order
            .push((t_us, self.batches.len() as u32, b.heads.len() as u32 - 1));
        self.batches.push(b);
    }

    /// Makes times non-decreasing from `floor` on (emitting threads race for the clock, and a
    /// later take may hold an event stamped before the previous take's last); returns the last.
    pub(crate) fn clamp_from(&mut self, floor: u64) -> u64 {
        let mut last = floor;
        for o in &mut self.order {
            last = last.max(o.0);
            o.0 = last;
        }
        last
    }

    /// Empties it, keeping its buffers for the next take.
    pub(crate) fn recycle(&mut self) {
        for mut b in self.batches.drain(..) {
            b.clear();
            self.spares.push(b);
        }
        self.order.clear();
    }

    pub(crate) fn len(&self) -> usize {
        self.order.len()
    }

    /// The `i`-th event in time order: `(t_us, name, measurements, metadata)`.
    pub(crate) fn get(&self, i: usize) -> (u64, &EventName, &[Field], &[Field]) {
        let (t, bi, hi) = self.order[i];
        let b = &self.batches[bi as usize];
        let h = &b.heads[hi as usize];
        let at = h.at as usize;
        let mid = at + h.n_m as usize;
        (
            t,
            &h.name,
            &b.fields[at..mid],
            &b.fields[mid..mid + h.n_md as usize],
        )
    }
}
