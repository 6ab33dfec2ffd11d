//! The live feed: a telemetry handler that queues every event for the UI thread.
//!
//! The handler does O(1) work in the emitting thread: it copies the event into a bounded
//! channel with `try_send` and counts what does not fit. The UI thread calls
//! [`LiveFeed::drain_into`] once per frame; the drop count surfaces in
//! [`MonitorState::dropped`].

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use crossbeam_channel::{Receiver, TrySendError, bounded};
use smol_str::SmolStr;

use super::{LoggedEvent, MonitorState};
use crate::telemetry::{Fields, HandlerId, Telemetry, TelemetryError, Value};

/// Queue capacity used by [`LiveFeed::attach_default`].
pub const DEFAULT_FEED_CAPACITY: usize = 65_536;

/// A handler attached to every event of a registry, and the receiving end of its queue.
/// Detaches on drop.
pub struct LiveFeed {
    telemetry: Telemetry,
    id: HandlerId,
    rx: Receiver<LoggedEvent>,
    dropped: Arc<AtomicU64>,
    start: Instant,
}

impl LiveFeed {
    /// Attaches under `id` to every event (`attach_prefix` with the empty prefix). `t_us` of
    /// each event is measured from `start`.
    pub fn attach(
        telemetry: &Telemetry,
        id: &str,
        capacity: usize,
        start: Instant,
    ) -> Result<LiveFeed, TelemetryError> {
        let (tx, rx) = bounded::<LoggedEvent>(capacity.max(1));
        let dropped = Arc::new(AtomicU64::new(0));
        let d = dropped.clone();
        telemetry.attach_prefix(
            id,
            &[] as &[&str],
            move |name, m, md, _| {
                let ev = LoggedEvent {
                    t_us: start.elapsed().as_micros() as u64,
                    node: md.get_str("node").map(SmolStr::new),
                    name,
                    measurements: m.to_vec(),
                    metadata: md.to_vec(),
                };
                if let Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) = tx.try_send(ev)
                {
                    d.fetch_add(1, Ordering::Relaxed);
                }
            },
            Value::Null,
        )?;
        Ok(LiveFeed {
            telemetry: telemetry.clone(),
            id: HandlerId::from(id),
            rx,
            dropped,
            start,
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

    /// Applies every queued event to `state` and updates its dropped count. Returns how many
    /// events were applied.
    pub fn drain_into(&self, state: &mut MonitorState) -> usize {
        let mut n = 0;
        while let Ok(ev) = self.rx.try_recv() {
            state.apply(&ev.as_ref());
            n += 1;
        }
        state.set_dropped(self.dropped());
        n
    }

    /// Like [`drain_into`](Self::drain_into), but stops after `max` events so one frame never
    /// takes too long.
    pub fn drain_at_most(&self, state: &mut MonitorState, max: usize) -> usize {
        let mut n = 0;
        while n < max {
            let Ok(ev) = self.rx.try_recv() else { break };
            state.apply(&ev.as_ref());
            n += 1;
        }
        state.set_dropped(self.dropped());
        n
    }

    /// Events dropped because the queue was full.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }

    /// Events waiting in the queue.
    pub fn pending(&self) -> usize {
        self.rx.len()
    }

    /// The instant `t_us = 0` refers to.
    pub fn start(&self) -> Instant {
        self.start
    }
}

impl Drop for LiveFeed {
    fn drop(&mut self) {
        let _ = self.telemetry.detach(self.id.clone());
    }
}
