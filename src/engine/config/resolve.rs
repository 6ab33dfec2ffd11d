//! Resolution of values: explicit settings over `ROOKERY_<NAME>` over the command's own
//! default (`rookery http`'s) over the declared default, then verification. Shared by scenario
//! start, live updates and `--list-settings`.

use std::panic::{AssertUnwindSafe, catch_unwind};

use super::declare::{Declarations, Declared, Verdict, Verification};
use super::error::{ConfigError, Source};
use super::explicit::{Explicit, ExplicitSettings, RawValue};
use super::value::ConfigValue;
use crate::engine::events::{CONFIG_ENV, CONFIG_VERIFY, Emitter, LogLevel};
use crate::telemetry::guard::{guarded, panic_message, take_last_panic_trace};
use crate::telemetry::{Field, Key, Value};

/// Looks up an environment variable; `None` when unset. Tests pass a map, the binary
/// [`process_env`].
pub type EnvLookup<'a> = &'a dyn Fn(&str) -> Option<String>;

/// The process environment.
pub fn process_env(var: &str) -> Option<String> {
    std::env::var(var).ok()
}

/// `ROOKERY_<NAME>`: the name upper-cased, characters other than letters, digits and `_`
/// replaced by `_`.
pub fn env_var_name(setting: &str) -> String {
    let mut s = String::from("ROOKERY_");
    s.extend(setting.chars().map(|c| {
        if c.is_ascii_alphanumeric() {
            c.to_ascii_uppercase()
        } else {
            '_'
        }
    }));
    s
}

fn field(k: &'static str, v: impl Into<Value>) -> Field {
    (Key::new_static(k), v.into())
}

fn opt_value(v: &Option<ConfigValue>) -> Value {
    v.as_ref()
        .map_or(Value::atom("undefined"), ConfigValue::to_value)
}

/// A value before verification, with where it came from.
pub(crate) struct Candidate {
    pub value: Option<ConfigValue>,
    pub source: Source,
    /// Why the environment variable was ignored, if it was.
    pub env_problem: Option<String>,
}

/// Reads an explicit value by the declared type.
pub(crate) fn read_explicit(d: &Declared, e: &Explicit) -> Result<ConfigValue, ConfigError> {
    let ty = &d.setting.ty;
    let read = match &e.raw {
        RawValue::Text(t) => ty.parse(t),
        RawValue::Toml(v) => ty.read_toml(v),
        RawValue::Value(v) => ty.check(v.clone()),
    };
    read.map_err(|reason| ConfigError::InvalidValue {
        name: d.setting.name.clone(),
        value: e.raw.to_string(),
        origin: e.source.clone(),
        reason,
    })
}

/// Environment over `default` (the command's own default if it gives one, else the declared
/// one); an unreadable variable emits `[amoc, config, env]` (when an emitter is given) and the
/// default is used.
pub(crate) fn env_or_default(
    d: &Declared,
    env: EnvLookup<'_>,
    default: Candidate,
    emitter: Option<&Emitter>,
) -> Candidate {
    let s = &d.setting;
    let var = env_var_name(&s.name);
    let Some(text) = env(&var).filter(|t| !t.is_empty()) else {
        return default;
    };
    match s.ty.parse(&text) {
        Ok(v) => Candidate {
            value: Some(v),
            source: Source::Env(var),
            env_problem: None,
        },
        Err(reason) => {
            if let Some(em) = emitter {
                em.emit_log(
                    &CONFIG_ENV,
                    LogLevel::Error,
                    "cannot parse environment variable, using the default",
                    &[
                        field("setting", s.name.as_str()),
                        field("variable_name", var.as_str()),
                        field("variable_value", text.as_str()),
                        field("default_value", opt_value(&default.value)),
                        field("error", reason.as_str()),
                    ],
                );
            }
            Candidate {
                env_problem: Some(format!("{var}={text:?} ignored: {reason}")),
                ..default
            }
        }
    }
}

/// Runs the declared verification; function failures emit `[amoc, config, verify]`.
pub(crate) fn verify(
    d: &Declared,
    value: ConfigValue,
    source: &Source,
    emitter: Option<&Emitter>,
) -> Result<ConfigValue, ConfigError> {
    let s = &d.setting;
    let name = s.name.clone();
    match &s.verification {
        Verification::None => Ok(value),
        Verification::OneOf(list) if list.contains(&value) => Ok(value),
        Verification::OneOf(list) => Err(ConfigError::VerificationFailed {
            name,
            value: value.to_string(),
            origin: source.clone(),
            reason: format!("not one of {}", ConfigValue::List(list.clone())),
        }),
        Verification::Function(f) => {
            let verdict = catch_unwind(AssertUnwindSafe(|| guarded(|| f(&value))));
            let emit = |msg: &str, extra: &[Field]| {
                if let Some(em) = emitter {
                    let mut md = vec![
                        field("setting", name.as_str()),
                        field("verification_method", "function"),
                        field("verification_arg", value.to_value()),
                    ];
                    md.extend_from_slice(extra);
                    em.emit_log(&CONFIG_VERIFY, LogLevel::Error, msg, &md);
                }
            };
            match verdict {
                Ok(Verdict::Accept) => Ok(value),
                Ok(Verdict::Replace(new)) => match s.ty.check(new.clone()) {
                    Ok(v) => Ok(v),
                    Err(reason) => {
                        emit(
                            "invalid verification return value",
                            &[field("verification_return", format!("replace {new}"))],
                        );
                        Err(ConfigError::InvalidVerificationReturn {
                            name,
                            value: value.to_string(),
                            origin: source.clone(),
                            reason,
                        })
                    }
                },
                Ok(Verdict::Reject(reason)) => {
                    emit(
                        "verification failed",
                        &[field("verification_return", format!("reject: {reason}"))],
                    );
                    Err(ConfigError::VerificationFailed {
                        name,
                        value: value.to_string(),
                        origin: source.clone(),
                        reason,
                    })
                }
                Err(payload) => {
                    let message = panic_message(payload.as_ref());
                    emit(
                        "exception during verification",
                        &[
                            field("kind", "panic"),
                            field("reason", message.as_str()),
                            field("stacktrace", take_last_panic_trace()),
                        ],
                    );
                    Err(ConfigError::VerificationPanicked {
                        name,
                        value: value.to_string(),
                        origin: source.clone(),
                        message,
                    })
                }
            }
        }
    }
}

/// One setting's resolved value (before or after verification).
pub(crate) struct Resolution {
    pub value: Result<Option<ConfigValue>, ConfigError>,
    pub source: Source,
    pub env_problem: Option<String>,
}

/// Explicit settings not declared anywhere, in the order given.
pub(crate) fn undefined(decls: &Declarations, explicit: &ExplicitSettings) -> Vec<ConfigError> {
    explicit
        .iter()
        .filter(|e| decls.get(&e.name).is_none())
        .map(|e| ConfigError::Undefined {
            name: e.name.clone(),
            origin: e.source.clone(),
        })
        .collect()
}

/// Resolves and verifies one declared setting. A setting with no value at all (no default,
/// nothing given) is not verified and reads as `None`.
pub(crate) fn resolve_one(
    d: &Declared,
    explicit: &ExplicitSettings,
    env: EnvLookup<'_>,
    emitter: Option<&Emitter>,
) -> Resolution {
    let name = &d.setting.name;
    let given = explicit.get(name);
    // An explicit setting, else the command's own default, else the declared one.
    let candidate = match given.or_else(|| explicit.fallback(name)) {
        Some(e) => match read_explicit(d, e) {
            Ok(v) => Candidate {
                value: Some(v),
                source: e.source.clone(),
                env_problem: None,
            },
            Err(err) => {
                return Resolution {
                    value: Err(err),
                    source: e.source.clone(),
                    env_problem: None,
                };
            }
        },
        None => Candidate {
            value: d.setting.default.clone(),
            source: Source::Default,
            env_problem: None,
        },
    };
    // The environment is under an explicit setting and over any default.
    let candidate = match given {
        Some(_) => candidate,
        None => env_or_default(d, env, candidate, emitter),
    };
    let value = match candidate.value {
        Some(v) => verify(d, v, &candidate.source, emitter).map(Some),
        None => Ok(None),
    };
    Resolution {
        value,
        source: candidate.source,
        env_problem: candidate.env_problem,
    }
}
