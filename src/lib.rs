//! Rookery: a terminal monitor with an embedded Amoc-style load-testing engine.
pub mod cli;
pub mod demo;
pub mod engine;
pub mod eventlog;
pub mod monitor;
pub mod telemetry;
pub mod tui;
