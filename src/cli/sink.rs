//! The monitor's commands, carried out on the engine. The monitor never assumes they worked:
//! what it shows comes from the engine's events (`[amoc, throttle, rate]` confirms a rate).
//!
//! The monitor does not call this sink from its loop: its driver task
//! ([`crate::tui::driver`]) does, on a blocking thread, so these calls may take their time.

use crate::engine::throttle::{GradualConfig, GradualRates, RampPlan, Rate, ThrottleConfig};
use crate::engine::{ControllerStatus, EngineHandle};
use crate::tui::{CommandSink, OperatorCommand, SettingRow};

/// Sends the monitor's commands to an engine.
pub struct EngineSink {
    engine: EngineHandle,
}

impl EngineSink {
    pub fn new(engine: EngineHandle) -> EngineSink {
        EngineSink { engine }
    }
}

impl CommandSink for EngineSink {
    fn send(&self, command: OperatorCommand) -> Result<(), String> {
        let throttles = self.engine.services().throttles();
        let interval_of = |name: &str| throttles.info(name).map(|i| i.interval_ms);
        match command {
            OperatorCommand::SetRate {
                throttle,
                rate,
                interval_ms,
            } => {
                let interval = match interval_ms {
                    Some(i) => i,
                    None => interval_of(&throttle).map_err(|e| e.to_string())?,
                };
                // A new rate replaces a running ramp (the monitor says so).
                throttles
                    .cancel_ramp(&throttle)
                    .map_err(|e| e.to_string())?;
                throttles
                    .change_rate(&throttle, ThrottleConfig::new(Rate::Finite(rate), interval))
                    .map_err(|e| e.to_string())
            }
            OperatorCommand::SetUnlimited { throttle } => {
                let interval = interval_of(&throttle).map_err(|e| e.to_string())?;
                throttles
                    .cancel_ramp(&throttle)
                    .map_err(|e| e.to_string())?;
                throttles
                    .change_rate(&throttle, ThrottleConfig::new(Rate::Infinity, interval))
                    .map_err(|e| e.to_string())
            }
            OperatorCommand::CancelRamp { throttle } => {
                match throttles
                    .cancel_ramp(&throttle)
                    .map_err(|e| e.to_string())?
                {
                    true => Ok(()),
                    false => Err(format!("{throttle} is not ramping")),
                }
            }
            OperatorCommand::ListSettings => Ok(()),
            OperatorCommand::SetSetting { name, value } => {
                let explicit = crate::engine::config::ExplicitSettings::new().set(name, value);
                self.engine
                    .update_settings(&explicit)
                    .map(|_| ())
                    .map_err(|e| e.to_string())
            }
            OperatorCommand::Pause { throttle } => throttles
                .pause(&throttle)
                .map(|_| ())
                .map_err(|e| e.to_string()),
            OperatorCommand::Resume { throttle } => throttles
                .resume(&throttle)
                .map(|_| ())
                .map_err(|e| e.to_string()),
            OperatorCommand::StartRamp {
                throttle,
                to,
                duration_ms,
            } => {
                // A new ramp replaces a running one, from the rate it reached.
                throttles
                    .cancel_ramp(&throttle)
                    .map_err(|e| e.to_string())?;
                let info = throttles.info(&throttle).map_err(|e| e.to_string())?;
                let Rate::Finite(from) = info.rate else {
                    return Err(format!("{throttle} is unlimited: set a rate before a ramp"));
                };
                throttles
                    .change_rate_gradually(
                        &throttle,
                        GradualConfig {
                            throttle: GradualRates::Rates {
                                from,
                                to,
                                interval_ms: info.interval_ms,
                            },
                            plan: RampPlan::Duration { duration_ms },
                        },
                    )
                    .map(|_| ())
                    .map_err(|e| e.to_string())
            }
            OperatorCommand::AddUsers { count } => self
                .engine
                .add_users(count)
                .map(|_| ())
                .map_err(|e| e.to_string()),
            OperatorCommand::RemoveUsers { count } => self
                .engine
                .remove_users(count, false)
                .map(|_| ())
                .map_err(|e| e.to_string()),
            OperatorCommand::AddNode => self
                .engine
                .add_node()
                .map(|_| ())
                .map_err(|e| e.to_string()),
            OperatorCommand::KillNode { node } => {
                self.engine.kill_node(&node).map_err(|e| e.to_string())
            }
            OperatorCommand::Quit => {
                // The run ends with the monitor; a scenario that already stopped is fine.
                let _ = self.engine.stop();
                Ok(())
            }
        }
    }

    fn settings(&self) -> Result<Vec<SettingRow>, String> {
        let config = self
            .engine
            .services()
            .config()
            .ok_or_else(|| "no scenario is running".to_owned())?;
        Ok(setting_rows(&config))
    }

    fn run_finished(&self) -> bool {
        let nodes = self.engine.nodes();
        let ran = nodes.iter().any(|n| {
            matches!(
                n.status,
                ControllerStatus::Running(_)
                    | ControllerStatus::Terminating(_)
                    | ControllerStatus::Finished(_)
            )
        });
        ran && nodes.iter().filter(|n| n.up).all(|n| {
            !matches!(
                n.status,
                ControllerStatus::Running(_) | ControllerStatus::Terminating(_)
            )
        })
    }
}

/// The settings pane's rows for `config`.
pub(crate) fn setting_rows(config: &crate::engine::config::Config) -> Vec<SettingRow> {
    config
        .list()
        .into_iter()
        .map(|i| SettingRow {
            value: match &i.value {
                Ok(Some(v)) => v.to_string(),
                Ok(None) => "-".to_owned(),
                Err(e) => format!("refused: {e}"),
            },
            source: i.source.to_string(),
            updatable: i.update != "read-only",
            description: i.description,
            name: i.name,
        })
        .collect()
}
