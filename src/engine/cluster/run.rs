//! The run: starting and stopping the scenario cluster-wide, `user_rate` and the settings,
//! the shutdown.

use std::sync::Arc;

use crate::telemetry::Key;

use super::super::config::{Config, ExplicitSettings, UpdateRule};
use super::super::error::{ControllerError, EngineError};
use super::super::protocol::{NodeCommand, NodeReport, RequestId, RunId};
use super::super::scenario::DynScenario;
use super::super::services::{USER_RATE, UserRate, rate_config};
use super::super::transport::NodeLink;
use super::master::Master;
use super::table::Step;

impl Master {
    /// Sends the messages decided (after the state's borrow ended).
    pub(super) fn run_steps(&self, steps: Vec<Step>) {
        for step in steps {
            match step {
                Step::Send(link, id, command) => {
                    link.ask(id, command);
                }
                Step::ShutDownServices => self.tools.services.shut_down(),
            }
        }
        self.bump();
    }

    pub(super) fn start_scenario(
        &self,
        scenario: Arc<dyn DynScenario>,
        rate: UserRate,
        config: Option<Config>,
    ) -> Result<(), EngineError> {
        let name = scenario.name().clone();
        let (run, targets) = {
            let mut st = self.state();
            st.check_master()?;
            if st.running
                && let Some(s) = &st.scenario
            {
                return Err(EngineError::ScenarioIsRunning(s.clone()));
            }
            st.run = RunId(st.run.0 + 1);
            st.running = true;
            st.scenario = Some(name.clone());
            let targets: Vec<(Key, NodeLink)> = (0..st.nodes.len())
                .filter(|&i| st.nodes[i].available())
                .map(|i| (st.nodes[i].name.clone(), st.nodes[i].link.clone()))
                .collect();
            let targets: Vec<(Key, NodeLink, RequestId)> = targets
                .into_iter()
                .map(|(n, l)| (n, l, st.request()))
                .collect();
            (st.run, targets)
        };
        self.tools
            .catalogue
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(name.clone(), scenario);
        if let Some(config) = config {
            self.tools.services.set_config(config);
        }
        if let Err(e) = self.set_rate(rate) {
            self.state().running = false;
            return Err(e);
        }
        let mut errors = Vec::new();
        let mut started = 0;
        for (node, link, id) in targets {
            let start = NodeCommand::StartScenario {
                run,
                scenario: name.clone(),
            };
            match link.ask(id, start) {
                NodeReport::Started { .. } => started += 1,
                NodeReport::Refused(e) => errors.push((node, e)),
                _ => {}
            }
        }
        {
            let mut st = self.state();
            if st.run == run {
                st.running = started > 0;
            }
        }
        self.bump();
        if errors.is_empty() {
            Ok(())
        } else {
            Err(EngineError::Nodes(errors))
        }
    }

    /// Sets the cluster-wide `user_rate` throttle (which reports the `rate` event).
    pub(super) fn set_rate(&self, rate: UserRate) -> Result<(), EngineError> {
        self.state().check_master()?;
        self.tools
            .services
            .set_user_rate(rate)
            .map_err(EngineError::Throttle)
    }

    /// `user_rate` through the scenario's settings when it has them, else the throttle.
    pub(super) fn set_user_rate(&self, rate: UserRate) -> Result<(), EngineError> {
        self.state().check_master()?;
        if self.tools.services.config().is_some() {
            let setting = ExplicitSettings::new().set_value(USER_RATE, rate.to_setting());
            return self.update_settings(&setting).map(|_| ());
        }
        self.set_rate(rate)
    }

    /// See [`EngineHandle::update_settings`](super::super::EngineHandle::update_settings).
    pub(super) fn update_settings(
        &self,
        settings: &ExplicitSettings,
    ) -> Result<Vec<String>, EngineError> {
        let config = self
            .tools
            .services
            .config()
            .ok_or(EngineError::NoScenario)?;
        let changed = config.update(settings).map_err(EngineError::Settings)?;
        let throttles = self.tools.services.throttles();
        for e in settings.iter() {
            let Some(d) = config.declarations().get(&e.name) else {
                continue;
            };
            let UpdateRule::ThrottleRate {
                throttle,
                interval_ms,
            } = &d.setting.update
            else {
                continue;
            };
            let Some(cfg) = config
                .get(&e.name)
                .ok()
                .flatten()
                .and_then(|v| rate_config(&v, *interval_ms))
            else {
                continue;
            };
            if throttles.info(throttle).map(|i| i.config()).ok() != Some(cfg) {
                throttles
                    .change_rate(throttle, cfg)
                    .map_err(EngineError::Throttle)?;
            }
        }
        Ok(changed)
    }

    pub(super) fn stop(&self) -> Result<(), EngineError> {
        let (run, targets) = {
            let mut st = self.state();
            st.check_master()?;
            if !st.running {
                return Err(EngineError::NoScenario);
            }
            st.running = false;
            let targets: Vec<(Key, NodeLink)> = st
                .nodes
                .iter()
                .filter(|n| n.up)
                .map(|n| (n.name.clone(), n.link.clone()))
                .collect();
            (st.run, targets)
        };
        let mut errors = Vec::new();
        for (node, link) in targets {
            let id = self.state().request();
            match link.ask(id, NodeCommand::StopScenario { run }) {
                NodeReport::Refused(
                    ControllerError::InvalidStatus(_) | ControllerError::OtherRun,
                ) => {}
                NodeReport::Refused(e) => errors.push((node, e)),
                _ => {}
            }
        }
        self.bump();
        if errors.is_empty() {
            Ok(())
        } else {
            Err(EngineError::Nodes(errors))
        }
    }

    /// Cancels every user on every node and shuts the master's services down.
    pub(super) fn shutdown(&self) {
        let steps: Vec<Step> = {
            let mut st = self.state();
            let links: Vec<NodeLink> = st.nodes.iter().map(|n| n.link.clone()).collect();
            links
                .into_iter()
                .map(|l| Step::Send(l, st.request(), NodeCommand::Halt))
                .chain([Step::ShutDownServices])
                .collect()
        };
        self.run_steps(steps);
    }
}
