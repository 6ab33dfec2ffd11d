//! The one event shape every consumer sees: a live feed, a replayed log and tests all hand
//! [`EventRef`]s to [`MonitorState::apply`](crate::monitor::MonitorState::apply).

use crate::telemetry::{EventName, Field, Fields, Key};

/// A borrowed event: time since the start of the run, emitting node, name and payload.
#[derive(Clone, Copy, Debug)]
pub struct EventRef<'a> {
    /// Microseconds since the run (or log) started.
    pub t_us: u64,
    /// The node that emitted it, when known.
    pub node: Option<&'a str>,
    pub name: &'a EventName,
    pub measurements: &'a [Field],
    pub metadata: &'a [Field],
}

impl<'a> EventRef<'a> {
    /// An event whose node is taken from its metadata's `node` key (as Rookery's `Emitter` adds
    /// it).
    pub fn new(
        t_us: u64,
        name: &'a EventName,
        measurements: &'a [Field],
        metadata: &'a [Field],
    ) -> Self {
        EventRef {
            t_us,
            node: metadata.get_str("node"),
            name,
            measurements,
            metadata,
        }
    }
}

/// An owned event: what the reader yields and the live feed queues.
#[derive(Clone, Debug, PartialEq)]
pub struct LoggedEvent {
    /// Microseconds since the run (or log) started.
    pub t_us: u64,
    /// The emitting node, when known.
    pub node: Option<Key>,
    pub name: EventName,
    pub measurements: Vec<Field>,
    pub metadata: Vec<Field>,
}

impl LoggedEvent {
    /// An empty event named `[rookery, empty]`, to be filled by a parser.
    pub fn placeholder() -> LoggedEvent {
        static EMPTY: crate::telemetry::StaticName =
            crate::telemetry::StaticName::new(&["rookery", "empty"]);
        LoggedEvent {
            t_us: 0,
            node: None,
            name: EMPTY.get(),
            measurements: Vec::new(),
            metadata: Vec::new(),
        }
    }

    /// Borrows it for [`MonitorState::apply`](crate::monitor::MonitorState::apply).
    pub fn as_ref(&self) -> EventRef<'_> {
        EventRef {
            t_us: self.t_us,
            node: self.node.as_deref(),
            name: &self.name,
            measurements: &self.measurements,
            metadata: &self.metadata,
        }
    }
}
