//! What a run leaves behind for people and CI: thresholds (pass/fail, exit status 99), the
//! HTML report, and the OpenMetrics endpoint of the live state.

pub mod threshold;

mod charts;
pub mod html;
mod http;
pub mod metrics;
