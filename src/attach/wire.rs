//! The bridge's line protocol (JSON Lines both ways).
//!
//! * client → bridge, first: `{"hello":1,"token":"…"}` (the token only when given);
//! * bridge → client: the event-log header with `"bridge":1,"commands":true|false`, or
//!   `{"error":"…"}` and the connection closes;
//! * bridge → client: event lines exactly as in an event log (`{"t_us":…,"event":…}`);
//! * client → bridge: `{"id":N,"cmd":"change_rate",…}` ([`BridgeCommand`]);
//!   bridge → client: `{"reply":N,"ok":true}` or `{"reply":N,"error":"…"}`.

use serde_json::{Map, Value, json};

/// A command the bridge runs on the Amoc master.
#[derive(Clone, Debug, PartialEq)]
pub enum BridgeCommand {
    /// `amoc_throttle:change_rate/2`; without an interval the throttle keeps its own.
    ChangeRate {
        name: String,
        rate: u64,
        interval_ms: Option<u64>,
    },
    /// `amoc_throttle:change_rate/2` to an infinite rate, keeping the interval.
    Unlimit { name: String },
    /// The declared settings and their values (from a node that runs the scenario).
    Settings,
    /// `amoc_throttle:change_rate_gradually/2` from the throttle's current rate (the bridge
    /// reads it) to `to`, keeping its interval, over `duration_ms`.
    Ramp {
        name: String,
        to: u64,
        duration_ms: u64,
    },
    /// `amoc_throttle:change_rate_gradually/2` with every figure given.
    ChangeRateGradually {
        name: String,
        from: u64,
        to: u64,
        interval_ms: Option<u64>,
        duration_ms: u64,
    },
    /// `amoc_throttle:pause/1`.
    Pause { name: String },
    /// `amoc_throttle:resume/1`.
    Resume { name: String },
    /// `amoc_dist:add/1` (`amoc:add/1` on a single node).
    AddUsers { count: u64 },
    /// `amoc_dist:remove/2` (`amoc:remove/2` on a single node).
    RemoveUsers { count: u64, force: bool },
    /// `amoc_dist:update_settings/1`: each value a JSON number, or a string read as an Erlang
    /// term (as amoc-arsenal's REST API reads them).
    UpdateSettings { settings: Vec<(String, Value)> },
}

impl BridgeCommand {
    /// The command line sent to the bridge (with its newline).
    pub fn to_line(&self, id: u64) -> String {
        let mut v = match self {
            BridgeCommand::ChangeRate {
                name,
                rate,
                interval_ms,
            } => {
                let mut v = json!({"cmd": "change_rate", "name": name, "rate": rate});
                if let Some(i) = interval_ms {
                    v["interval"] = json!(i);
                }
                v
            }
            BridgeCommand::Unlimit { name } => {
                json!({"cmd": "change_rate", "name": name, "rate": "infinity"})
            }
            BridgeCommand::Settings => json!({"cmd": "settings"}),
            BridgeCommand::Ramp {
                name,
                to,
                duration_ms,
            } => json!({"cmd": "ramp", "name": name, "to_rate": to, "duration": duration_ms}),
            BridgeCommand::ChangeRateGradually {
                name,
                from,
                to,
                interval_ms,
                duration_ms,
            } => {
                let mut v = json!({"cmd": "change_rate_gradually", "name": name,
                    "from_rate": from, "to_rate": to, "duration": duration_ms});
                if let Some(i) = interval_ms {
                    v["interval"] = json!(i);
                }
                v
            }
            BridgeCommand::Pause { name } => json!({"cmd": "pause", "name": name}),
            BridgeCommand::Resume { name } => json!({"cmd": "resume", "name": name}),
            BridgeCommand::AddUsers { count } => json!({"cmd": "add_users", "count": count}),
            BridgeCommand::RemoveUsers { count, force } => {
                json!({"cmd": "remove_users", "count": count, "force": force})
            }
            BridgeCommand::UpdateSettings { settings } => {
                let map: Map<String, Value> = settings.iter().cloned().collect();
                json!({"cmd": "update_settings", "settings": map})
            }
        };
        v["id"] = json!(id);
        let mut line = v.to_string();
        line.push('\n');
        line
    }
}

/// The first line a client sends.
pub fn hello_line(token: Option<&str>) -> String {
    let v = match token {
        Some(t) => json!({"hello": 1, "token": t}),
        None => json!({"hello": 1}),
    };
    let mut line = v.to_string();
    line.push('\n');
    line
}

/// What a line from the bridge is.
#[derive(Debug, PartialEq)]
pub enum Incoming<'a> {
    /// An event line, to parse with [`parse_event`](crate::eventlog::parse_event).
    Event(&'a [u8]),
    /// The answer to command `id`: `Ok` with the whole reply object, or Amoc's error.
    Reply {
        id: u64,
        result: Result<Value, String>,
    },
    /// The bridge refused the connection.
    Refused(String),
    /// Not understood.
    Unknown(String),
}

/// Sorts one line from the bridge (without its newline).
pub fn classify(line: &[u8]) -> Incoming<'_> {
    // The bridge writes `t_us` first on every event line: no need to parse it twice.
    if line.starts_with(b"{\"t_us\":") {
        return Incoming::Event(line);
    }
    let text = String::from_utf8_lossy(line);
    let Ok(v) = serde_json::from_slice::<Value>(line) else {
        return Incoming::Unknown(text.into_owned());
    };
    if let Some(id) = v.get("reply") {
        let id = id.as_u64().unwrap_or(0);
        let result = match v.get("error") {
            Some(e) => Err(e.as_str().map_or_else(|| e.to_string(), str::to_owned)),
            None => Ok(v.clone()),
        };
        return Incoming::Reply { id, result };
    }
    if let Some(e) = v.get("error") {
        return Incoming::Refused(e.as_str().map_or_else(|| e.to_string(), str::to_owned));
    }
    if v.get("t_us").is_some() {
        return Incoming::Event(line);
    }
    Incoming::Unknown(text.into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_are_json_lines_with_their_id() {
        let line = BridgeCommand::ChangeRate {
            name: "login".into(),
            rate: 300,
            interval_ms: None,
        }
        .to_line(7);
        assert!(line.ends_with('\n'));
        let v: Value = serde_json::from_str(&line).unwrap();
        assert_eq!(
            v,
            json!({"id": 7, "cmd": "change_rate", "name": "login", "rate": 300})
        );
        let v: Value = serde_json::from_str(
            &BridgeCommand::UpdateSettings {
                settings: vec![("user_rate".into(), json!("6000"))],
            }
            .to_line(1),
        )
        .unwrap();
        assert_eq!(v["settings"], json!({"user_rate": "6000"}));
        assert_eq!(
            hello_line(Some("s\"x")),
            "{\"hello\":1,\"token\":\"s\\\"x\"}\n"
        );
    }

    #[test]
    fn lines_from_the_bridge_are_told_apart() {
        assert!(matches!(
            classify(br#"{"t_us":1,"event":["amoc","x"],"measurements":{},"metadata":{}}"#),
            Incoming::Event(_)
        ));
        assert_eq!(
            classify(br#"{"reply":3,"ok":true}"#),
            Incoming::Reply {
                id: 3,
                result: Ok(json!({"reply": 3, "ok": true}))
            }
        );
        assert_eq!(
            classify(br#"{"reply":4,"error":"{no_throttle_by_name,x}"}"#),
            Incoming::Reply {
                id: 4,
                result: Err("{no_throttle_by_name,x}".into())
            }
        );
        assert_eq!(
            classify(br#"{"error":"wrong token"}"#),
            Incoming::Refused("wrong token".into())
        );
        assert!(matches!(classify(b"garbage"), Incoming::Unknown(_)));
    }
}
