//! The resolved configuration of a running scenario: reads and live updates.

use std::panic::AssertUnwindSafe;
use std::sync::{Arc, Mutex};

use arc_swap::ArcSwap;
use futures::FutureExt;
use rustc_hash::FxHashMap;

use super::declare::{Declarations, UpdateRule};
use super::error::{ConfigError, ConfigErrors, Source};
use super::explicit::ExplicitSettings;
use super::list::{SettingInfo, info};
use super::resolve::{self, EnvLookup};
use super::value::ConfigValue;
use crate::engine::events::{CONFIG_GET, Emitter, LogLevel};
use crate::telemetry::guard::{Guarded, panic_message};
use crate::telemetry::{Key, Value};

#[derive(Clone, Debug)]
pub(crate) struct Stored {
    pub value: Option<ConfigValue>,
    pub source: Source,
}

type Values = FxHashMap<String, Stored>;

struct Inner {
    decls: Declarations,
    values: ArcSwap<Values>,
    emitter: Emitter,
    /// Serialises updates.
    write: Mutex<()>,
}

/// The values of every declared setting, resolved when the scenario started (clone freely).
#[derive(Clone)]
pub struct Config {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_map()
            .entries(self.inner.values.load().iter().map(|(k, v)| (k, &v.value)))
            .finish()
    }
}

impl Config {
    /// Resolves every declared setting: explicit settings over `ROOKERY_<NAME>` (looked up
    /// with `env`) over the default, then verification. Every problem of every setting is
    /// reported together; an unreadable environment variable is not an error (the default is
    /// used and `[amoc, config, env]` emitted).
    pub fn resolve(
        decls: Declarations,
        explicit: &ExplicitSettings,
        env: EnvLookup<'_>,
        emitter: Emitter,
    ) -> Result<Config, ConfigErrors> {
        let mut errors = resolve::undefined(&decls, explicit);
        let mut values = Values::default();
        for d in decls.iter() {
            let r = resolve::resolve_one(d, explicit, env, Some(&emitter));
            match r.value {
                Ok(value) => {
                    values.insert(
                        d.setting.name.clone(),
                        Stored {
                            value,
                            source: r.source,
                        },
                    );
                }
                Err(e) => errors.push(e),
            }
        }
        ConfigErrors::check(errors)?;
        Ok(Config {
            inner: Arc::new(Inner {
                decls,
                values: ArcSwap::from_pointee(values),
                emitter,
                write: Mutex::new(()),
            }),
        })
    }

    pub fn declarations(&self) -> &Declarations {
        &self.inner.decls
    }

    fn undeclared(&self, name: &str) -> ConfigError {
        self.inner.emitter.emit_log(
            &CONFIG_GET,
            LogLevel::Error,
            "no scenario setting",
            &[(Key::new_static("setting"), Value::from(name))],
        );
        ConfigError::Undeclared {
            name: name.to_owned(),
        }
    }

    /// The value of `name`: `None` when it has none (no default and nothing given). Reading
    /// an undeclared name emits `[amoc, config, get]` and is an error.
    pub fn get(&self, name: &str) -> Result<Option<ConfigValue>, ConfigError> {
        match self.inner.values.load().get(name) {
            Some(s) => Ok(s.value.clone()),
            None => Err(self.undeclared(name)),
        }
    }

    /// The value of `name`, or `default` when it has none (Amoc's `get(Name, Default)`).
    pub fn get_or(
        &self,
        name: &str,
        default: impl Into<ConfigValue>,
    ) -> Result<ConfigValue, ConfigError> {
        Ok(self.get(name)?.unwrap_or_else(|| default.into()))
    }

    /// Where the current value of `name` came from.
    pub fn source(&self, name: &str) -> Option<Source> {
        self.inner.values.load().get(name).map(|s| s.source.clone())
    }

    /// Changes settings while the scenario runs, as Amoc's `update_settings`: undeclared and
    /// read-only names are refused (read-only even when unchanged); unchanged values are
    /// dropped; the rest are verified at once and stored together, and then their update
    /// functions run on Tokio tasks. Nothing is stored when anything is refused. Returns the
    /// names that changed.
    ///
    /// Verification (which emits `[amoc, config, verify]` and runs the settings' own
    /// functions) happens before the write lock is taken; the lock covers only the store.
    pub fn update(&self, settings: &ExplicitSettings) -> Result<Vec<String>, ConfigErrors> {
        let decls = &self.inner.decls;
        let mut errors = resolve::undefined(decls, settings);
        for e in settings.iter() {
            if let Some(d) = decls.get(&e.name)
                && matches!(d.setting.update, UpdateRule::ReadOnly)
            {
                errors.push(ConfigError::ReadOnly {
                    name: e.name.clone(),
                    declarer: d.declarer.clone(),
                });
            }
        }
        ConfigErrors::check(errors)?;

        let current = self.inner.values.load_full();
        let mut changed = Vec::new();
        let mut errors = Vec::new();
        for e in settings.iter() {
            let Some(d) = decls.get(&e.name) else {
                continue;
            };
            let value = match resolve::read_explicit(d, e) {
                Ok(v) => v,
                Err(err) => {
                    errors.push(err);
                    continue;
                }
            };
            if current.get(&e.name).and_then(|s| s.value.as_ref()) == Some(&value) {
                continue;
            }
            match resolve::verify(d, value, &e.source, Some(&self.inner.emitter)) {
                Ok(v) => changed.push((d, v, e.source.clone())),
                Err(err) => errors.push(err),
            }
        }
        ConfigErrors::check(errors)?;

        let needs_runtime = changed
            .iter()
            .find(|(d, ..)| matches!(d.setting.update, UpdateRule::Function(_)));
        let runtime =
            match needs_runtime {
                Some((d, ..)) => Some(tokio::runtime::Handle::try_current().map_err(|_| {
                    ConfigError::NoRuntime {
                        name: d.setting.name.clone(),
                    }
                })?),
                None => None,
            };

        let w = self.inner.write.lock().unwrap_or_else(|e| e.into_inner());
        // Start from the latest values: an update that finished meanwhile is kept.
        let mut next = Values::clone(&self.inner.values.load_full());
        for (d, v, source) in &changed {
            next.insert(
                d.setting.name.clone(),
                Stored {
                    value: Some(v.clone()),
                    source: source.clone(),
                },
            );
        }
        self.inner.values.store(Arc::new(next));
        drop(w);

        for (d, v, _) in &changed {
            if let (UpdateRule::Function(f), Some(rt)) = (&d.setting.update, &runtime) {
                let name = d.setting.name.clone();
                let fut = AssertUnwindSafe(f(&name, v.clone())).catch_unwind();
                rt.spawn(Guarded(async move {
                    if let Err(p) = fut.await {
                        log::warn!(
                            "update function of setting {name:?} panicked: {}",
                            panic_message(p.as_ref())
                        );
                    }
                }));
            }
        }
        Ok(changed
            .into_iter()
            .map(|(d, ..)| d.setting.name.clone())
            .collect())
    }

    /// Every declared setting with its current value and where it came from.
    pub fn list(&self) -> Vec<SettingInfo> {
        let values = self.inner.values.load();
        self.inner
            .decls
            .iter()
            .map(|d| {
                let s = values.get(&d.setting.name);
                info(
                    d,
                    Ok(s.and_then(|s| s.value.clone())),
                    s.map_or(Source::Default, |s| s.source.clone()),
                    None,
                )
            })
            .collect()
    }
}
