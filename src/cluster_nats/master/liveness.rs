//! The master's side of the heartbeats, on a thread of its own ([`OwnThread`]) with its own
//! NATS connection: it answers every worker's heartbeat (`Ack`, or `Down` to a node that is
//! not up), feeds the throttle loads they carry to the shares, and declares down a node silent
//! for the timeout. However busy the master's main runtime is (decoding the batches of a
//! million users' events), a live worker's heartbeat is answered and counted on time.
//!
//! What needs the main runtime (starting a node's scenario, sending new shares) is handed to
//! it as an [`Action`]; the thread never waits for it.

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use futures::StreamExt;
use tokio::sync::{mpsc, oneshot};

use super::Master;
use crate::cluster_nats::connect::Link;
use crate::cluster_nats::liveness::OwnThread;
use crate::cluster_nats::wire::{self, HeartbeatReply, PROTOCOL};

/// How often the thread looks for silent nodes.
const CHECK_EVERY: Duration = Duration::from_millis(100);

/// Work for the main runtime.
enum Action {
    /// A node's first heartbeat came: start the scenario on it.
    Start(String),
    /// A node went down: split the rates again.
    Rebalance,
}

impl Master {
    /// Starts the liveness thread; returns once it listens for heartbeats.
    pub(super) async fn start_liveness(&self) -> Result<OwnThread, String> {
        let (actions_tx, mut actions) = mpsc::unbounded_channel::<Action>();
        let m = self.clone();
        tokio::spawn(async move {
            while let Some(action) = actions.recv().await {
                match action {
                    Action::Start(node) => {
                        tokio::spawn(m.clone().start_node(node));
                    }
                    Action::Rebalance => m.rebalance().await,
                }
            }
        });
        let (ready_tx, ready) = oneshot::channel();
        let m = self.clone();
        let thread = OwnThread::spawn("rookery-liveness", move |stop| async move {
            let name = format!("rookery master {} heartbeats", m.run());
            let hb = m.shared.subjects.all("hb");
            let connected = async {
                let (client, link) = m
                    .shared
                    .opts
                    .addr
                    .connect(&name, Duration::from_secs(10))
                    .await?;
                let sub = client
                    .subscribe(hb.clone())
                    .await
                    .map_err(|e| format!("subscribing to {hb}: {e}"))?;
                client.flush().await.map_err(|e| format!("NATS: {e}"))?;
                Ok::<_, String>((client, link, sub))
            };
            match connected.await {
                Ok((client, link, sub)) => {
                    let _ = ready_tx.send(Ok(()));
                    tokio::select! {
                        () = m.listen(&client, &link, sub, &actions_tx) => {}
                        _ = stop => {}
                    }
                }
                Err(e) => {
                    let _ = ready_tx.send(Err(format!("the heartbeats' connection: {e}")));
                }
            }
        })?;
        match ready.await {
            Ok(Ok(())) => Ok(thread),
            Ok(Err(e)) => Err(e),
            Err(_) => Err("the liveness thread ended at once".into()),
        }
    }

    /// Answers heartbeats and looks for silent nodes until the main runtime is gone.
    async fn listen(
        &self,
        client: &async_nats::Client,
        link: &Link,
        mut sub: async_nats::Subscriber,
        actions: &mpsc::UnboundedSender<Action>,
    ) {
        let mut check = tokio::time::interval(CHECK_EVERY);
        check.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                msg = sub.next() => match msg {
                    Some(msg) => self.heartbeat(client, msg, actions).await,
                    None => return,
                },
                _ = check.tick() => {
                    if actions.is_closed() {
                        // The master's runtime is gone.
                        return;
                    }
                    self.declare_silent_down(link, actions);
                }
            }
        }
    }

    async fn heartbeat(
        &self,
        client: &async_nats::Client,
        msg: async_nats::Message,
        actions: &mpsc::UnboundedSender<Action>,
    ) {
        let hb: wire::Heartbeat = match wire::decode(&msg.payload) {
            Ok(h) => h,
            Err(e) => {
                self.ignore(&self.shared.counters.undecodable, &e, msg.subject.as_str());
                return;
            }
        };
        let (known, start) = {
            let mut t = self.table();
            match t.find(&hb.node) {
                Some(n) if n.up => {
                    n.last_heard = Instant::now();
                    let start = !n.starting;
                    n.starting = true;
                    (true, start)
                }
                _ => (false, false),
            }
        };
        let reply = if known {
            HeartbeatReply::Ack { v: PROTOCOL }
        } else {
            self.shared.counters.stale.fetch_add(1, Ordering::Relaxed);
            HeartbeatReply::Down { v: PROTOCOL }
        };
        // Answered first: nothing below may delay it.
        if let Some(r) = msg.reply {
            let _ = client.publish(r, wire::encode(&reply)).await;
        }
        if start {
            let _ = actions.send(Action::Start(hb.node.clone()));
        }
        if known {
            let now = Instant::now();
            let mut sh = self.shares();
            let mut new = Vec::new();
            for load in &hb.throttles {
                if sh.rate(&load.name).is_none() {
                    new.push(load.name.clone());
                }
                sh.report(&hb.node, &load.name, load, now);
            }
            drop(sh);
            // The master's own rate event: the cluster-wide rate (workers report shares).
            for name in new {
                self.emit_rate(&name);
            }
            self.bump();
        }
    }

    /// Declares down every node silent for the timeout (silence only counts while this
    /// thread's own link was up to hear it).
    fn declare_silent_down(&self, link: &Link, actions: &mpsc::UnboundedSender<Action>) {
        let timeout = self.shared.opts.timeout;
        let heard_for = link.up_for();
        if heard_for < timeout {
            return;
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
            let _ = actions.send(Action::Rebalance);
        }
    }
}
