//! Thresholds: pass/fail conditions on a run, `--threshold EXPR` on the command line.
//!
//! # Grammar
//!
//! ```text
//! threshold := subject metric [ "[" window "]" ] op value
//! subject   := "users" | "events" | "nodes" | "throttle" NAME | "http latency"
//!            | "http service" | ["span"] PREFIX
//! op        := "<" | "<=" | ">" | ">=" | "==" | "!="
//! window    := whole seconds: "10s", "1m", "90" (1 s to 300 s)
//! value     := NUMBER | NUMBER "%" | NUMBER ("us" | "µs" | "ms" | "s" | "m")
//! ```
//!
//! | subject | metrics |
//! |---|---|
//! | `PREFIX` (a span, e.g. `http.request`) | `p50` `p90` `p95` `p99` `p999` `max` (latency: the value needs a unit), `count`, `count/s`, `errors` (exceptions; with `%`, their share of stops + exceptions) |
//! | `http latency`, `http service` | `p50` `p90` `p99` `p999` `max` of `rookery http`'s answered requests, from the due instant or from the send; whole run only |
//! | `throttle NAME` | `requests`, `executes`, `requests/s`, `executes/s` |
//! | `users` | `added`, `removed`, `started`, `stopped`, `failed` (with `%`: share of started), `running` |
//! | `events` | `count`, `count/s`, `dropped` (by the monitor's queue or a recorder) |
//! | `nodes` | `up`, `down` |
//!
//! Examples: `http.request p99 < 250ms`, `http.request errors < 1%`,
//! `throttle messages executes/s >= 40`, `users failed == 0`, `http.request p99[10s] < 400ms`.
//!
//! # Evaluation
//!
//! Without a window a threshold is checked once, on the whole run at its end: latencies from
//! the since-start histogram, `/s` metrics as the total over the run's duration (at least 1 s).
//! With a window it must hold in **every** window of that many seconds: it is checked live,
//! each time a second ends, on the window ending there (from the run's start on; a run
//! shorter than the window is one window). The value reported is the worst window's. The
//! open last second also ends a window for latency and error-share metrics, not for counts
//! and rates (a partial second would read low). A window with no stops has no latency and is
//! skipped. A latency of a span that never completed has no value, and fails.

mod eval;
mod parse;
pub mod view;

pub use eval::{ThresholdResult, ThresholdSet};
pub use parse::{Metric, Op, Subject, Threshold, ThresholdError, Unit};

/// The unit an expression's limit is written in (`ms` of `p99 < 250ms`, `%` of `< 1%`; empty
/// for a plain count): the values of [`ThresholdResult`] are in it.
pub fn unit_written(expr: &str) -> &str {
    let end = expr.trim_end();
    let digits = end.trim_end_matches(|c: char| !(c.is_ascii_digit() || c == '.'));
    &end[digits.len()..]
}

/// The longest window, in seconds (the per-second latency kept, see
/// [`RECENT_SECONDS`](crate::monitor::RECENT_SECONDS)).
pub const MAX_WINDOW_S: u64 = crate::monitor::RECENT_SECONDS;

/// The exit status of a run or replay whose thresholds failed (k6's).
pub const EXIT_THRESHOLDS_FAILED: u8 = 99;
