//! One membership of a worker in its run: the node the master drives, its command and share
//! subjects, its forwarder, and the heartbeat that keeps it a member (see [`super`]).

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::StreamExt;
use tokio::sync::mpsc;

use super::super::connect::ClusterAddr;
use super::super::coordinators::{ToMaster, run_batch};
use super::super::forward::Forwarder;
use super::super::settings::SettingsFile;
use super::super::wire::{self, JoinReply, Leave, PROTOCOL, Report, RunBatch, SetShares, Subjects};
use crate::cli::signals::Signals;
use crate::engine::coordinator::Coordinators;
use crate::engine::events::Emitter;
use crate::engine::protocol::{self, NodeCommand, NodeReport, Reply, Request, RequestId};
use crate::engine::throttle::{Rate, ThrottleConfig};
use crate::engine::{
    Catalogue, Controller, ControllerOptions, DynScenario, NodeLink, Services, UserThreads,
};
use crate::telemetry::{Key, Telemetry};

use super::Outcome;
use super::heartbeat::{Beating, Verdict};

/// Request ids the worker gives its own node's requests (a signal's `Leave`, a fence's `Halt`):
/// from the top half of the id space, so they never meet a master's ids in the node's reply
/// cache.
const LOCAL_IDS: u64 = 1 << 63;

/// One membership: a node name, its node, its forwarder.
pub(super) struct Session {
    node: String,
    master: String,
    client: async_nats::Client,
    addr: ClusterAddr,
    subjects: Subjects,
    emitter: Emitter,
    services: Services,
    controller: Controller,
    /// The worker's node, reached as the simulated cluster reaches its nodes.
    local: NodeLink,
    /// The node's unsolicited reports.
    reports: mpsc::UnboundedReceiver<Reply>,
    next_local: u64,
    /// Publishes the coordinator messages.
    _coordinating: AbortOnDrop,
    forwarder: Option<Forwarder>,
    heartbeat: Duration,
    timeout: Duration,
}

impl Session {
    #[allow(clippy::too_many_arguments)]
    pub(super) async fn begin(
        accepted: JoinReply,
        client: &async_nats::Client,
        addr: &ClusterAddr,
        subjects: &Subjects,
        telemetry: &Telemetry,
        scenarios: &[Arc<dyn DynScenario>],
        start: Instant,
        gzip: bool,
        user_threads: usize,
    ) -> Result<Session, String> {
        let JoinReply::Accepted {
            node,
            master,
            scenario,
            settings,
            settings_file,
            heartbeat_ms,
            timeout_ms,
            ..
        } = accepted
        else {
            return Err("the master refused this worker".into());
        };
        let emitter = Emitter::new(telemetry.clone(), node.as_str());
        // The master owns the coordinators: this node's forward its users' adds.
        let (to_master, coordinating) =
            ToMaster::start(client.clone(), subjects.coordinators(&node), &node);
        let services =
            Services::with_coordinators(&emitter, Coordinators::forwarding(&emitter, to_master));
        let controller = Controller::new(
            tokio::runtime::Handle::current(),
            emitter.clone(),
            services.clone(),
            ControllerOptions {
                threads: UserThreads::optional(user_threads)
                    .map_err(|e| format!("cannot start {user_threads} user threads: {e}"))?,
                ..ControllerOptions::default()
            },
        );
        let catalogue = Catalogue::default();
        catalogue
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .extend(scenarios.iter().map(|s| (s.name().clone(), Arc::clone(s))));
        let (inbox, reports) = mpsc::unbounded_channel();
        let local = NodeLink::local(
            tokio::runtime::Handle::current(),
            emitter.clone(),
            controller.clone(),
            catalogue,
            inbox,
        );
        // On a thread and a connection of its own: user load cannot hold the events back.
        let forwarder = Forwarder::start_own_thread(
            telemetry,
            "rookery-forwarder",
            &node,
            start,
            addr,
            subjects.events(&node),
            gzip,
        )
        .await?;
        let mut session = Session {
            node,
            master,
            client: client.clone(),
            addr: addr.clone(),
            subjects: subjects.clone(),
            emitter,
            services,
            controller,
            local,
            reports,
            next_local: LOCAL_IDS,
            _coordinating: AbortOnDrop(coordinating),
            forwarder: Some(forwarder),
            heartbeat: Duration::from_millis(heartbeat_ms.max(10)),
            timeout: Duration::from_millis(timeout_ms.max(50)),
        };
        eprintln!(
            "rookery: joined run {:?} as {}",
            subjects.run(),
            session.node
        );
        // The master starts the scenario on this node (a `StartScenario` request) once it
        // hears the first heartbeat; the settings it resolves with come with the join.
        if let Err(e) =
            session.resolve_settings(scenarios, &scenario, &settings, settings_file.as_ref())
        {
            let _ = session.leave(&e).await;
            return Err(e);
        }
        Ok(session)
    }

    /// Resolves the master's settings for `name` (this build's declarations) and starts the
    /// `user_rate` throttle.
    pub(super) fn resolve_settings(
        &self,
        scenarios: &[Arc<dyn DynScenario>],
        name: &str,
        settings: &[String],
        file: Option<&SettingsFile>,
    ) -> Result<(), String> {
        let scenario = scenarios
            .iter()
            .find(|s| s.name() == name)
            .ok_or_else(|| format!("no scenario {name:?} in this build"))?;
        let (config, rate) =
            super::super::settings::resolve(scenario, settings, file, Some(self.emitter.clone()))
                .map_err(|e| format!("from the master: {e}"))?;
        self.services.set_config(config);
        self.services
            .set_user_rate(rate)
            .map_err(|e| format!("user_rate: {e}"))
    }

    /// Sends `command` to this worker's own node (a local request id).
    fn ask_local(&mut self, command: NodeCommand) -> NodeReport {
        self.next_local += 1;
        self.local.ask(RequestId(self.next_local), command)
    }

    pub(super) async fn serve(
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
        let mut batches = self
            .client
            .subscribe(self.subjects.batches(&self.node))
            .await
            .map_err(|e| format!("NATS: {e}"))?;
        // Subscribed before the first heartbeat: the master sends commands once it hears one.
        self.client
            .flush()
            .await
            .map_err(|e| format!("NATS: {e}"))?;
        // The heartbeat runs on a thread and a connection of its own: user load on this
        // runtime cannot delay it (see `heartbeat`).
        let (_beating, mut verdicts) = Beating {
            addr: self.addr.clone(),
            subject: self.subjects.heartbeat(&self.node),
            node: self.node.clone(),
            controller: self.controller.clone(),
            services: self.services.clone(),
            every: self.heartbeat,
            timeout: self.timeout,
        }
        .start()
        .await?;
        loop {
            // In this order when several are ready: a coordinator batch the master sent before
            // a command (a stop's leftovers, flushed before the stop) runs before it, and its
            // events are queued before the stop's `Finished` finishes the forwarder.
            tokio::select! {
                biased;
                Some(msg) = batches.next() => {
                    let ran = wire::decode::<RunBatch>(&msg.payload).and_then(|b| {
                        run_batch(self.services.coordinators(), &self.emitter, b)
                    });
                    if let Err(e) = ran {
                        log::warn!(target: "cluster", "ignored a coordinator batch: {e}");
                    }
                }
                Some(msg) = commands.next() => {
                    let Some(reply) = self.command(&msg.payload) else { continue };
                    if let Some(r) = msg.reply {
                        let _ = self.client.publish(r, protocol::encode(&reply).into()).await;
                    }
                    if reply.report == NodeReport::Down {
                        // A `Leave` with nothing to stop: the node is down already.
                        self.leave("asked to leave by the master").await?;
                        return Ok(Outcome::Left);
                    }
                }
                Some(report) = self.reports.recv() => {
                    if let Some(outcome) = self.report(report).await? {
                        return Ok(outcome);
                    }
                }
                Some(msg) = shares.next() => match wire::decode::<SetShares>(&msg.payload) {
                    Ok(set) => self.apply_shares(&set),
                    Err(e) => log::warn!(target: "cluster", "ignored shares: {e}"),
                },
                Some(verdict) = verdicts.recv() => match verdict {
                    Verdict::Down => {
                        return Ok(self.fence("the master declared this node down"));
                    }
                    Verdict::Frozen(gap) => {
                        let why = format!(
                            "this process was frozen for {:.1}s (past the {:.1}s timeout)",
                            gap.as_secs_f64(),
                            self.timeout.as_secs_f64()
                        );
                        return Ok(self.fence(&why));
                    }
                    Verdict::MasterSilent => return Err(self.master_down()),
                },
                _ = end.next() => {
                    if let Some(f) = self.forwarder.take() {
                        f.finish().await;
                    }
                    let _ = self.client.flush().await;
                    return Ok(Outcome::Ended);
                }
                () = signals.recv() => {
                    // `Down` at once: nothing ran; else the node reports it when its users
                    // have ended.
                    let at_once = self.ask_local(NodeCommand::Leave) == NodeReport::Down;
                    let down = async {
                        if at_once {
                            return;
                        }
                        while let Some(r) = self.reports.recv().await {
                            if r.report == NodeReport::Down {
                                return;
                            }
                        }
                    };
                    let grace = ControllerOptions::default().grace + Duration::from_secs(3);
                    let _ = tokio::time::timeout(grace, down).await;
                    self.leave("stopped by a signal").await?;
                    return Ok(Outcome::Left);
                }
            }
        }
    }

    /// A request of the master, answered by the node (`None`: not a request for this node,
    /// ignored; the master's request times out).
    fn command(&mut self, payload: &[u8]) -> Option<Reply> {
        let request: Request = match protocol::decode_request(payload) {
            Ok(r) => r,
            Err(e) => {
                log::warn!(target: "cluster", "ignored a command: {e}");
                return None;
            }
        };
        if request.node != self.node.as_str() {
            log::warn!(target: "cluster", "ignored a command for {}", request.node);
            return None;
        }
        Some(self.local.call(request))
    }

    /// An unsolicited report of the node: `Finished` goes to the master with the events sent
    /// (all of this worker's: the forwarder is finished); `Down` (a `Leave` the master asked
    /// for) ends the membership with a leave. Returns the outcome when the session ends.
    async fn report(&mut self, reply: Reply) -> Result<Option<Outcome>, String> {
        match reply.report {
            NodeReport::Down => {
                self.leave("asked to leave by the master").await?;
                Ok(Some(Outcome::Left))
            }
            _ => {
                let events_sent = match self.forwarder.take() {
                    Some(f) => f.finish().await,
                    None => 0,
                };
                let msg = Report {
                    v: PROTOCOL,
                    events_sent,
                    reply,
                };
                self.client
                    .publish(self.subjects.reports(&self.node), wire::encode(&msg))
                    .await
                    .map_err(|e| format!("NATS: {e}"))?;
                let _ = self.client.flush().await;
                Ok(None)
            }
        }
    }

    /// Runs each throttle at its share of the cluster-wide rate, paused when the cluster's is.
    fn apply_shares(&self, set: &SetShares) {
        if self.forwarder.is_none() {
            // Stopped: its last events are sent, and it releases nothing more.
            return;
        }
        let throttles = self.services.throttles();
        for (name, rate, interval) in &set.shares {
            let cfg = ThrottleConfig::new(Rate::Finite(*rate), *interval)
                .catch_up(super::super::shares::catch_up(*rate, *interval));
            if throttles.info(name).map(|i| i.config()).ok() == Some(cfg) {
                continue;
            }
            if let Err(e) = throttles.change_rate(name, cfg) {
                log::warn!(target: "cluster", "share of {name}: {e}");
            }
        }
        for info in throttles.list() {
            let paused = set.paused.iter().any(|p| p.as_str() == info.name.as_str());
            let done = match (paused, info.paused) {
                (true, false) => throttles.pause(&info.name).map(|_| ()),
                (false, true) => throttles.resume(&info.name).map(|_| ()),
                _ => Ok(()),
            };
            if let Err(e) = done {
                log::warn!(target: "cluster", "pausing or resuming {}: {e}", info.name);
            }
        }
    }

    /// Declared down: cancel every user now; the caller joins again.
    fn fence(mut self, why: &str) -> Outcome {
        self.ask_local(NodeCommand::Halt);
        self.services.shut_down();
        Outcome::Fenced(format!("{}: {why}", self.node))
    }

    /// The master is gone: the node emits `[amoc, cluster, master_node_down]` and halts, as
    /// Amoc's workers do.
    fn master_down(mut self) -> String {
        let master = Key::new(self.master.as_str());
        self.ask_local(NodeCommand::PeersDown {
            master: master.clone(),
            nodes: vec![master],
            master_down: true,
            up: vec![Key::new(self.node.as_str())],
        });
        self.services.shut_down();
        format!(
            "the master {} stopped answering for {:.1}s: users stopped, exiting",
            self.master,
            self.timeout.as_secs_f64()
        )
    }

    pub(super) async fn leave(&mut self, reason: &str) -> Result<(), String> {
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
