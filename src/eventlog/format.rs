//! Event-log format v1 (README, "Event logs"): one header line, then one JSON event per line.
//!
//! ```text
//! {"rookery_log":1,"started_at":"2026-11-21T10:00:00.123456Z","source":"rookery 0.1.0"}
//! {"t_us":1520,"node":"node1","event":["amoc","throttle","rate"],"measurements":{"rate":600},"metadata":{"name":"m"}}
//! ```
//!
//! [`parse_event`] and [`parse_header`] never panic, whatever the bytes (a fuzz target and a
//! property test check it). [`write_event`] writes a line by hand around serde for values.

use std::fmt;

use chrono::{DateTime, SecondsFormat, Utc};
use serde::Deserializer;
use serde::de::{self, DeserializeSeed, IgnoredAny, MapAccess, SeqAccess, Visitor};
use smallvec::SmallVec;
use smol_str::SmolStr;

use super::LoggedEvent;
use super::names::{LogNames, name_from_thread};

use crate::telemetry::{EventName, Field, Key, Value};

/// The format version this build writes and the newest it reads.
pub const FORMAT_VERSION: u64 = 1;

/// The first line of a log.
#[derive(Clone, Debug, PartialEq)]
pub struct Header {
    pub version: u64,
    /// `t_us = 0` of the log's events.
    pub started_at: DateTime<Utc>,
    /// Who wrote it, e.g. `rookery 0.1.0`.
    pub source: Option<String>,
}

impl Header {
    /// A v1 header for a log written by this build, starting at `started_at`.
    pub fn new(started_at: DateTime<Utc>) -> Header {
        Header {
            version: FORMAT_VERSION,
            started_at,
            source: Some(format!("rookery {}", env!("CARGO_PKG_VERSION"))),
        }
    }

    /// The header line, without the newline.
    pub fn to_line(&self) -> String {
        let mut s = format!(
            "{{\"rookery_log\":{},\"started_at\":\"{}\"",
            self.version,
            self.started_at.to_rfc3339_opts(SecondsFormat::Micros, true)
        );
        if let Some(src) = &self.source {
            s.push_str(",\"source\":");
            s.push_str(&serde_json::to_string(src).unwrap_or_else(|_| "\"?\"".into()));
        }
        s.push('}');
        s
    }
}

/// Why one line could not be read.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum LineError {
    /// Not valid JSON (or not UTF-8).
    #[error("malformed line: {0}")]
    Malformed(String),
    /// Valid JSON, but not an event (or not a header, on line 1).
    #[error("not an event: {0}")]
    NotAnEvent(String),
    /// A header with a `rookery_log` version newer than this build reads.
    #[error(
        "event-log format version {0} is newer than this rookery reads (version {FORMAT_VERSION}); upgrade rookery"
    )]
    NewerVersion(u64),
    /// Line 1 is not a header.
    #[error("missing header (line 1 must be {{\"rookery_log\":1,\"started_at\":...}}): {0}")]
    MissingHeader(String),
}

/// Parses the header line.
pub fn parse_header(line: &[u8]) -> Result<Header, LineError> {
    #[derive(serde::Deserialize)]
    struct Raw {
        rookery_log: Option<serde_json::Value>,
        started_at: Option<String>,
        source: Option<String>,
    }
    let raw: Raw = serde_json::from_slice(line).map_err(|e| {
        if e.is_data() {
            LineError::MissingHeader(e.to_string())
        } else {
            LineError::MissingHeader(format!("not JSON ({e})"))
        }
    })?;
    let version = match raw.rookery_log {
        Some(v) => v.as_u64().ok_or_else(|| {
            LineError::MissingHeader(format!("rookery_log is {v}, not a version number"))
        })?,
        None => return Err(LineError::MissingHeader("no \"rookery_log\" key".into())),
    };
    if version > FORMAT_VERSION {
        return Err(LineError::NewerVersion(version));
    }
    if version == 0 {
        return Err(LineError::MissingHeader("rookery_log version 0".into()));
    }
    let started = raw
        .started_at
        .ok_or_else(|| LineError::MissingHeader("no \"started_at\" key".into()))?;
    let started_at = DateTime::parse_from_rfc3339(&started)
        .map_err(|e| LineError::MissingHeader(format!("started_at {started:?}: {e}")))?
        .with_timezone(&Utc);
    Ok(Header {
        version,
        started_at,
        source: raw.source,
    })
}

/// Parses one event line (without its newline).
pub fn parse_event(line: &[u8]) -> Result<LoggedEvent, LineError> {
    let mut ev = LoggedEvent::placeholder();
    parse_event_into(line, &mut ev)?;
    Ok(ev)
}

/// [`parse_event`] into an existing event, reusing its buffers. On error `out` holds partial
/// data. The name comes from a small table of this thread's (see [`parse_event_with`]).
pub fn parse_event_into(line: &[u8], out: &mut LoggedEvent) -> Result<(), LineError> {
    parse_line(line, out, None)
}

/// [`parse_event_into`] with the names from `names`, the table of one reader (the reader's fast
/// path): the names live as long as the table and the events that hold them.
pub fn parse_event_with(
    line: &[u8],
    out: &mut LoggedEvent,
    names: &mut LogNames,
) -> Result<(), LineError> {
    parse_line(line, out, Some(names))
}

fn parse_line(
    line: &[u8],
    out: &mut LoggedEvent,
    names: Option<&mut LogNames>,
) -> Result<(), LineError> {
    // One SIMD-fast UTF-8 check for the whole line, so strings need none one by one.
    let line =
        std::str::from_utf8(line).map_err(|e| LineError::Malformed(format!("not UTF-8: {e}")))?;
    out.measurements.clear();
    out.metadata.clear();
    let mut de = serde_json::Deserializer::from_str(line);
    let visitor = LineVisitor {
        m: &mut out.measurements,
        md: &mut out.metadata,
        names,
    };
    let raw = match (&mut de).deserialize_map(visitor) {
        Ok(r) => r,
        Err(e) if e.is_data() => return Err(LineError::NotAnEvent(e.to_string())),
        Err(e) => return Err(LineError::Malformed(e.to_string())),
    };
    if let Err(e) = de.end() {
        return Err(LineError::Malformed(e.to_string()));
    }
    if raw.header {
        return Err(LineError::NotAnEvent(
            "a header line where an event was expected".into(),
        ));
    }
    if let Some(e) = raw.bad_event {
        return Err(LineError::NotAnEvent(e));
    }
    let Some(name) = raw.event else {
        return Err(LineError::NotAnEvent("no \"event\" key".into()));
    };
    let Some(t_us) = raw.t_us else {
        return Err(LineError::NotAnEvent("no \"t_us\" key".into()));
    };
    out.t_us = t_us;
    out.node = raw.node;
    out.name = name;
    Ok(())
}

#[derive(Default)]
struct RawLine {
    t_us: Option<u64>,
    node: Option<SmolStr>,
    event: Option<EventName>,
    bad_event: Option<String>,
    header: bool,
}

struct LineVisitor<'a> {
    m: &'a mut Vec<Field>,
    md: &'a mut Vec<Field>,
    names: Option<&'a mut LogNames>,
}

impl<'de> Visitor<'de> for LineVisitor<'_> {
    type Value = RawLine;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an event object")
    }

    fn visit_map<A: MapAccess<'de>>(mut self, mut map: A) -> Result<RawLine, A::Error> {
        let mut raw = RawLine::default();
        while let Some(key) = map.next_key::<std::borrow::Cow<'de, str>>()? {
            match &*key {
                "t_us" => raw.t_us = Some(map.next_value()?),
                "node" => {
                    raw.node = map
                        .next_value::<Option<std::borrow::Cow<'de, str>>>()?
                        .map(SmolStr::new)
                }
                "event" => match map.next_value_seed(NameSeed(self.names.as_deref_mut()))? {
                    Ok(n) => raw.event = Some(n),
                    Err(e) => raw.bad_event = Some(e),
                },
                "measurements" => map.next_value_seed(FieldsSeed(&mut *self.m))?,
                "metadata" => map.next_value_seed(FieldsSeed(&mut *self.md))?,
                "rookery_log" => {
                    map.next_value::<IgnoredAny>()?;
                    raw.header = true;
                }
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(raw)
    }
}

/// An object into a fields buffer (cleared first, capacity reused).
struct FieldsSeed<'a>(&'a mut Vec<Field>);

impl<'de> DeserializeSeed<'de> for FieldsSeed<'_> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        struct V<'a>(&'a mut Vec<Field>);
        impl<'de> Visitor<'de> for V<'_> {
            type Value = ();
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("an object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
                self.0.clear();
                while let Some(k) = map.next_key::<std::borrow::Cow<'de, str>>()? {
                    let v: Value = map.next_value()?;
                    self.0.push((key(&k), v));
                }
                Ok(())
            }
            // Amoc writes an empty map as `[]` in some places; accept an empty list.
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
                match seq.next_element::<IgnoredAny>()? {
                    None => {
                        self.0.clear();
                        Ok(())
                    }
                    Some(_) => Err(de::Error::custom("expected an object, found a list")),
                }
            }
        }
        d.deserialize_any(V(self.0))
    }
}

/// A key, without copying the common ones (a static key is a pointer).
#[inline]
fn key(k: &str) -> Key {
    macro_rules! known {
        ($($s:literal),*) => {
            match k {
                $($s => Key::new_static($s),)*
                _ => Key::new(k),
            }
        };
    }
    known!(
        "count",
        "name",
        "monotonic_time",
        "system_time",
        "duration",
        "rate",
        "interval",
        "scenario",
        "user_id",
        "state",
        "type",
        "event",
        "configured",
        "log_level",
        "msg",
        "telemetry_span_context",
        "return",
        "kind",
        "reason",
        "stacktrace",
        "nodes",
        "setting",
        "self",
        "node",
        "value"
    )
}

/// Reads `event`: a non-empty array of valid segments, named from a reader's table (or the
/// thread's, with `None`). A bad name is reported as an inner `Err` so the line is "not an
/// event" rather than malformed JSON.
struct NameSeed<'a>(Option<&'a mut LogNames>);

impl<'de> DeserializeSeed<'de> for NameSeed<'_> {
    type Value = Result<EventName, String>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        struct V<'a>(Option<&'a mut LogNames>);
        impl<'de> Visitor<'de> for V<'_> {
            type Value = Result<EventName, String>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("an array of strings")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
                let mut parts: SmallVec<[std::borrow::Cow<'de, str>; 6]> = SmallVec::new();
                while let Some(p) = seq.next_element::<std::borrow::Cow<'de, str>>()? {
                    parts.push(p);
                }
                Ok(match self.0 {
                    Some(table) => table.get(&parts),
                    None => name_from_thread(&parts),
                })
            }
        }
        d.deserialize_seq(V(self.0))
    }
}

/// Appends one event line (with its newline) to `out`. When `node` is given, a `node` key in
/// `metadata` is not repeated.
pub fn write_event(
    out: &mut Vec<u8>,
    t_us: u64,
    node: Option<&str>,
    name: &EventName,
    measurements: &[Field],
    metadata: &[Field],
) {
    out.extend_from_slice(b"{\"t_us\":");
    write_u64(out, t_us);
    if let Some(n) = node {
        out.extend_from_slice(b",\"node\":");
        write_str(out, n);
    }
    out.extend_from_slice(b",\"event\":");
    out.extend_from_slice(name.json().as_bytes());
    out.extend_from_slice(b",\"measurements\":");
    write_fields(out, measurements, None);
    out.extend_from_slice(b",\"metadata\":");
    write_fields(out, metadata, node.map(|_| "node"));
    out.extend_from_slice(b"}\n");
}

fn write_fields(out: &mut Vec<u8>, fields: &[Field], skip: Option<&str>) {
    out.push(b'{');
    let mut first = true;
    for (k, v) in fields {
        if skip == Some(k.as_str()) {
            continue;
        }
        if !first {
            out.push(b',');
        }
        first = false;
        write_str(out, k);
        out.push(b':');
        match v {
            crate::telemetry::Value::Int(i) => write_i64(out, *i),
            crate::telemetry::Value::Str(s) => write_str(out, s),
            other => {
                // Serializing a Value into a Vec cannot fail.
                let _ = serde_json::to_writer(&mut *out, other);
            }
        }
    }
    out.push(b'}');
}

fn write_u64(out: &mut Vec<u8>, mut n: u64) {
    let mut buf = [0u8; 20];
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    out.extend_from_slice(&buf[i..]);
}

fn write_i64(out: &mut Vec<u8>, n: i64) {
    if n < 0 {
        out.push(b'-');
    }
    write_u64(out, n.unsigned_abs());
}

/// A JSON string with the escapes JSON requires.
fn write_str(out: &mut Vec<u8>, s: &str) {
    out.push(b'"');
    let bytes = s.as_bytes();
    let mut start = 0;
    for (i, &b) in bytes.iter().enumerate() {
        let esc: &[u8] = match b {
            b'"' => b"\\\"",
            b'\\' => b"\\\\",
            b'\n' => b"\\n",
            b'\r' => b"\\r",
            b'\t' => b"\\t",
            0..=0x1f => b"",
            _ => continue,
        };
        out.extend_from_slice(&bytes[start..i]);
        if esc.is_empty() {
            const HEX: &[u8; 16] = b"0123456789abcdef";
            out.extend_from_slice(b"\\u00");
            out.push(HEX[(b >> 4) as usize]);
            out.push(HEX[(b & 0xf) as usize]);
        } else {
            out.extend_from_slice(esc);
        }
        start = i + 1;
    }
    out.extend_from_slice(&bytes[start..]);
    out.push(b'"');
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::telemetry::Fields;

    #[test]
    fn write_then_parse_round_trips() {
        let name = EventName::new(&["amoc", "throttle", "rate"]).unwrap();
        let m = crate::fields! {"rate" => "infinity", "x" => 1.5};
        let md =
            crate::fields! {"name" => "a\"b\n\u{1}", "node" => "n1", "n" => -3, "l" => vec![1, 2]};
        let mut out = Vec::new();
        write_event(&mut out, 42, Some("n1"), &name, &m, &md);
        assert_eq!(*out.last().unwrap(), b'\n');
        let ev = parse_event(&out[..out.len() - 1]).unwrap();
        assert_eq!(ev.t_us, 42);
        assert_eq!(ev.node.as_deref(), Some("n1"));
        assert_eq!(ev.name, name);
        assert_eq!(ev.measurements, m.to_vec());
        assert_eq!(ev.metadata.get_str("name"), Some("a\"b\n\u{1}"));
        assert!(
            !ev.metadata.has("node"),
            "node is written once, at the top level"
        );
        assert_eq!(ev.metadata.get_i64("n"), Some(-3));
        assert_eq!(
            ev.metadata.lookup("l"),
            Some(&Value::list([Value::Int(1), Value::Int(2)]))
        );
    }

    #[test]
    fn header_round_trips_and_newer_is_refused() {
        let h = Header::new(Utc::now());
        let parsed = parse_header(h.to_line().as_bytes()).unwrap();
        assert_eq!(parsed.version, 1);
        assert_eq!(
            parsed.started_at.timestamp_micros(),
            h.started_at.timestamp_micros()
        );
        let newer = br#"{"rookery_log":2,"started_at":"2026-11-21T10:00:00Z"}"#;
        assert_eq!(parse_header(newer), Err(LineError::NewerVersion(2)));
        assert!(matches!(
            parse_header(br#"{"t_us":1}"#),
            Err(LineError::MissingHeader(_))
        ));
    }

    #[test]
    fn bad_lines_are_classified() {
        assert!(matches!(
            parse_event(b"{\"t_us\":1,"),
            Err(LineError::Malformed(_))
        ));
        assert!(matches!(
            parse_event(b"[1,2]"),
            Err(LineError::NotAnEvent(_))
        ));
        assert!(matches!(
            parse_event(b"{\"t_us\":1}"),
            Err(LineError::NotAnEvent(_))
        ));
        assert!(matches!(
            parse_event(br#"{"t_us":1,"event":[]}"#),
            Err(LineError::NotAnEvent(_))
        ));
        assert!(matches!(
            parse_event(br#"{"t_us":-1,"event":["a"]}"#),
            Err(LineError::NotAnEvent(_))
        ));
        let ok = parse_event(br#"{"t_us":1,"event":["a"],"extra":{"x":[1]}}"#).unwrap();
        assert!(ok.node.is_none() && ok.measurements.is_empty());
    }
}
