//! The worker's heartbeat, on a thread of its own ([`OwnThread`]) with its own NATS
//! connection: every `every` it asks the master (`hb.<node>`, carrying the node's running
//! users and each throttle's load) and judges the answers. However busy the worker's users keep
//! its main runtime, the heartbeat goes out on time; only a frozen or dead process misses it.
//!
//! It ends with one [`Verdict`] for the session when the membership is over: the master said
//! "down", the process was frozen past the timeout (so the master has declared it down), or
//! the master stayed silent past the timeout while this connection was up.

use std::time::{Duration, Instant};

use tokio::sync::{mpsc, oneshot};

use super::super::connect::{ClusterAddr, Link};
use super::super::liveness::OwnThread;
use super::super::wire::{self, Heartbeat, HeartbeatReply, PROTOCOL, ThrottleLoad};
use crate::engine::throttle::Rate;
use crate::engine::{Controller, Services};

/// How often the thread checks for a freeze and for the master's silence.
const CHECK_EVERY: Duration = Duration::from_millis(100);

/// Why a membership ends, as the heartbeat sees it.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Verdict {
    /// The master answered "down".
    Down,
    /// This process did not run for this long (past the timeout).
    Frozen(Duration),
    /// The master did not answer for the timeout while the connection was up.
    MasterSilent,
}

/// What the heartbeat reports and where.
pub(super) struct Beating {
    pub(super) addr: ClusterAddr,
    pub(super) subject: String,
    pub(super) node: String,
    pub(super) controller: Controller,
    pub(super) services: Services,
    pub(super) every: Duration,
    pub(super) timeout: Duration,
}

impl Beating {
    /// Starts the heartbeat thread; returns once its connection is up (or failed). The
    /// verdict arrives on the returned receiver; dropping the [`OwnThread`] ends the thread.
    pub(super) async fn start(
        self,
    ) -> Result<(OwnThread, mpsc::UnboundedReceiver<Verdict>), String> {
        let (ready_tx, ready) = oneshot::channel();
        let (verdict_tx, verdicts) = mpsc::unbounded_channel();
        let thread = OwnThread::spawn("rookery-heartbeat", move |stop| async move {
            let name = format!("rookery node {} heartbeat", self.node);
            match self.addr.connect(&name, Duration::from_secs(10)).await {
                Ok((client, link)) => {
                    let _ = ready_tx.send(Ok(()));
                    tokio::select! {
                        verdict = self.beat(client, link) => {
                            let _ = verdict_tx.send(verdict);
                        }
                        _ = stop => {}
                    }
                }
                Err(e) => {
                    let _ = ready_tx.send(Err(format!("the heartbeat's connection: {e}")));
                }
            }
        })?;
        match ready.await {
            Ok(Ok(())) => Ok((thread, verdicts)),
            Ok(Err(e)) => Err(e),
            Err(_) => Err("the heartbeat thread ended at once".into()),
        }
    }

    fn heartbeat(&self) -> Heartbeat {
        Heartbeat {
            v: PROTOCOL,
            node: self.node.clone(),
            running: self.controller.counts().running,
            throttles: self
                .services
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
        }
    }

    /// Beats until a verdict.
    async fn beat(&self, client: async_nats::Client, link: Link) -> Verdict {
        let (answers_tx, mut answers) = mpsc::unbounded_channel();
        let mut check = tokio::time::interval(CHECK_EVERY.min(self.every));
        check.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut last_check = Instant::now();
        let mut last_ack = Instant::now();
        let mut next_beat = Instant::now();
        loop {
            tokio::select! {
                Some(answer) = answers.recv() => match answer {
                    HeartbeatReply::Ack { .. } => last_ack = Instant::now(),
                    HeartbeatReply::Down { .. } => return Verdict::Down,
                },
                _ = check.tick() => {
                    let gap = last_check.elapsed();
                    last_check = Instant::now();
                    if gap >= self.timeout {
                        return Verdict::Frozen(gap);
                    }
                    let heard_for = link.up_for();
                    if heard_for >= self.timeout
                        && last_ack.elapsed().min(heard_for) >= self.timeout
                    {
                        return Verdict::MasterSilent;
                    }
                    if Instant::now() >= next_beat {
                        next_beat = Instant::now() + self.every;
                        // Asked in a task of its own: a slow answer never holds the checks.
                        let (c, subject, hb) =
                            (client.clone(), self.subject.clone(), wire::encode(&self.heartbeat()));
                        let (every, out) = (self.every, answers_tx.clone());
                        tokio::spawn(async move {
                            let ask = c.request(subject, hb);
                            if let Ok(Ok(msg)) = tokio::time::timeout(every, ask).await
                                && let Ok(reply) = wire::decode::<HeartbeatReply>(&msg.payload)
                            {
                                let _ = out.send(reply);
                            }
                        });
                    }
                }
            }
        }
    }
}
