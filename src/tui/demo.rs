//! A stand-in engine for the monitor's own demos and end-to-end tests: it emits a small,
//! plausible stream of Amoc events on three nodes and obeys [`Command`]s by emitting the events
//! a real engine would (a rate change is confirmed by `[amoc, throttle, rate]`).
//!
//! It is not the load-testing engine (`crate::engine`); it only makes the monitor runnable
//! while that is wired in, and it exercises the command → confirmation loop.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::engine::events::{
    CLUSTER_CONNECT_NODES, CLUSTER_NODEDOWN, CONFIG_ENV, CONTROLLER_USERS, COORDINATOR_ADD,
    COORDINATOR_EXECUTE, COORDINATOR_START, Emitter, LogLevel, THROTTLE_EXECUTE, THROTTLE_INIT,
    THROTTLE_RATE, THROTTLE_REQUEST,
};
use crate::telemetry::{EventName, Telemetry, Value};
use crate::{event_name, fields};

use super::command::{Command, CommandSink};

struct Throttle {
    name: &'static str,
    rate: u64,
    interval_ms: u64,
    paused: bool,
    /// Executions owed but not yet emitted (fractions of one per tick).
    credit: f64,
    /// (from, to, ticks done, ticks total) of a ramp in progress.
    ramp: Option<(u64, u64, u64, u64)>,
}

struct Inner {
    throttles: Vec<Throttle>,
    nodes: Vec<(String, bool)>,
    target_users: u64,
    /// (user id, node index) of running users.
    running: Vec<(u64, usize)>,
    next_user: u64,
    waiting: u64,
    tick: u64,
}

/// The stand-in engine. Cheap to clone through its `Arc`.
pub struct DemoEngine {
    emitter: Emitter,
    inner: Mutex<Inner>,
    stopped: AtomicBool,
}

/// Ticks per second of the stand-in engine.
const TICKS_PER_S: u64 = 10;

impl DemoEngine {
    /// A stand-in engine on `telemetry` with nodes `node1..=nodeN` (node1 is the master).
    pub fn new(telemetry: Telemetry, nodes: usize, users: u64) -> Arc<DemoEngine> {
        let nodes: Vec<(String, bool)> = (1..=nodes.max(1))
            .map(|i| (format!("node{i}"), true))
            .collect();
        let t = |name, rate, interval_ms| Throttle {
            name,
            rate,
            interval_ms,
            paused: false,
            credit: 0.0,
            ramp: None,
        };
        Arc::new(DemoEngine {
            emitter: Emitter::new(telemetry, nodes[0].0.clone()),
            inner: Mutex::new(Inner {
                throttles: vec![
                    t("user_rate", 600, 60_000),
                    t("messages", 1200, 60_000),
                    t("login", 5, 1_000),
                ],
                nodes,
                target_users: users,
                running: Vec::new(),
                next_user: 1,
                waiting: 0,
                tick: 0,
            }),
            stopped: AtomicBool::new(false),
        })
    }

    /// Emits the start-up events, then ticks until [`Command::Quit`]. Spawn it on tokio.
    pub async fn run(self: Arc<Self>) {
        self.start_events();
        let mut ticker = tokio::time::interval(Duration::from_millis(1000 / TICKS_PER_S));
        while !self.stopped.load(Ordering::Relaxed) {
            ticker.tick().await;
            self.tick();
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn start_events(&self) {
        let inner = self.lock();
        let e = &self.emitter;
        let names: Vec<Value> = inner
            .nodes
            .iter()
            .map(|(n, _)| Value::from(n.as_str()))
            .collect();
        e.emit(
            &CLUSTER_CONNECT_NODES,
            &fields! {"count" => 1},
            &fields! {"nodes" => Value::list(names), "master" => inner.nodes[0].0.as_str()},
        );
        e.emit_log(
            &CONFIG_ENV,
            LogLevel::Error,
            "cannot parse environment variable, using default value",
            &fields! {"variable_name" => "AMOC_POSTS_PER_USER", "variable_value" => "3 posts"},
        );
        for th in &inner.throttles {
            e.emit(
                &THROTTLE_INIT,
                &fields! {"count" => 1},
                &fields! {"name" => th.name},
            );
            Self::emit_rate(e, th);
        }
        e.emit(
            &COORDINATOR_START,
            &fields! {"count" => 1},
            &fields! {"name" => "rooms"},
        );
        if inner.target_users > 0 {
            e.emit(
                &CONTROLLER_USERS,
                &fields! {"count" => inner.target_users},
                &fields! {"scenario" => "demo", "type" => "add"},
            );
        }
    }

    fn emit_rate(e: &Emitter, th: &Throttle) {
        e.emit(
            &THROTTLE_RATE,
            &fields! {"rate" => th.rate, "interval" => th.interval_ms},
            &fields! {"name" => th.name, "paused" => th.paused, "ramping" => th.ramp.is_some()},
        );
    }

    fn tick(&self) {
        let mut guard = self.lock();
        let inner = &mut *guard;
        inner.tick += 1;
        let e = &self.emitter;
        let start = event_name!("amoc", "scenario", "start", "start");
        let stop = event_name!("amoc", "scenario", "start", "stop");
        // Users: start up to two per tick towards the target, stop the excess.
        for _ in 0..2 {
            if (inner.running.len() as u64) >= inner.target_users {
                break;
            }
            let up: Vec<usize> = (0..inner.nodes.len())
                .filter(|i| inner.nodes[*i].1)
                .collect();
            if up.is_empty() {
                break;
            }
            let id = inner.next_user;
            inner.next_user += 1;
            let node = up[(id as usize) % up.len()];
            let ne = e.for_node(inner.nodes[node].0.as_str());
            self.user_event(&ne, start, id);
            ne.emit(
                &COORDINATOR_ADD,
                &fields! {"count" => 1},
                &fields! {"name" => "rooms"},
            );
            inner.waiting += 1;
            if inner.waiting == 3 {
                inner.waiting = 0;
                e.emit(
                    &COORDINATOR_EXECUTE,
                    &fields! {"count" => 3},
                    &fields! {"name" => "rooms", "event" => "coordinate"},
                );
            }
            inner.running.push((id, node));
        }
        while inner.running.len() as u64 > inner.target_users {
            if let Some((id, node)) = inner.running.pop() {
                let ne = e.for_node(inner.nodes[node].0.as_str());
                self.user_event(&ne, stop, id);
            }
        }
        // Throttles: release at the configured rate while anyone is running.
        let busy = !inner.running.is_empty();
        let tick = inner.tick;
        for th in &mut inner.throttles {
            if let Some((from, to, done, total)) = th.ramp
                && tick.is_multiple_of(TICKS_PER_S)
            {
                let done = done + TICKS_PER_S;
                let frac = (done as f64 / total as f64).min(1.0);
                th.rate = (from as f64 + (to as f64 - from as f64) * frac).round() as u64;
                th.ramp = (done < total).then_some((from, to, done, total));
                Self::emit_rate(e, th);
            }
            if th.paused || !busy {
                continue;
            }
            let per_tick =
                th.rate as f64 * 1000.0 / th.interval_ms.max(1) as f64 / TICKS_PER_S as f64;
            th.credit = (th.credit + per_tick).min(200.0);
            while th.credit >= 1.0 {
                th.credit -= 1.0;
                e.emit(
                    &THROTTLE_REQUEST,
                    &fields! {"count" => 1},
                    &fields! {"name" => th.name},
                );
                e.emit(
                    &THROTTLE_EXECUTE,
                    &fields! {"count" => 1},
                    &fields! {"name" => th.name},
                );
            }
        }
        if tick.is_multiple_of(TICKS_PER_S * 15) {
            log::info!(target: "demo", "{} users running", inner.running.len());
        }
    }

    fn user_event(&self, e: &Emitter, name: EventName, id: u64) {
        let md = e.with_node(&fields! {"scenario" => "demo", "user_id" => id});
        let m = fields! {"monotonic_time" => crate::telemetry::monotonic_time()};
        e.telemetry().execute(name, &m, &md);
    }

    fn throttle_cmd(&self, name: &str, f: impl FnOnce(&mut Throttle)) -> Result<(), String> {
        let mut inner = self.lock();
        let th = inner
            .throttles
            .iter_mut()
            .find(|t| t.name == name)
            .ok_or_else(|| format!("no throttle named {name}"))?;
        f(th);
        Self::emit_rate(&self.emitter, th);
        Ok(())
    }
}

impl CommandSink for DemoEngine {
    fn send(&self, command: Command) -> Result<(), String> {
        let e = &self.emitter;
        match command {
            Command::SetRate {
                throttle,
                rate,
                interval_ms,
            } => self.throttle_cmd(&throttle, |t| {
                t.rate = rate;
                t.ramp = None;
                if let Some(i) = interval_ms {
                    t.interval_ms = i;
                }
            }),
            Command::Pause { throttle } => self.throttle_cmd(&throttle, |t| t.paused = true),
            Command::Resume { throttle } => self.throttle_cmd(&throttle, |t| t.paused = false),
            Command::StartRamp {
                throttle,
                to,
                duration_ms,
            } => self.throttle_cmd(&throttle, |t| {
                let total = (duration_ms * TICKS_PER_S / 1000).max(TICKS_PER_S);
                t.ramp = Some((t.rate, to, 0, total));
            }),
            Command::AddUsers { count } => {
                self.lock().target_users += count;
                e.emit(
                    &CONTROLLER_USERS,
                    &fields! {"count" => count},
                    &fields! {"scenario" => "demo", "type" => "add"},
                );
                Ok(())
            }
            Command::RemoveUsers { count } => {
                let mut inner = self.lock();
                inner.target_users = inner.target_users.saturating_sub(count);
                e.emit(
                    &CONTROLLER_USERS,
                    &fields! {"count" => count},
                    &fields! {"scenario" => "demo", "type" => "remove"},
                );
                Ok(())
            }
            Command::AddNode => {
                let mut inner = self.lock();
                let name = format!("node{}", inner.nodes.len() + 1);
                inner.nodes.push((name.clone(), true));
                e.emit(
                    &CLUSTER_CONNECT_NODES,
                    &fields! {"count" => 1},
                    &fields! {"nodes" => Value::list([Value::from(name)])},
                );
                Ok(())
            }
            Command::KillNode { node } => {
                let mut inner = self.lock();
                let i = inner
                    .nodes
                    .iter()
                    .position(|(n, _)| *n == node)
                    .ok_or_else(|| format!("no node named {node}"))?;
                if i == 0 {
                    return Err("the demo keeps its master node".to_owned());
                }
                inner.nodes[i].1 = false;
                inner.running.retain(|(_, n)| *n != i);
                e.emit(
                    &CLUSTER_NODEDOWN,
                    &fields! {"count" => 1},
                    &fields! {"nodes" => Value::list([Value::from(node)])},
                );
                Ok(())
            }
            Command::Quit => {
                self.stopped.store(true, Ordering::Relaxed);
                Ok(())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::monitor::{LiveFeed, MonitorState, Rate};

    #[tokio::test(start_paused = true)]
    async fn commands_are_confirmed_by_events() {
        let t = Telemetry::new();
        let feed = LiveFeed::attach_default(&t).expect("attach");
        let engine = DemoEngine::new(t.clone(), 3, 6);
        let task = tokio::spawn(engine.clone().run());
        tokio::time::sleep(Duration::from_secs(2)).await;
        let mut s = MonitorState::new();
        feed.drain_into(&mut s);
        assert_eq!(s.users().running(), 6);
        assert_eq!(s.users().added, 6);
        assert_eq!(s.nodes().len(), 3);
        assert!(s.throttle("messages").is_some_and(|t| t.executes() > 0));
        engine
            .send(Command::SetRate {
                throttle: "messages".into(),
                rate: 1320,
                interval_ms: None,
            })
            .expect("set rate");
        engine
            .send(Command::KillNode {
                node: "node3".into(),
            })
            .expect("kill");
        assert!(
            engine
                .send(Command::KillNode {
                    node: "node9".into()
                })
                .is_err()
        );
        feed.drain_into(&mut s);
        assert_eq!(
            s.throttle("messages").and_then(|t| t.rate()),
            Some(Rate::Finite(1320.0))
        );
        assert!(!s.nodes()[2].up);
        engine.send(Command::Quit).expect("quit");
        tokio::time::sleep(Duration::from_millis(200)).await;
        assert!(task.is_finished());
    }
}
