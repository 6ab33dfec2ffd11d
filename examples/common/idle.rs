//! `Idle`: users that wait for their removal signal and do nothing else — the smallest user
//! the engine can hold (used by `examples/engine_scale.rs` and `benches/engine.rs`).

use std::sync::Arc;

use rookery::engine::{InitContext, Scenario, ScenarioError, UserContext, UserResult};
use rookery::telemetry::Value;

/// Users that wait for their removal signal, doing nothing.
pub struct Idle;

impl Scenario for Idle {
    type State = ();
    fn name(&self) -> &str {
        "idle"
    }
    fn init(&self, _ctx: &InitContext<'_>) -> Result<(), ScenarioError> {
        Ok(())
    }
    async fn start(&self, user: UserContext, _state: Arc<()>) -> UserResult {
        user.removed().await;
        Ok(Value::Null)
    }
}
