//! The monitor's commands, sent to Amoc through the bridge.

use std::sync::Arc;

use super::client::Attachment;
use super::wire::BridgeCommand;
use crate::tui::{Command, CommandSink};

/// Sends the monitor's commands to the bridge. Never waits: Amoc's answer arrives later, in
/// the log pane, and a new rate shows when Amoc's `[amoc, throttle, rate]` event does.
pub struct BridgeSink {
    attachment: Arc<Attachment>,
}

impl BridgeSink {
    pub fn new(attachment: Arc<Attachment>) -> BridgeSink {
        BridgeSink { attachment }
    }
}

/// The bridge command for a monitor command, or why Amoc cannot do it.
pub fn translate(command: &Command) -> Result<Option<BridgeCommand>, String> {
    Ok(Some(match command {
        Command::SetRate {
            throttle,
            rate,
            interval_ms,
        } => BridgeCommand::ChangeRate {
            name: throttle.clone(),
            rate: *rate,
            interval_ms: *interval_ms,
        },
        Command::Pause { throttle } => BridgeCommand::Pause {
            name: throttle.clone(),
        },
        Command::Resume { throttle } => BridgeCommand::Resume {
            name: throttle.clone(),
        },
        Command::StartRamp {
            throttle,
            to,
            duration_ms,
        } => BridgeCommand::Ramp {
            name: throttle.clone(),
            to: *to,
            duration_ms: *duration_ms,
        },
        Command::AddUsers { count } => BridgeCommand::AddUsers { count: *count },
        Command::RemoveUsers { count } => BridgeCommand::RemoveUsers {
            count: *count,
            force: false,
        },
        Command::AddNode => {
            return Err("unavailable on Amoc: nodes join a cluster from Erlang \
                        (AMOC_NODES or amoc_cluster:connect_nodes/1), not from Rookery"
                .into());
        }
        Command::KillNode { .. } => {
            return Err("unavailable on Amoc: Rookery does not stop Amoc nodes".into());
        }
        // Leaving the monitor only disconnects: the Amoc run goes on.
        Command::Quit => return Ok(None),
    }))
}

impl CommandSink for BridgeSink {
    fn send(&self, command: Command) -> Result<(), String> {
        match translate(&command)? {
            Some(cmd) => self.attachment.send(&cmd, &command.to_string()).map(|_| ()),
            None => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn node_keys_are_unavailable_and_quit_only_disconnects() {
        let e = translate(&Command::AddNode).unwrap_err();
        assert!(e.starts_with("unavailable on Amoc"), "{e}");
        let e = translate(&Command::KillNode { node: "a".into() }).unwrap_err();
        assert!(e.starts_with("unavailable on Amoc"), "{e}");
        assert_eq!(translate(&Command::Quit), Ok(None));
        assert_eq!(
            translate(&Command::SetRate {
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
            translate(&Command::RemoveUsers { count: 3 }),
            Ok(Some(BridgeCommand::RemoveUsers {
                count: 3,
                force: false
            }))
        );
    }
}
