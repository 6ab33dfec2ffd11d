//! Configuration errors; each names the setting (and the file, for the settings file).

use std::fmt;
use std::path::PathBuf;

/// Where a value came from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Source {
    /// `--set name=value` (or a live update).
    Explicit,
    /// The TOML settings file.
    File(PathBuf),
    /// The environment variable with this name.
    Env(String),
    /// A default the command itself gives, below `--set`, the file and the environment
    /// (`rookery http` starts every user at once: `user_rate` infinity). Holds the command.
    CommandDefault(String),
    /// The declared default.
    Default,
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Source::Explicit => f.write_str("--set"),
            Source::File(p) => write!(f, "settings file {}", p.display()),
            Source::Env(v) => write!(f, "environment variable {v}"),
            Source::CommandDefault(c) => write!(f, "{c} default"),
            Source::Default => f.write_str("default"),
        }
    }
}

/// One configuration problem.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    #[error("setting {name:?} is declared twice: by {first} and by {second}")]
    DuplicateDeclaration {
        name: String,
        first: String,
        second: String,
    },
    #[error("setting {name:?} declared by {declarer}: {reason}")]
    BadDeclaration {
        name: String,
        declarer: String,
        reason: String,
    },
    #[error("setting {name:?} (from {origin}) is not declared by the scenario or the engine")]
    Undefined { name: String, origin: Source },
    #[error("setting {name:?} (from {origin}): cannot read {value:?}: {reason}")]
    InvalidValue {
        name: String,
        value: String,
        origin: Source,
        reason: String,
    },
    #[error("setting {name:?} (from {origin}): value {value} refused: {reason}")]
    VerificationFailed {
        name: String,
        value: String,
        origin: Source,
        reason: String,
    },
    #[error(
        "setting {name:?} (from {origin}): the verification function of {value} returned an invalid value: {reason}"
    )]
    InvalidVerificationReturn {
        name: String,
        value: String,
        origin: Source,
        reason: String,
    },
    #[error(
        "setting {name:?} (from {origin}): the verification function of {value} panicked: {message}"
    )]
    VerificationPanicked {
        name: String,
        value: String,
        origin: Source,
        message: String,
    },
    #[error("setting {name:?} (declared by {declarer}) is read-only")]
    ReadOnly { name: String, declarer: String },
    #[error("setting {name:?} is not declared")]
    Undeclared { name: String },
    #[error("--set {arg:?}: expected name=value")]
    BadSetArgument { arg: String },
    #[error("settings file {}: {reason}", path.display())]
    File { path: PathBuf, reason: String },
    #[error("setting {name:?}: its update function needs a Tokio runtime")]
    NoRuntime { name: String },
}

impl ConfigError {
    /// The setting this error is about, if any.
    pub fn setting(&self) -> Option<&str> {
        match self {
            ConfigError::DuplicateDeclaration { name, .. }
            | ConfigError::BadDeclaration { name, .. }
            | ConfigError::Undefined { name, .. }
            | ConfigError::InvalidValue { name, .. }
            | ConfigError::VerificationFailed { name, .. }
            | ConfigError::InvalidVerificationReturn { name, .. }
            | ConfigError::VerificationPanicked { name, .. }
            | ConfigError::ReadOnly { name, .. }
            | ConfigError::Undeclared { name }
            | ConfigError::NoRuntime { name } => Some(name),
            ConfigError::BadSetArgument { .. } | ConfigError::File { .. } => None,
        }
    }
}

/// Every problem found at once (Amoc collects the errors of all parameters).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigErrors(pub Vec<ConfigError>);

impl ConfigErrors {
    /// `Ok` when there is no error.
    pub fn check(errors: Vec<ConfigError>) -> Result<(), ConfigErrors> {
        if errors.is_empty() {
            Ok(())
        } else {
            Err(ConfigErrors(errors))
        }
    }

    pub fn iter(&self) -> impl Iterator<Item = &ConfigError> {
        self.0.iter()
    }
}

impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0.as_slice() {
            [one] => write!(f, "{one}"),
            many => {
                write!(f, "{} configuration errors:", many.len())?;
                for e in many {
                    write!(f, "\n  {e}")?;
                }
                Ok(())
            }
        }
    }
}

impl std::error::Error for ConfigErrors {}

impl From<ConfigError> for ConfigErrors {
    fn from(e: ConfigError) -> Self {
        ConfigErrors(vec![e])
    }
}
