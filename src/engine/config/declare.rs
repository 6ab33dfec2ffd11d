//! Declarations: what settings exist, with type, default, verification and update rule.

use std::fmt;
use std::sync::Arc;

use futures::future::BoxFuture;
use rustc_hash::FxHashMap;

use super::error::ConfigError;
use super::value::{ConfigValue, SettingType};

/// What a verification function decides (Amoc's `true | false | {true, New} | {false, R}`).
#[derive(Clone, Debug, PartialEq)]
pub enum Verdict {
    /// Keep the value.
    Accept,
    /// Keep this value instead (preprocessing); it must have the declared type.
    Replace(ConfigValue),
    /// Refuse the value, with a reason.
    Reject(String),
}

impl From<bool> for Verdict {
    fn from(ok: bool) -> Verdict {
        if ok {
            Verdict::Accept
        } else {
            Verdict::Reject("verification failed".into())
        }
    }
}

/// A verification function.
pub type VerifyFn = Arc<dyn Fn(&ConfigValue) -> Verdict + Send + Sync>;

/// How a value is checked, at start and on update.
#[derive(Clone, Default)]
pub enum Verification {
    /// Accept any value of the type.
    #[default]
    None,
    /// Accept only these values.
    OneOf(Vec<ConfigValue>),
    /// Ask a function, which may also replace the value.
    Function(VerifyFn),
}

impl fmt::Debug for Verification {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Verification::None => f.write_str("none"),
            Verification::OneOf(l) => write!(f, "one of {}", ConfigValue::List(l.clone())),
            Verification::Function(_) => f.write_str("function"),
        }
    }
}

/// An update function: called, in the background, with the name and the new value.
pub type UpdateFn = Arc<dyn Fn(&str, ConfigValue) -> BoxFuture<'static, ()> + Send + Sync>;

/// What happens when a running test changes the setting.
#[derive(Clone, Default)]
pub enum UpdateRule {
    /// Refused (Amoc's default).
    #[default]
    ReadOnly,
    /// Stored, nothing else (Amoc's `none`).
    Accept,
    /// Stored, then the function runs on a Tokio task.
    Function(UpdateFn),
    /// Stored, then the engine sets throttle `throttle` to the new value (an integer or
    /// `infinity`) per `interval_ms`, synchronously and in order, in
    /// `EngineHandle::update_settings`; a bare [`Config`](super::Config) outside an engine treats
    /// it like `Accept`.
    ThrottleRate { throttle: String, interval_ms: u64 },
}

impl UpdateRule {
    /// An update rule calling `f(name, new_value)` (on a Tokio task).
    pub fn call(f: impl Fn(&str, ConfigValue) + Send + Sync + 'static) -> UpdateRule {
        let f = Arc::new(f);
        UpdateRule::Function(Arc::new(move |name, v| {
            let f = f.clone();
            let name = name.to_owned();
            Box::pin(async move { f(&name, v) })
        }))
    }

    /// An update rule running the future `f(name, new_value)` on a Tokio task.
    pub fn call_async<F>(f: impl Fn(String, ConfigValue) -> F + Send + Sync + 'static) -> UpdateRule
    where
        F: Future<Output = ()> + Send + 'static,
    {
        UpdateRule::Function(Arc::new(move |name, v| Box::pin(f(name.to_owned(), v))))
    }

    /// A rate setting that drives a throttle: an update changes `throttle`'s rate to the new
    /// value per `interval_ms` (see [`UpdateRule::ThrottleRate`]).
    pub fn throttle_rate(throttle: impl Into<String>, interval_ms: u64) -> UpdateRule {
        UpdateRule::ThrottleRate {
            throttle: throttle.into(),
            interval_ms,
        }
    }

    /// `read-only`, `updatable` or `updatable (calls a function)`.
    pub fn describe(&self) -> &'static str {
        match self {
            UpdateRule::ReadOnly => "read-only",
            UpdateRule::Accept => "updatable",
            UpdateRule::Function(_) => "updatable (runs an update function)",
            UpdateRule::ThrottleRate { .. } => "updatable (changes a throttle's rate)",
        }
    }
}

impl fmt::Debug for UpdateRule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.describe())
    }
}

/// One declared setting. Build with [`Setting::new`] and the chained methods.
#[derive(Clone, Debug)]
pub struct Setting {
    pub name: String,
    pub description: String,
    pub ty: SettingType,
    /// `None`: no default (Amoc's `undefined`); reading it gives `None`.
    pub default: Option<ConfigValue>,
    pub verification: Verification,
    pub update: UpdateRule,
}

impl Setting {
    /// A string setting with no default, no verification, read-only.
    pub fn new(name: impl Into<String>, description: impl Into<String>) -> Setting {
        Setting {
            name: name.into(),
            description: description.into(),
            ty: SettingType::Str,
            default: None,
            verification: Verification::None,
            update: UpdateRule::ReadOnly,
        }
    }

    pub fn ty(mut self, ty: SettingType) -> Setting {
        self.ty = ty;
        self
    }

    pub fn default_value(mut self, v: impl Into<ConfigValue>) -> Setting {
        self.default = Some(v.into());
        self
    }

    /// Accept only these values.
    pub fn one_of<V: Into<ConfigValue>>(mut self, values: impl IntoIterator<Item = V>) -> Setting {
        self.verification = Verification::OneOf(values.into_iter().map(Into::into).collect());
        self
    }

    /// Verify with a function (which may replace the value).
    pub fn verify(
        mut self,
        f: impl Fn(&ConfigValue) -> Verdict + Send + Sync + 'static,
    ) -> Setting {
        self.verification = Verification::Function(Arc::new(f));
        self
    }

    pub fn update(mut self, rule: UpdateRule) -> Setting {
        self.update = rule;
        self
    }

    /// Check the declaration itself: default and one-of values must have the type.
    fn checked(mut self, declarer: &str) -> Result<Setting, ConfigError> {
        let bad = |reason: String| ConfigError::BadDeclaration {
            name: self.name.clone(),
            declarer: declarer.to_owned(),
            reason,
        };
        if self.name.is_empty() {
            return Err(bad("the name is empty".into()));
        }
        if let Some(d) = self.default.take() {
            self.default = Some(self.ty.check(d).map_err(|e| bad(format!("default: {e}")))?);
        }
        if let Verification::OneOf(list) = &self.verification {
            let checked = list
                .iter()
                .map(|v| self.ty.check(v.clone()))
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| bad(format!("one-of list: {e}")))?;
            self.verification = Verification::OneOf(checked);
        }
        Ok(self)
    }
}

/// A declared setting with who declared it.
#[derive(Clone, Debug)]
pub struct Declared {
    pub setting: Setting,
    /// The scenario's name, or the engine part (`controller` for `user_rate`).
    pub declarer: String,
}

/// Every declared setting, in declaration order.
#[derive(Clone, Debug, Default)]
pub struct Declarations {
    list: Vec<Declared>,
    index: FxHashMap<String, usize>,
}

impl Declarations {
    pub fn new() -> Declarations {
        Declarations::default()
    }

    /// Declares `setting` on behalf of `declarer`. A name already declared is an error naming
    /// both declarers; a default or one-of value of the wrong type is an error too.
    pub fn declare(&mut self, declarer: &str, setting: Setting) -> Result<(), ConfigError> {
        if let Some(&i) = self.index.get(&setting.name) {
            return Err(ConfigError::DuplicateDeclaration {
                name: setting.name,
                first: self.list[i].declarer.clone(),
                second: declarer.to_owned(),
            });
        }
        let setting = setting.checked(declarer)?;
        self.index.insert(setting.name.clone(), self.list.len());
        self.list.push(Declared {
            setting,
            declarer: declarer.to_owned(),
        });
        Ok(())
    }

    /// Declares several settings; every error is reported.
    pub fn declare_all(
        &mut self,
        declarer: &str,
        settings: impl IntoIterator<Item = Setting>,
    ) -> Result<(), super::ConfigErrors> {
        let errors: Vec<_> = settings
            .into_iter()
            .filter_map(|s| self.declare(declarer, s).err())
            .collect();
        super::ConfigErrors::check(errors)
    }

    pub fn get(&self, name: &str) -> Option<&Declared> {
        self.index.get(name).map(|&i| &self.list[i])
    }

    pub fn iter(&self) -> impl Iterator<Item = &Declared> {
        self.list.iter()
    }

    pub fn len(&self) -> usize {
        self.list.len()
    }

    pub fn is_empty(&self) -> bool {
        self.list.is_empty()
    }
}
