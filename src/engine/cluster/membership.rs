//! Membership: nodes joining, stopped, killed or lost, and what the others are told.

use super::super::controller::Controller;
use super::super::error::EngineError;
use super::super::events::Emitter;
use super::super::protocol::NodeCommand;
use super::super::protocol::NodeReport;
use super::super::transport::NodeLink;
use super::master::Master;
use super::table::{ClusterState, Entry, Step};
use crate::telemetry::Key;

impl Master {
    /// A new node joins (and starts the running scenario with 0 users).
    pub(super) fn join(&self) -> Key {
        let mut st = self.state();
        let name = Key::new(format!("node{}", st.next_index));
        st.next_index += 1;
        let emitter = Emitter::new(self.tools.telemetry.clone(), name.clone());
        let controller = Controller::new(
            self.tools.rt.clone(),
            emitter.clone(),
            self.tools.services.clone(),
            self.tools.options.clone(),
        );
        let link = NodeLink::with_timeout(
            self.tools.rt.clone(),
            emitter,
            controller,
            self.tools.catalogue.clone(),
            self.tools.inbox.clone(),
            self.tools.node_timeout,
        );
        let master = st.nodes.is_empty();
        let peers: Vec<(NodeLink, Key)> = st
            .nodes
            .iter()
            .filter(|n| n.up)
            .map(|n| (n.link.clone(), n.name.clone()))
            .collect();
        st.nodes.push(Entry {
            name: name.clone(),
            link: link.clone(),
            up: true,
            stopping: false,
            master,
        });
        let (up, down) = (st.names(true), st.names(false));
        let master_name = st.master.clone();
        let connect = |nodes: Vec<Key>| NodeCommand::Connected {
            master: master_name.clone(),
            nodes,
            up: up.clone(),
            down: down.clone(),
        };
        let mut steps = Vec::new();
        if !peers.is_empty() {
            let mine = connect(peers.iter().map(|(_, n)| n.clone()).collect());
            steps.push(Step::Send(link.clone(), st.request(), mine));
            for (peer, _) in &peers {
                let theirs = connect(vec![name.clone()]);
                steps.push(Step::Send(peer.clone(), st.request(), theirs));
            }
        }
        if st.running
            && let Some(scenario) = st.scenario.clone()
        {
            // A failed init leaves the node in `error`; it shows in its status.
            let start = NodeCommand::StartScenario {
                run: st.run,
                scenario,
            };
            steps.push(Step::Send(link, st.request(), start));
        }
        drop(st);
        self.run_steps(steps);
        name
    }

    pub(super) fn add_node(&self) -> Result<Key, EngineError> {
        self.state().check_master()?;
        Ok(self.join())
    }

    pub(super) fn kill_node(&self, node: &str) -> Result<(), EngineError> {
        let steps = {
            let mut st = self.state();
            st.check_master()?;
            let i = st.find(node)?;
            Self::take_down(&mut st, i)
        };
        self.run_steps(steps);
        Ok(())
    }

    /// Node `i` goes down now: it is halted (its users cancelled), the others are told.
    pub(super) fn take_down(st: &mut ClusterState, i: usize) -> Vec<Step> {
        if !st.nodes[i].up {
            return Vec::new();
        }
        st.nodes[i].up = false;
        let mut steps = vec![Step::Send(
            st.nodes[i].link.clone(),
            st.request(),
            NodeCommand::Halt,
        )];
        let gone = vec![st.nodes[i].name.clone()];
        let master_down = st.nodes[i].master;
        let others: Vec<usize> = (0..st.nodes.len()).filter(|&j| st.nodes[j].up).collect();
        if master_down {
            st.master_down = true;
            st.running = false;
            // Users still waiting on a throttle get an error, as Amoc's runners do when the
            // master's throttle processes die.
            steps.push(Step::ShutDownServices);
            // Every worker ends its users and goes down.
            for &j in &others {
                st.nodes[j].up = false;
            }
        }
        let up = st.names(true);
        for j in others {
            let told = NodeCommand::PeersDown {
                master: st.master.clone(),
                nodes: gone.clone(),
                master_down,
                up: up.clone(),
            };
            steps.push(Step::Send(st.nodes[j].link.clone(), st.request(), told));
        }
        steps
    }

    /// A node reported that it went down (its `Leave` finished).
    pub(super) fn went_down(&self, node: &str) {
        let steps = {
            let mut st = self.state();
            match st.nodes.iter().position(|n| n.name == node) {
                Some(i) => Self::take_down(&mut st, i),
                None => Vec::new(),
            }
        };
        self.run_steps(steps);
    }

    pub(super) fn stop_node(&self, node: &str) -> Result<(), EngineError> {
        let (link, id) = {
            let mut st = self.state();
            st.check_master()?;
            let i = st.find(node)?;
            if st.nodes[i].stopping {
                return Ok(());
            }
            st.nodes[i].stopping = true;
            (st.nodes[i].link.clone(), st.request())
        };
        if let NodeReport::Down = link.ask(id, NodeCommand::Leave) {
            self.went_down(node);
        }
        self.bump();
        Ok(())
    }
}
