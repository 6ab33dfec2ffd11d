//! The terminal monitor: draws the [`MonitorState`](crate::monitor::MonitorState) and turns
//! keys into engine [`OperatorCommand`]s.
//!
//! It knows the engine only through events in (a [`LiveFeed`](crate::monitor::LiveFeed) or an
//! [`eventlog::Replay`](crate::eventlog::Replay), drained once per frame) and commands out (a
//! [`CommandSink`]). Rates on screen are always the engine's last `[amoc, throttle, rate]`; a
//! request not yet confirmed is only a pending marker (`→660?`).
//!
//! Entry points:
//! * [`run_live`]`(feed, sink, TuiOptions::load(theme)?)`: a live engine.
//! * [`run_replay`]`(Replay::open(files, read_opts, speed, Instant::now())?, opts)`: a log.
//! * [`run_loop`]: the loop itself, generic over the backend and the key stream (tests).
//! * [`capture::text`]: the screen as text without a terminal.
//!
//! Layout: [`app`] (UI state and what keys do), [`view`] (state → `rookery-widgets`),
//! [`keymap`]/[`keys`]/[`action`] (bindings), [`theme`], [`run`] (loop), [`terminal`] (restore
//! guard), [`replay`], [`logging`] (`log` records for the pane), [`journal`] (the log pane's
//! lines), [`driver`] (the bounded command queue and the task that calls the engine),
//! [`summary`] (the text printed on quit). The engine's [`CommandSink`] is
//! `crate::cli::sink::EngineSink`; the monitor reaches it only through the driver.

pub mod action;
pub mod app;
pub mod capture;
pub mod command;
pub mod driver;
pub mod input;
pub mod journal;
pub mod keymap;
pub mod keys;
pub mod logging;
pub mod pending;
pub mod rates;
pub mod replay;
pub mod run;
pub mod summary;
pub mod terminal;
pub mod theme;
pub mod view;

pub use action::{KeyAction, Section};
pub use app::{App, AppOptions, Confirm, Effect, Mode, ReplayCtl, SettingsView};
pub use command::{CommandSink, OperatorCommand, Outcome, RecordingSink, SettingRow};
pub use input::{Input, InputKind};
pub use keymap::{Keymap, KeymapError};
pub use run::{Feed, LoopOutcome, TuiError, TuiOptions, run_live, run_loop, run_replay};
