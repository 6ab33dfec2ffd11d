//! What a scenario's `start` gets: [`UserContext`].

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use crate::telemetry::{Telemetry, Value};

use super::super::config::{ConfigError, ConfigValue};
use super::super::coordinator::Coordinators;
use super::super::events::Emitter;
use super::super::services::Services;
use super::super::throttle::Throttles;
use super::slot::{REMOVE, UserSlot};
use super::task::RunEnv;

/// What a scenario's `start` gets: who this user is, and what it may use.
#[derive(Clone)]
pub struct UserContext {
    pub(super) env: Arc<RunEnv>,
    pub(super) slot: Arc<UserSlot>,
}

impl UserContext {
    /// This user's id (from 1, unique in the cluster, never reused).
    pub fn user_id(&self) -> u64 {
        self.slot.id
    }

    /// The node running this user.
    pub fn node(&self) -> &str {
        self.env.emitter.node()
    }

    /// The running scenario's name.
    pub fn scenario(&self) -> &str {
        &self.env.scenario
    }

    /// Emits events on behalf of this user's node (adds `node` and `monotonic_time`).
    pub fn emitter(&self) -> &Emitter {
        &self.env.emitter
    }

    /// The telemetry registry the engine reports to.
    pub fn telemetry(&self) -> &Telemetry {
        self.env.emitter.telemetry()
    }

    /// The cluster's throttles, coordinators and settings.
    pub fn services(&self) -> &Services {
        &self.env.services
    }

    /// The cluster's named throttles: `user.throttles().wait("messages").await`.
    pub fn throttles(&self) -> &Throttles {
        self.env.services.throttles()
    }

    /// The cluster's coordinators: `user.coordinators().add("pairs", user.user_id(), data)`.
    pub fn coordinators(&self) -> &Coordinators<Value> {
        self.env.services.coordinators()
    }

    /// The value of a declared setting (`None` when it has no value). Reading an undeclared
    /// setting is an error and emits `[amoc, config, get]`.
    pub fn setting(&self, name: &str) -> Result<Option<ConfigValue>, ConfigError> {
        match self.env.services.config() {
            Some(config) => config.get(name),
            None => Err(ConfigError::Undeclared {
                name: name.to_owned(),
            }),
        }
    }

    /// True once this user has been asked to leave (a soft or forced removal, or a stop).
    pub fn removal_requested(&self) -> bool {
        self.slot.has(REMOVE)
    }

    /// Completes when this user is asked to leave. A user that ignores it keeps running after a
    /// soft removal; after a forced one it is cancelled when the grace period ends.
    pub fn removed(&self) -> Removed<'_> {
        Removed { slot: &self.slot }
    }
}

impl std::fmt::Debug for UserContext {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UserContext")
            .field("user_id", &self.slot.id)
            .field("node", &self.node())
            .finish()
    }
}

/// The future of [`UserContext::removed`].
#[derive(Debug)]
#[must_use = "futures do nothing unless awaited"]
pub struct Removed<'a> {
    slot: &'a UserSlot,
}

impl Future for Removed<'_> {
    type Output = ();
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.slot.has(REMOVE) {
            return Poll::Ready(());
        }
        self.slot.register(cx.waker());
        if self.slot.has(REMOVE) {
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    }
}
