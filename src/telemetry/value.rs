//! Measurement and metadata values.
//!
//! Erlang passes maps of arbitrary terms. On the hot path Rookery passes a borrowed slice of
//! `(key, value)` pairs built on the stack, which costs a few nanoseconds where a `HashMap` or a
//! `serde_json::Value` map costs tens. Keys and strings are
//! [`SmolStr`]: a `&'static str` or a short string costs no allocation, and cloning is cheap.

use std::fmt;
use std::sync::Arc;

use serde::de::{self, MapAccess, SeqAccess, Visitor};
use serde::ser::{SerializeMap, SerializeSeq};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use smol_str::SmolStr;

/// A map key, e.g. `"count"` or `"name"`.
pub type Key = SmolStr;

/// One `(key, value)` pair of measurements or metadata.
pub type Field = (Key, Value);

/// A telemetry value: what an Erlang term becomes on the Rust side.
///
/// Atoms and binaries are both strings (`infinity` is the string `"infinity"`); pids, refs and
/// other opaque terms arrive from Amoc logs as strings too. `Null` only comes from JSON input.
#[derive(Clone, Debug, PartialEq, Default)]
pub enum Value {
    #[default]
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(SmolStr),
    List(Arc<[Value]>),
    Map(Arc<[Field]>),
}

impl Value {
    /// A string value from a `&'static str` without allocating.
    pub const fn atom(s: &'static str) -> Value {
        Value::Str(SmolStr::new_static(s))
    }

    pub fn as_i64(&self) -> Option<i64> {
        match self {
            Value::Int(i) => Some(*i),
            Value::Float(f) if f.fract() == 0.0 && f.is_finite() => Some(*f as i64),
            _ => None,
        }
    }

    pub fn as_f64(&self) -> Option<f64> {
        match self {
            Value::Int(i) => Some(*i as f64),
            Value::Float(f) => Some(*f),
            _ => None,
        }
    }

    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::Str(s) => Some(s),
            _ => None,
        }
    }

    pub fn as_list(&self) -> Option<&[Value]> {
        match self {
            Value::List(l) => Some(l),
            _ => None,
        }
    }

    pub fn as_map(&self) -> Option<&[Field]> {
        match self {
            Value::Map(m) => Some(m),
            _ => None,
        }
    }

    /// A list from any iterator of values.
    pub fn list<I: IntoIterator<Item = Value>>(items: I) -> Value {
        Value::List(items.into_iter().collect())
    }

    /// A map from `(key, value)` pairs.
    pub fn map<I: IntoIterator<Item = Field>>(items: I) -> Value {
        Value::Map(items.into_iter().collect())
    }
}

macro_rules! from_int {
    ($($t:ty),*) => {$(
        impl From<$t> for Value {
            fn from(v: $t) -> Value { Value::Int(v as i64) }
        }
    )*};
}
from_int!(i8, i16, i32, i64, u8, u16, u32, isize);

impl From<u64> for Value {
    fn from(v: u64) -> Value {
        i64::try_from(v).map_or(Value::Float(v as f64), Value::Int)
    }
}
impl From<usize> for Value {
    fn from(v: usize) -> Value {
        Value::from(v as u64)
    }
}
impl From<f64> for Value {
    fn from(v: f64) -> Value {
        Value::Float(v)
    }
}
impl From<bool> for Value {
    fn from(v: bool) -> Value {
        Value::Bool(v)
    }
}
impl From<&str> for Value {
    fn from(v: &str) -> Value {
        Value::Str(SmolStr::new(v))
    }
}
impl From<String> for Value {
    fn from(v: String) -> Value {
        Value::Str(SmolStr::from(v))
    }
}
impl From<SmolStr> for Value {
    fn from(v: SmolStr) -> Value {
        Value::Str(v)
    }
}
impl<T: Into<Value>> From<Vec<T>> for Value {
    fn from(v: Vec<T>) -> Value {
        Value::list(v.into_iter().map(Into::into))
    }
}
impl<T: Into<Value>> From<Option<T>> for Value {
    fn from(v: Option<T>) -> Value {
        v.map_or(Value::atom("undefined"), Into::into)
    }
}

/// Lookups on a slice of fields: `measurements.lookup("count")`, `metadata.get_str("name")`.
pub trait Fields {
    /// The value of `key`, if present (the first one wins).
    fn lookup(&self, key: &str) -> Option<&Value>;
    fn get_i64(&self, key: &str) -> Option<i64> {
        self.lookup(key).and_then(Value::as_i64)
    }
    fn get_f64(&self, key: &str) -> Option<f64> {
        self.lookup(key).and_then(Value::as_f64)
    }
    fn get_str(&self, key: &str) -> Option<&str> {
        self.lookup(key).and_then(Value::as_str)
    }
    fn has(&self, key: &str) -> bool {
        self.lookup(key).is_some()
    }
}

impl Fields for [Field] {
    #[inline]
    fn lookup(&self, key: &str) -> Option<&Value> {
        self.iter().find(|(k, _)| k == key).map(|(_, v)| v)
    }
}

impl Fields for Vec<Field> {
    #[inline]
    fn lookup(&self, key: &str) -> Option<&Value> {
        self.as_slice().lookup(key)
    }
}

/// Builds a `[Field; N]` array on the stack: `fields!{"count" => 1, "name" => name}`.
#[macro_export]
macro_rules! fields {
    () => { [] as [$crate::telemetry::Field; 0] };
    ($($k:literal => $v:expr),+ $(,)?) => {
        [$(($crate::telemetry::Key::new_static($k), $crate::telemetry::Value::from($v))),+]
    };
}

impl Serialize for Value {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Value::Null => s.serialize_unit(),
            Value::Bool(b) => s.serialize_bool(*b),
            Value::Int(i) => s.serialize_i64(*i),
            Value::Float(f) if f.is_finite() => s.serialize_f64(*f),
            Value::Float(f) if f.is_nan() => s.serialize_str("nan"),
            Value::Float(f) if *f > 0.0 => s.serialize_str("infinity"),
            Value::Float(_) => s.serialize_str("-infinity"),
            Value::Str(v) => s.serialize_str(v),
            Value::List(items) => {
                let mut seq = s.serialize_seq(Some(items.len()))?;
                for item in items.iter() {
                    seq.serialize_element(item)?;
                }
                seq.end()
            }
            Value::Map(fields) => serialize_fields(fields, s),
        }
    }
}

/// Serializes fields as a JSON object (later duplicates of a key are written too; readers keep
/// the first, as [`Fields::lookup`] does).
pub fn serialize_fields<S: Serializer>(fields: &[Field], s: S) -> Result<S::Ok, S::Error> {
    let mut map = s.serialize_map(Some(fields.len()))?;
    for (k, v) in fields {
        map.serialize_entry(k.as_str(), v)?;
    }
    map.end()
}

impl<'de> Deserialize<'de> for Value {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Value, D::Error> {
        d.deserialize_any(ValueVisitor)
    }
}

struct ValueVisitor;

impl<'de> Visitor<'de> for ValueVisitor {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON value")
    }
    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::Int(v))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::from(v))
    }
    fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
        Ok(Value::Float(v))
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Value, E> {
        Ok(Value::Str(SmolStr::new(v)))
    }
    fn visit_string<E: de::Error>(self, v: String) -> Result<Value, E> {
        Ok(Value::Str(SmolStr::from(v)))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(0));
        while let Some(item) = seq.next_element()? {
            items.push(item);
        }
        Ok(Value::List(items.into()))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        Ok(Value::Map(collect_fields(&mut map)?.into()))
    }
}

/// Reads a JSON object into fields, keeping the order of the input.
pub fn collect_fields<'de, A: MapAccess<'de>>(map: &mut A) -> Result<Vec<Field>, A::Error> {
    let mut fields = Vec::with_capacity(map.size_hint().unwrap_or(0));
    while let Some(k) = map.next_key::<std::borrow::Cow<'de, str>>()? {
        let v: Value = map.next_value()?;
        fields.push((SmolStr::new(k), v));
    }
    Ok(fields)
}

/// Deserializes a JSON object into `Vec<Field>` (for `#[serde(deserialize_with = ...)]`).
pub fn deserialize_fields<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<Field>, D::Error> {
    struct FieldsVisitor;
    impl<'de> Visitor<'de> for FieldsVisitor {
        type Value = Vec<Field>;
        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("a JSON object")
        }
        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Vec<Field>, A::Error> {
            collect_fields(&mut map)
        }
    }
    d.deserialize_map(FieldsVisitor)
}

impl fmt::Display for Value {
    /// Compact, human-oriented rendering (strings unquoted at the top level).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Str(s) => f.write_str(s),
            Value::Null => f.write_str("null"),
            Value::Bool(b) => write!(f, "{b}"),
            Value::Int(i) => write!(f, "{i}"),
            Value::Float(x) => write!(f, "{x}"),
            other => match serde_json::to_string(other) {
                Ok(s) => f.write_str(&s),
                Err(_) => f.write_str("?"),
            },
        }
    }
}
