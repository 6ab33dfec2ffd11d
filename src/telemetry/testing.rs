//! A test helper in the spirit of `telemetry_test:attach_event_handlers/2`.
//!
//! ```
//! use rookery::telemetry::{Telemetry, testing::EventCollector};
//! use rookery::{event_name, fields};
//! use std::time::Duration;
//!
//! let t = Telemetry::new();
//! let events = EventCollector::attach(&t, &[event_name!("some", "event")]);
//! t.execute(event_name!("some", "event"), &fields!{"measurement" => 1}, &fields!{"meta" => 2});
//! let got = events.recv_timeout(Duration::from_secs(1)).unwrap();
//! assert_eq!(got.name, event_name!("some", "event"));
//! assert_eq!(got.handler_ref, *events.handler_ref());
//! events.detach().unwrap();
//! ```

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use crossbeam_channel::{Receiver, RecvTimeoutError, unbounded};

use super::{EventName, Field, HandlerId, Telemetry, TelemetryError, Value};

/// One event as a collector received it: `{Event, Ref, Measurements, Metadata}`.
#[derive(Clone, Debug, PartialEq)]
pub struct Received {
    pub name: EventName,
    pub handler_ref: HandlerId,
    pub measurements: Vec<Field>,
    pub metadata: Vec<Field>,
}

/// Receives the events it is attached to on a channel; the handler id doubles as its `ref`.
pub struct EventCollector {
    telemetry: Telemetry,
    id: HandlerId,
    rx: Receiver<Received>,
}

impl EventCollector {
    /// Attaches to `events` under a fresh unique id.
    pub fn attach(telemetry: &Telemetry, events: &[EventName]) -> EventCollector {
        // A fresh id cannot collide; a duplicate name in `events` is the caller's mistake and
        // leaves the collector attached to nothing, as Erlang's helper ignores the result.
        Self::attach_with(telemetry, |id, handler| {
            let _ = telemetry.attach_many(id, events, handler, Value::Null);
        })
    }

    /// Like [`attach`](Self::attach), to every event under `prefix`.
    pub fn attach_prefix(telemetry: &Telemetry, prefix: &[&str]) -> EventCollector {
        Self::attach_with(telemetry, |id, handler| {
            let _ = telemetry.attach_prefix(id, prefix, handler, Value::Null);
        })
    }

    fn attach_with(
        telemetry: &Telemetry,
        attach: impl FnOnce(HandlerId, Box<dyn Fn(EventName, &[Field], &[Field], &Value) + Send + Sync>),
    ) -> EventCollector {
        let (tx, rx) = unbounded();
        let id = fresh_ref();
        let reference = id.clone();
        attach(
            id.clone(),
            Box::new(move |name, m, md, _| {
                let _ = tx.send(Received {
                    name,
                    handler_ref: reference.clone(),
                    measurements: m.to_vec(),
                    metadata: md.to_vec(),
                });
            }),
        );
        EventCollector {
            telemetry: telemetry.clone(),
            id,
            rx,
        }
    }

    /// The handler id, which is also the `ref` in every received event.
    pub fn handler_ref(&self) -> &HandlerId {
        &self.id
    }

    /// The next event, waiting up to `timeout`.
    pub fn recv_timeout(&self, timeout: Duration) -> Result<Received, RecvTimeoutError> {
        self.rx.recv_timeout(timeout)
    }

    /// Every event received so far, without waiting.
    pub fn drain(&self) -> Vec<Received> {
        self.rx.try_iter().collect()
    }

    /// Detaches the handler.
    pub fn detach(&self) -> Result<(), TelemetryError> {
        self.telemetry.detach(self.id.clone())
    }
}

fn fresh_ref() -> HandlerId {
    static NEXT: AtomicU64 = AtomicU64::new(1);
    HandlerId::from(format!("#Ref<{}>", NEXT.fetch_add(1, Ordering::Relaxed)))
}
