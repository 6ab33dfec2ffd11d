//! The load-testing engine: scenarios, virtual users, throttles, coordinators, configuration
//! and a simulated cluster. It reports everything through [`crate::telemetry`] and knows nothing
//! of terminals.
pub mod events;
pub mod throttle;
