//! The live feed: the monitor's consumer of an event [`Tap`].
//!
//! The tap's handler does O(1) work in the emitting thread (one copy into a bounded queue, never
//! waiting for the UI). The UI thread calls [`LiveFeed::drain_into`] once per frame: it pumps the
//! tap and applies every event in time order. Whatever was lost on the way arrives as an event
//! (`[rookery, tap, dropped]` or `[rookery, monitor, dropped]`) that the state counts in
//! [`MonitorState::dropped`].

use std::sync::Mutex;
use std::time::Instant;

use super::{EventRef, MonitorState};
use crate::tap::{DEFAULT_TAP_CAPACITY, Inlet, MONITOR_DROPPED, Tap, TapOptions, dropped_fields};
use crate::telemetry::{Fields, Telemetry, TelemetryError};

/// Queue capacity used by [`LiveFeed::attach_default`].
pub const DEFAULT_FEED_CAPACITY: usize = DEFAULT_TAP_CAPACITY;

/// The monitor's end of a [`Tap`]. Dropping it detaches a tap it made itself
/// ([`attach`](Self::attach)); a shared tap ([`on_tap`](Self::on_tap)) stays.
pub struct LiveFeed {
    tap: Tap,
    inlet: Mutex<Inlet>,
    /// True when the feed made its tap (and so closes it on drop).
    owns_tap: bool,
    pub(super) hooks: Mutex<super::feed_hooks::FeedHooks>,
}

impl LiveFeed {
    /// A tap of its own under handler `id` on every event; `capacity` is per emitting-thread
    /// shard (see [`TapOptions::capacity`]); `t_us` of each event is measured from `start`.
    pub fn attach(
        telemetry: &Telemetry,
        id: &str,
        capacity: usize,
        start: Instant,
    ) -> Result<LiveFeed, TelemetryError> {
        let tap = Tap::attach(
            telemetry,
            TapOptions {
                handler_id: id.to_owned(),
                capacity,
                start,
            },
        )?;
        let mut feed = LiveFeed::on_tap(&tap, usize::MAX);
        feed.owns_tap = true;
        Ok(feed)
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

    /// The monitor's consumer of a shared tap (one the recorder reads too). It may fall behind
    /// by `capacity` events before later ones are counted as lost (for the monitor only).
    pub fn on_tap(tap: &Tap, capacity: usize) -> LiveFeed {
        LiveFeed {
            tap: tap.clone(),
            inlet: Mutex::new(tap.subscribe(capacity)),
            owns_tap: false,
            hooks: Mutex::default(),
        }
    }

    /// Starts its tap's pumper thread (see [`Tap::start_pumper`]): bursts of events wait in
    /// the feed, not in the tap's small per-thread shards, until the next drain.
    pub fn start_pumper(&self) -> std::io::Result<()> {
        self.tap.start_pumper()
    }

    /// Applies every event emitted so far to `state`, in time order; a loss on the way is
    /// applied as its `dropped` event. Returns how many events were applied.
    pub fn drain_into(&self, state: &mut MonitorState) -> usize {
        let mut hooks = self.hooks.lock().unwrap_or_else(|e| e.into_inner());
        hooks.before(state);
        self.tap.pump();
        let mut inlet = self.inlet.lock().unwrap_or_else(|e| e.into_inner());
        let mut n = inlet.drain(|t_us, name, measurements, metadata| {
            state.apply(&EventRef {
                t_us,
                node: metadata.get_str("node"),
                name,
                measurements,
                metadata,
            });
        });
        if let Some((count, total)) = inlet.newly_lost() {
            let (m, md) = dropped_fields(count, total);
            state.apply(&EventRef::new(
                state.last_t_us(),
                &MONITOR_DROPPED.get(),
                &m,
                &md,
            ));
            n += 1;
        }
        drop(inlet);
        hooks.after(state);
        n
    }

    /// Events lost on the way to this feed (the tap's queue full, or the feed behind).
    pub fn dropped(&self) -> u64 {
        let lost = self.inlet.lock().unwrap_or_else(|e| e.into_inner()).lost();
        self.tap.dropped() + lost
    }

    /// Events waiting (in the tap's queue or handed to the feed and not applied).
    pub fn pending(&self) -> usize {
        let handed = self
            .inlet
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .pending();
        self.tap.pending() + handed
    }

    /// The instant `t_us = 0` refers to.
    pub fn start(&self) -> Instant {
        self.tap.start()
    }

    /// Microseconds since [`start`](Self::start), now (the live "current time" of a run).
    pub fn now_us(&self) -> u64 {
        self.tap.now_us()
    }
}

impl Drop for LiveFeed {
    fn drop(&mut self) {
        if self.owns_tap {
            self.tap.close();
        }
    }
}
