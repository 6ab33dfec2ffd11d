//! One virtual user's whole life, in one place.
//!
//! ```text
//!  add_users ──► slot (id, flags) + task ──► wait on user_rate ──► STARTED ──► start(...) ──► ended
//!                   │ registry (Users)            │ picked while waiting:        │ removal signal,
//!                   │                             ▼ cancelled, never started     ▼ cancel after grace
//!                   └────────────── last one out ──► the stopping controller runs `terminate`
//! ```
//!
//! * `slot`: the id and lifecycle flags the task and the controller share (one atomic byte).
//! * `registry`: the controller's users, their counters, removal picks and the "last one out"
//!   signal a stopping controller awaits.
//! * `task`: the task itself. It waits for its turn on `user_rate`, then runs the scenario's
//!   `start` inside the `[amoc, scenario, start, _]` span. The span ends with `stop` (metadata
//!   `return`) when `start` returns `Ok`, and with `exception` when it returns `Err` (`kind`
//!   `error`), panics (`kind` `panic`) or is cancelled by a forced removal, a stop or a node going
//!   down (`kind` `exit`, `reason` `killed`; Erlang emits nothing for a killed process, Rookery
//!   does so the monitor's running count stays right).
//! * [`UserContext`]: what the scenario's `start` gets.
//!
//! Memory: a user is one tokio task plus a small shared slot (id, flags, one waker) and a
//! registry entry. Nothing per user is allocated until a handler listens to the span.

mod context;
pub(crate) mod registry;
pub(crate) mod slot;
pub(crate) mod task;
pub(crate) mod threads;

pub use context::{Removed, UserContext};
#[doc(hidden)]
pub use task::UserGuard;
pub use threads::UserThreads;
