//! `rookery attach`: the client of the Amoc bridge (`integrations/amoc/rookery_bridge.erl`).
//!
//! The bridge runs inside a real Amoc cluster and streams every `[amoc, …]` event as an
//! event-log line (format v1) over TCP; this module connects to it ([`Attachment`]), feeds the
//! events to the same [`MonitorState`](crate::monitor::MonitorState) a live run or a replay
//! feeds ([`AttachFeed`]), optionally records them as they came, and sends the monitor's
//! commands back through the bridge ([`BridgeSink`]). Amoc answers each command with ok or its
//! error (shown in the log pane); the screen shows a new rate only when Amoc's own
//! `[amoc, throttle, rate]` event arrives.
//!
//! Layout: [`address`] (`amoc://HOST:PORT`), [`wire`] (the line protocol), [`client`] (the
//! connection, its reader thread and recording), [`sink`] (commands).

pub mod address;
pub mod client;
pub mod sink;
pub mod wire;

pub use address::BridgeAddress;
pub use client::{AttachError, AttachFeed, AttachOptions, Attachment, BridgeReply};
pub use sink::BridgeSink;
pub use wire::BridgeCommand;
