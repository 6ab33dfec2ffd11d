//! The cluster's control messages and subjects (protocol version [`PROTOCOL`]).
//!
//! Only what is NATS-specific lives here: joining, heartbeats, throttle shares, leaving, the
//! end of a run, and the subjects. Commands to a worker's node are the engine's own
//! [`protocol`](crate::engine::protocol) envelopes (`Request` / `Reply`, with request ids),
//! sent on [`Subjects::command`]; event batches are [`batch`](super::batch)es.
//!
//! Every control message is one JSON object with the protocol version `v`. A message that does
//! not decode, or has another version, is ignored and counted by the side that received it
//! (see [`Counters`](super::Counters)).

use serde::{Deserialize, Serialize};

/// The version of the control messages and of the event batches.
pub const PROTOCOL: u32 = 1;

/// Subjects of one run: everything but the join lives under `rookery.<run>.`.
#[derive(Clone, Debug)]
pub struct Subjects {
    run: String,
}

/// The subject every worker asks to join on, whatever its run (so a master can count the
/// workers of other runs it ignores).
pub const JOIN: &str = "rookery.join";

impl Subjects {
    pub fn new(run: &str) -> Subjects {
        Subjects {
            run: run.to_owned(),
        }
    }
    pub fn run(&self) -> &str {
        &self.run
    }
    /// Worker → master heartbeats (request/reply: the reply is the master's heartbeat).
    pub fn heartbeat(&self, node: &str) -> String {
        format!("rookery.{}.hb.{node}", self.run)
    }
    /// Master → one worker: the engine's node protocol (request/reply, `Request` → `Reply`).
    pub fn command(&self, node: &str) -> String {
        format!("rookery.{}.cmd.{node}", self.run)
    }
    /// Worker → master: event batches.
    pub fn events(&self, node: &str) -> String {
        format!("rookery.{}.ev.{node}", self.run)
    }
    /// Worker → master: its node's unsolicited reports ([`Report`]).
    pub fn reports(&self, node: &str) -> String {
        format!("rookery.{}.rep.{node}", self.run)
    }
    /// Worker → master: a clean leave.
    pub fn leave(&self, node: &str) -> String {
        format!("rookery.{}.leave.{node}", self.run)
    }
    /// Master → one worker: its throttle shares.
    pub fn shares(&self, node: &str) -> String {
        format!("rookery.{}.share.{node}", self.run)
    }
    /// Worker → master: its coordinators started and its users' adds ([`CoordinatorMsg`]).
    pub fn coordinators(&self, node: &str) -> String {
        format!("rookery.{}.co.{node}", self.run)
    }
    /// Master → one worker: a coordinator batch with members on it ([`RunBatch`]).
    pub fn batches(&self, node: &str) -> String {
        format!("rookery.{}.batch.{node}", self.run)
    }
    /// Master → every worker: the run is over, exit.
    pub fn end(&self) -> String {
        format!("rookery.{}.end", self.run)
    }
    /// `kind` for every node (the master's subscriptions).
    pub fn all(&self, kind: &str) -> String {
        format!("rookery.{}.{kind}.*", self.run)
    }
}

/// Checks that `s` can be one subject token (a run id or a node name): letters, digits, `-`,
/// `_` and `~`, 1 to 64 of them.
pub fn check_token(what: &str, s: &str) -> Result<(), String> {
    let ok = !s.is_empty()
        && s.len() <= 64
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'~'));
    if ok {
        Ok(())
    } else {
        Err(format!(
            "{what} {s:?} must be 1 to 64 letters, digits, `-`, `_` or `~`"
        ))
    }
}

/// What must match between master and worker for a join: this crate's version, the protocol,
/// and `ROOKERY_BUILD_ID` when set (set it to your commit so that mixed deployments of one
/// version are refused too).
pub fn fingerprint() -> String {
    let mut f = format!("rookery-{}/p{PROTOCOL}", env!("CARGO_PKG_VERSION"));
    if let Ok(id) = std::env::var("ROOKERY_BUILD_ID")
        && !id.is_empty()
    {
        f.push('/');
        f.push_str(&id);
    }
    f
}

/// A worker's request to join (`rookery.join`).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Join {
    pub v: u32,
    pub run: String,
    /// The name it asks for; the master may add `~N` if that name was taken before.
    pub name: String,
    pub fingerprint: String,
    /// Scenarios this worker's build offers.
    pub scenarios: Vec<String>,
    /// The worker's clock (`t_us` of its events) when it sent this: the master maps the
    /// worker's event times onto its own with it.
    pub now_us: u64,
}

/// The master's answer to a [`Join`].
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum JoinReply {
    Accepted {
        v: u32,
        /// The worker's node name for this run (its subjects use it).
        node: String,
        master: String,
        scenario: String,
        /// `NAME=VALUE` settings, as given to the master's `--set`.
        settings: Vec<String>,
        /// The master's `--settings FILE`, read before the `--set`s.
        #[serde(default)]
        settings_file: Option<super::settings::SettingsFile>,
        /// Nodes already up, to report in `connect_nodes`.
        peers: Vec<String>,
        heartbeat_ms: u64,
        timeout_ms: u64,
    },
    Refused {
        v: u32,
        reason: String,
    },
}

/// Worker → master, every heartbeat interval.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Heartbeat {
    pub v: u32,
    pub node: String,
    /// Users running now.
    pub running: u64,
    /// The load of each of its throttles (for the cluster-wide shares).
    #[serde(default)]
    pub throttles: Vec<ThrottleLoad>,
}

/// One throttle's load on a worker.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct ThrottleLoad {
    pub name: String,
    /// Its rate per interval now (`None`: unlimited).
    pub rate: Option<u64>,
    pub interval_ms: u64,
    /// Requests made since it started.
    pub requests: u64,
    /// Requests waiting now.
    pub backlog: u64,
}

/// Master → worker (published on `rookery.<run>.share.<node>`): run these throttles at these
/// rates, its share of each cluster-wide rate.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct SetShares {
    pub v: u32,
    /// `(throttle, rate per interval, interval in ms)`.
    pub shares: Vec<(String, u64, u64)>,
    /// Throttles paused cluster-wide (all of them: one not listed is resumed).
    #[serde(default)]
    pub paused: Vec<String>,
}

/// The master's reply to a [`Heartbeat`].
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum HeartbeatReply {
    /// Known and up.
    Ack { v: u32 },
    /// Declared down (it was silent past the timeout): stop your users and join again.
    Down { v: u32 },
}

/// Worker → master (published on `rookery.<run>.rep.<node>`): an unsolicited report of the
/// worker's node (the engine's [`Reply`](crate::engine::protocol::Reply) with no request id,
/// e.g. `Finished` once a stop has ended every user), with the events the worker had sent by
/// then, so the master knows when it has all of them.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Report {
    pub v: u32,
    pub events_sent: u64,
    pub reply: crate::engine::protocol::Reply,
}

/// Worker → master: what its users do with coordinators (the master owns them; see
/// `docs` of [`cluster_nats`](super)). Sent in order on one subject per worker.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum CoordinatorMsg {
    /// Its `init` started coordinator `name`: item sizes in normalised order (`[n, n]` for a
    /// fixed size, `[min, max]` for a range, `null` for `all`), timeout in ms (`null`: none).
    Start {
        v: u32,
        name: String,
        sizes: Vec<Option<(usize, usize)>>,
        timeout_ms: Option<u64>,
    },
    /// One of its users added itself, with its data (a value: it crosses machines).
    Add {
        v: u32,
        name: String,
        user: u64,
        node: String,
        data: crate::telemetry::Value,
    },
    /// A scenario on it reset coordinator `name`: the master resets the cluster-wide one.
    Reset { v: u32, name: String },
    /// A scenario on it stopped coordinator `name`: the master stops the cluster-wide one.
    Stop { v: u32, name: String },
}

/// Master → worker: run item `item` of coordinator `name`'s actions on this batch (the master
/// decided it and emitted its `execute`; it goes to every worker with a member in it).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct RunBatch {
    pub v: u32,
    pub name: String,
    pub item: usize,
    /// `coordinate`, `reset`, `timeout` or `stop`.
    pub event: String,
    pub count: usize,
    /// `(user, data)` of every member, in the order they were added.
    pub members: Vec<(u64, crate::telemetry::Value)>,
}

/// A worker leaving (SIGTERM, or it gave up).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Leave {
    pub v: u32,
    pub node: String,
    pub reason: String,
    pub events_sent: u64,
}

/// Encodes a control message.
pub fn encode<T: Serialize>(msg: &T) -> bytes::Bytes {
    // Serializing these plain structs cannot fail.
    bytes::Bytes::from(serde_json::to_vec(msg).unwrap_or_default())
}

/// Decodes a control message of this protocol version.
pub fn decode<'a, T: Deserialize<'a>>(payload: &'a [u8]) -> Result<T, String> {
    #[derive(Deserialize)]
    struct Version {
        v: u32,
    }
    let version: Version =
        serde_json::from_slice(payload).map_err(|e| format!("undecodable message: {e}"))?;
    if version.v != PROTOCOL {
        return Err(format!(
            "protocol version {} (this build speaks {PROTOCOL})",
            version.v
        ));
    }
    serde_json::from_slice(payload).map_err(|e| format!("undecodable message: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_round_trip_and_other_versions_are_refused() {
        let hb = HeartbeatReply::Down { v: PROTOCOL };
        let bytes = encode(&hb);
        assert_eq!(decode::<HeartbeatReply>(&bytes), Ok(hb));
        let other = br#"{"type":"ack","v":2}"#;
        assert!(
            decode::<HeartbeatReply>(other)
                .unwrap_err()
                .contains("version 2")
        );
        assert!(decode::<HeartbeatReply>(b"\x00garbage").is_err());
        let report = Report {
            v: PROTOCOL,
            events_sent: 42,
            reply: crate::engine::protocol::Reply::unsolicited(
                "w1".into(),
                crate::engine::protocol::NodeReport::Finished {
                    run: crate::engine::protocol::RunId(1),
                },
            ),
        };
        assert_eq!(decode::<Report>(&encode(&report)), Ok(report));
    }

    #[test]
    fn tokens_are_checked() {
        assert!(check_token("run id", "load-7_a~2").is_ok());
        assert!(check_token("run id", "a.b").unwrap_err().contains("run id"));
        assert!(check_token("node name", "").is_err());
        assert!(check_token("node name", "w*").is_err());
    }
}
