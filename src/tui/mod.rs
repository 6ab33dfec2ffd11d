//! The terminal monitor: draws the `MonitorState` and turns keys into engine [`Command`]s.
//!
//! It knows the engine only through events in (the state) and commands out (a
//! [`CommandSink`]).

pub mod action;
pub mod app;
pub mod capture;
pub mod command;
pub mod demo;
pub mod keymap;
pub mod keys;
pub mod logging;
pub mod pending;
pub mod rates;
pub mod replay;
pub mod run;
pub mod terminal;
pub mod theme;
pub mod view;

pub use action::{Action, Section};
pub use app::{App, AppOptions, Mode, ReplayCtl};
pub use command::{Command, CommandSink, RecordingSink};
pub use keymap::{Keymap, KeymapError};
pub use run::{Feed, LoopOutcome, TuiError, TuiOptions, run_live, run_loop, run_replay};
