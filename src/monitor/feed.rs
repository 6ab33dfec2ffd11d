//! The live feed: a telemetry handler that queues every event for the UI thread.
//!
//! The handler does O(1) work in the emitting thread: it copies the event into a bounded queue
//! (per-thread shards of reused flat buffers, see `queue.rs`; no allocation once warm, never
//! waiting for the UI) and counts what does not fit. The UI thread calls
//! [`LiveFeed::drain_into`] once per frame; the drop count surfaces in
//! [`MonitorState::dropped`].

use std::sync::{Arc, Mutex};
use std::time::Instant;

use super::queue::{EventQueue, Taken};
use super::{EventRef, MonitorState};
use crate::telemetry::{Fields, HandlerId, Telemetry, TelemetryError, Value};

/// Queue capacity used by [`LiveFeed::attach_default`].
pub const DEFAULT_FEED_CAPACITY: usize = 1 << 16;

/// A handler attached to every event of a registry, and the receiving end of its queue.
/// Detaches on drop.
pub struct LiveFeed {
    telemetry: Telemetry,
    id: HandlerId,
    queue: Arc<EventQueue>,
    taken: Mutex<Taken>,
    pub(super) hooks: Mutex<super::feed_hooks::FeedHooks>,
}

impl LiveFeed {
    /// Attaches under `id` to every event (`attach_prefix` with the empty prefix). `capacity`
    /// is per emitting-thread shard (see the module docs); `t_us` of
    /// each event is measured from `start` (share it with a recorder so both agree).
    pub fn attach(
        telemetry: &Telemetry,
        id: &str,
        capacity: usize,
        start: Instant,
    ) -> Result<LiveFeed, TelemetryError> {
        let queue = Arc::new(EventQueue::new(capacity, start));
        let q = queue.clone();
        telemetry.attach_prefix(
            id,
            &[] as &[&str],
            move |name, m, md, _| {
                q.push(name, m, md);
            },
            Value::Null,
        )?;
        Ok(LiveFeed {
            telemetry: telemetry.clone(),
            id: HandlerId::from(id),
            queue,
            taken: Mutex::new(Taken::default()),
            hooks: Mutex::default(),
        })
    }

    /// [`attach`](Self::attach) with id `rookery-monitor`, [`DEFAULT_FEED_CAPACITY`] and the
    /// start taken now.
    pub fn attach_default(telemetry: &Telemetry) -> Result<LiveFeed, TelemetryError> {
        Self::attach(
            telemetry,
            "rookery-monitor",
            DEFAULT_FEED_CAPACITY,
            Instant::now(),
        )
    }

    /// Applies every queued event to `state`, in time order, and updates its dropped count.
    /// Returns how many events were applied.
    pub fn drain_into(&self, state: &mut MonitorState) -> usize {
        let mut hooks = self.hooks.lock().unwrap_or_else(|e| e.into_inner());
        hooks.before(state);
        let mut taken = self.taken.lock().unwrap_or_else(|e| e.into_inner());
        self.queue.take(&mut taken);
        for i in 0..taken.len() {
            let (t_us, name, measurements, metadata) = taken.get(i);
            state.apply(&EventRef {
                t_us,
                node: metadata.get_str("node"),
                name,
                measurements,
                metadata,
            });
        }
        state.set_dropped(self.dropped());
        let n = taken.len();
        drop(taken);
        hooks.after(state);
        n
    }

    /// Events dropped because the queue was full.
    pub fn dropped(&self) -> u64 {
        self.queue.dropped()
    }

    /// Events waiting in the queue.
    pub fn pending(&self) -> usize {
        self.queue.len()
    }

    /// The instant `t_us = 0` refers to.
    pub fn start(&self) -> Instant {
        self.queue.start()
    }

    /// Microseconds since [`start`](Self::start), now (the live "current time" of a run).
    pub fn now_us(&self) -> u64 {
        self.queue.now_us()
    }
}

impl Drop for LiveFeed {
    fn drop(&mut self) {
        let _ = self.telemetry.detach(self.id.clone());
    }
}
