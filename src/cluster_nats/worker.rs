//! A worker process (`rookery node`): joins the master of its run, runs the scenario's users in
//! the id blocks the master hands out, forwards every event, and keeps a heartbeat.
//!
//! Failure rules (see the module docs of [`cluster_nats`](super)):
//! * the master says "down" to a heartbeat, or the worker notices it was frozen (SIGSTOP, a
//!   suspended VM) longer than the timeout: it was declared down, so it cancels its users at
//!   once (never a zombie still sending load) and joins again as a new node (`NAME~2`);
//! * the master is silent past the timeout while the worker's own link is up: the worker emits
//!   `[amoc, cluster, master_node_down]`, cancels its users and exits with a message;
//! * SIGTERM/SIGINT: the scenario stops (users leave, `terminate` runs), the last events are
//!   sent, the master is told, and the worker exits 0.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::StreamExt;
use tokio::sync::mpsc;

use super::connect::{ClusterAddr, Link};
use super::forward::{Forwarder, NatsSink};
use super::wire::{
    self, Heartbeat, HeartbeatReply, JOIN, Join, JoinReply, Leave, NodeCommand, NodeReply,
    PROTOCOL, SetShares, Subjects, ThrottleLoad,
};
use crate::cli::signals::Signals;
use crate::engine::config::{
    Config, ExplicitSettings, UpdateRule, engine_declarations, process_env,
};
use crate::engine::events::{CLUSTER_CONNECT_NODES, CLUSTER_MASTER_NODE_DOWN, Emitter};
use crate::engine::throttle::{Rate, ThrottleConfig};
use crate::engine::{
    Controller, ControllerOptions, ControllerStatus, DynScenario, Services, USER_RATE, UserRate,
};
use crate::telemetry::{Key, Telemetry, Value};

/// How a worker runs.
#[derive(Clone, Debug)]
pub struct WorkerOptions {
    pub addr: ClusterAddr,
    /// The node name it asks for.
    pub name: String,
    pub run: String,
    /// Its own event log (the same events it forwards).
    pub record: Option<PathBuf>,
    /// Compress event batches.
    pub gzip: bool,
}

/// How one membership ended.
enum Outcome {
    /// The run is over (the master said so).
    Ended,
    /// Left on a signal.
    Left,
    /// Declared down: join again as a new node.
    Fenced(String),
}

/// Runs a worker until the run ends, it is told to leave, or the master is lost.
pub async fn run_worker(
    opts: &WorkerOptions,
    scenarios: &[Arc<dyn DynScenario>],
    signals: &mut Signals,
) -> Result<(), String> {
    wire::check_token("--run", &opts.run)?;
    wire::check_token("--name", &opts.name)?;
    let start = Instant::now();
    let telemetry = Telemetry::new();
    let recorder = super::record(opts.record.as_deref(), &telemetry, start)?;
    let result = async {
        let conn_name = format!("rookery node {}", opts.name);
        let (client, link) = tokio::select! {
            r = opts.addr.connect(&conn_name, Duration::from_secs(30)) => r?,
            () = signals.recv() => return Ok(()),
        };
        let subjects = Subjects::new(&opts.run);
        let mut end = client
            .subscribe(subjects.end())
            .await
            .map_err(|e| format!("NATS: {e}"))?;
        loop {
            let accepted = tokio::select! {
                r = join(&client, opts, scenarios, start) => r?,
                () = signals.recv() => return Ok(()),
            };
            let session = Session::begin(
                accepted, &client, &link, &subjects, &telemetry, scenarios, start, opts.gzip,
            )
            .await?;
            match session.serve(&mut end, signals).await? {
                Outcome::Ended | Outcome::Left => return Ok(()),
                Outcome::Fenced(why) => {
                    eprintln!("rookery: {why}: users stopped; joining again as a new node");
                }
            }
        }
    }
    .await;
    if let Some(rec) = recorder
        && let Err(e) = rec.finish()
    {
        eprintln!("rookery: recording: {e}");
    }
    result
}

/// Asks to join until a master of the run answers (every second; workers may start first).
async fn join(
    client: &async_nats::Client,
    opts: &WorkerOptions,
    scenarios: &[Arc<dyn DynScenario>],
    start: Instant,
) -> Result<JoinReply, String> {
    let mut told = false;
    loop {
        let msg = Join {
            v: PROTOCOL,
            run: opts.run.clone(),
            name: opts.name.clone(),
            fingerprint: wire::fingerprint(),
            scenarios: scenarios.iter().map(|s| s.name().to_string()).collect(),
            now_us: start.elapsed().as_micros() as u64,
        };
        let asked = tokio::time::timeout(
            Duration::from_secs(1),
            client.request(JOIN, wire::encode(&msg)),
        )
        .await;
        match asked {
            Ok(Ok(reply)) => match wire::decode::<JoinReply>(&reply.payload) {
                Ok(JoinReply::Refused { reason, .. }) => {
                    return Err(format!("the master refused this worker: {reason}"));
                }
                Ok(accepted) => return Ok(accepted),
                Err(e) => log::warn!(target: "cluster", "join reply ignored: {e}"),
            },
            Ok(Err(_)) | Err(_) => {
                if !told {
                    eprintln!(
                        "rookery: waiting for the master of run {:?} on {}",
                        opts.run,
                        opts.addr.shown()
                    );
                    told = true;
                }
                tokio::time::sleep(Duration::from_millis(250)).await;
            }
        }
    }
}

/// One membership: a node name, its controller, its forwarder.
struct Session {
    node: String,
    master: String,
    client: async_nats::Client,
    link: Link,
    subjects: Subjects,
    emitter: Emitter,
    services: Services,
    controller: Controller,
    forwarder: Option<Forwarder>,
    heartbeat: Duration,
    timeout: Duration,
}

impl Session {
    #[allow(clippy::too_many_arguments)]
    async fn begin(
        accepted: JoinReply,
        client: &async_nats::Client,
        link: &Link,
        subjects: &Subjects,
        telemetry: &Telemetry,
        scenarios: &[Arc<dyn DynScenario>],
        start: Instant,
        gzip: bool,
    ) -> Result<Session, String> {
        let JoinReply::Accepted {
            node,
            master,
            scenario,
            settings,
            peers,
            heartbeat_ms,
            timeout_ms,
            ..
        } = accepted
        else {
            return Err("the master refused this worker".into());
        };
        let emitter = Emitter::new(telemetry.clone(), node.as_str());
        let services = Services::new(&emitter);
        let controller = Controller::new(
            tokio::runtime::Handle::current(),
            emitter.clone(),
            services.clone(),
            ControllerOptions::default(),
        );
        let forwarder = Forwarder::start(
            telemetry,
            "rookery-forwarder",
            &node,
            start,
            NatsSink {
                client: client.clone(),
                subject: subjects.events(&node),
            },
            gzip,
        )?;
        let mut session = Session {
            node,
            master,
            client: client.clone(),
            link: link.clone(),
            subjects: subjects.clone(),
            emitter,
            services,
            controller,
            forwarder: Some(forwarder),
            heartbeat: Duration::from_millis(heartbeat_ms.max(10)),
            timeout: Duration::from_millis(timeout_ms.max(50)),
        };
        eprintln!(
            "rookery: joined run {:?} as {}",
            subjects.run(),
            session.node
        );
        let mut connected = vec![session.master.clone()];
        connected.extend(peers);
        let mut workers = connected[1..].to_vec();
        workers.push(session.node.clone());
        session.emitter.emit(
            &CLUSTER_CONNECT_NODES,
            &[(
                Key::new_static("count"),
                Value::from(connected.len() as u64),
            )],
            &[
                (
                    Key::new_static("nodes"),
                    Value::list(connected.iter().map(|n| Value::from(n.as_str()))),
                ),
                (
                    Key::new_static("state"),
                    super::master::cluster_state(&session.master, &workers, &[]),
                ),
            ],
        );
        if let Err(e) = session.start_scenario(scenarios, &scenario, &settings) {
            let _ = session.leave(&e).await;
            return Err(e);
        }
        Ok(session)
    }

    fn start_scenario(
        &self,
        scenarios: &[Arc<dyn DynScenario>],
        name: &str,
        settings: &[String],
    ) -> Result<(), String> {
        let scenario = scenarios
            .iter()
            .find(|s| s.name() == name)
            .ok_or_else(|| format!("no scenario {name:?} in this build"))?;
        let explicit = ExplicitSettings::from_cli(settings, None)
            .map_err(|e| format!("settings from the master: {e}"))?;
        let mut decls = engine_declarations(UpdateRule::throttle_rate(USER_RATE, 60_000));
        for setting in scenario.declarations() {
            decls
                .declare(scenario.name(), setting)
                .map_err(|e| format!("settings: {e}"))?;
        }
        let config = Config::resolve(decls, &explicit, &process_env, self.emitter.clone())
            .map_err(|e| format!("settings: {e}"))?;
        let rate = config
            .get(USER_RATE)
            .ok()
            .flatten()
            .and_then(|v| UserRate::from_setting(&v))
            .unwrap_or_default();
        self.services.set_config(config);
        self.services
            .set_user_rate(rate)
            .map_err(|e| format!("user_rate: {e}"))?;
        self.controller
            .start_scenario(scenario)
            .map_err(|e| format!("starting {name}: {e}"))
    }

    async fn serve(
        mut self,
        end: &mut async_nats::Subscriber,
        signals: &mut Signals,
    ) -> Result<Outcome, String> {
        let mut commands = self
            .client
            .subscribe(self.subjects.command(&self.node))
            .await
            .map_err(|e| format!("NATS: {e}"))?;
        let mut shares = self
            .client
            .subscribe(self.subjects.shares(&self.node))
            .await
            .map_err(|e| format!("NATS: {e}"))?;
        let (beat_tx, mut beats) = mpsc::channel(4);
        let beating = tokio::spawn(heartbeats(
            self.client.clone(),
            self.subjects.heartbeat(&self.node),
            self.node.clone(),
            self.controller.clone(),
            self.services.clone(),
            self.heartbeat,
            beat_tx,
        ));
        let _stop_beating = AbortOnDrop(beating);
        let mut last_ack = Instant::now();
        let mut tick = tokio::time::interval(Duration::from_millis(100));
        let mut last_tick = Instant::now();
        loop {
            tokio::select! {
                Some(msg) = commands.next() => {
                    let reply = self.command(&msg.payload).await;
                    if let Some(r) = msg.reply {
                        let _ = self.client.publish(r, wire::encode(&reply)).await;
                    }
                }
                Some(msg) = shares.next() => match wire::decode::<SetShares>(&msg.payload) {
                    Ok(set) => self.apply_shares(&set),
                    Err(e) => log::warn!(target: "cluster", "ignored shares: {e}"),
                },
                Some(beat) = beats.recv() => match beat {
                    HeartbeatReply::Ack { .. } => last_ack = Instant::now(),
                    HeartbeatReply::Down { .. } => {
                        return Ok(self.fence("the master declared this node down"));
                    }
                },
                _ = tick.tick() => {
                    let gap = last_tick.elapsed();
                    last_tick = Instant::now();
                    if gap >= self.timeout {
                        let why = format!(
                            "this process was frozen for {:.1}s (past the {:.1}s timeout)",
                            gap.as_secs_f64(),
                            self.timeout.as_secs_f64()
                        );
                        return Ok(self.fence(&why));
                    }
                    let heard_for = self.link.up_for();
                    if heard_for >= self.timeout && last_ack.elapsed().min(heard_for) >= self.timeout {
                        return Err(self.master_down());
                    }
                }
                _ = end.next() => {
                    if let Some(f) = self.forwarder.take() {
                        f.finish().await;
                    }
                    let _ = self.client.flush().await;
                    return Ok(Outcome::Ended);
                }
                () = signals.recv() => {
                    self.stop_users().await;
                    self.leave("stopped by a signal").await?;
                    return Ok(Outcome::Left);
                }
            }
        }
    }

    async fn command(&mut self, payload: &[u8]) -> NodeReply {
        let failed = |reason: String| NodeReply::Failed {
            v: PROTOCOL,
            reason,
        };
        let cmd: NodeCommand = match wire::decode(payload) {
            Ok(c) => c,
            Err(e) => {
                log::warn!(target: "cluster", "ignored a command: {e}");
                return failed(e);
            }
        };
        let done = |removed: u64, sent: u64| NodeReply::Done {
            v: PROTOCOL,
            removed,
            events_sent: sent,
        };
        let sent = || self.forwarder.as_ref().map_or(0, |f| f.sent());
        match cmd {
            NodeCommand::AddUsers { first, last, .. } => {
                match self.controller.add_users(first, last) {
                    Ok(()) => done(0, sent()),
                    Err(e) => failed(e.to_string()),
                }
            }
            NodeCommand::RemoveUsers { count, force, .. } => {
                match self.controller.remove_users(count, force) {
                    Ok(n) => done(n, sent()),
                    Err(e) => failed(e.to_string()),
                }
            }
            NodeCommand::Stop { .. } => {
                self.stop_users().await;
                let sent = match self.forwarder.take() {
                    Some(f) => f.finish().await,
                    None => 0,
                };
                let _ = self.client.flush().await;
                done(0, sent)
            }
        }
    }

    /// Runs each throttle at its share of the cluster-wide rate.
    fn apply_shares(&self, set: &SetShares) {
        if self.forwarder.is_none() {
            // Stopped: its last events are sent, and it releases nothing more.
            return;
        }
        let throttles = self.services.throttles();
        for (name, rate, interval) in &set.shares {
            let cfg = ThrottleConfig::new(Rate::Finite(*rate), *interval)
                .catch_up(super::shares::catch_up(*rate, *interval));
            if throttles.info(name).map(|i| i.config()).ok() == Some(cfg) {
                continue;
            }
            if let Err(e) = throttles.change_rate(name, cfg) {
                log::warn!(target: "cluster", "share of {name}: {e}");
            }
        }
    }

    /// Stops the scenario and waits for its users (and `terminate`) to end.
    async fn stop_users(&self) {
        if self.controller.stop_scenario().is_err() {
            return;
        }
        let grace = ControllerOptions::default().grace + Duration::from_secs(3);
        let mut changes = self.controller.subscribe();
        let ended = async {
            while matches!(
                self.controller.status(),
                ControllerStatus::Running(_) | ControllerStatus::Terminating(_)
            ) {
                if changes.changed().await.is_err() {
                    break;
                }
            }
        };
        let _ = tokio::time::timeout(grace, ended).await;
    }

    /// Declared down: cancel every user now; the caller joins again.
    fn fence(self, why: &str) -> Outcome {
        self.controller.halt();
        self.services.shut_down();
        Outcome::Fenced(format!("{}: {why}", self.node))
    }

    fn master_down(self) -> String {
        self.emitter.emit(
            &CLUSTER_MASTER_NODE_DOWN,
            &[(Key::new_static("count"), Value::Int(1))],
            &[(
                Key::new_static("nodes"),
                Value::list([Value::from(self.master.as_str())]),
            )],
        );
        self.controller.halt();
        self.services.shut_down();
        format!(
            "the master {} stopped answering for {:.1}s: users stopped, exiting",
            self.master,
            self.timeout.as_secs_f64()
        )
    }

    async fn leave(&mut self, reason: &str) -> Result<(), String> {
        let events_sent = match self.forwarder.take() {
            Some(f) => f.finish().await,
            None => 0,
        };
        let msg = Leave {
            v: PROTOCOL,
            node: self.node.clone(),
            reason: reason.to_owned(),
            events_sent,
        };
        self.client
            .publish(self.subjects.leave(&self.node), wire::encode(&msg))
            .await
            .map_err(|e| format!("NATS: {e}"))?;
        let _ = tokio::time::timeout(Duration::from_secs(2), self.client.flush()).await;
        Ok(())
    }
}

struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Sends a heartbeat every `every` and reports the master's answers.
async fn heartbeats(
    client: async_nats::Client,
    subject: String,
    node: String,
    controller: Controller,
    services: Services,
    every: Duration,
    out: mpsc::Sender<HeartbeatReply>,
) {
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let hb = Heartbeat {
            v: PROTOCOL,
            node: node.clone(),
            running: controller.counts().running,
            throttles: services
                .throttles()
                .list()
                .into_iter()
                .map(|i| ThrottleLoad {
                    name: i.name.to_string(),
                    rate: match i.rate {
                        Rate::Finite(r) => Some(r),
                        Rate::Infinity => None,
                    },
                    interval_ms: i.interval_ms,
                    requests: i.requests,
                    backlog: i.backlog as u64,
                })
                .collect(),
        };
        let asked =
            tokio::time::timeout(every, client.request(subject.clone(), wire::encode(&hb))).await;
        if let Ok(Ok(msg)) = asked
            && let Ok(reply) = wire::decode::<HeartbeatReply>(&msg.payload)
            && out.send(reply).await.is_err()
        {
            return;
        }
    }
}
