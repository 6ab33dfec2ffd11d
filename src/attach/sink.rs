//! The monitor's commands, sent to Amoc through the bridge.

use std::sync::Arc;
use std::time::Duration;

use super::client::Attachment;
use super::wire::BridgeCommand;
use crate::tui::command::SettingRow;
use crate::tui::{CommandSink, OperatorCommand};

/// How long a command may wait for Amoc's answer.
pub const REPLY_TIMEOUT: Duration = Duration::from_secs(15);

/// Sends the monitor's commands to the bridge and returns Amoc's answer (the monitor calls it
/// from its command driver's thread, never from its loop). A new rate shows when Amoc's
/// `[amoc, throttle, rate]` event does.
pub struct BridgeSink {
    attachment: Arc<Attachment>,
}

impl BridgeSink {
    pub fn new(attachment: Arc<Attachment>) -> BridgeSink {
        BridgeSink { attachment }
    }
}

/// The bridge command for a monitor command, or why Amoc cannot do it.
pub fn translate(command: &OperatorCommand) -> Result<Option<BridgeCommand>, String> {
    Ok(Some(match command {
        OperatorCommand::SetRate {
            throttle,
            rate,
            interval_ms,
        } => BridgeCommand::ChangeRate {
            name: throttle.clone(),
            rate: *rate,
            interval_ms: *interval_ms,
        },
        OperatorCommand::SetUnlimited { throttle } => BridgeCommand::Unlimit {
            name: throttle.clone(),
        },
        OperatorCommand::SetSetting { name, value } => BridgeCommand::UpdateSettings {
            settings: vec![(name.clone(), serde_json::Value::String(value.clone()))],
        },
        OperatorCommand::ListSettings => BridgeCommand::Settings,
        OperatorCommand::CancelRamp { .. } => {
            return Err(
                "unavailable on Amoc: it cannot end a gradual rate change early \
                        (set a rate once the ramp ends)"
                    .into(),
            );
        }
        OperatorCommand::Pause { throttle } => BridgeCommand::Pause {
            name: throttle.clone(),
        },
        OperatorCommand::Resume { throttle } => BridgeCommand::Resume {
            name: throttle.clone(),
        },
        OperatorCommand::StartRamp {
            throttle,
            to,
            duration_ms,
        } => BridgeCommand::Ramp {
            name: throttle.clone(),
            to: *to,
            duration_ms: *duration_ms,
        },
        OperatorCommand::AddUsers { count } => BridgeCommand::AddUsers { count: *count },
        OperatorCommand::RemoveUsers { count } => BridgeCommand::RemoveUsers {
            count: *count,
            force: false,
        },
        OperatorCommand::AddNode => {
            return Err("unavailable on Amoc: nodes join a cluster from Erlang \
                        (AMOC_NODES or amoc_cluster:connect_nodes/1), not from Rookery"
                .into());
        }
        OperatorCommand::KillNode { .. } => {
            return Err("unavailable on Amoc: Rookery does not stop Amoc nodes".into());
        }
        // Leaving the monitor only disconnects: the Amoc run goes on.
        OperatorCommand::Quit => return Ok(None),
    }))
}

impl BridgeSink {
    /// Sends `cmd` and waits for Amoc's answer.
    fn ask(&self, cmd: &BridgeCommand, what: &str) -> Result<serde_json::Value, String> {
        let id = self.attachment.send(cmd, what)?;
        match self.attachment.wait_reply(id, REPLY_TIMEOUT) {
            Some(Ok(v)) => Ok(v),
            Some(Err(e)) => Err(format!("Amoc answered {e}")),
            None => Err(match self.attachment.closed() {
                Some(reason) => format!("no answer: {reason}"),
                None => format!("no answer from the bridge in {}s", REPLY_TIMEOUT.as_secs()),
            }),
        }
    }
}

impl CommandSink for BridgeSink {
    fn send(&self, command: OperatorCommand) -> Result<(), String> {
        match translate(&command)? {
            Some(cmd) => self.ask(&cmd, &command.to_string()).map(|_| ()),
            None => Ok(()),
        }
    }

    fn settings(&self) -> Result<Vec<SettingRow>, String> {
        let reply = self.ask(&BridgeCommand::Settings, "list the settings")?;
        let rows = reply["settings"].as_array().cloned().unwrap_or_default();
        let text = |v: &serde_json::Value| match v {
            serde_json::Value::String(s) => s.clone(),
            serde_json::Value::Null => String::new(),
            other => other.to_string(),
        };
        Ok(rows
            .iter()
            .map(|r| SettingRow {
                name: text(&r["name"]),
                value: text(&r["value"]),
                source: format!("Amoc ({})", text(&r["module"])),
                updatable: r["updatable"] == true,
                description: text(&r["description"]),
            })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn node_keys_are_unavailable_and_quit_only_disconnects() {
        let e = translate(&OperatorCommand::CancelRamp {
            throttle: "a".into(),
        })
        .unwrap_err();
        assert!(e.starts_with("unavailable on Amoc"), "{e}");
        let e = translate(&OperatorCommand::AddNode).unwrap_err();
        assert!(e.starts_with("unavailable on Amoc"), "{e}");
        let e = translate(&OperatorCommand::KillNode { node: "a".into() }).unwrap_err();
        assert!(e.starts_with("unavailable on Amoc"), "{e}");
        assert_eq!(translate(&OperatorCommand::Quit), Ok(None));
        assert_eq!(
            translate(&OperatorCommand::SetRate {
                throttle: "login".into(),
                rate: 5,
                interval_ms: None
            }),
            Ok(Some(BridgeCommand::ChangeRate {
                name: "login".into(),
                rate: 5,
                interval_ms: None
            }))
        );
        assert_eq!(
            translate(&OperatorCommand::RemoveUsers { count: 3 }),
            Ok(Some(BridgeCommand::RemoveUsers {
                count: 3,
                force: false
            }))
        );
    }
}
