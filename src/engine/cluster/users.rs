//! Users over the cluster: which nodes take an add, the id blocks, removals.

use super::super::error::{ControllerError, EngineError};
use super::super::protocol::{NodeCommand, NodeReport};
use super::super::status::{ControllerStatus, NodeShare};
use super::super::transport::NodeLink;
use super::master::Master;
use super::queries::status_of;
use super::table::Target;
use crate::telemetry::Key;

impl Master {
    /// The available nodes whose scenario runs, in order, and whether the cluster runs one.
    pub(super) fn running_nodes(&self) -> Result<(Vec<Target>, bool), EngineError> {
        let (links, running) = {
            let st = self.state();
            st.check_master()?;
            let links: Vec<(usize, NodeLink)> = (0..st.nodes.len())
                .filter(|&i| st.nodes[i].available())
                .map(|i| (i, st.nodes[i].link.clone()))
                .collect();
            (links, st.running)
        };
        let master: Vec<bool> = {
            let st = self.state();
            st.nodes.iter().map(|n| n.master).collect()
        };
        let nodes = self
            .statuses(links)
            .into_iter()
            .filter(|(_, _, s)| matches!(s, ControllerStatus::Running(_)))
            .map(|(index, link, _)| Target {
                index,
                link,
                master: master[index],
            })
            .collect();
        Ok((nodes, running))
    }

    pub(super) fn add_users(&self, count: u64) -> Result<Vec<NodeShare>, EngineError> {
        let (running, scenario_runs) = self.running_nodes()?;
        // The master gets users only when no worker can take them (see the module docs).
        let workers: Vec<usize> = running
            .iter()
            .filter(|t| !t.master)
            .map(|t| t.index)
            .collect();
        let targets = if workers.is_empty() {
            running.iter().map(|t| t.index).collect()
        } else {
            workers
        };
        if targets.is_empty() {
            return Err(if scenario_runs {
                EngineError::NoNodes
            } else {
                EngineError::NoScenario
            });
        }
        // Id blocks are given and posted under the lock, so they reach each node in order;
        // the answers are awaited after it is released (a node may be running a handler that
        // calls the master). The ids of refused blocks at the end are given back when no add
        // came since; a refused block between two accepted ones stays a gap (ids are never
        // reused, as those of an interrupted add are not).
        let mut st = self.state();
        st.check_master()?;
        let run = st.run;
        let before = st.last_id;
        let mut left = count;
        let mut posted = Vec::with_capacity(targets.len());
        let mut errors = Vec::new();
        for (k, &i) in targets.iter().enumerate() {
            let share = left / (targets.len() - k) as u64;
            left -= share;
            let name = st.nodes[i].name.clone();
            if share == 0 {
                posted.push((name, None));
                continue;
            }
            if !st.nodes[i].available() {
                errors.push((name, ControllerError::OtherRun));
                continue;
            }
            let (first, last) = (st.last_id + 1, st.last_id + share);
            st.last_id = last;
            let id = st.request();
            let add = NodeCommand::AddUsers { run, first, last };
            let waiting = st.nodes[i].link.send(id, add);
            posted.push((name, Some((first, last, waiting))));
        }
        let reserved = st.last_id;
        drop(st);
        let mut shares = Vec::with_capacity(posted.len());
        let mut taken = before;
        for (node, block) in posted {
            let Some((first, last, waiting)) = block else {
                shares.push(NodeShare::Skipped { node });
                continue;
            };
            match waiting.report() {
                NodeReport::Added { .. } => {
                    taken = last;
                    shares.push(NodeShare::Added { node, first, last })
                }
                NodeReport::Refused(e) => {
                    if may_apply_later(&e) {
                        taken = last;
                    }
                    errors.push((node, e))
                }
                _ => {}
            }
        }
        self.give_back(reserved, taken);
        self.bump();
        if errors.is_empty() {
            Ok(shares)
        } else {
            Err(EngineError::Nodes(errors))
        }
    }

    /// Ids up to `reserved` were given out, the nodes took them up to `taken` (or may still
    /// take them: no answer came): the rest is given back unless another add came since.
    fn give_back(&self, reserved: u64, taken: u64) {
        let mut st = self.state();
        if st.last_id == reserved {
            st.last_id = taken;
        }
    }

    pub(super) fn add_users_to(&self, node: &str, count: u64) -> Result<NodeShare, EngineError> {
        let (i, name, first, last, waiting) = {
            let mut st = self.state();
            st.check_master()?;
            let i = st.find(node)?;
            let name = st.nodes[i].name.clone();
            if count == 0 {
                return Ok(NodeShare::Skipped { node: name });
            }
            let (first, last) = (st.last_id + 1, st.last_id + count);
            st.last_id = last;
            let id = st.request();
            let add = NodeCommand::AddUsers {
                run: st.run,
                first,
                last,
            };
            let waiting = st.nodes[i].link.send(id, add);
            (i, name, first, last, waiting)
        };
        let report = waiting.report();
        match &report {
            NodeReport::Added { .. } => {}
            NodeReport::Refused(e) if may_apply_later(e) => {}
            _ => self.give_back(last, first - 1),
        }
        let refused = |error| EngineError::Controller {
            node: name.clone(),
            error,
        };
        let result = match report {
            NodeReport::Added { .. } => Ok(NodeShare::Added {
                node: name.clone(),
                first,
                last,
            }),
            NodeReport::Refused(ControllerError::OtherRun) => {
                // Not running this run: report the status, as the controller would.
                let status = status_of(&self.link(i)).map_or(ControllerStatus::Idle, |(s, _)| s);
                return Err(refused(ControllerError::InvalidStatus(status)));
            }
            NodeReport::Refused(e) => Err(refused(e)),
            _ => Err(EngineError::ShutDown),
        };
        self.bump();
        result
    }

    pub(super) fn remove_users(&self, count: u64, force: bool) -> Result<u64, EngineError> {
        let (nodes, _) = self.running_nodes()?;
        if nodes.is_empty() {
            return Err(EngineError::NoScenario);
        }
        let (run, names) = {
            let st = self.state();
            let names: Vec<Key> = nodes
                .iter()
                .map(|t| st.nodes[t.index].name.clone())
                .collect();
            (st.run, names)
        };
        let remove = |link: &NodeLink, node: &Key, count: u64| -> Result<u64, EngineError> {
            let id = self.state().request();
            match link.ask(id, NodeCommand::RemoveUsers { run, count, force }) {
                NodeReport::Removed { picked, .. } => Ok(picked),
                NodeReport::Refused(error) => Err(EngineError::Controller {
                    node: node.clone(),
                    error,
                }),
                _ => Err(EngineError::ShutDown),
            }
        };
        let mut left = count;
        let mut removed = 0;
        let mut maybe_more = Vec::new();
        for (k, (t, name)) in nodes.iter().zip(&names).enumerate() {
            let share = left / (nodes.len() - k) as u64;
            left -= share;
            let got = remove(&t.link, name, share)?;
            removed += got;
            if got == share {
                maybe_more.push((&t.link, name));
            }
        }
        for (link, name) in maybe_more {
            if removed == count {
                break;
            }
            removed += remove(link, name, count - removed)?;
        }
        self.bump();
        Ok(removed)
    }

    /// Reads every node's in `links` published status.
    pub(super) fn statuses(
        &self,
        links: Vec<(usize, NodeLink)>,
    ) -> Vec<(usize, NodeLink, ControllerStatus)> {
        links
            .into_iter()
            .filter_map(|(i, link)| status_of(&link).map(|(s, _)| (i, link, s)))
            .collect()
    }

    pub(super) fn link(&self, i: usize) -> NodeLink {
        self.state().nodes[i].link.clone()
    }
}

/// A node that did not answer in time may still apply the request later: its ids stay given.
fn may_apply_later(error: &ControllerError) -> bool {
    matches!(error, ControllerError::NoAnswer { .. })
}
