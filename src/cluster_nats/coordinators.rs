//! Cluster-wide coordinators over NATS, the worker's side and the conversions both sides use.
//!
//! The master owns every coordinator (as the simulated cluster's master does). A worker's
//! registry is a forwarding one: its scenario's `init` starts a coordinator as usual, which
//! keeps the plan (its actions) on the worker and tells the master the plan's item sizes and
//! timeout ([`CoordinatorMsg::Start`]); a user's `add` goes to the master with the user's id,
//! node and data ([`CoordinatorMsg::Add`]). The master runs the plan (sizes, ranges, `all`,
//! timeout, reset, stop), emits every `[amoc, coordinator, _]` event once, and sends each batch
//! ([`RunBatch`]) to every worker with a member in it, which runs the item's actions on the
//! whole batch. A worker runs a delivered batch and emits `[rookery, cluster, batch_run]`.
//! A scenario's `reset` / `stop` on a worker goes to the master too
//! ([`CoordinatorMsg::Reset`], [`CoordinatorMsg::Stop`]): they act on the cluster-wide
//! coordinator.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;

use super::wire::{CoordinatorMsg, PROTOCOL, RunBatch};
use crate::engine::coordinator::{Event, EventKind, Forward, Member, Size, UserId};
use crate::engine::events::Emitter;
use crate::telemetry::{Key, StaticName, Value};

/// `[rookery, cluster, batch_run]`: a worker ran a coordinator batch the master handed it;
/// measurements `count` (members); metadata `name`, `event`, `users`.
pub static BATCH_RUN: StaticName = StaticName::new(&["rookery", "cluster", "batch_run"]);

/// A plan item's size on the wire.
pub(crate) fn size_to_wire(size: Size) -> Option<(usize, usize)> {
    match size {
        Size::N(n) => Some((n, n)),
        Size::Range { min, max } => Some((min, max)),
        Size::All => None,
    }
}

/// A plan item's size from the wire (`None` for an impossible one).
pub(crate) fn size_from_wire(size: Option<(usize, usize)>) -> Size {
    match size {
        Some((min, max)) if min == max => Size::N(min),
        Some((min, max)) => Size::Range { min, max },
        None => Size::All,
    }
}

/// An event kind from its name.
pub(crate) fn kind_from_wire(kind: &str) -> Option<EventKind> {
    [
        EventKind::Coordinate,
        EventKind::Reset,
        EventKind::Timeout,
        EventKind::Stop,
    ]
    .into_iter()
    .find(|k| k.as_str() == kind)
}

/// The worker's [`Forward`]: messages to the master, in order, through a publishing task.
pub(crate) struct ToMaster {
    node: String,
    out: mpsc::UnboundedSender<bytes::Bytes>,
}

impl ToMaster {
    /// Publishes on `subject` until the returned task is aborted or the forwarder dropped.
    pub(crate) fn start(
        client: async_nats::Client,
        subject: String,
        node: &str,
    ) -> (Arc<ToMaster>, tokio::task::JoinHandle<()>) {
        let (out, mut rx) = mpsc::unbounded_channel::<bytes::Bytes>();
        let task = tokio::spawn(async move {
            while let Some(payload) = rx.recv().await {
                if let Err(e) = client.publish(subject.clone(), payload).await {
                    log::warn!(target: "cluster", "a coordinator message was not sent: {e}");
                }
            }
        });
        let me = Arc::new(ToMaster {
            node: node.to_owned(),
            out,
        });
        (me, task)
    }

    fn send(&self, msg: &CoordinatorMsg) {
        let _ = self.out.send(super::wire::encode(msg));
    }
}

impl Forward<Value> for ToMaster {
    fn started(&self, name: &str, sizes: Vec<Size>, timeout: Option<Duration>) {
        self.send(&CoordinatorMsg::Start {
            v: PROTOCOL,
            name: name.to_owned(),
            sizes: sizes.into_iter().map(size_to_wire).collect(),
            timeout_ms: timeout.map(|t| u64::try_from(t.as_millis()).unwrap_or(u64::MAX)),
        });
    }

    fn add(&self, name: &str, user: UserId, data: Value) {
        self.send(&CoordinatorMsg::Add {
            v: PROTOCOL,
            name: name.to_owned(),
            user,
            node: self.node.clone(),
            data,
        });
    }

    fn reset(&self, name: &str) {
        self.send(&CoordinatorMsg::Reset {
            v: PROTOCOL,
            name: name.to_owned(),
        });
    }

    fn stop(&self, name: &str) {
        self.send(&CoordinatorMsg::Stop {
            v: PROTOCOL,
            name: name.to_owned(),
        });
    }
}

/// Runs a batch the master handed over on the worker's forwarding registry, and reports it.
pub(crate) fn run_batch(
    coordinators: &crate::engine::coordinator::Coordinators<Value>,
    emitter: &Emitter,
    batch: RunBatch,
) -> Result<(), String> {
    let kind = kind_from_wire(&batch.event)
        .ok_or_else(|| format!("a batch of {:?} with event {:?}", batch.name, batch.event))?;
    let users = Value::list(
        batch
            .members
            .iter()
            .map(|(u, _)| Value::Int(i64::try_from(*u).unwrap_or(i64::MAX))),
    );
    let members: Vec<Member<Value>> = batch
        .members
        .into_iter()
        .map(|(user, data)| Member { user, data })
        .collect();
    let count = members.len();
    coordinators
        .run_batch(
            &batch.name,
            batch.item,
            Event::new(kind, batch.count),
            members,
        )
        .map_err(|e| e.to_string())?;
    emitter.emit(
        &BATCH_RUN,
        &[(Key::new_static("count"), Value::from(count))],
        &[
            (Key::new_static("name"), Value::from(batch.name.as_str())),
            (Key::new_static("event"), Value::atom(kind.as_str())),
            (Key::new_static("users"), users),
        ],
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::coordinator::{Action, CoordinatorError, Coordinators, Plan};
    use std::sync::Mutex;

    /// A coordinator started: name, sizes, timeout.
    type Started = (String, Vec<Size>, Option<Duration>);

    /// What a forwarding registry told its owner.
    #[derive(Default)]
    struct Recorded {
        started: Mutex<Vec<Started>>,
        adds: Mutex<Vec<(String, UserId, Value)>>,
        controls: Mutex<Vec<String>>,
    }

    impl Forward<Value> for Recorded {
        fn started(&self, name: &str, sizes: Vec<Size>, timeout: Option<Duration>) {
            self.started
                .lock()
                .unwrap()
                .push((name.into(), sizes, timeout));
        }
        fn add(&self, name: &str, user: UserId, data: Value) {
            self.adds.lock().unwrap().push((name.into(), user, data));
        }
        fn reset(&self, name: &str) {
            self.controls.lock().unwrap().push(format!("reset {name}"));
        }
        fn stop(&self, name: &str) {
            self.controls.lock().unwrap().push(format!("stop {name}"));
        }
    }

    #[tokio::test]
    async fn a_forwarding_registry_forwards_and_runs_handed_batches_silently() {
        let telemetry = crate::telemetry::Telemetry::new();
        let events = std::sync::Arc::new(Mutex::new(0u32));
        let e = events.clone();
        telemetry
            .attach_prefix(
                "count",
                &[] as &[&str],
                move |_, _, _, _| *e.lock().unwrap() += 1,
                Value::Null,
            )
            .unwrap();
        let node = Emitter::new(telemetry.clone(), "w1");
        let owner = Arc::new(Recorded::default());
        let registry: Coordinators<Value> = Coordinators::forwarding(&node, owner.clone());
        let pairs = Arc::new(Mutex::new(Vec::new()));
        let p = pairs.clone();
        let plan = Plan::new().item(Size::All, Action::event(|_| {})).item(
            2,
            Action::pairs(move |_, a, b| {
                p.lock()
                    .unwrap()
                    .push((a.map(|m| m.user), b.map(|m| m.user)));
            }),
        );
        registry
            .start("pairs", plan, Some(Duration::from_secs(3)))
            .unwrap();
        // Sizes in normalised order (`all` last), the timeout kept for the owner.
        assert_eq!(
            *owner.started.lock().unwrap(),
            vec![(
                "pairs".to_string(),
                vec![Size::N(2), Size::All],
                Some(Duration::from_secs(3))
            )]
        );
        registry.add("pairs", 7, Value::from("w1")).unwrap();
        registry.add("pairs", 8, Value::from("w1")).unwrap();
        assert_eq!(owner.adds.lock().unwrap().len(), 2);
        assert!(pairs.lock().unwrap().is_empty(), "adds decide nothing here");
        let members = vec![
            Member {
                user: 7,
                data: Value::from("w1"),
            },
            Member {
                user: 12,
                data: Value::from("w2"),
            },
        ];
        registry
            .run_batch("pairs", 0, Event::new(EventKind::Coordinate, 2), members)
            .unwrap();
        assert_eq!(*pairs.lock().unwrap(), vec![(Some(7), Some(12))]);
        assert!(matches!(
            registry.run_batch("pairs", 5, Event::new(EventKind::Stop, 0), vec![]),
            Err(CoordinatorError::BadPlan { .. })
        ));
        assert_eq!(*events.lock().unwrap(), 0, "the local copy emits nothing");
        // A reset and a stop go to the owner (the cluster-wide coordinator); the local copy
        // runs nothing for them.
        registry.reset("pairs").unwrap();
        registry.stop("pairs").unwrap();
        assert_eq!(
            *owner.controls.lock().unwrap(),
            ["reset pairs", "stop pairs"]
        );
        assert_eq!(pairs.lock().unwrap().len(), 1, "no local leftovers ran");
        assert!(matches!(
            registry.add("pairs", 9, Value::Null),
            Err(CoordinatorError::Stopped { .. })
        ));
        assert!(matches!(
            registry.stop("pairs"),
            Err(CoordinatorError::Stopped { .. })
        ));
        assert_eq!(owner.controls.lock().unwrap().len(), 2);
        assert_eq!(owner.adds.lock().unwrap().len(), 2);
    }

    #[test]
    fn sizes_and_kinds_survive_the_wire() {
        for size in [Size::N(2), Size::Range { min: 2, max: 5 }, Size::All] {
            assert_eq!(size_from_wire(size_to_wire(size)), size);
        }
        for kind in [
            EventKind::Coordinate,
            EventKind::Reset,
            EventKind::Timeout,
            EventKind::Stop,
        ] {
            assert_eq!(kind_from_wire(kind.as_str()), Some(kind));
        }
        assert_eq!(kind_from_wire("explode"), None);
    }
}
