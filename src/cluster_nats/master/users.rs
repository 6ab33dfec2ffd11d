//! Users across the workers: contiguous id blocks handed out by the master (never reused),
//! removals, the stop, and the end of the run.

use std::time::Duration;

use super::table::Block;
use super::{Master, RUN};
use crate::engine::ControllerError;
use crate::engine::protocol::{NodeCommand, NodeReport};

/// How long a node gets to answer a command about its users.
const COMMAND_LIMIT: Duration = Duration::from_secs(10);
/// How long the master waits, after the workers' users ended, for their last events.
const LAST_EVENTS: Duration = Duration::from_secs(5);

impl Master {
    /// Adds `count` users over the ready workers in contiguous id blocks, the simulated
    /// cluster's way (`left / nodes_left` each, in join order). Ids are never reused, even when
    /// a node refuses its block.
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
                let (last, node) = (t.last_id, t.nodes[i].name.clone());
                t.blocks.insert(first, (last, node));
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
        if count == 0 {
            return Err("0 users: nothing to add".into());
        }
        let block = {
            let mut t = self.table();
            let first = t.last_id + 1;
            match t.find(node) {
                Some(n) if n.ready() => n.users_given += count,
                _ => return Err(format!("no worker {node:?} is up")),
            }
            t.last_id += count;
            t.blocks.insert(first, (first + count - 1, node.to_owned()));
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
            let add = NodeCommand::AddUsers {
                run: RUN,
                first: b.first,
                last: b.last,
            };
            async move {
                match self.ask(&b.node, add, COMMAND_LIMIT).await? {
                    NodeReport::Added { .. } => Ok(()),
                    NodeReport::Refused(e) => Err(format!("{}: {e}", b.node)),
                    other => Err(format!("{}: answered {other:?}", b.node)),
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

    /// Removes up to `count` users, split over the ready workers; returns how many were
    /// picked.
    pub async fn remove_users(&self, count: u64, force: bool) -> Result<u64, String> {
        let up = self.table().ready_names();
        if up.is_empty() {
            return Err("no worker is up".into());
        }
        let mut left = count;
        let mut removed = 0;
        let mut errors = Vec::new();
        for (k, node) in up.iter().enumerate() {
            let share = left / (up.len() - k) as u64;
            left -= share;
            let remove = NodeCommand::RemoveUsers {
                run: RUN,
                count: share,
                force,
            };
            match self.ask(node, remove, COMMAND_LIMIT).await {
                Ok(NodeReport::Removed { picked, .. }) => removed += picked,
                Ok(other) => errors.push(format!("{node}: answered {other:?}")),
                Err(e) => errors.push(e),
            }
        }
        if errors.is_empty() || removed > 0 {
            Ok(removed)
        } else {
            Err(format!("removing users: {}", errors.join("; ")))
        }
    }

    /// Stops the scenario on every worker running it and waits (at most `limit`, then a few
    /// seconds for the last events) until each has reported `Finished` and every event it
    /// sent has arrived. Stopping twice waits for the same nodes.
    pub async fn stop(&self, limit: Duration) -> Result<(), String> {
        // Leftovers go to their users' nodes while those still run (`stop` batches).
        self.shared.coordinators.stop_all();
        self.shared.flush_outbox(Duration::from_secs(2)).await;
        let targets: Vec<String> = {
            let mut t = self.table();
            t.running = false;
            // Marked before the stop is sent: nothing of theirs counts as finished until their
            // `Finished` report (or their answer that nothing runs).
            t.nodes
                .iter_mut()
                .filter(|n| n.up && n.started && !n.stopping)
                .map(|n| {
                    n.stopping = true;
                    n.name.clone()
                })
                .collect()
        };
        let stops = targets.iter().map(|node| async move {
            let stop = NodeCommand::StopScenario { run: RUN };
            (node, self.ask(node, stop, limit).await)
        });
        let mut errors = Vec::new();
        for (node, r) in futures::future::join_all(stops).await {
            let nothing_to_wait_for = |m: &Self| {
                if let Some(n) = m.table().find(node) {
                    n.stopping = false;
                }
            };
            match r {
                Ok(NodeReport::Done) => {}
                // Nothing runs there any more: nothing to wait for.
                Ok(NodeReport::Refused(
                    ControllerError::InvalidStatus(_) | ControllerError::OtherRun,
                )) => nothing_to_wait_for(self),
                Ok(other) => {
                    nothing_to_wait_for(self);
                    errors.push(format!("{node}: answered {other:?}"));
                }
                Err(e) => {
                    nothing_to_wait_for(self);
                    errors.push(e);
                }
            }
        }
        self.rebalance().await;
        if !self
            .wait_table(limit + LAST_EVENTS, |t| t.nodes.iter().all(|n| n.settled()))
            .await
        {
            let late: Vec<String> = {
                let t = self.table();
                t.nodes
                    .iter()
                    .filter(|n| !n.settled())
                    .map(|n| n.name.clone())
                    .collect()
            };
            errors.push(format!(
                "{} did not finish (users ended and last events in) within {}s",
                late.join(", "),
                (limit + LAST_EVENTS).as_secs()
            ));
        }
        if errors.is_empty() {
            Ok(())
        } else {
            Err(format!("stopping: {}", errors.join("; ")))
        }
    }

    /// True once the run was stopped and every worker that ran it finished (or went down).
    pub fn run_finished(&self) -> bool {
        let t = self.table();
        !t.running && t.nodes.iter().any(|n| n.started) && t.nodes.iter().all(|n| n.settled())
    }

    /// Tells every worker the run is over (they exit), and stops the heartbeats' thread.
    pub async fn end(&self) {
        let liveness = self
            .shared
            .liveness
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take();
        drop(liveness);
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
