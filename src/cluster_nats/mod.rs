//! A real cluster over NATS: `rookery run --cluster nats://HOST:PORT` is the master,
//! `rookery node --cluster nats://HOST:PORT` a worker process, on any machines that reach one
//! NATS server (or a NATS cluster). Rookery opens no port of its own.
//!
//! ```text
//!   master (rookery run --cluster)                      worker (rookery node)
//!   node table, user ids, throttle rates,               its node (the engine's own: controller,
//!   coordinators, settings, monitor, recorder           users, local throttles at their shares)
//!        │  ◄── rookery.join                 (request: Join → Accepted | Refused) ──┤
//!        │  ◄── rookery.<run>.hb.<node>      (request every 500 ms → Ack | Down) ───┤
//!        │  ──► rookery.<run>.cmd.<node>     (request: the engine's Request → Reply)►│
//!        │  ◄── rookery.<run>.rep.<node>     (the node's unsolicited Finished) ─────┤
//!        │  ──► rookery.<run>.share.<node>   (its throttle shares, paused set) ────►│
//!        │  ◄── rookery.<run>.co.<node>      (coordinator started / a user's add) ──┤
//!        │  ──► rookery.<run>.batch.<node>   (a coordinator batch to run) ─────────►│
//!        │  ◄── rookery.<run>.ev.<node>      (event batches, see `batch`) ──────────┤
//!        │  ◄── rookery.<run>.leave.<node>   (a clean leave) ───────────────────────┤
//!        │  ──► rookery.<run>.end            (the run is over: workers exit) ──────►│
//! ```
//!
//! * **Join**: a worker asks on `rookery.join` (shared by all runs, so a master counts the
//!   workers of other runs it ignores) with its run id, build fingerprint and scenarios. The
//!   master refuses a different fingerprint or a missing scenario (the reason is printed on
//!   both sides), else names the node (`NAME`, or `NAME~2` when taken before) and hands it the
//!   scenario, the settings (`--set` and the `--settings` file's text) and the heartbeat period
//!   and timeout.
//! * **Commands** are the engine's node protocol ([`crate::engine::protocol`]): a versioned
//!   `Request { v, id, node, command }` answered by a `Reply` with the same id, or timed out by
//!   the master (asked again once, with the same id, after half its time: the node answers a
//!   repeat from its reply cache without applying it twice). The worker hands each request to
//!   its own node through the engine's transport seam, so a worker's node is the simulated
//!   cluster's node. On the first heartbeat the master sends `Connected` and `StartScenario`;
//!   users come in contiguous id blocks (`AddUsers`), never reused; a stop is `StopScenario`,
//!   whose end the node reports (`Finished`, with the events sent by then); `X` is `Leave`.
//! * **Heartbeats**: every 500 ms the worker asks the master; a node silent for 2 s is declared
//!   down (`[amoc, cluster, nodedown]` on the master, its running users reported as
//!   `[rookery, cluster, users_lost]`). Silence only counts while the listener's own NATS link
//!   is up, so a NATS server restart is nobody's death. Heartbeats carry each throttle's load,
//!   from which the master splits every cluster-wide rate into shares ([`shares`]). Both
//!   sides run them on a thread and a NATS connection of their own ([`liveness`]): user load
//!   cannot make a live process look dead.
//! * **Coordinators** are the master's ([`coordinators`]): workers forward their users' adds,
//!   the master runs the plans and emits the coordinator events once, and hands each batch to
//!   the workers of its members, which run the plan's actions. A worker's `reset` / `stop`
//!   acts on the master's coordinator; a down worker's waiting users are taken out of it.
//! * **Events**: every event of a worker goes to the master in batches (format-v1 lines behind
//!   a header; bounded queue; drops and transit losses counted and emitted as
//!   `[rookery, cluster, events_dropped]`), and the master emits it again into its own
//!   registry, on its own clock: its monitor and recorder see every node.
//! * Anything that does not decode is ignored and counted (`[rookery, cluster, ignored]`).

pub mod batch;
pub mod connect;
pub mod coordinators;
pub mod forward;
pub mod liveness;
pub mod master;
pub mod precision;
pub mod settings;
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
