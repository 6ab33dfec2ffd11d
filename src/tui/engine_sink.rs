//! The engine's side of the command boundary: [`CommandSink`] for an [`EngineHandle`]. Every
//! command maps onto one plain handle call; the monitor then waits for the engine's events
//! (a throttle's `[amoc, throttle, rate]`, its "throttle paused" process event, the users'
//! spans, the cluster events) to show the result.

use crate::engine::EngineHandle;
use crate::engine::throttle::{GradualConfig, GradualRates, RampPlan, Rate, ThrottleConfig};

use super::command::{Command, CommandSink};

/// Sends the monitor's commands to a running engine.
#[derive(Clone, Debug)]
pub struct EngineSink {
    engine: EngineHandle,
}

impl EngineSink {
    pub fn new(engine: EngineHandle) -> EngineSink {
        EngineSink { engine }
    }
}

impl CommandSink for EngineSink {
    fn send(&self, command: Command) -> Result<(), String> {
        let e = &self.engine;
        let throttles = e.services().throttles();
        let err = |x: &dyn std::fmt::Display| x.to_string();
        match command {
            Command::SetRate {
                throttle,
                rate,
                interval_ms,
            } => {
                let interval_ms = match interval_ms {
                    Some(i) => i,
                    None => throttles.info(&throttle).map_err(|x| err(&x))?.interval_ms,
                };
                let cfg = ThrottleConfig::new(Rate::Finite(rate), interval_ms);
                throttles.change_rate(&throttle, cfg).map_err(|x| err(&x))
            }
            Command::Pause { throttle } => {
                throttles.pause(&throttle).map(drop).map_err(|x| err(&x))
            }
            Command::Resume { throttle } => {
                throttles.resume(&throttle).map(drop).map_err(|x| err(&x))
            }
            Command::StartRamp {
                throttle,
                to,
                duration_ms,
            } => {
                let info = throttles.info(&throttle).map_err(|x| err(&x))?;
                let Rate::Finite(from) = info.rate else {
                    return Err(format!(
                        "{throttle} is unlimited: set a rate before ramping it"
                    ));
                };
                let cfg = GradualConfig {
                    throttle: GradualRates::Rates {
                        from,
                        to,
                        interval_ms: info.interval_ms,
                    },
                    plan: RampPlan::Duration { duration_ms },
                };
                throttles
                    .change_rate_gradually(&throttle, cfg)
                    .map(drop)
                    .map_err(|x| err(&x))
            }
            Command::AddUsers { count } => e.add_users(count).map(drop).map_err(|x| err(&x)),
            Command::RemoveUsers { count } => {
                e.remove_users(count, false).map(drop).map_err(|x| err(&x))
            }
            Command::AddNode => e.add_node().map(drop).map_err(|x| err(&x)),
            Command::KillNode { node } => e.kill_node(&node).map_err(|x| err(&x)),
            Command::Quit => {
                e.shutdown();
                Ok(())
            }
        }
    }
}
