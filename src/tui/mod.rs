//! The terminal monitor: draws the `MonitorState` and turns keys into engine [`Command`]s.
//!
//! It knows the engine only through events in (the state) and commands out (a
//! [`CommandSink`]).

pub mod action;
pub mod command;
pub mod keymap;
pub mod keys;
pub mod theme;

pub use action::{Action, Section};
pub use command::{Command, CommandSink, RecordingSink};
pub use keymap::{Keymap, KeymapError};
