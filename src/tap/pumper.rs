//! The pumper: a small thread that pumps a tap whenever one of its shards is half full, so a
//! consumer that drains only now and then (the monitor once per frame, a headless run every
//! 33 ms) does not make the tap drop events during a burst. A burst is what a million users
//! ending at a stop emit in a second; the consumer may be slow to apply them (or starved of CPU
//! by the users' threads), but the pump only moves batches into its inlet, which holds far more
//! than the tap's per-thread shards.
//!
//! The thread holds no clone of the tap: it ends when the tap's handler is gone (closed or
//! dropped) or the tap itself is dropped.

use std::sync::Weak;
use std::time::Duration;

use crossbeam_channel::RecvTimeoutError;

use super::{Shared, Tap};

/// How often the thread checks that the tap still exists when nothing wakes it.
const CHECK_EVERY: Duration = Duration::from_millis(100);

impl Tap {
    /// Starts the pumper thread (`rookery-pump`). It is detached: it ends by itself after the
    /// tap is closed or dropped.
    pub fn start_pumper(&self) -> std::io::Result<()> {
        let weak: Weak<Shared> = std::sync::Arc::downgrade(&self.0);
        let wake = self.0.wake.clone();
        std::thread::Builder::new()
            .name("rookery-pump".into())
            .spawn(move || {
                loop {
                    match wake.recv_timeout(CHECK_EVERY) {
                        Ok(()) => {}
                        Err(RecvTimeoutError::Timeout) => {}
                        Err(RecvTimeoutError::Disconnected) => return,
                    }
                    let Some(shared) = weak.upgrade() else { return };
                    let tap = Tap(shared);
                    if !tap.is_attached() {
                        return;
                    }
                    tap.pump();
                }
            })
            .map(drop)
    }
}
