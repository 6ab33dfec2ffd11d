//! Explicit settings: `--set name=value` (repeatable) and the TOML `--settings FILE`.

use std::path::Path;

use super::error::{ConfigError, ConfigErrors, Source};
use super::value::ConfigValue;

/// A value as given, read by the declared type when the scenario starts.
#[derive(Clone, Debug, PartialEq)]
pub enum RawValue {
    /// Text (`--set`): parsed like an environment variable.
    Text(String),
    /// A TOML value from the settings file.
    Toml(toml::Value),
    /// A typed value (from code or a control command); checked against the type.
    Value(ConfigValue),
}

impl std::fmt::Display for RawValue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RawValue::Text(t) => f.write_str(t),
            RawValue::Toml(v) => write!(f, "{v}"),
            RawValue::Value(v) => write!(f, "{v}"),
        }
    }
}

/// One explicit setting.
#[derive(Clone, Debug, PartialEq)]
pub struct Explicit {
    pub name: String,
    pub raw: RawValue,
    pub source: Source,
}

/// Explicit settings in order of precedence resolution: for a name given several times, the
/// last `--set` wins, and any `--set` wins over the file.
///
/// It also carries a command's own defaults ([`ExplicitSettings::fallback_to`]): values that
/// apply only when neither an explicit setting nor the environment gives one, above the
/// declared default.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ExplicitSettings {
    entries: Vec<Explicit>,
    fallbacks: Vec<Explicit>,
}

/// Splits `name=value` (the value may contain `=`; the name is trimmed).
pub fn parse_set(arg: &str) -> Result<(String, String), ConfigError> {
    match arg.split_once('=') {
        Some((name, value)) if !name.trim().is_empty() => {
            Ok((name.trim().to_owned(), value.to_owned()))
        }
        _ => Err(ConfigError::BadSetArgument {
            arg: arg.to_owned(),
        }),
    }
}

impl ExplicitSettings {
    pub fn new() -> ExplicitSettings {
        ExplicitSettings::default()
    }

    /// The command line's settings in one call: the file (if any), then every `--set`.
    /// Every malformed argument and file problem is reported.
    pub fn from_cli<S: AsRef<str>>(
        sets: &[S],
        file: Option<&Path>,
    ) -> Result<ExplicitSettings, ConfigErrors> {
        let mut out = ExplicitSettings::new();
        let mut errors = Vec::new();
        if let Some(path) = file {
            match ExplicitSettings::from_toml_file(path) {
                Ok(f) => out.entries.extend(f.entries),
                Err(e) => errors.extend(e.0),
            }
        }
        for s in sets {
            match parse_set(s.as_ref()) {
                Ok((name, value)) => out.push(name, RawValue::Text(value), Source::Explicit),
                Err(e) => errors.push(e),
            }
        }
        ConfigErrors::check(errors).map(|()| out)
    }

    /// Reads a TOML settings file: a flat table `name = value`.
    pub fn from_toml_file(path: &Path) -> Result<ExplicitSettings, ConfigErrors> {
        let text = std::fs::read_to_string(path).map_err(|e| ConfigError::File {
            path: path.to_owned(),
            reason: e.to_string(),
        })?;
        ExplicitSettings::from_toml_str(&text, path)
    }

    /// Reads TOML text as the settings file `path` (named in errors).
    pub fn from_toml_str(text: &str, path: &Path) -> Result<ExplicitSettings, ConfigErrors> {
        let table: toml::Table = text
            .parse()
            .map_err(|e: toml::de::Error| ConfigError::File {
                path: path.to_owned(),
                reason: e.to_string().trim_end().to_owned(),
            })?;
        let mut out = ExplicitSettings::new();
        let mut errors = Vec::new();
        for (name, value) in table {
            if value.is_table() {
                errors.push(ConfigError::InvalidValue {
                    name,
                    value: value.to_string(),
                    origin: Source::File(path.to_owned()),
                    reason: "a table is not a setting value (the file is a flat name = value list)"
                        .into(),
                });
                continue;
            }
            out.push(name, RawValue::Toml(value), Source::File(path.to_owned()));
        }
        ConfigErrors::check(errors).map(|()| out)
    }

    /// Adds a setting given as text (like `--set`).
    pub fn set(mut self, name: impl Into<String>, text: impl Into<String>) -> ExplicitSettings {
        self.push(name.into(), RawValue::Text(text.into()), Source::Explicit);
        self
    }

    /// Adds a typed setting.
    pub fn set_value(
        mut self,
        name: impl Into<String>,
        value: impl Into<ConfigValue>,
    ) -> ExplicitSettings {
        self.push(name.into(), RawValue::Value(value.into()), Source::Explicit);
        self
    }

    /// Adds `name` from `source`, replacing an earlier entry of the same name.
    pub fn push(&mut self, name: String, raw: RawValue, source: Source) {
        self.entries.retain(|e| e.name != name);
        self.entries.push(Explicit { name, raw, source });
    }

    pub fn get(&self, name: &str) -> Option<&Explicit> {
        self.entries.iter().find(|e| e.name == name)
    }

    /// Gives `name` the value `text` (read like `--set`) when neither an explicit setting nor
    /// `ROOKERY_<NAME>` gives one: a command's own default, shown as coming from `command`
    /// (`rookery http`). A later call for the same name replaces an earlier one.
    pub fn fallback_to(
        mut self,
        name: impl Into<String>,
        text: impl Into<String>,
        command: impl Into<String>,
    ) -> ExplicitSettings {
        let name = name.into();
        self.fallbacks.retain(|e| e.name != name);
        self.fallbacks.push(Explicit {
            name,
            raw: RawValue::Text(text.into()),
            source: Source::CommandDefault(command.into()),
        });
        self
    }

    /// The command's own default for `name`, if it gives one.
    pub fn fallback(&self, name: &str) -> Option<&Explicit> {
        self.fallbacks.iter().find(|e| e.name == name)
    }

    /// The explicit settings (not the command's defaults).
    pub fn iter(&self) -> impl Iterator<Item = &Explicit> {
        self.entries.iter()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}
