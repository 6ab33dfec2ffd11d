//! The cluster-wide services of a run: throttles, coordinators and settings.
//!
//! All three belong to the master node, as in Amoc, and every node's users share them: a
//! throttle's rate and a coordinator's batches are cluster-wide. `user_rate` is one of the
//! throttles; users wait on it before they start.

use std::fmt;
use std::sync::Arc;

use arc_swap::ArcSwapOption;

use crate::telemetry::Value;

use super::config::Config;
use super::coordinator::Coordinators;
use super::events::Emitter;
use super::throttle::{Rate, ThrottleConfig, ThrottleError, Throttles};

/// The throttle users start through.
pub const USER_RATE: &str = "user_rate";

/// `user_rate`: users per minute, or no limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UserRate {
    /// At most this many users start per minute; 0 starts nobody.
    PerMinute(u64),
    /// Everybody starts at once.
    Infinity,
}

impl Default for UserRate {
    /// Amoc's default: 1200 users per minute.
    fn default() -> Self {
        UserRate::PerMinute(1200)
    }
}

impl fmt::Display for UserRate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            UserRate::PerMinute(n) => write!(f, "{n}/min"),
            UserRate::Infinity => f.write_str("infinity"),
        }
    }
}

impl UserRate {
    /// The `user_rate` throttle's configuration: this many per 60,000 ms.
    pub fn throttle_config(self) -> ThrottleConfig {
        let rate = match self {
            UserRate::PerMinute(n) => Rate::Finite(n),
            UserRate::Infinity => Rate::Infinity,
        };
        ThrottleConfig::new(rate, 60_000)
    }

    /// The user rate a `user_rate` setting value stands for (`None` if it is not a rate).
    pub fn from_setting(v: &super::config::ConfigValue) -> Option<UserRate> {
        v.as_rate()
            .map(|r| r.map_or(UserRate::Infinity, UserRate::PerMinute))
    }

    /// As a setting value.
    pub fn to_setting(self) -> super::config::ConfigValue {
        match self {
            UserRate::PerMinute(n) => {
                super::config::ConfigValue::Int(i64::try_from(n).unwrap_or(i64::MAX))
            }
            UserRate::Infinity => super::config::ConfigValue::Infinity,
        }
    }
}

/// A rate setting's value (an integer `>= 0`, or `infinity`) as a throttle configuration per
/// `interval_ms`; `None` if the value is not a rate.
pub fn rate_config(v: &super::config::ConfigValue, interval_ms: u64) -> Option<ThrottleConfig> {
    let rate = match v.as_rate()? {
        Some(n) => Rate::Finite(n),
        None => Rate::Infinity,
    };
    Some(ThrottleConfig::new(rate, interval_ms))
}

/// What the users of every node share. Cheap to clone.
#[derive(Clone)]
pub struct Services {
    throttles: Throttles,
    coordinators: Coordinators<Value>,
    config: Arc<ArcSwapOption<Config>>,
}

impl fmt::Debug for Services {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Services").finish_non_exhaustive()
    }
}

impl Services {
    /// Services owned by the master, reporting through its `emitter`.
    pub fn new(master: &Emitter) -> Services {
        Services {
            throttles: Throttles::new(master.clone()),
            coordinators: Coordinators::new(master.clone()),
            config: Arc::new(ArcSwapOption::empty()),
        }
    }

    /// Services of a real cluster's worker node: its own throttles (run at the master's
    /// shares) and settings, and `coordinators` that forward to the master.
    pub(crate) fn with_coordinators(node: &Emitter, coordinators: Coordinators<Value>) -> Services {
        Services {
            throttles: Throttles::new(node.clone()),
            coordinators,
            config: Arc::new(ArcSwapOption::empty()),
        }
    }

    /// The cluster's named throttles (`user_rate` among them).
    pub fn throttles(&self) -> &Throttles {
        &self.throttles
    }

    /// The cluster's coordinators.
    pub fn coordinators(&self) -> &Coordinators<Value> {
        &self.coordinators
    }

    /// The settings resolved when the running scenario started (`None` before any start).
    pub fn config(&self) -> Option<Arc<Config>> {
        self.config.load_full()
    }

    pub(crate) fn set_config(&self, config: Config) {
        self.config.store(Some(Arc::new(config)));
    }

    /// Starts `user_rate` at `rate`, or changes it if it runs already (inside a tokio runtime).
    pub fn set_user_rate(&self, rate: UserRate) -> Result<(), ThrottleError> {
        let cfg = rate.throttle_config();
        match self.throttles.start(USER_RATE, cfg) {
            Ok(_) => Ok(()),
            Err(ThrottleError::WrongReconfiguration { .. }) => {
                self.throttles.change_rate(USER_RATE, cfg)
            }
            Err(e) => Err(e),
        }
    }

    /// The `user_rate` in force, if the throttle runs.
    pub fn user_rate(&self) -> Option<UserRate> {
        let info = self.throttles.info(USER_RATE).ok()?;
        Some(match info.rate {
            Rate::Infinity => UserRate::Infinity,
            Rate::Finite(n) if info.interval_ms == 60_000 => UserRate::PerMinute(n),
            Rate::Finite(n) => UserRate::PerMinute(
                u64::try_from(u128::from(n) * 60_000 / u128::from(info.interval_ms.max(1)))
                    .unwrap_or(u64::MAX),
            ),
        })
    }

    /// The master is gone: every waiter gets an error, and coordinators stop.
    pub(crate) fn shut_down(&self) {
        self.throttles.shutdown_all();
        self.coordinators.stop_all();
    }
}
