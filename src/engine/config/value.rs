//! Setting types and values, and parsing text and TOML into them.

use std::fmt;
use std::time::Duration;

use crate::telemetry::Value;

/// The declared type of a setting: how text (`--set`, environment) and TOML values are read.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum SettingType {
    /// A signed integer (`42`, `-3`).
    Int,
    /// A float (`0.5`, `3`).
    Float,
    /// `true` or `false`.
    Bool,
    /// Any text; surrounding double quotes are removed.
    Str,
    /// A duration with a unit: `ns`, `us`, `ms`, `s`, `m`, `h` (`250ms`, `2s`, `1.5m`).
    Duration,
    /// A rate: an integer `>= 0` or `infinity`.
    Rate,
    /// A list: `a,b,c` or `[a, b, c]` as text, an array in TOML.
    List(Box<SettingType>),
}

impl fmt::Display for SettingType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SettingType::Int => f.write_str("integer"),
            SettingType::Float => f.write_str("float"),
            SettingType::Bool => f.write_str("boolean"),
            SettingType::Str => f.write_str("string"),
            SettingType::Duration => f.write_str("duration"),
            SettingType::Rate => f.write_str("rate (integer >= 0 or infinity)"),
            SettingType::List(t) => write!(f, "list of {t}"),
        }
    }
}

/// A setting's value.
#[derive(Clone, Debug, PartialEq)]
pub enum ConfigValue {
    Int(i64),
    Float(f64),
    Bool(bool),
    Str(String),
    Duration(Duration),
    List(Vec<ConfigValue>),
    /// The unbounded rate.
    Infinity,
}

impl ConfigValue {
    pub fn as_i64(&self) -> Option<i64> {
        match self {
            ConfigValue::Int(i) => Some(*i),
            _ => None,
        }
    }

    pub fn as_f64(&self) -> Option<f64> {
        match self {
            ConfigValue::Float(f) => Some(*f),
            ConfigValue::Int(i) => Some(*i as f64),
            _ => None,
        }
    }

    pub fn as_bool(&self) -> Option<bool> {
        match self {
            ConfigValue::Bool(b) => Some(*b),
            _ => None,
        }
    }

    pub fn as_str(&self) -> Option<&str> {
        match self {
            ConfigValue::Str(s) => Some(s),
            _ => None,
        }
    }

    pub fn as_duration(&self) -> Option<Duration> {
        match self {
            ConfigValue::Duration(d) => Some(*d),
            _ => None,
        }
    }

    pub fn as_list(&self) -> Option<&[ConfigValue]> {
        match self {
            ConfigValue::List(l) => Some(l),
            _ => None,
        }
    }

    /// A rate: `Some(Some(n))` for `n`, `Some(None)` for infinity.
    pub fn as_rate(&self) -> Option<Option<u64>> {
        match self {
            ConfigValue::Infinity => Some(None),
            ConfigValue::Int(i) => u64::try_from(*i).ok().map(Some),
            _ => None,
        }
    }

    /// The value as telemetry metadata (durations and infinity as their text).
    pub fn to_value(&self) -> Value {
        match self {
            ConfigValue::Int(i) => Value::Int(*i),
            ConfigValue::Float(f) => Value::Float(*f),
            ConfigValue::Bool(b) => Value::Bool(*b),
            ConfigValue::Str(s) => Value::from(s.as_str()),
            ConfigValue::Duration(_) => Value::from(self.to_string()),
            ConfigValue::List(l) => Value::list(l.iter().map(ConfigValue::to_value)),
            ConfigValue::Infinity => Value::atom("infinity"),
        }
    }
}

impl From<i64> for ConfigValue {
    fn from(v: i64) -> Self {
        ConfigValue::Int(v)
    }
}
impl From<f64> for ConfigValue {
    fn from(v: f64) -> Self {
        ConfigValue::Float(v)
    }
}
impl From<bool> for ConfigValue {
    fn from(v: bool) -> Self {
        ConfigValue::Bool(v)
    }
}
impl From<&str> for ConfigValue {
    fn from(v: &str) -> Self {
        ConfigValue::Str(v.to_owned())
    }
}
impl From<String> for ConfigValue {
    fn from(v: String) -> Self {
        ConfigValue::Str(v)
    }
}
impl From<Duration> for ConfigValue {
    fn from(v: Duration) -> Self {
        ConfigValue::Duration(v)
    }
}
impl<T: Into<ConfigValue>> From<Vec<T>> for ConfigValue {
    fn from(v: Vec<T>) -> Self {
        ConfigValue::List(v.into_iter().map(Into::into).collect())
    }
}

fn fmt_duration(d: Duration, f: &mut fmt::Formatter<'_>) -> fmt::Result {
    let ns = d.as_nanos();
    for (unit, size) in [
        ("h", 3_600_000_000_000u128),
        ("m", 60_000_000_000),
        ("s", 1_000_000_000),
        ("ms", 1_000_000),
        ("us", 1_000),
    ] {
        if ns != 0 && ns.is_multiple_of(size) {
            return write!(f, "{}{unit}", ns / size);
        }
    }
    write!(f, "{ns}ns")
}

impl fmt::Display for ConfigValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConfigValue::Int(i) => write!(f, "{i}"),
            ConfigValue::Float(x) => write!(f, "{x:?}"),
            ConfigValue::Bool(b) => write!(f, "{b}"),
            ConfigValue::Str(s) => write!(f, "{s:?}"),
            ConfigValue::Duration(d) => fmt_duration(*d, f),
            ConfigValue::Infinity => f.write_str("infinity"),
            ConfigValue::List(l) => {
                f.write_str("[")?;
                for (i, v) in l.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{v}")?;
                }
                f.write_str("]")
            }
        }
    }
}

/// Parses a duration such as `250ms`, `2s`, `1.5m`, `0`.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let t = text.trim();
    if t == "0" {
        return Ok(Duration::ZERO);
    }
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .ok_or_else(|| format!("{t:?} has no unit (use ns, us, ms, s, m or h, e.g. 250ms)"))?;
    let (num, unit) = t.split_at(split);
    let n: f64 = num
        .parse()
        .map_err(|_| format!("{t:?} does not start with a number"))?;
    let secs = match unit.trim() {
        "ns" => 1e-9,
        "us" | "µs" => 1e-6,
        "ms" => 1e-3,
        "s" => 1.0,
        "m" | "min" => 60.0,
        "h" => 3600.0,
        u => {
            return Err(format!(
                "unknown unit {u:?} in {t:?} (use ns, us, ms, s, m or h)"
            ));
        }
    };
    Duration::try_from_secs_f64(n * secs).map_err(|e| format!("{t:?}: {e}"))
}

fn split_list(text: &str) -> Vec<&str> {
    let t = text.trim();
    let t = t
        .strip_prefix('[')
        .and_then(|s| s.strip_suffix(']'))
        .unwrap_or(t)
        .trim();
    if t.is_empty() {
        return Vec::new();
    }
    t.split(',').map(str::trim).collect()
}

impl SettingType {
    /// Reads `text` as a value of this type (`--set`, environment variables).
    pub fn parse(&self, text: &str) -> Result<ConfigValue, String> {
        let t = text.trim();
        match self {
            SettingType::Int => t
                .parse()
                .map(ConfigValue::Int)
                .map_err(|_| format!("{t:?} is not an integer")),
            SettingType::Float => t
                .parse()
                .map(ConfigValue::Float)
                .map_err(|_| format!("{t:?} is not a number")),
            SettingType::Bool => match t.to_ascii_lowercase().as_str() {
                "true" => Ok(ConfigValue::Bool(true)),
                "false" => Ok(ConfigValue::Bool(false)),
                _ => Err(format!("{t:?} is not true or false")),
            },
            SettingType::Str => {
                let s = text
                    .strip_prefix('"')
                    .and_then(|s| s.strip_suffix('"'))
                    .unwrap_or(text);
                Ok(ConfigValue::Str(s.to_owned()))
            }
            SettingType::Duration => parse_duration(t).map(ConfigValue::Duration),
            SettingType::Rate => {
                if t.eq_ignore_ascii_case("infinity") {
                    return Ok(ConfigValue::Infinity);
                }
                t.parse::<u64>()
                    .ok()
                    .and_then(|n| i64::try_from(n).ok())
                    .map(ConfigValue::Int)
                    .ok_or_else(|| format!("{t:?} is not an integer >= 0 or infinity"))
            }
            SettingType::List(inner) => split_list(t)
                .into_iter()
                .enumerate()
                .map(|(i, item)| inner.parse(item).map_err(|e| format!("item {i}: {e}")))
                .collect::<Result<_, _>>()
                .map(ConfigValue::List),
        }
    }

    /// Reads a TOML value as a value of this type; strings are parsed as text.
    pub fn read_toml(&self, value: &toml::Value) -> Result<ConfigValue, String> {
        use toml::Value as T;
        match (self, value) {
            (SettingType::Str, T::String(s)) => Ok(ConfigValue::Str(s.clone())),
            (_, T::String(s)) => self.parse(s),
            (SettingType::Int, T::Integer(i)) => Ok(ConfigValue::Int(*i)),
            (SettingType::Float, T::Integer(i)) => Ok(ConfigValue::Float(*i as f64)),
            (SettingType::Float, T::Float(x)) => Ok(ConfigValue::Float(*x)),
            (SettingType::Bool, T::Boolean(b)) => Ok(ConfigValue::Bool(*b)),
            (SettingType::Rate, T::Integer(i)) if *i >= 0 => Ok(ConfigValue::Int(*i)),
            (SettingType::Duration, T::Integer(_) | T::Float(_)) => Err(format!(
                "{value} has no unit (write a string such as \"250ms\")"
            )),
            (SettingType::List(inner), T::Array(items)) => items
                .iter()
                .enumerate()
                .map(|(i, v)| inner.read_toml(v).map_err(|e| format!("item {i}: {e}")))
                .collect::<Result<_, _>>()
                .map(ConfigValue::List),
            _ => Err(format!("{value} is not a {self}")),
        }
    }

    /// Checks that `value` has this type, turning integers into floats for a float setting.
    pub fn check(&self, value: ConfigValue) -> Result<ConfigValue, String> {
        match (self, value) {
            (SettingType::Int, v @ ConfigValue::Int(_))
            | (SettingType::Float, v @ ConfigValue::Float(_))
            | (SettingType::Bool, v @ ConfigValue::Bool(_))
            | (SettingType::Str, v @ ConfigValue::Str(_))
            | (SettingType::Duration, v @ ConfigValue::Duration(_))
            | (SettingType::Rate, v @ ConfigValue::Infinity) => Ok(v),
            (SettingType::Float, ConfigValue::Int(i)) => Ok(ConfigValue::Float(i as f64)),
            (SettingType::Rate, ConfigValue::Int(i)) if i >= 0 => Ok(ConfigValue::Int(i)),
            (SettingType::List(inner), ConfigValue::List(items)) => items
                .into_iter()
                .map(|v| inner.check(v))
                .collect::<Result<_, _>>()
                .map(ConfigValue::List),
            (_, v) => Err(format!("{v} is not a {self}")),
        }
    }
}
