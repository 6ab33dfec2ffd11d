//! The event catalogue (Amoc 4.1's events, by name and shape) and the [`Emitter`] that every engine
//! part uses to report.
//!
//! Amoc's `amoc_telemetry:execute` puts `monotonic_time` into the *metadata*; Rookery does the
//! same and also adds `node`, the simulated node that emitted the event.

use smallvec::SmallVec;

use crate::telemetry::{
    ActiveSpan, EventName, Field, Key, StaticName, Telemetry, Value, monotonic_time,
};

/// Span prefix `[amoc, scenario, init]` (`init` of a scenario; metadata `scenario`).
pub static SCENARIO_INIT: StaticName = StaticName::new(&["amoc", "scenario", "init"]);
/// Span prefix `[amoc, scenario, start]` (one user's run; metadata `scenario`, `state`, `user_id`).
pub static SCENARIO_START: StaticName = StaticName::new(&["amoc", "scenario", "start"]);
/// Span prefix `[amoc, scenario, terminate]` (metadata `scenario`, `state`).
pub static SCENARIO_TERMINATE: StaticName = StaticName::new(&["amoc", "scenario", "terminate"]);
/// `[amoc, controller, users]`: measurements `count`; metadata `scenario`, `type` add|remove.
pub static CONTROLLER_USERS: StaticName = StaticName::new(&["amoc", "controller", "users"]);

pub static THROTTLE_INIT: StaticName = StaticName::new(&["amoc", "throttle", "init"]);
pub static THROTTLE_RATE: StaticName = StaticName::new(&["amoc", "throttle", "rate"]);
pub static THROTTLE_REQUEST: StaticName = StaticName::new(&["amoc", "throttle", "request"]);
pub static THROTTLE_EXECUTE: StaticName = StaticName::new(&["amoc", "throttle", "execute"]);
pub static THROTTLE_PROCESS: StaticName = StaticName::new(&["amoc", "throttle", "process"]);

pub static COORDINATOR_START: StaticName = StaticName::new(&["amoc", "coordinator", "start"]);
pub static COORDINATOR_STOP: StaticName = StaticName::new(&["amoc", "coordinator", "stop"]);
pub static COORDINATOR_ADD: StaticName = StaticName::new(&["amoc", "coordinator", "add"]);
pub static COORDINATOR_RESET: StaticName = StaticName::new(&["amoc", "coordinator", "reset"]);
pub static COORDINATOR_TIMEOUT: StaticName = StaticName::new(&["amoc", "coordinator", "timeout"]);
pub static COORDINATOR_EXECUTE: StaticName = StaticName::new(&["amoc", "coordinator", "execute"]);

pub static CONFIG_GET: StaticName = StaticName::new(&["amoc", "config", "get"]);
pub static CONFIG_VERIFY: StaticName = StaticName::new(&["amoc", "config", "verify"]);
pub static CONFIG_ENV: StaticName = StaticName::new(&["amoc", "config", "env"]);

pub static CLUSTER_CONNECT_NODES: StaticName =
    StaticName::new(&["amoc", "cluster", "connect_nodes"]);
pub static CLUSTER_NODEDOWN: StaticName = StaticName::new(&["amoc", "cluster", "nodedown"]);
pub static CLUSTER_MASTER_NODE_DOWN: StaticName =
    StaticName::new(&["amoc", "cluster", "master_node_down"]);

/// Erlang `logger` levels, as carried by the log-shaped events (`[amoc, config, _]`,
/// `[amoc, throttle, process]`): measurements `#{Level => 1}`, metadata `log_level`, `msg`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum LogLevel {
    Emergency,
    Alert,
    Critical,
    Error,
    Warning,
    Notice,
    Info,
    Debug,
}

impl LogLevel {
    pub const fn as_str(self) -> &'static str {
        match self {
            LogLevel::Emergency => "emergency",
            LogLevel::Alert => "alert",
            LogLevel::Critical => "critical",
            LogLevel::Error => "error",
            LogLevel::Warning => "warning",
            LogLevel::Notice => "notice",
            LogLevel::Info => "info",
            LogLevel::Debug => "debug",
        }
    }

    /// Parses a level name as Erlang's logger spells it.
    pub fn parse(s: &str) -> Option<LogLevel> {
        Some(match s {
            "emergency" => LogLevel::Emergency,
            "alert" => LogLevel::Alert,
            "critical" => LogLevel::Critical,
            "error" => LogLevel::Error,
            "warning" => LogLevel::Warning,
            "notice" => LogLevel::Notice,
            "info" => LogLevel::Info,
            "debug" => LogLevel::Debug,
            _ => return None,
        })
    }
}

/// Emits engine events on one registry on behalf of one node.
#[derive(Clone, Debug)]
pub struct Emitter {
    telemetry: Telemetry,
    node: Key,
}

type Meta = SmallVec<[Field; 8]>;

impl Emitter {
    pub fn new(telemetry: Telemetry, node: impl Into<Key>) -> Emitter {
        Emitter {
            telemetry,
            node: node.into(),
        }
    }

    pub fn telemetry(&self) -> &Telemetry {
        &self.telemetry
    }

    /// The emitting node's name.
    pub fn node(&self) -> &Key {
        &self.node
    }

    /// The same registry on behalf of another node.
    pub fn for_node(&self, node: impl Into<Key>) -> Emitter {
        Emitter::new(self.telemetry.clone(), node)
    }

    fn meta(&self, metadata: &[Field], with_time: bool) -> Meta {
        let mut md: Meta = SmallVec::with_capacity(metadata.len() + 2);
        md.extend(metadata.iter().cloned());
        if with_time {
            md.push((
                Key::new_static("monotonic_time"),
                Value::Int(monotonic_time()),
            ));
        }
        md.push((Key::new_static("node"), Value::Str(self.node.clone())));
        md
    }

    /// Emits `event` with `metadata` plus `monotonic_time` and `node`. Skips all work when no
    /// handler listens.
    #[inline]
    pub fn emit(&self, event: &StaticName, measurements: &[Field], metadata: &[Field]) {
        self.emit_name(event.get(), measurements, metadata)
    }

    /// [`emit`](Self::emit) for a name built at run time.
    pub fn emit_name(&self, event: EventName, measurements: &[Field], metadata: &[Field]) {
        self.telemetry
            .execute_with(event, measurements, || self.meta(metadata, true));
    }

    /// A log-shaped event: measurements `#{Level => 1}`, metadata plus `log_level` and `msg`.
    pub fn emit_log(&self, event: &StaticName, level: LogLevel, msg: &str, metadata: &[Field]) {
        let name = event.get();
        if !self.telemetry.has_handlers(name.clone()) {
            return;
        }
        let mut md = self.meta(metadata, true);
        md.push((Key::new_static("log_level"), Value::atom(level.as_str())));
        md.push((Key::new_static("msg"), Value::from(msg)));
        self.telemetry.execute(
            name,
            &[(Key::new_static(level.as_str()), Value::Int(1))],
            &md,
        );
    }

    /// Starts a span under `prefix`, adding `node` to the start metadata. Stop and exception
    /// metadata are the caller's: pass them through [`with_node`](Self::with_node).
    pub fn span_start(&self, prefix: &StaticName, start_metadata: &[Field]) -> ActiveSpan {
        let md = self.meta(start_metadata, false);
        self.telemetry.span_start(prefix.get(), &md)
    }

    /// `metadata` plus this node's `node` key.
    pub fn with_node(&self, metadata: &[Field]) -> Vec<Field> {
        self.meta(metadata, false).into_vec()
    }
}
