//! When a request was due: the throttle's scheduled instant for it.

use tokio::time::Instant;

use crate::engine::throttle::{ThrottleError, ThrottleHandle};

/// Waits for the throttle's next release and returns the instant it was due (`None` when an
/// `infinity` throttle released it without reading a clock: due now).
pub(crate) async fn next_due(throttle: &ThrottleHandle) -> Result<Option<Instant>, ThrottleError> {
    let permit = throttle.acquire().await?;
    Ok(permit.released_at())
}
