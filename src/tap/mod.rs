//! The event tap: one telemetry handler on every event of a registry, fanning out to the live
//! monitor feed and the recorder with one copy per event.
//!
//! ```text
//!  emitting threads ──execute──► tap handler ──copy──► EventQueue (bounded, per-thread shards)
//!                                                          │ pump (whoever consumes: the
//!                                                          ▼  recorder's writer, the UI's drain)
//!                                          Arc<batch> ──┬──► outlet: live feed (MonitorState)
//!                                                       └──► outlet: recorder (event log)
//! ```
//!
//! The handler copies each event once into the queue and never waits. A *pump* takes what is
//! queued, puts it in time order (times made non-decreasing once, here, so every consumer sees
//! the same `t_us`), and hands the same batch (shared, not copied) to every outlet. There is no
//! pump thread: the consumers pump, the recorder's writer at least every 10 ms (sooner when a
//! shard is half full) and the UI once per frame, so a drain sees everything emitted before it.
//!
//! Nothing is lost silently; each loss is an event, counted where it happens:
//! * `[rookery, tap, dropped]` ([`TAP_DROPPED`]): the queue was full, the events reached nobody.
//!   Put into the stream itself, so the recording and the monitor both carry the count.
//! * `[rookery, monitor, dropped]` ([`MONITOR_DROPPED`]): the live feed fell behind; applied
//!   to the live state only (the recording has those events).
//! * `[rookery, recorder, dropped]` (`eventlog::DROPPED_EVENT`): the recorder fell behind;
//!   written into the log only (the monitor saw those events).
//!
//! Each carries `count` (events lost since the previous one) in its measurements and `total`
//! in its metadata.

mod event;
mod pumper;
pub(crate) mod queue;

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

use crossbeam_channel::{Receiver, Sender, TrySendError, bounded};

pub use event::{EventRef, LoggedEvent};
use queue::{EventQueue, Pushed, Taken};

use crate::telemetry::{
    EventName, Field, HandlerId, Key, StaticName, Telemetry, TelemetryError, Value,
};

/// `[rookery, tap, dropped]`: events the tap's queue could not hold (see the module docs).
pub static TAP_DROPPED: StaticName = StaticName::new(&["rookery", "tap", "dropped"]);
/// `[rookery, monitor, dropped]`: events the live feed fell behind on (see the module docs).
pub static MONITOR_DROPPED: StaticName = StaticName::new(&["rookery", "monitor", "dropped"]);

/// Events a tap's queue holds per emitting-thread shard by default.
pub const DEFAULT_TAP_CAPACITY: usize = 1 << 16;

/// Batches an outlet may hold before the pump counts further ones as lost for it.
const OUTLET_BATCHES: usize = 1024;

/// A tap's settings.
#[derive(Clone, Debug)]
pub struct TapOptions {
    /// The telemetry handler id.
    pub handler_id: String,
    /// Events the queue holds per emitting-thread shard (the total is bounded by this times
    /// the shard count, twice the cores, at most 32).
    pub capacity: usize,
    /// `t_us = 0` of every event.
    pub start: Instant,
}

impl Default for TapOptions {
    fn default() -> Self {
        TapOptions {
            handler_id: "rookery-tap".into(),
            capacity: DEFAULT_TAP_CAPACITY,
            start: Instant::now(),
        }
    }
}

/// One tap on a registry. Cloning shares it; the handler is detached by [`close`](Self::close)
/// or when the last clone is dropped.
#[derive(Clone)]
pub struct Tap(Arc<Shared>);

struct Shared {
    telemetry: Telemetry,
    id: HandlerId,
    queue: Arc<EventQueue>,
    attached: AtomicBool,
    /// Woken when a shard is half full or an event is dropped: the recorder's writer waits here.
    wake: Receiver<()>,
    pump: Mutex<Pump>,
}

struct Pump {
    outlets: Vec<Outlet>,
    /// The queue's dropped count already put into the stream.
    reported: u64,
    last_t_us: u64,
    /// Batches handed out; reused once every outlet has let go of one.
    sent: Vec<Arc<Taken>>,
}

/// The pump's end of one consumer.
struct Outlet {
    tx: Sender<Arc<Taken>>,
    counts: Arc<OutletCounts>,
}

#[derive(Default)]
struct OutletCounts {
    /// Events handed over and not yet consumed.
    pending: AtomicUsize,
    /// Most events it may hold pending before more are counted as lost.
    capacity: usize,
    /// Events lost because it was behind (its channel or `capacity` was full).
    lost: AtomicU64,
}

/// A consumer's end: batches in time order, every event in the same order for every consumer.
pub(crate) struct Inlet {
    rx: Receiver<Arc<Taken>>,
    counts: Arc<OutletCounts>,
    /// Lost events already reported.
    reported: u64,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Tap {
    /// Attaches the tap's handler to every event of `telemetry` (`attach_prefix` with the empty
    /// prefix, so names first used later are seen too).
    pub fn attach(telemetry: &Telemetry, options: TapOptions) -> Result<Tap, TelemetryError> {
        let queue = Arc::new(EventQueue::new(options.capacity, options.start));
        let (wake_tx, wake_rx) = bounded::<()>(1);
        let q = queue.clone();
        telemetry.attach_prefix(
            options.handler_id.as_str(),
            &[] as &[&str],
            move |name, m, md, _| match q.push(name, m, md) {
                Pushed::Queued => {}
                Pushed::QueuedHalfFull | Pushed::Dropped => {
                    let _ = wake_tx.try_send(());
                }
            },
            Value::Null,
        )?;
        Ok(Tap(Arc::new(Shared {
            telemetry: telemetry.clone(),
            id: HandlerId::from(options.handler_id),
            queue,
            attached: AtomicBool::new(true),
            wake: wake_rx,
            pump: Mutex::new(Pump {
                outlets: Vec::new(),
                reported: 0,
                last_t_us: 0,
                sent: Vec::new(),
            }),
        })))
    }

    /// The registry it taps.
    pub fn telemetry(&self) -> &Telemetry {
        &self.0.telemetry
    }

    /// The instant `t_us = 0` refers to.
    pub fn start(&self) -> Instant {
        self.0.queue.start()
    }

    /// Microseconds since [`start`](Self::start), now.
    pub fn now_us(&self) -> u64 {
        self.0.queue.now_us()
    }

    /// Events the queue could not hold so far (each loss also reaches the consumers as a
    /// `[rookery, tap, dropped]` event).
    pub fn dropped(&self) -> u64 {
        self.0.queue.dropped()
    }

    /// Whether its handler is still attached (not [`close`](Self::close)d).
    pub fn is_attached(&self) -> bool {
        self.0.attached.load(Ordering::Acquire)
    }

    /// Events queued and not yet pumped.
    pub fn pending(&self) -> usize {
        self.0.queue.len()
    }

    /// Detaches the handler and pumps what is left, so every consumer gets every event emitted
    /// before this call. Later events are seen by nobody. Calling it again does nothing.
    pub fn close(&self) {
        if self.0.attached.swap(false, Ordering::AcqRel) {
            let _ = self.0.telemetry.detach(self.0.id.clone());
        }
        self.pump();
    }

    /// A new consumer: from now on it receives every pumped batch. `capacity` bounds the events
    /// it may hold unconsumed; beyond that (or [`OUTLET_BATCHES`] batches) they are counted as
    /// lost for it alone.
    pub(crate) fn subscribe(&self, capacity: usize) -> Inlet {
        let (tx, rx) = bounded(OUTLET_BATCHES);
        let counts = Arc::new(OutletCounts {
            capacity,
            ..OutletCounts::default()
        });
        lock(&self.0.pump).outlets.push(Outlet {
            tx,
            counts: counts.clone(),
        });
        Inlet {
            rx,
            counts,
            reported: 0,
        }
    }

    /// The receiver woken when a shard is half full or an event was dropped.
    pub(crate) fn wake(&self) -> &Receiver<()> {
        &self.0.wake
    }

    /// Moves everything queued to every consumer. Never blocks on a consumer.
    pub(crate) fn pump(&self) {
        let mut p = lock(&self.0.pump);
        let p = &mut *p;
        // An outlet whose inlet is gone holds the only count.
        p.outlets.retain(|o| Arc::strong_count(&o.counts) > 1);
        let mut taken = p
            .sent
            .iter_mut()
            .position(|t| Arc::get_mut(t).is_some())
            .map(|i| p.sent.swap_remove(i))
            .and_then(|t| Arc::try_unwrap(t).ok())
            .unwrap_or_default();
        self.0.queue.take(&mut taken);
        let total = self.0.queue.dropped();
        if total > p.reported {
            let (m, md) = dropped_fields(total - p.reported, total);
            taken.append(self.0.queue.now_us(), TAP_DROPPED.get(), &m, &md);
            p.reported = total;
        }
        if taken.len() == 0 {
            taken.recycle();
            p.sent.push(Arc::new(taken));
            return;
        }
        p.last_t_us = taken.clamp_from(p.last_t_us);
        let n = taken.len();
        let batch = Arc::new(taken);
        for o in &p.outlets {
            let c = &o.counts;
            if c.pending.load(Ordering::Acquire).saturating_add(n) > c.capacity {
                c.lost.fetch_add(n as u64, Ordering::AcqRel);
                continue;
            }
            c.pending.fetch_add(n, Ordering::AcqRel);
            match o.tx.try_send(batch.clone()) {
                Ok(()) => {}
                Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) => {
                    c.pending.fetch_sub(n, Ordering::AcqRel);
                    c.lost.fetch_add(n as u64, Ordering::AcqRel);
                }
            }
        }
        p.sent.push(batch);
        // Keep a few for reuse; a consumer holding more lets them go when it is done.
        if p.sent.len() > 8 {
            p.sent.retain(|t| Arc::strong_count(t) > 1);
        }
    }
}

impl Drop for Shared {
    fn drop(&mut self) {
        if self.attached.load(Ordering::Acquire) {
            let _ = self.telemetry.detach(self.id.clone());
        }
    }
}

impl Inlet {
    /// Calls `each` on every event received so far, in order; returns how many.
    pub(crate) fn drain(&self, mut each: impl FnMut(u64, &EventName, &[Field], &[Field])) -> usize {
        let mut n = 0;
        while let Ok(batch) = self.rx.try_recv() {
            for i in 0..batch.len() {
                let (t, name, m, md) = batch.get(i);
                each(t, name, m, md);
            }
            n += batch.len();
            self.counts.pending.fetch_sub(batch.len(), Ordering::AcqRel);
        }
        n
    }

    /// Events lost for this consumer since the last call (and the total), if any.
    pub(crate) fn newly_lost(&mut self) -> Option<(u64, u64)> {
        let total = self.counts.lost.load(Ordering::Acquire);
        (total > self.reported).then(|| {
            let count = total - self.reported;
            self.reported = total;
            (count, total)
        })
    }

    /// Events lost for this consumer so far.
    pub(crate) fn lost(&self) -> u64 {
        self.counts.lost.load(Ordering::Acquire)
    }

    /// Events handed over and not yet drained.
    pub(crate) fn pending(&self) -> usize {
        self.counts.pending.load(Ordering::Acquire)
    }
}

/// A `[rookery, *, dropped]` event's fields: `count` in the measurements, `total` in the
/// metadata.
pub(crate) fn dropped_fields(count: u64, total: u64) -> ([Field; 1], [Field; 1]) {
    (
        [(Key::new_static("count"), Value::from(count))],
        [(Key::new_static("total"), Value::from(total))],
    )
}
