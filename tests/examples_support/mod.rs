//! Runs a scenario in-process the way `rookery run --headless` does: a fresh registry, the
//! monitor's live feed attached before the engine starts, the scenario for a while (real time:
//! the examples do real I/O), then a stop that waits for every user, and the summary.

use std::sync::Arc;
use std::time::{Duration, Instant};

use rookery::engine::config::ExplicitSettings;
use rookery::engine::{DynScenario, EngineHandle, EngineOptions};
use rookery::monitor::{DEFAULT_FEED_CAPACITY, LiveFeed, MonitorState};
use rookery::telemetry::Telemetry;

/// What a headless run leaves behind.
pub struct Run {
    pub state: MonitorState,
}

impl Run {
    /// The summary's count of event `dotted` (0 when never seen).
    pub fn count(&self, dotted: &str) -> u64 {
        self.state
            .summary()
            .by_event
            .get(dotted)
            .copied()
            .unwrap_or(0)
    }

    /// The summary's `executes` of throttle `name`.
    pub fn executes(&self, name: &str) -> u64 {
        self.state
            .summary()
            .throttles
            .get(name)
            .map_or(0, |t| t.executes)
    }
}

/// Runs `scenario` with `users` on 3 simulated nodes for `length`, then stops it and waits
/// (up to 10 s) for its users to end. Events go to `telemetry`.
pub async fn run_headless(
    telemetry: &Telemetry,
    scenario: Arc<dyn DynScenario>,
    settings: &ExplicitSettings,
    users: u64,
    length: Duration,
) -> Run {
    let feed = LiveFeed::attach(
        telemetry,
        "test-monitor",
        DEFAULT_FEED_CAPACITY,
        Instant::now(),
    )
    .expect("the feed attaches");
    let engine = EngineHandle::start(EngineOptions {
        telemetry: telemetry.clone(),
        ..EngineOptions::default()
    })
    .expect("the engine starts");
    engine
        .start_scenario_with(scenario, settings, &|_| None)
        .expect("the scenario starts");
    engine.add_users(users).expect("users are added");
    let mut state = MonitorState::new();
    let end = tokio::time::Instant::now() + length;
    while tokio::time::Instant::now() < end {
        tokio::time::sleep(Duration::from_millis(50)).await;
        feed.drain_into(&mut state);
    }
    engine.stop().expect("the scenario stops");
    engine
        .wait_finished(Duration::from_secs(10))
        .await
        .expect("every user ends");
    feed.drain_into(&mut state);
    engine.shutdown();
    Run { state }
}
