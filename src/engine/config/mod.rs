//! Declared configuration (Amoc's `amoc_config`): settings with type, default, verification
//! and update rule, resolved when a scenario starts and changeable while it runs.
//!
//! ```
//! use rookery::engine::config::{
//!     Config, ConfigValue, Declarations, ExplicitSettings, Setting, SettingType, Verdict,
//!     UpdateRule, user_rate_setting, CONTROLLER,
//! };
//! use rookery::engine::events::Emitter;
//! use rookery::telemetry::Telemetry;
//! use std::collections::HashMap;
//! use std::time::Duration;
//!
//! let mut decls = Declarations::new();
//! decls.declare(CONTROLLER, user_rate_setting(UpdateRule::Accept)).unwrap();
//! decls.declare("chat", Setting::new("think_time", "Pause between messages")
//!     .ty(SettingType::Duration)
//!     .default_value(Duration::from_millis(250))
//!     .verify(|v| (v.as_duration() < Some(Duration::from_secs(60))).into())).unwrap();
//! let explicit = ExplicitSettings::from_cli(&["user_rate=600"], None).unwrap();
//! let env = HashMap::from([("ROOKERY_THINK_TIME".to_string(), "2s".to_string())]);
//! let config = Config::resolve(decls, &explicit, &|v| env.get(v).cloned(),
//!     Emitter::new(Telemetry::new(), "master")).unwrap();
//! assert_eq!(config.get("user_rate").unwrap(), Some(ConfigValue::Int(600)));
//! assert_eq!(config.get("think_time").unwrap(), Some(ConfigValue::Duration(Duration::from_secs(2))));
//! ```
//!
//! Differences from Amoc, on purpose: values are typed (declared [`SettingType`]) instead of
//! Erlang terms, so environment variables are `ROOKERY_<NAME>` read by type (`250ms`,
//! `infinity`, `a,b`) rather than Erlang syntax; a setting with no value at all is not
//! verified; undefined names and verification failures are reported together; `verify`
//! events are emitted when a verification *function* refuses, returns a value of the wrong
//! type or panics (one-of refusals are only errors); update functions get `(name, value)`.

mod declare;
mod engine;
mod error;
mod explicit;
mod list;
mod resolve;
mod store;
mod value;

pub use declare::{
    Declarations, Declared, Setting, UpdateFn, UpdateRule, Verdict, Verification, VerifyFn,
};
pub use engine::{
    CONTROLLER, DEFAULT_USER_RATE, USER_RATE, engine_declarations, user_rate_setting,
};
pub use error::{ConfigError, ConfigErrors, Source};
pub use explicit::{Explicit, ExplicitSettings, RawValue, parse_set};
pub use list::{SettingInfo, format_settings, list_settings};
pub use resolve::{EnvLookup, env_var_name, process_env};
pub use store::Config;
pub use value::{ConfigValue, SettingType, parse_duration};
