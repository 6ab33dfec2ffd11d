//! The node protocol: the only way into or out of a node.
//!
//! The master (the cluster actor) drives each node with [`NodeCommand`]s and hears back
//! [`NodeReport`]s. The simulated cluster carries them in-process (the `transport` module); a
//! real cluster carries the same values over the network, so
//! every type here is plain data (serde, no handles, no shared memory) and every message travels
//! in a versioned envelope:
//!
//! ```text
//!  master                                            node
//!    │ Request { v, id, node, command: NodeCommand } ──►│
//!    │◄── Reply { v, id: Some(id), node, report }       │  every request: exactly one reply
//!    │◄── Reply { v, id: None, node, report }           │  unsolicited: Finished, Down
//! ```
//!
//! **Request ids.** The master numbers its requests ([`RequestId`], increasing, never reused in
//! one master's life). Every request is answered by one [`Reply`] with the same id, or it times
//! out on the master's side: [`Pending`] keeps the deadlines and says which requests expired.
//!
//! **Repeats.** A transport may deliver a request twice (a retry after a lost reply). The node
//! answers a repeated id from its [`ReplyCache`] without applying it again, and the commands are
//! idempotent by content as well, so that even a repeat that fell out of the cache does no harm:
//!
//! | command | applied twice |
//! |---|---|
//! | [`StartScenario`](NodeCommand::StartScenario) | the same `run` already started: `Started` again, `init` does not rerun |
//! | [`AddUsers`](NodeCommand::AddUsers) | ids `first..=last` already added: `Added { duplicate: true }`, no user added |
//! | [`RemoveUsers`](NodeCommand::RemoveUsers) | not idempotent by content (a count): only the reply cache protects it |
//! | [`StopScenario`](NodeCommand::StopScenario) | the run is already stopping or finished: `Done` |
//! | [`Leave`](NodeCommand::Leave), [`Halt`](NodeCommand::Halt) | already leaving / down: `Done` |
//! | [`Connected`](NodeCommand::Connected), [`PeersDown`](NodeCommand::PeersDown) | names the node already knows are not reported again |
//! | [`Status`](NodeCommand::Status) | a query: no effect |
//!
//! **Versions.** [`VERSION`] is the protocol version this build speaks. [`decode_request`] and
//! [`decode_reply`] refuse an envelope of a newer version with [`ProtocolError::Version`] (a
//! clear message naming both versions); fields are only ever added, with serde defaults, so an
//! older envelope of the same major version still decodes.

use std::collections::{BTreeMap, VecDeque};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::telemetry::Key;

use super::error::ControllerError;
use super::status::{ControllerStatus, UserCounts};

/// The protocol version this build speaks.
pub const VERSION: u32 = 1;

/// How long the master waits for a reply before it counts a request as lost (the simulated
/// cluster's default too: `EngineOptions::node_timeout`; a network transport may choose its
/// own).
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);

/// A master's request number: increasing, never reused while the master lives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct RequestId(pub u64);

/// Which start of a scenario a command belongs to. The master counts its starts; a node
/// ignores (refuses) commands of a run it is not running, so a late repeat of an old run's
/// command cannot touch a new run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct RunId(pub u64);

/// What the master asks a node to do.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "command", rename_all = "snake_case")]
pub enum NodeCommand {
    /// These nodes are (now) connected to this one: the node emits
    /// `[amoc, cluster, connect_nodes]` listing them. `master` names the master.
    Connected {
        master: Key,
        nodes: Vec<Key>,
        /// Every node of the cluster that is up, this one included (the `state` metadata).
        up: Vec<Key>,
        /// Nodes of the cluster that went down before (the `state` metadata).
        #[serde(default)]
        down: Vec<Key>,
    },
    /// These nodes went down: the node emits `[amoc, cluster, nodedown]`, or
    /// `[amoc, cluster, master_node_down]` when `master_down` (and then ends its users and
    /// goes down itself, as Amoc's workers halt).
    PeersDown {
        master: Key,
        nodes: Vec<Key>,
        master_down: bool,
        /// Every node still up, this one included.
        up: Vec<Key>,
    },
    /// Start scenario `scenario` (a name the node knows) as run `run`: the node runs its
    /// `init` and answers `Started`, or `Refused`.
    StartScenario { run: RunId, scenario: Key },
    /// Add users with ids `first..=last` to run `run`. The node answers `Added` at once and
    /// spawns the users in chunks, so a later command (a stop) interrupts a long add.
    AddUsers { run: RunId, first: u64, last: u64 },
    /// Ask up to `count` users to leave (with `force`, cancel those still running after the
    /// grace period). Answered with `Removed { picked }`.
    RemoveUsers { run: RunId, count: u64, force: bool },
    /// Stop run `run`: every user is asked to leave, cancelled after the grace period; then
    /// `terminate` runs and the node reports `Finished` (unsolicited).
    StopScenario { run: RunId },
    /// Stop the scenario (as `StopScenario`) and then go down: the node reports `Down`.
    Leave,
    /// Go down now: cancel every user without `terminate` (a killed node).
    Halt,
    /// Report the controller's status and user counts.
    Status,
}

impl NodeCommand {
    /// The command's name on the wire (`add_users`, `status`, ...), for messages.
    pub fn name(&self) -> &'static str {
        match self {
            NodeCommand::Connected { .. } => "connected",
            NodeCommand::PeersDown { .. } => "peers_down",
            NodeCommand::StartScenario { .. } => "start_scenario",
            NodeCommand::AddUsers { .. } => "add_users",
            NodeCommand::RemoveUsers { .. } => "remove_users",
            NodeCommand::StopScenario { .. } => "stop_scenario",
            NodeCommand::Leave => "leave",
            NodeCommand::Halt => "halt",
            NodeCommand::Status => "status",
        }
    }
}

/// What a node answers (or reports on its own).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "report", rename_all = "snake_case")]
pub enum NodeReport {
    /// The command was applied (or had been already).
    Done,
    /// Run `run` started: `init` succeeded.
    Started { run: RunId },
    /// Users `first..=last` were accepted; `duplicate` when they had been before.
    Added {
        run: RunId,
        first: u64,
        last: u64,
        #[serde(default)]
        duplicate: bool,
    },
    /// This many users were picked to leave.
    Removed { run: RunId, picked: u64 },
    /// The controller's status and counters.
    Status(NodeStatus),
    /// The node refused the command.
    Refused(ControllerError),
    /// Unsolicited: run `run` finished on this node (`terminate` ran).
    Finished { run: RunId },
    /// The node went down: unsolicited when a `Leave` finished, or as the answer to a
    /// `Leave` with nothing to stop.
    Down,
}

/// A node's status as it reports it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NodeStatus {
    pub status: ControllerStatus,
    pub users: UserCounts,
}

/// A request in its envelope.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Request {
    /// The protocol version of the sender.
    pub v: u32,
    pub id: RequestId,
    /// The node it is for.
    pub node: Key,
    #[serde(flatten)]
    pub command: NodeCommand,
}

/// A reply (or an unsolicited report) in its envelope.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Reply {
    /// The protocol version of the sender.
    pub v: u32,
    /// The request answered; `None` for an unsolicited report.
    #[serde(default)]
    pub id: Option<RequestId>,
    /// The node that sends it.
    pub node: Key,
    #[serde(flatten)]
    pub report: NodeReport,
}

impl Request {
    pub fn new(id: RequestId, node: Key, command: NodeCommand) -> Request {
        Request {
            v: VERSION,
            id,
            node,
            command,
        }
    }
}

impl Reply {
    /// The answer to `request`.
    pub fn to(request: &Request, report: NodeReport) -> Reply {
        Reply {
            v: VERSION,
            id: Some(request.id),
            node: request.node.clone(),
            report,
        }
    }

    /// An unsolicited report from `node`.
    pub fn unsolicited(node: Key, report: NodeReport) -> Reply {
        Reply {
            v: VERSION,
            id: None,
            node,
            report,
        }
    }
}

/// Why a message could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProtocolError {
    /// The message is not a protocol envelope.
    #[error("not a node protocol message: {0}")]
    Malformed(String),
    /// The sender speaks a newer protocol.
    #[error("node protocol version {got} is newer than this build's version {VERSION}")]
    Version { got: u32 },
}

/// Encodes a message as JSON (the format of protocol version 1).
pub fn encode<T: Serialize>(msg: &T) -> Vec<u8> {
    // Every protocol type serialises (plain data with string keys).
    serde_json::to_vec(msg).unwrap_or_default()
}

#[derive(Deserialize)]
struct VersionOnly {
    v: u32,
}

fn decode<T: for<'de> Deserialize<'de>>(bytes: &[u8]) -> Result<T, ProtocolError> {
    let head: VersionOnly =
        serde_json::from_slice(bytes).map_err(|e| ProtocolError::Malformed(e.to_string()))?;
    if head.v > VERSION {
        return Err(ProtocolError::Version { got: head.v });
    }
    serde_json::from_slice(bytes).map_err(|e| ProtocolError::Malformed(e.to_string()))
}

/// Decodes a [`Request`], refusing a newer version.
pub fn decode_request(bytes: &[u8]) -> Result<Request, ProtocolError> {
    decode(bytes)
}

/// Decodes a [`Reply`], refusing a newer version.
pub fn decode_reply(bytes: &[u8]) -> Result<Reply, ProtocolError> {
    decode(bytes)
}

/// The master's side of "every request answered or timed out": ids in flight with their
/// deadlines. Pure: time comes in as [`Instant`]s.
#[derive(Debug, Default)]
pub struct Pending {
    next: u64,
    in_flight: BTreeMap<RequestId, (Key, Instant)>,
}

impl Pending {
    /// A new id for a request to `node` sent at `now`, due by `now + timeout`.
    pub fn open(&mut self, node: Key, now: Instant, timeout: Duration) -> RequestId {
        self.next += 1;
        let id = RequestId(self.next);
        self.in_flight.insert(id, (node, now + timeout));
        id
    }

    /// A reply arrived: true if `id` was in flight (false for a late or repeated reply, which
    /// the master ignores).
    pub fn answered(&mut self, id: RequestId) -> bool {
        self.in_flight.remove(&id).is_some()
    }

    /// Takes the requests whose deadline passed at `now`, with their node.
    pub fn expire(&mut self, now: Instant) -> Vec<(RequestId, Key)> {
        let due: Vec<RequestId> = self
            .in_flight
            .iter()
            .filter(|(_, (_, deadline))| *deadline <= now)
            .map(|(id, _)| *id)
            .collect();
        due.into_iter()
            .filter_map(|id| self.in_flight.remove(&id).map(|(node, _)| (id, node)))
            .collect()
    }

    /// Requests still waiting for a reply.
    pub fn len(&self) -> usize {
        self.in_flight.len()
    }

    /// True when nothing waits for a reply.
    pub fn is_empty(&self) -> bool {
        self.in_flight.is_empty()
    }
}

/// A node's memory of its latest replies, so a repeated request gets the same answer without
/// being applied twice. Bounded: the oldest replies are forgotten first.
#[derive(Debug)]
pub struct ReplyCache {
    capacity: usize,
    order: VecDeque<RequestId>,
    replies: BTreeMap<RequestId, NodeReport>,
}

impl Default for ReplyCache {
    fn default() -> Self {
        ReplyCache::new(1024)
    }
}

impl ReplyCache {
    /// Remembers up to `capacity` replies (at least one).
    pub fn new(capacity: usize) -> ReplyCache {
        ReplyCache {
            capacity: capacity.max(1),
            order: VecDeque::new(),
            replies: BTreeMap::new(),
        }
    }

    /// The reply already given to `id`, if remembered.
    pub fn get(&self, id: RequestId) -> Option<&NodeReport> {
        self.replies.get(&id)
    }

    /// Remembers the reply to `id`.
    pub fn put(&mut self, id: RequestId, report: NodeReport) {
        if self.replies.insert(id, report).is_none() {
            self.order.push_back(id);
        }
        while self.order.len() > self.capacity {
            if let Some(old) = self.order.pop_front() {
                self.replies.remove(&old);
            }
        }
    }

    /// Answers `request` from the cache, or applies it with `apply` and remembers the answer.
    pub fn answer(
        &mut self,
        request: &Request,
        apply: impl FnOnce(&NodeCommand) -> NodeReport,
    ) -> NodeReport {
        if let Some(r) = self.get(request.id) {
            return r.clone();
        }
        let report = apply(&request.command);
        self.put(request.id, report.clone());
        report
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::status::RunningInfo;

    fn req(id: u64, command: NodeCommand) -> Request {
        Request::new(RequestId(id), Key::new("node2"), command)
    }

    #[test]
    fn every_message_round_trips_through_its_encoding() {
        let commands = [
            NodeCommand::Connected {
                master: "node1".into(),
                nodes: vec!["node1".into()],
                up: vec!["node1".into(), "node2".into()],
                down: vec![],
            },
            NodeCommand::PeersDown {
                master: "node1".into(),
                nodes: vec!["node3".into()],
                master_down: false,
                up: vec!["node1".into(), "node2".into()],
            },
            NodeCommand::StartScenario {
                run: RunId(1),
                scenario: "demo".into(),
            },
            NodeCommand::AddUsers {
                run: RunId(1),
                first: 1001,
                last: 2000,
            },
            NodeCommand::RemoveUsers {
                run: RunId(1),
                count: 5,
                force: true,
            },
            NodeCommand::StopScenario { run: RunId(1) },
            NodeCommand::Leave,
            NodeCommand::Halt,
            NodeCommand::Status,
        ];
        for (i, c) in commands.into_iter().enumerate() {
            let r = req(i as u64, c);
            let json: serde_json::Value = serde_json::from_slice(&encode(&r)).unwrap();
            assert_eq!(
                json["command"],
                r.command.name(),
                "the name is the wire tag"
            );
            assert_eq!(decode_request(&encode(&r)), Ok(r));
        }
        let reports = [
            NodeReport::Done,
            NodeReport::Started { run: RunId(2) },
            NodeReport::Added {
                run: RunId(2),
                first: 1,
                last: 10,
                duplicate: true,
            },
            NodeReport::Removed {
                run: RunId(2),
                picked: 3,
            },
            NodeReport::Status(NodeStatus {
                status: ControllerStatus::Running(RunningInfo {
                    scenario: "demo".into(),
                    currently_running_users: 4,
                    highest_user_id: 9,
                }),
                users: UserCounts {
                    running: 4,
                    ..UserCounts::default()
                },
            }),
            NodeReport::Refused(ControllerError::InvalidRange {
                start: 5,
                end: 4,
                highest: 9,
            }),
            NodeReport::Refused(ControllerError::Busy {
                node: "node2".into(),
                capacity: 1024,
            }),
            NodeReport::Refused(ControllerError::NoAnswer {
                node: "node2".into(),
                command: "add_users".into(),
                waited_ms: 5000,
            }),
            NodeReport::Finished { run: RunId(2) },
            NodeReport::Down,
        ];
        let request = req(7, NodeCommand::Status);
        for rep in reports {
            let r = Reply::to(&request, rep);
            assert_eq!(decode_reply(&encode(&r)), Ok(r));
        }
        let u = Reply::unsolicited("node3".into(), NodeReport::Down);
        assert_eq!(decode_reply(&encode(&u)).map(|r| r.id), Ok(None));
    }

    #[test]
    fn the_wire_form_is_flat_and_names_the_command() {
        let r = req(
            3,
            NodeCommand::AddUsers {
                run: RunId(1),
                first: 1001,
                last: 2000,
            },
        );
        let json: serde_json::Value = serde_json::from_slice(&encode(&r)).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"v": 1, "id": 3, "node": "node2", "command": "add_users",
                               "run": 1, "first": 1001, "last": 2000})
        );
    }

    #[test]
    fn a_newer_version_is_refused_and_garbage_is_malformed() {
        let newer = br#"{"v":2,"id":1,"node":"node2","command":"status"}"#;
        let err = decode_request(newer).unwrap_err();
        assert_eq!(err, ProtocolError::Version { got: 2 });
        assert_eq!(
            err.to_string(),
            "node protocol version 2 is newer than this build's version 1"
        );
        assert!(matches!(
            decode_request(b"{\"v\":1,\"command\":\"fly\"}"),
            Err(ProtocolError::Malformed(_))
        ));
        assert!(matches!(
            decode_reply(b"not json"),
            Err(ProtocolError::Malformed(_))
        ));
    }

    #[test]
    fn requests_are_answered_or_expire_at_their_deadline() {
        let t0 = Instant::now();
        let mut p = Pending::default();
        let a = p.open("node2".into(), t0, Duration::from_millis(100));
        let b = p.open("node3".into(), t0, Duration::from_millis(200));
        assert!(a < b, "ids increase");
        assert!(p.answered(a));
        assert!(!p.answered(a), "a repeated reply is not counted twice");
        assert_eq!(p.expire(t0 + Duration::from_millis(199)), vec![]);
        assert_eq!(
            p.expire(t0 + Duration::from_millis(200)),
            vec![(b, Key::new("node3"))]
        );
        assert!(p.is_empty());
        assert!(
            !p.answered(b),
            "a late reply to an expired request is ignored"
        );
    }

    #[test]
    fn a_repeated_request_is_answered_from_the_cache_and_applied_once() {
        let mut cache = ReplyCache::new(2);
        let mut applied = 0;
        let r = req(
            1,
            NodeCommand::RemoveUsers {
                run: RunId(1),
                count: 5,
                force: false,
            },
        );
        for _ in 0..2 {
            let rep = cache.answer(&r, |_| {
                applied += 1;
                NodeReport::Removed {
                    run: RunId(1),
                    picked: 5,
                }
            });
            assert_eq!(
                rep,
                NodeReport::Removed {
                    run: RunId(1),
                    picked: 5
                }
            );
        }
        assert_eq!(applied, 1);
        cache.put(RequestId(2), NodeReport::Done);
        cache.put(RequestId(3), NodeReport::Done);
        assert_eq!(cache.get(RequestId(1)), None, "the oldest is forgotten");
        assert_eq!(cache.get(RequestId(3)), Some(&NodeReport::Done));
    }
}
