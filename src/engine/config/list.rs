//! Discoverability: every declared setting with the value it would take now.

use std::fmt::Write as _;

use super::declare::{Declarations, Declared};
use super::error::Source;
use super::explicit::ExplicitSettings;
use super::resolve::{self, EnvLookup};
use super::value::{ConfigValue, SettingType};

/// One declared setting as `rookery run --list-settings` shows it.
#[derive(Clone, Debug, PartialEq)]
pub struct SettingInfo {
    pub name: String,
    pub description: String,
    pub ty: SettingType,
    pub default: Option<ConfigValue>,
    /// The scenario or engine part that declared it.
    pub declarer: String,
    /// `read-only`, `updatable`, ...
    pub update: &'static str,
    /// The value it would take now (`None`: no value), or why it would be refused.
    pub value: Result<Option<ConfigValue>, String>,
    pub source: Source,
    /// An environment variable that was set but ignored, and why.
    pub note: Option<String>,
}

pub(crate) fn info(
    d: &Declared,
    value: Result<Option<ConfigValue>, String>,
    source: Source,
    note: Option<String>,
) -> SettingInfo {
    let s = &d.setting;
    SettingInfo {
        name: s.name.clone(),
        description: s.description.clone(),
        ty: s.ty.clone(),
        default: s.default.clone(),
        declarer: d.declarer.clone(),
        update: s.update.describe(),
        value,
        source,
        note,
    }
}

/// Every declared setting with the value it would take if the scenario started now, without
/// emitting events. Explicit settings that nobody declared are not listed (resolution
/// reports them).
pub fn list_settings(
    decls: &Declarations,
    explicit: &ExplicitSettings,
    env: EnvLookup<'_>,
) -> Vec<SettingInfo> {
    decls
        .iter()
        .map(|d| {
            let r = resolve::resolve_one(d, explicit, env, None);
            info(
                d,
                r.value.map_err(|e| e.to_string()),
                r.source,
                r.env_problem,
            )
        })
        .collect()
}

fn show(v: &Option<ConfigValue>) -> String {
    v.as_ref()
        .map_or_else(|| "(none)".to_owned(), ToString::to_string)
}

/// The listing as text, one block per setting.
pub fn format_settings(list: &[SettingInfo]) -> String {
    let mut out = String::new();
    for s in list {
        let _ = writeln!(
            out,
            "{}  ({}, {}; declared by {})",
            s.name, s.ty, s.update, s.declarer
        );
        if !s.description.is_empty() {
            let _ = writeln!(out, "    {}", s.description);
        }
        let _ = writeln!(out, "    default: {}", show(&s.default));
        match &s.value {
            Ok(v) => {
                let _ = writeln!(out, "    value:   {}  (from {})", show(v), s.source);
            }
            Err(e) => {
                let _ = writeln!(out, "    value:   REFUSED: {e}");
            }
        }
        if let Some(n) = &s.note {
            let _ = writeln!(out, "    note:    {n}");
        }
    }
    out
}
