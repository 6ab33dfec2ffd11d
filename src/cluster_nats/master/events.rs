//! The workers' event batches: checked, counted, and emitted again into the master's registry
//! on the master's clock, so its monitor and recorder see every node.

use std::sync::atomic::Ordering;

use futures::StreamExt;

use super::Master;
use crate::cluster_nats::batch::BatchReader;
use crate::monitor::LoggedEvent;
use crate::telemetry::{Field, Key, StaticName, Value};

static USER_STOP: StaticName = StaticName::new(&["amoc", "scenario", "start", "stop"]);
static USER_EXCEPTION: StaticName = StaticName::new(&["amoc", "scenario", "start", "exception"]);

/// `[rookery, cluster, ignored]`: a message the master ignored; metadata `reason`, `subject`.
pub static IGNORED: StaticName = StaticName::new(&["rookery", "cluster", "ignored"]);
/// `[rookery, cluster, users_lost]`: measurements `count`: users handed to a node that went
/// down without ending them (`kill -9`, a lost machine), waiting or running; metadata
/// `lost_node`.
pub static USERS_LOST: StaticName = StaticName::new(&["rookery", "cluster", "users_lost"]);
/// `[rookery, cluster, events_dropped]`: measurements `count`; metadata `from` (the worker)
/// and `where`: `queue` (its forwarder's queue was full) or `transit` (batches never arrived).
pub static EVENTS_DROPPED: StaticName = StaticName::new(&["rookery", "cluster", "events_dropped"]);

impl Master {
    fn report_dropped(&self, node: &str, place: &'static str, count: u64) {
        let c = &self.shared.counters;
        match place {
            "queue" => c.dropped_queue.fetch_add(count, Ordering::Relaxed),
            _ => c.dropped_transit.fetch_add(count, Ordering::Relaxed),
        };
        self.shared.emitter.emit(
            &EVENTS_DROPPED,
            &[(Key::new_static("count"), Value::from(count))],
            &[
                (Key::new_static("from"), Value::from(node)),
                (Key::new_static("where"), Value::from(place)),
            ],
        );
    }

    pub(super) async fn on_batches(self, mut sub: async_nats::Subscriber) {
        let mut ev = LoggedEvent::placeholder();
        while let Some(msg) = sub.next().await {
            let mut reader = match BatchReader::open(&msg.payload) {
                Ok(r) => r,
                Err(e) => {
                    self.ignore(&self.shared.counters.undecodable, &e, msg.subject.as_str());
                    continue;
                }
            };
            let h = reader.header.clone();
            // Decide under the lock: is it up, what is its clock offset, was anything lost.
            let decided = {
                let mut t = self.table();
                match t.find(&h.node) {
                    Some(n) if n.up && msg.subject.as_str().ends_with(&format!(".{}", h.node)) => {
                        let lost = h.first.saturating_sub(n.received);
                        n.received = n.received.max(h.first) + h.count;
                        let d = h.dropped.saturating_sub(n.dropped_seen);
                        n.dropped_seen = n.dropped_seen.max(h.dropped);
                        Some((n.offset_us, lost, d))
                    }
                    _ => None,
                }
            };
            let Some((offset, lost, queue_drops)) = decided else {
                self.ignore(
                    &self.shared.counters.stale,
                    &format!("a batch of {} events from {:?}, not up", h.count, h.node),
                    msg.subject.as_str(),
                );
                continue;
            };
            if lost > 0 {
                self.report_dropped(&h.node, "transit", lost);
            }
            if queue_drops > 0 {
                self.report_dropped(&h.node, "queue", queue_drops);
            }
            let (stop, exception) = (USER_STOP.get(), USER_EXCEPTION.get());
            let mut ended = 0;
            loop {
                match reader.next_into(&mut ev) {
                    Ok(true) => {
                        if ev.name == stop || ev.name == exception {
                            ended += 1;
                        }
                        self.reemit(&mut ev, offset);
                    }
                    Ok(false) => break,
                    Err(e) => {
                        self.ignore(&self.shared.counters.undecodable, &e, msg.subject.as_str());
                        break;
                    }
                }
            }
            if ended > 0
                && let Some(n) = self.table().find(&h.node)
            {
                n.users_ended += ended;
            }
            self.bump();
        }
    }

    /// A worker's event into the master's registry, on the master's clock.
    fn reemit(&self, ev: &mut LoggedEvent, offset_us: i64) {
        let t_us = (ev.t_us as i64 + offset_us).max(0);
        let mono = Value::Int(self.shared.mono0 + t_us * 1000);
        let retime = |fields: &mut Vec<Field>| {
            fields
                .iter_mut()
                .find(|(k, _)| k.as_str() == "monotonic_time")
                .map(|(_, v)| *v = mono.clone())
                .is_some()
        };
        if !retime(&mut ev.metadata) {
            retime(&mut ev.measurements);
        }
        if let Some(node) = &ev.node {
            ev.metadata
                .push((Key::new_static("node"), Value::Str(node.clone())));
        }
        self.shared
            .telemetry
            .execute(ev.name.clone(), &ev.measurements, &ev.metadata);
    }
}
