//! The master of a real cluster: the node table, user ids, heartbeats, and the events of every
//! worker fed into the master's own telemetry registry (so its monitor and recorder see the
//! whole cluster, exactly as a simulated one).
//!
//! Concurrency: one task per subscription (joins, heartbeats, event batches, leaves) and a
//! watchdog, sharing a small table behind a mutex. Decisions are taken under the lock; replies,
//! commands and events go out after it is released. The UI never waits on any of it.

use std::collections::HashSet;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use futures::StreamExt;

use super::batch::BatchReader;
use super::connect::{ClusterAddr, Link};
use super::shares::Shares;
use super::wire::{
    self, HeartbeatReply, JOIN, Join, JoinReply, Leave, NodeCommand, NodeReply, PROTOCOL,
    SetShares, Subjects,
};
use crate::engine::events::{CLUSTER_CONNECT_NODES, CLUSTER_NODEDOWN, Emitter};

static USER_STOP: StaticName = StaticName::new(&["amoc", "scenario", "start", "stop"]);
static USER_EXCEPTION: StaticName = StaticName::new(&["amoc", "scenario", "start", "exception"]);
use crate::monitor::LoggedEvent;
use crate::telemetry::{Field, Key, StaticName, Telemetry, Value, monotonic_time};

/// `[rookery, cluster, ignored]`: a message the master ignored; metadata `reason`, `subject`.
pub static IGNORED: StaticName = StaticName::new(&["rookery", "cluster", "ignored"]);
/// `[rookery, cluster, users_lost]`: measurements `count`: users handed to a node that went
/// down without ending them (`kill -9`, a lost machine), waiting or running; metadata
/// `lost_node`.
pub static USERS_LOST: StaticName = StaticName::new(&["rookery", "cluster", "users_lost"]);
/// `[rookery, cluster, events_dropped]`: measurements `count`; metadata `from` (the worker)
/// and `where`: `queue` (its forwarder's queue was full) or `transit` (batches never arrived).
pub static EVENTS_DROPPED: StaticName = StaticName::new(&["rookery", "cluster", "events_dropped"]);

/// How a master runs.
#[derive(Clone, Debug)]
pub struct MasterOptions {
    pub addr: ClusterAddr,
    pub run: String,
    /// The master's node name in events (default `master`).
    pub name: String,
    pub scenario: String,
    /// `NAME=VALUE` settings handed to every worker.
    pub settings: Vec<String>,
    pub heartbeat: Duration,
    /// A worker silent this long (while the master's own link is up) is declared down.
    pub timeout: Duration,
}

/// Messages ignored or lost, by kind.
#[derive(Debug, Default)]
pub struct Counters {
    /// Join requests of another run id.
    pub other_run: AtomicU64,
    /// Messages that did not decode (or spoke another protocol version).
    pub undecodable: AtomicU64,
    /// Batches or heartbeats of a node that is not up (declared down, or unknown).
    pub stale: AtomicU64,
    /// Joins refused.
    pub refused: AtomicU64,
    /// Events a worker's queue dropped (as it reported).
    pub dropped_queue: AtomicU64,
    /// Events sent but never received.
    pub dropped_transit: AtomicU64,
}

struct NodeEntry {
    name: String,
    up: bool,
    /// Its first heartbeat arrived: it listens for commands.
    ready: bool,
    last_heard: Instant,
    /// Master `t_us` minus worker `t_us`.
    offset_us: i64,
    /// Events received, and the worker's count of queue drops last seen.
    received: u64,
    dropped_seen: u64,
    /// Users handed out to it (never reused), and users of it seen ending (their
    /// `[amoc, scenario, start, stop | exception]` events).
    users_given: u64,
    users_ended: u64,
}

struct Table {
    nodes: Vec<NodeEntry>,
    names: HashSet<String>,
    last_id: u64,
}

impl Table {
    fn find(&mut self, name: &str) -> Option<&mut NodeEntry> {
        self.nodes.iter_mut().find(|n| n.name == name)
    }
    fn up(&self) -> Vec<String> {
        self.nodes
            .iter()
            .filter(|n| n.up)
            .map(|n| n.name.clone())
            .collect()
    }
    /// Up and listening for commands.
    fn ready(&self) -> Vec<usize> {
        (0..self.nodes.len())
            .filter(|&i| self.nodes[i].up && self.nodes[i].ready)
            .collect()
    }
}

struct Shared {
    opts: MasterOptions,
    client: async_nats::Client,
    link: Link,
    subjects: Subjects,
    telemetry: Telemetry,
    emitter: Emitter,
    start: Instant,
    /// `monotonic_time` at `start`.
    mono0: i64,
    fingerprint: String,
    table: Mutex<Table>,
    shares: Mutex<Shares>,
    counters: Counters,
    changed: tokio::sync::watch::Sender<u64>,
}

/// A running master. Cheap to clone.
#[derive(Clone)]
pub struct Master {
    shared: Arc<Shared>,
}

/// Who got which users.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Block {
    pub node: String,
    pub first: u64,
    pub last: u64,
}

impl Master {
    /// Connects and starts listening for workers. `telemetry` gets the master's own events and
    /// every worker's; `start` is its `t_us = 0` (the monitor's and the recorder's).
    pub async fn start(
        opts: MasterOptions,
        telemetry: Telemetry,
        start: Instant,
    ) -> Result<Master, String> {
        wire::check_token("--run", &opts.run)?;
        let (client, link) = opts
            .addr
            .connect(
                &format!("rookery master {}", opts.run),
                Duration::from_secs(10),
            )
            .await?;
        let mono0 = monotonic_time() - start.elapsed().as_nanos() as i64;
        let shared = Arc::new(Shared {
            subjects: Subjects::new(&opts.run),
            emitter: Emitter::new(telemetry.clone(), opts.name.as_str()),
            opts,
            client,
            link,
            telemetry,
            start,
            mono0,
            fingerprint: wire::fingerprint(),
            table: Mutex::new(Table {
                nodes: Vec::new(),
                names: HashSet::new(),
                last_id: 0,
            }),
            shares: Mutex::new(Shares::default()),
            counters: Counters::default(),
            changed: tokio::sync::watch::Sender::new(0),
        });
        let sub = |s: String| {
            let client = shared.client.clone();
            async move {
                client
                    .subscribe(s.clone())
                    .await
                    .map_err(|e| format!("subscribing to {s}: {e}"))
            }
        };
        let joins = sub(JOIN.to_owned()).await?;
        let beats = sub(shared.subjects.all("hb")).await?;
        let batches = sub(shared.subjects.all("ev")).await?;
        let leaves = sub(shared.subjects.all("leave")).await?;
        shared
            .client
            .flush()
            .await
            .map_err(|e| format!("NATS: {e}"))?;
        let m = Master { shared };
        tokio::spawn(m.clone().on_joins(joins));
        tokio::spawn(m.clone().on_heartbeats(beats));
        tokio::spawn(m.clone().on_batches(batches));
        tokio::spawn(m.clone().on_leaves(leaves));
        tokio::spawn(m.clone().watchdog());
        Ok(m)
    }

    fn table(&self) -> MutexGuard<'_, Table> {
        self.shared.table.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn shares(&self) -> MutexGuard<'_, Shares> {
        self.shared.shares.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Splits every cluster-wide rate again over the ready workers and sends the shares that
    /// changed.
    async fn rebalance(&self) {
        let nodes: Vec<String> = {
            let t = self.table();
            t.ready()
                .into_iter()
                .map(|i| t.nodes[i].name.clone())
                .collect()
        };
        let changed = self.shares().rebalance(&nodes);
        for (node, shares) in changed {
            let msg = SetShares {
                v: PROTOCOL,
                shares,
            };
            let _ = self
                .shared
                .client
                .publish(self.shared.subjects.shares(&node), wire::encode(&msg))
                .await;
        }
    }

    /// Sets a throttle's cluster-wide rate (`None`: unlimited); in force on every worker as
    /// soon as its new share arrives. `interval_ms: None` keeps the interval.
    pub async fn set_rate(
        &self,
        name: &str,
        rate: Option<u64>,
        interval_ms: Option<u64>,
    ) -> Result<(), String> {
        {
            let mut sh = self.shares();
            let Some((_, interval)) = sh.rate(name) else {
                return Err(format!("no throttle {name:?} on the workers"));
            };
            sh.set_rate(name, rate, interval_ms.unwrap_or(interval));
        }
        self.rebalance().await;
        Ok(())
    }

    fn bump(&self) {
        self.shared.changed.send_modify(|n| *n += 1);
    }

    /// Ignored and lost messages so far.
    pub fn counters(&self) -> &Counters {
        &self.shared.counters
    }

    /// The nodes up now.
    pub fn nodes_up(&self) -> Vec<String> {
        self.table().up()
    }

    /// Waits until `n` workers are up, at most `limit`.
    pub async fn wait_nodes(&self, n: usize, limit: Duration) -> Result<(), String> {
        let mut changes = self.shared.changed.subscribe();
        let wait = async {
            loop {
                if self.table().ready().len() >= n {
                    return;
                }
                if changes.changed().await.is_err() {
                    return;
                }
            }
        };
        tokio::time::timeout(limit, wait).await.map_err(|_| {
            format!(
                "only {} of {n} workers joined within {}s (run {:?}; start them with `rookery \
                 node --cluster {} --run {}`)",
                self.table().ready().len(),
                limit.as_secs(),
                self.shared.opts.run,
                self.shared.opts.addr.shown(),
                self.shared.opts.run
            )
        })
    }

    fn ignore(&self, counter: &AtomicU64, reason: &str, subject: &str) {
        counter.fetch_add(1, Ordering::Relaxed);
        log::warn!(target: "cluster", "ignored a message on {subject}: {reason}");
        self.shared.emitter.emit(
            &IGNORED,
            &[(Key::new_static("count"), Value::Int(1))],
            &[
                (Key::new_static("reason"), Value::from(reason)),
                (Key::new_static("subject"), Value::from(subject)),
            ],
        );
    }

    async fn on_joins(self, mut sub: async_nats::Subscriber) {
        while let Some(msg) = sub.next().await {
            let join: Join = match wire::decode(&msg.payload) {
                Ok(j) => j,
                Err(e) => {
                    self.ignore(&self.shared.counters.undecodable, &e, JOIN);
                    continue;
                }
            };
            if join.run != self.shared.opts.run {
                // Another run's master answers it; stay silent.
                let reason = format!("worker {:?} of run {:?}", join.name, join.run);
                self.ignore(&self.shared.counters.other_run, &reason, JOIN);
                continue;
            }
            let reply = self.decide_join(&join);
            if let Some(reply_to) = msg.reply {
                let _ = self
                    .shared
                    .client
                    .publish(reply_to, wire::encode(&reply))
                    .await;
            }
            match &reply {
                JoinReply::Accepted { node, peers, .. } => {
                    log::info!(target: "cluster", "{node} joined");
                    self.emit_cluster(&CLUSTER_CONNECT_NODES, node);
                    let _ = peers;
                    self.bump();
                }
                JoinReply::Refused { reason, .. } => {
                    self.shared.counters.refused.fetch_add(1, Ordering::Relaxed);
                    eprintln!("rookery: refused worker {:?}: {reason}", join.name);
                    log::warn!(target: "cluster", "refused worker {:?}: {reason}", join.name);
                }
            }
        }
    }

    /// Accepts or refuses a join (under the table lock; nothing is sent here).
    fn decide_join(&self, join: &Join) -> JoinReply {
        let o = &self.shared.opts;
        let refuse = |reason: String| JoinReply::Refused {
            v: PROTOCOL,
            reason,
        };
        if join.fingerprint != self.shared.fingerprint {
            return refuse(format!(
                "build fingerprint {:?} differs from the master's {:?}: run the same build \
                 everywhere",
                join.fingerprint, self.shared.fingerprint
            ));
        }
        if !join.scenarios.contains(&o.scenario) {
            return refuse(format!(
                "this worker has no scenario {:?} (it has: {})",
                o.scenario,
                join.scenarios.join(", ")
            ));
        }
        if let Err(e) = wire::check_token("node name", &join.name) {
            return refuse(e);
        }
        let now_us = self.shared.start.elapsed().as_micros() as i64;
        let mut t = self.table();
        let mut name = join.name.clone();
        let mut k = 2;
        while t.names.contains(&name) || name == o.name {
            name = format!("{}~{k}", join.name);
            k += 1;
        }
        let peers = t.up();
        t.names.insert(name.clone());
        t.nodes.push(NodeEntry {
            name: name.clone(),
            up: true,
            ready: false,
            last_heard: Instant::now(),
            offset_us: now_us - join.now_us as i64,
            received: 0,
            dropped_seen: 0,
            users_given: 0,
            users_ended: 0,
        });
        JoinReply::Accepted {
            v: PROTOCOL,
            node: name,
            master: o.name.clone(),
            scenario: o.scenario.clone(),
            settings: o.settings.clone(),
            peers,
            heartbeat_ms: o.heartbeat.as_millis() as u64,
            timeout_ms: o.timeout.as_millis() as u64,
        }
    }

    /// `connect_nodes` / `nodedown` on the master, about `node`.
    fn emit_cluster(&self, event: &StaticName, node: &str) {
        let (up, down): (Vec<String>, Vec<String>) = {
            let t = self.table();
            (
                t.up(),
                t.nodes
                    .iter()
                    .filter(|n| !n.up)
                    .map(|n| n.name.clone())
                    .collect(),
            )
        };
        let state = cluster_state(&self.shared.opts.name, &up, &down);
        self.shared.emitter.emit(
            event,
            &[(Key::new_static("count"), Value::Int(1))],
            &[
                (Key::new_static("nodes"), Value::list([Value::from(node)])),
                (Key::new_static("state"), state),
            ],
        );
    }

    async fn on_heartbeats(self, mut sub: async_nats::Subscriber) {
        while let Some(msg) = sub.next().await {
            let hb: wire::Heartbeat = match wire::decode(&msg.payload) {
                Ok(h) => h,
                Err(e) => {
                    self.ignore(&self.shared.counters.undecodable, &e, msg.subject.as_str());
                    continue;
                }
            };
            let known = {
                let mut t = self.table();
                match t.find(&hb.node) {
                    Some(n) if n.up => {
                        n.last_heard = Instant::now();
                        n.ready = true;
                        true
                    }
                    _ => false,
                }
            };
            if known {
                let now = Instant::now();
                let mut sh = self.shares();
                for load in &hb.throttles {
                    sh.report(&hb.node, &load.name, load, now);
                }
                drop(sh);
                self.bump();
            }
            let reply = if known {
                HeartbeatReply::Ack { v: PROTOCOL }
            } else {
                self.shared.counters.stale.fetch_add(1, Ordering::Relaxed);
                HeartbeatReply::Down { v: PROTOCOL }
            };
            if let Some(r) = msg.reply {
                let _ = self.shared.client.publish(r, wire::encode(&reply)).await;
            }
        }
    }

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

    async fn on_batches(self, mut sub: async_nats::Subscriber) {
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
            .execute(ev.name, &ev.measurements, &ev.metadata);
    }

    async fn on_leaves(self, mut sub: async_nats::Subscriber) {
        while let Some(msg) = sub.next().await {
            let leave: Leave = match wire::decode(&msg.payload) {
                Ok(l) => l,
                Err(e) => {
                    self.ignore(&self.shared.counters.undecodable, &e, msg.subject.as_str());
                    continue;
                }
            };
            log::info!(target: "cluster", "{} left: {}", leave.node, leave.reason);
            // Its last batches may still be on their way: wait for them (briefly).
            let m = self.clone();
            tokio::spawn(async move {
                let mut changes = m.shared.changed.subscribe();
                let arrived = async {
                    loop {
                        let done = m
                            .table()
                            .find(&leave.node)
                            .is_none_or(|n| n.received >= leave.events_sent);
                        if done || changes.changed().await.is_err() {
                            return;
                        }
                    }
                };
                let _ = tokio::time::timeout(Duration::from_secs(2), arrived).await;
                m.take_down(&leave.node, false);
            });
        }
    }

    /// Marks `node` down (once) and reports it; `lost`: its users are counted as lost.
    fn take_down(&self, node: &str, lost: bool) {
        let unfinished = {
            let mut t = self.table();
            match t.find(node) {
                Some(n) if n.up => {
                    n.up = false;
                    n.users_given.saturating_sub(n.users_ended)
                }
                _ => return,
            }
        };
        self.shares().remove(node);
        self.emit_cluster(&CLUSTER_NODEDOWN, node);
        if lost && unfinished > 0 {
            self.shared.emitter.emit(
                &USERS_LOST,
                &[(Key::new_static("count"), Value::from(unfinished))],
                &[(Key::new_static("lost_node"), Value::from(node))],
            );
        }
        self.bump();
    }

    async fn watchdog(self) {
        let mut tick = tokio::time::interval(Duration::from_millis(100));
        loop {
            tick.tick().await;
            // Every tick: shares follow a node's demand within 100 ms of its heartbeat (only
            // shares that changed are sent; see `shares`).
            self.rebalance().await;
            let timeout = self.shared.opts.timeout;
            // Silence only counts while our own link was up to hear it.
            let heard_for = self.shared.link.up_for();
            if heard_for < timeout {
                continue;
            }
            let silent: Vec<String> = self
                .table()
                .nodes
                .iter()
                .filter(|n| n.up && n.last_heard.elapsed().min(heard_for) >= timeout)
                .map(|n| n.name.clone())
                .collect();
            for node in silent {
                log::warn!(target: "cluster", "{node} is silent past {timeout:?}: down");
                eprintln!(
                    "rookery: worker {node} stopped answering for {}s: declared down",
                    timeout.as_secs_f64()
                );
                self.take_down(&node, true);
                self.rebalance().await;
            }
        }
    }

    /// Sends `cmd` to `node` and waits for its answer, at most `limit`.
    async fn command(
        &self,
        node: &str,
        cmd: &NodeCommand,
        limit: Duration,
    ) -> Result<NodeReply, String> {
        let subject = self.shared.subjects.command(node);
        let req = self.shared.client.request(subject, wire::encode(cmd));
        let msg = tokio::time::timeout(limit, req)
            .await
            .map_err(|_| format!("{node} did not answer within {}s", limit.as_secs_f64()))?
            .map_err(|e| format!("{node}: {e}"))?;
        wire::decode(&msg.payload).map_err(|e| format!("{node}: {e}"))
    }

    /// Adds `count` users over the up workers in contiguous id blocks, the simulated cluster's
    /// way (`left / nodes_left` each, in join order). Ids are never reused, even when a node
    /// refuses its block.
    pub async fn add_users(&self, count: u64) -> Result<Vec<Block>, String> {
        let blocks = {
            let mut t = self.table();
            let up = t.ready();
            if up.is_empty() {
                return Err("no worker is up".into());
            }
            let mut left = count;
            let mut blocks = Vec::new();
            for (k, &i) in up.iter().enumerate() {
                let share = left / (up.len() - k) as u64;
                left -= share;
                if share == 0 {
                    continue;
                }
                let first = t.last_id + 1;
                t.last_id += share;
                t.nodes[i].users_given += share;
                blocks.push(Block {
                    node: t.nodes[i].name.clone(),
                    first,
                    last: t.last_id,
                });
            }
            blocks
        };
        self.send_blocks(&blocks).await?;
        Ok(blocks)
    }

    /// Adds `count` users on one node.
    pub async fn add_users_to(&self, node: &str, count: u64) -> Result<Block, String> {
        let block = {
            let mut t = self.table();
            let first = t.last_id + 1;
            match t.find(node) {
                Some(n) if n.up => n.users_given += count,
                _ => return Err(format!("no worker {node:?} is up")),
            }
            t.last_id += count;
            Block {
                node: node.to_owned(),
                first,
                last: first + count - 1,
            }
        };
        self.send_blocks(std::slice::from_ref(&block)).await?;
        Ok(block)
    }

    async fn send_blocks(&self, blocks: &[Block]) -> Result<(), String> {
        let sends = blocks.iter().map(|b| {
            let cmd = NodeCommand::AddUsers {
                v: PROTOCOL,
                first: b.first,
                last: b.last,
            };
            async move {
                match self.command(&b.node, &cmd, Duration::from_secs(10)).await {
                    Ok(NodeReply::Done { .. }) => Ok(()),
                    Ok(NodeReply::Failed { reason, .. }) => Err(format!("{}: {reason}", b.node)),
                    Err(e) => Err(e),
                }
            }
        });
        let errors: Vec<String> = futures::future::join_all(sends)
            .await
            .into_iter()
            .filter_map(Result::err)
            .collect();
        if errors.is_empty() {
            Ok(())
        } else {
            Err(format!("adding users: {}", errors.join("; ")))
        }
    }

    /// Removes up to `count` users, split over the up workers; returns how many were picked.
    pub async fn remove_users(&self, count: u64, force: bool) -> Result<u64, String> {
        let up = self.nodes_up();
        if up.is_empty() {
            return Err("no worker is up".into());
        }
        let mut left = count;
        let mut removed = 0;
        for (k, node) in up.iter().enumerate() {
            let share = left / (up.len() - k) as u64;
            let cmd = NodeCommand::RemoveUsers {
                v: PROTOCOL,
                count: share,
                force,
            };
            if let Ok(NodeReply::Done { removed: r, .. }) =
                self.command(node, &cmd, Duration::from_secs(5)).await
            {
                removed += r;
            }
            left -= share.min(left);
        }
        Ok(removed)
    }

    /// Stops the scenario on every up worker and waits (at most `limit`) until each has
    /// answered and every event it sent has arrived.
    pub async fn stop(&self, limit: Duration) -> Result<(), String> {
        let up = self.nodes_up();
        let stops = up.iter().map(|node| async move {
            let r = self
                .command(node, &NodeCommand::Stop { v: PROTOCOL }, limit)
                .await;
            (node.clone(), r)
        });
        let mut expected = Vec::new();
        let mut errors = Vec::new();
        for (node, r) in futures::future::join_all(stops).await {
            match r {
                Ok(NodeReply::Done { events_sent, .. }) => expected.push((node, events_sent)),
                Ok(NodeReply::Failed { reason, .. }) => errors.push(format!("{node}: {reason}")),
                Err(e) => errors.push(e),
            }
        }
        let mut changes = self.shared.changed.subscribe();
        let all_in = async {
            loop {
                let done = {
                    let mut t = self.table();
                    expected.iter().all(|(node, sent)| {
                        t.find(node).is_none_or(|n| !n.up || n.received >= *sent)
                    })
                };
                if done || changes.changed().await.is_err() {
                    return;
                }
            }
        };
        if tokio::time::timeout(Duration::from_secs(5), all_in)
            .await
            .is_err()
        {
            errors.push("some events of the last batches did not arrive within 5s".into());
        }
        if errors.is_empty() {
            Ok(())
        } else {
            Err(format!("stopping: {}", errors.join("; ")))
        }
    }

    /// Tells every worker the run is over (they exit).
    pub async fn end(&self) {
        let _ = self
            .shared
            .client
            .publish(
                self.shared.subjects.end(),
                bytes::Bytes::from_static(b"{\"v\":1}"),
            )
            .await;
        let _ = self.shared.client.flush().await;
    }
}

/// The `state` metadata of `[amoc, cluster, _]` events (the shape of Amoc's `amoc_cluster`
/// state), naming the master so that monitors count throttles the cluster's way.
pub(crate) fn cluster_state(master: &str, up: &[String], down: &[String]) -> Value {
    let list = |v: &[String]| Value::list(v.iter().map(|s| Value::from(s.as_str())));
    Value::map([
        (Key::new_static("master"), Value::from(master)),
        (Key::new_static("connected"), list(up)),
        (Key::new_static("slave"), list(up)),
        (Key::new_static("connection_lost"), list(down)),
        (Key::new_static("failed_to_connect"), Value::list([])),
        (Key::new_static("to_ack"), Value::list([])),
    ])
}
