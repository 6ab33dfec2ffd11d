//! Helpers shared by the coordinator tests: recording actions and telemetry.
#![allow(dead_code)]

use std::sync::{Arc, Mutex};

use rookery::engine::coordinator::{Action, Coordinators, EventKind};
use rookery::engine::events::Emitter;
use rookery::telemetry::testing::{EventCollector, Received};
use rookery::telemetry::{Fields, Telemetry, Value};

/// One recorded action call.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Call {
    Event(&'static str, EventKind, usize),
    Batch(&'static str, EventKind, usize, Vec<u64>),
    Pair(&'static str, EventKind, usize, Option<u64>, Option<u64>),
}

impl Call {
    pub fn tag(&self) -> &'static str {
        match self {
            Call::Event(t, ..) | Call::Batch(t, ..) | Call::Pair(t, ..) => t,
        }
    }
}

/// Builds actions that record their calls, in the order they happen.
#[derive(Clone, Default)]
pub struct Recorder(Arc<Mutex<Vec<Call>>>);

impl Recorder {
    pub fn event(&self, tag: &'static str) -> Action<Value> {
        let r = self.0.clone();
        Action::event(move |ev| r.lock().unwrap().push(Call::Event(tag, ev.kind, ev.count)))
    }

    pub fn batch(&self, tag: &'static str) -> Action<Value> {
        let r = self.0.clone();
        Action::batch(move |ev, batch| {
            // The data is the user id as a string: check it travelled with the user.
            for m in batch {
                assert_eq!(m.data, Value::from(format!("u{}", m.user)));
            }
            let users = batch.iter().map(|m| m.user).collect();
            r.lock()
                .unwrap()
                .push(Call::Batch(tag, ev.kind, ev.count, users))
        })
    }

    pub fn pairs(&self, tag: &'static str) -> Action<Value> {
        let r = self.0.clone();
        Action::pairs(move |ev, a, b| {
            r.lock().unwrap().push(Call::Pair(
                tag,
                ev.kind,
                ev.count,
                a.map(|m| m.user),
                b.map(|m| m.user),
            ))
        })
    }

    /// Every call so far, clearing the record.
    pub fn take(&self) -> Vec<Call> {
        std::mem::take(&mut *self.0.lock().unwrap())
    }
}

/// A registry on an isolated telemetry, and a collector of every coordinator event.
pub fn setup() -> (Coordinators, EventCollector) {
    let t = Telemetry::new();
    let events = EventCollector::attach_prefix(&t, &["amoc", "coordinator"]);
    (Coordinators::new(Emitter::new(t, "master")), events)
}

/// The data a test user adds with.
pub fn data(user: u64) -> Value {
    Value::from(format!("u{user}"))
}

/// Adds users `from..=to` to `name`.
pub fn add_users(c: &Coordinators, name: &str, from: u64, to: u64) {
    for u in from..=to {
        c.add(name, u, data(u)).unwrap();
    }
}

/// The last segment of every event but `execute`, checking Amoc's shape on the way.
pub fn notifications(events: &[Received], name: &str) -> Vec<String> {
    events
        .iter()
        .filter(|e| e.name.segments().last().copied() != Some("execute"))
        .map(|e| {
            assert_eq!(e.measurements.get_i64("count"), Some(1), "{e:?}");
            assert_eq!(e.metadata.get_str("name"), Some(name), "{e:?}");
            assert!(e.metadata.has("monotonic_time"), "{e:?}");
            e.name.segments().last().unwrap().to_string()
        })
        .collect()
}

/// `n` copies of `what`.
pub fn times(n: usize, what: &str) -> Vec<String> {
    vec![what.to_string(); n]
}

/// `(event, count, configured)` of every `execute` event.
pub fn executes(events: &[Received]) -> Vec<(String, i64, Value)> {
    events
        .iter()
        .filter(|e| e.name.segments().last().copied() == Some("execute"))
        .map(|e| {
            (
                e.metadata.get_str("event").unwrap().to_string(),
                e.measurements.get_i64("count").unwrap(),
                e.metadata.lookup("configured").cloned().unwrap(),
            )
        })
        .collect()
}
