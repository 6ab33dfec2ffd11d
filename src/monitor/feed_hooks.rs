//! What a [`LiveFeed`] does around each drain, for whoever owns the state (the monitor or a
//! headless run): install the run's thresholds before the first event, and show the state to
//! observers after each drain (the metrics endpoint, `--abort-on-fail`). Observers run on the
//! draining thread, must be quick, and must not emit events or wait.

use super::{LiveFeed, MonitorState};
use crate::report::threshold::ThresholdSet;

/// Called with the state after each drain.
pub type DrainObserver = Box<dyn FnMut(&MonitorState) + Send>;

#[derive(Default)]
pub(crate) struct FeedHooks {
    thresholds: Option<ThresholdSet>,
    observers: Vec<DrainObserver>,
}

impl FeedHooks {
    pub(crate) fn before(&mut self, state: &mut MonitorState) {
        if let Some(t) = self.thresholds.take()
            && state.thresholds().is_none()
        {
            state.set_thresholds(t);
        }
    }

    pub(crate) fn after(&mut self, state: &MonitorState) {
        for o in &mut self.observers {
            o(state);
        }
    }
}

impl LiveFeed {
    /// The state this feed first drains into checks `thresholds` (unless it already checks
    /// some).
    pub fn set_thresholds(&self, thresholds: ThresholdSet) {
        self.hooks_mut().thresholds = Some(thresholds);
    }

    /// Shows the state to `observer` after every drain.
    pub fn observe(&self, observer: DrainObserver) {
        self.hooks_mut().observers.push(observer);
    }

    fn hooks_mut(&self) -> std::sync::MutexGuard<'_, FeedHooks> {
        self.hooks.lock().unwrap_or_else(|e| e.into_inner())
    }
}
