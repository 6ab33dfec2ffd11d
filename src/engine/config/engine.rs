//! Settings declared by the engine itself.

use super::declare::{Declarations, Setting, UpdateRule};
use super::value::{ConfigValue, SettingType};

/// The name of the controller's user rate setting.
pub const USER_RATE: &str = "user_rate";

/// Who declares the engine's settings (named in duplicate-declaration errors).
pub const CONTROLLER: &str = "controller";

/// Amoc's default user rate: 1200 users per minute.
pub const DEFAULT_USER_RATE: i64 = 1200;

/// `user_rate`: new users per minute, an integer `>= 0` or `infinity`, default 1200,
/// updatable; `on_update` should change the `user_rate` throttle, for example
/// `UpdateRule::call(move |_, v| throttles.change_rate(...))`.
pub fn user_rate_setting(on_update: UpdateRule) -> Setting {
    Setting::new(
        USER_RATE,
        "Users started per minute across the cluster (integer >= 0, or infinity)",
    )
    .ty(SettingType::Rate)
    .default_value(ConfigValue::Int(DEFAULT_USER_RATE))
    .update(on_update)
}

/// Declarations holding the engine's own settings (`user_rate`, declared by
/// [`CONTROLLER`]); scenarios add theirs with [`Declarations::declare`].
pub fn engine_declarations(on_user_rate: UpdateRule) -> Declarations {
    let mut d = Declarations::new();
    // The first declaration in an empty set cannot collide, and the default is a valid rate.
    if let Err(e) = d.declare(CONTROLLER, user_rate_setting(on_user_rate)) {
        log::error!("engine settings: {e}");
    }
    d
}
