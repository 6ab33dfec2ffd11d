//! The built-in `http` scenario: load any URL (`rookery http URL`, or
//! `rookery run --scenario http --set url=URL`).
//!
//! Each virtual user holds one keep-alive connection per origin (HTTP/1.1, or HTTP/2 with
//! `http2`; TLS through rustls, `insecure` to accept any certificate) and, until it is asked to
//! leave, waits for the cluster-wide `requests` throttle and sends one request: the URLs
//! round-robin, the method, headers and body as configured ([`HttpSpec`]). Redirects are not
//! followed: a `3xx` is a status like any other. A request that takes longer than `timeout`
//! (connecting included) is abandoned and its connection closed.
//!
//! # Open and closed model
//!
//! With a finite `request_rate` (`--rate R`) the test is an *open model*: requests are due at the
//! throttle's instants whatever the server does, and `--users` caps how many are in flight. A
//! request whose users were all busy when it came due starts late, with its due instant kept:
//! its latency counts the wait. With `request_rate = infinity` it is a *closed model*: every user
//! sends its next request as soon as the last one is answered. The throttle then costs a user
//! one atomic load per request: what passed is reported to it in batches (its `requests` and
//! `executes` stay exact; its `[amoc, throttle, request | execute]` events carry `count = n`,
//! at most 64 requests or 100 ms apart per user).
//!
//! # Events
//!
//! Every request is a span `[http, request, start | stop | exception]` (see [`events`]):
//!
//! | event | measurements | metadata |
//! |---|---|---|
//! | start | `monotonic_time`, `system_time` | `user_id`, `method`, `url`, `start_delay` (ns the send came after the due instant), `node` |
//! | stop | `duration` (ns from the send: the *service* time), `latency` (ns from the due instant), `start_delay`, `bytes_in` (response body bytes), `bytes_out` (request body bytes) | `user_id`, `status`, `node` |
//! | exception | `duration` | `user_id`, `method`, `url`, `class` (`connect`, `timeout`, `tls` or `other`), `kind` (`error`), `reason`, `node` |
//!
//! The monitor turns them into the summary's `http` key and the HTTP panes
//! ([`crate::monitor::HttpStats`]).

mod client;
mod error;
pub mod events;
mod options;
mod pacing;
mod scenario;
mod tls;

pub use client::{Connector, Response, UserClient};
pub use error::{ErrorClass, RequestError};
pub use options::{HttpOptions, HttpSpec, OptionsError, Target, parse_header};
pub(crate) use scenario::split_headers;
pub use scenario::{
    DEFAULT_RATE, DEFAULT_TIMEOUT, HttpScenario, RATE_SETTING, SCENARIO_NAME, THROTTLE,
};
