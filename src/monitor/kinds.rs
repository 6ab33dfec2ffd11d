//! What the reducer does with each event name, decided once per name and cached by its id.

use crate::telemetry::EventName;

/// The events the reducer understands; everything else is only counted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    /// Not yet classified (the cache slot is empty).
    Unseen,
    Other,
    ControllerUsers,
    UserStart,
    UserStop,
    UserException,
    ScenarioInit(SpanEdge),
    ScenarioTerminate(SpanEdge),
    ThrottleInit,
    ThrottleRate,
    ThrottleRequest,
    ThrottleExecute,
    ThrottleProcess,
    Coordinator(CoordEvent),
    CoordinatorExecute,
    Config(ConfigKind),
    Cluster(ClusterKind),
    HandlerFailure,
    RecorderDropped,
    /// `[rookery, tap | monitor, dropped]`: events this state never saw.
    FeedDropped,
    /// `[rookery, recorder, error]`, `[rookery, log, warning]`: shown as warnings.
    RookeryNotice,
    /// `[http, request, _]` and `[http, backlog]` (the built-in http scenario).
    Http(super::http::HttpEvent),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum SpanEdge {
    Start,
    Stop,
    Exception,
}

/// `[amoc, coordinator, start | stop | add | reset | timeout]`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CoordEvent {
    Start,
    Stop,
    Add,
    Reset,
    Timeout,
}

/// `[amoc, config, get | verify | env]`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ConfigKind {
    Get,
    Verify,
    Env,
}

/// `[amoc, cluster, connect_nodes | nodedown | master_node_down]`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ClusterKind {
    ConnectNodes,
    Nodedown,
    MasterNodeDown,
}

fn edge(s: &str) -> Option<SpanEdge> {
    match s {
        "start" => Some(SpanEdge::Start),
        "stop" => Some(SpanEdge::Stop),
        "exception" => Some(SpanEdge::Exception),
        _ => None,
    }
}

/// Classifies a name by its segments.
pub(crate) fn classify(name: &EventName) -> Kind {
    use Kind::*;
    match name.segments() {
        ["amoc", "controller", "users"] => ControllerUsers,
        ["amoc", "scenario", "start", e] => match edge(e) {
            Some(SpanEdge::Start) => UserStart,
            Some(SpanEdge::Stop) => UserStop,
            Some(SpanEdge::Exception) => UserException,
            None => Other,
        },
        ["amoc", "scenario", "init", e] => edge(e).map_or(Other, ScenarioInit),
        ["amoc", "scenario", "terminate", e] => edge(e).map_or(Other, ScenarioTerminate),
        ["amoc", "throttle", "init"] => ThrottleInit,
        ["amoc", "throttle", "rate"] => ThrottleRate,
        ["amoc", "throttle", "request"] => ThrottleRequest,
        ["amoc", "throttle", "execute"] => ThrottleExecute,
        ["amoc", "throttle", "process"] => ThrottleProcess,
        ["amoc", "coordinator", "start"] => Coordinator(CoordEvent::Start),
        ["amoc", "coordinator", "stop"] => Coordinator(CoordEvent::Stop),
        ["amoc", "coordinator", "add"] => Coordinator(CoordEvent::Add),
        ["amoc", "coordinator", "reset"] => Coordinator(CoordEvent::Reset),
        ["amoc", "coordinator", "timeout"] => Coordinator(CoordEvent::Timeout),
        ["amoc", "coordinator", "execute"] => CoordinatorExecute,
        ["amoc", "config", "get"] => Config(ConfigKind::Get),
        ["amoc", "config", "verify"] => Config(ConfigKind::Verify),
        ["amoc", "config", "env"] => Config(ConfigKind::Env),
        ["amoc", "cluster", "connect_nodes"] => Cluster(ClusterKind::ConnectNodes),
        ["amoc", "cluster", "nodedown"] => Cluster(ClusterKind::Nodedown),
        ["amoc", "cluster", "master_node_down"] => Cluster(ClusterKind::MasterNodeDown),
        ["telemetry", "handler", "failure"] => HandlerFailure,
        ["rookery", "recorder", "dropped"] => RecorderDropped,
        ["rookery", "tap" | "monitor", "dropped"] => FeedDropped,
        ["rookery", "recorder", "error"] | ["rookery", "log", "warning"] => RookeryNotice,
        ["http", ..] => super::http::classify(name).map_or(Other, Http),
        _ => Other,
    }
}
