//! Event logs (format v1, JSON Lines): the recorder, the reader and replay pacing.

pub use crate::monitor::{EventRef, LoggedEvent};
