//! A real cluster over NATS: `rookery run --cluster nats://HOST:PORT` is the master,
//! `rookery node --cluster nats://HOST:PORT` a worker process, on any machines that reach one
//! NATS server (or a NATS cluster). Rookery opens no port of its own.
//!
//! ```text
//!   master (rookery run --cluster)                      worker (rookery node)
//!   node table, user ids, monitor, recorder             controller + users, own throttles
//!        │  ◄── rookery.join                 (request: Join → Accepted | Refused) ──┤
//!        │  ◄── rookery.<run>.hb.<node>      (request every 500 ms → Ack | Down) ───┤
//!        │  ──► rookery.<run>.cmd.<node>     (request: AddUsers | RemoveUsers | Stop)►│
//!        │  ◄── rookery.<run>.ev.<node>      (event batches, see `batch`) ──────────┤
//!        │  ◄── rookery.<run>.leave.<node>   (a clean leave) ───────────────────────┤
//!        │  ──► rookery.<run>.end            (the run is over: workers exit) ──────►│
//! ```
//!
//! * **Join**: a worker asks on `rookery.join` (shared by all runs, so a master counts the
//!   workers of other runs it ignores) with its run id, build fingerprint and scenarios. The
//!   master refuses a different fingerprint or a missing scenario (the reason is printed on
//!   both sides), else names the node (`NAME`, or `NAME~2` when taken before) and hands it the
//!   scenario, the settings and the heartbeat period and timeout. The worker starts the
//!   scenario with 0 users; users come in contiguous id blocks from the master, never reused.
//! * **Heartbeats**: every 500 ms the worker asks the master; a node silent for 2 s is declared
//!   down (`[amoc, cluster, nodedown]` on the master, its running users reported as
//!   `[rookery, cluster, users_lost]`). Silence only counts while the listener's own NATS link
//!   is up, so a NATS server restart is nobody's death.
//! * **Events**: every event of a worker goes to the master in batches (format-v1 lines behind
//!   a header; bounded queue; drops and transit losses counted and emitted as
//!   `[rookery, cluster, events_dropped]`), and the master emits it again into its own
//!   registry, on its own clock: its monitor and recorder see every node.
//! * Anything that does not decode is ignored and counted (`[rookery, cluster, ignored]`).

pub mod batch;
pub mod connect;
pub mod forward;
pub mod master;
pub mod precision;
pub mod shares;
pub mod wire;
pub mod worker;

pub use connect::ClusterAddr;
pub use master::{Block, Counters, Master, MasterOptions};
pub use worker::{WorkerOptions, run_worker};

use std::path::Path;
use std::time::{Duration, Instant};

use crate::eventlog::{Recorder, RecorderHandle, RecorderOptions};
use crate::telemetry::Telemetry;

/// How often workers send heartbeats.
pub const HEARTBEAT: Duration = Duration::from_millis(500);
/// How long a silent peer stays up.
pub const TIMEOUT: Duration = Duration::from_secs(2);

/// Records every event of `telemetry` to `path` (when given), `t_us` counted from `start`.
pub fn record(
    path: Option<&Path>,
    telemetry: &Telemetry,
    start: Instant,
) -> Result<Option<RecorderHandle>, String> {
    let Some(path) = path else { return Ok(None) };
    Recorder::start_with(
        path,
        telemetry,
        RecorderOptions {
            start: Some(start),
            ..RecorderOptions::default()
        },
    )
    .map(Some)
    .map_err(|e| e.to_string())
}
