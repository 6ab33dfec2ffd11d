//! The names and keys of the built-in scenario's events (the table is in the module docs of
//! [`crate::http`]).

use crate::telemetry::StaticName;

/// The span prefix of one request: `[http, request, start | stop | exception]`.
pub static REQUEST: StaticName = StaticName::new(&["http", "request"]);

/// Stop measurement: ns from the instant the request was due (the throttle's schedule) to the
/// end of the response.
pub const LATENCY: &str = "latency";
/// Start metadata and stop measurement: ns from the due instant to the send.
pub const START_DELAY: &str = "start_delay";
/// Stop measurement: response body bytes.
pub const BYTES_IN: &str = "bytes_in";
/// Stop measurement: request body bytes.
pub const BYTES_OUT: &str = "bytes_out";
/// Stop metadata: the response status code.
pub const STATUS: &str = "status";
/// Exception metadata: `connect`, `timeout`, `tls` or `other`
/// ([`ErrorClass`](super::ErrorClass)).
pub const CLASS: &str = "class";
