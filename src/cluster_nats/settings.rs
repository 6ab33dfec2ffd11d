//! The run's settings on a real cluster: the master's `--set` and `--settings FILE` go to every
//! worker with the join (the file as its text), and each side resolves them against its build's
//! declarations with the same rules as a simulated `run` (file first, then every `--set`, then
//! `ROOKERY_<NAME>` from that process's environment for what is left).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::engine::config::{
    Config, ExplicitSettings, UpdateRule, engine_declarations, process_env,
};
use crate::engine::events::Emitter;
use crate::engine::{DynScenario, USER_RATE, UserRate};
use crate::telemetry::Telemetry;

/// A `--settings FILE` as the master read it.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct SettingsFile {
    /// The path on the master (named in errors).
    pub path: String,
    /// Its TOML text.
    pub text: String,
}

impl SettingsFile {
    /// Reads `path`; an error names it.
    pub fn read(path: &Path) -> Result<SettingsFile, String> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("settings: {}: {e}", path.display()))?;
        Ok(SettingsFile {
            path: path.display().to_string(),
            text,
        })
    }
}

/// `file`'s settings, then every `NAME=VALUE` of `set` (a later one wins).
fn explicit(set: &[String], file: Option<&SettingsFile>) -> Result<ExplicitSettings, String> {
    let mut out = match file {
        Some(f) => ExplicitSettings::from_toml_str(&f.text, &PathBuf::from(&f.path))
            .map_err(|e| format!("settings: {e}"))?,
        None => ExplicitSettings::new(),
    };
    let sets = ExplicitSettings::from_cli(set, None).map_err(|e| format!("settings: {e}"))?;
    for e in sets.iter() {
        out.push(e.name.clone(), e.raw.clone(), e.source.clone());
    }
    Ok(out)
}

/// Resolves the settings of `scenario` (with the engine's own, `user_rate` among them);
/// `emitter` reports them (`None`: nowhere, a check).
pub fn resolve(
    scenario: &Arc<dyn DynScenario>,
    set: &[String],
    file: Option<&SettingsFile>,
    emitter: Option<Emitter>,
) -> Result<(Config, UserRate), String> {
    let explicit = explicit(set, file)?;
    let mut decls = engine_declarations(UpdateRule::throttle_rate(USER_RATE, 60_000));
    for setting in scenario.declarations() {
        decls
            .declare(scenario.name(), setting)
            .map_err(|e| format!("settings: {e}"))?;
    }
    let emitter = emitter.unwrap_or_else(|| Emitter::new(Telemetry::new(), "check"));
    let config = Config::resolve(decls, &explicit, &process_env, emitter)
        .map_err(|e| format!("settings: {e}"))?;
    let rate = config
        .get(USER_RATE)
        .ok()
        .flatten()
        .and_then(|v| UserRate::from_setting(&v))
        .unwrap_or_default();
    Ok((config, rate))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_file_comes_first_and_a_set_wins() {
        let file = SettingsFile {
            path: "/etc/run.toml".into(),
            text: "think_time = \"2s\"\npair_every = 4\n".into(),
        };
        let s = explicit(&["pair_every=7".into()], Some(&file)).unwrap();
        assert_eq!(s.get("pair_every").unwrap().raw.to_string(), "7");
        assert_eq!(s.get("think_time").unwrap().raw.to_string(), "\"2s\"");
        let bad = SettingsFile {
            path: "/etc/bad.toml".into(),
            text: "x = [".into(),
        };
        let err = explicit(&[], Some(&bad)).unwrap_err();
        assert!(err.contains("/etc/bad.toml"), "{err}");
    }
}
