//! Event names: non-empty lists of segments, interned once and compared by pointer.
//!
//! Erlang event names are lists of atoms, and atoms are interned by the VM. Rookery does the
//! same: an [`EventName`] is a `Copy` handle to a leaked, process-wide entry, so comparing two
//! names is a pointer comparison and dispatch can index handler tables by a dense id. Like atoms,
//! interned names are never freed; a process sees a bounded number of distinct event names.
//!
//! Names known at compile time are declared once with [`StaticName`] (or the [`event_name!`]
//! macro), which interns on first use and then costs one atomic load.
//!
//! [`event_name!`]: crate::event_name

use std::fmt;
use std::hash::{Hash, Hasher};
use std::sync::{Mutex, OnceLock, RwLock};

use rustc_hash::FxHashMap;

use super::TelemetryError;

/// One interned event name, e.g. `[amoc, throttle, rate]`.
#[derive(Clone, Copy)]
pub struct EventName(&'static Entry);

struct Entry {
    id: u32,
    segments: &'static [&'static str],
    dotted: &'static str,
    json: &'static str,
    /// `self ++ [start]`, `self ++ [stop]`, `self ++ [exception]`, built on first use by spans.
    span_names: OnceLock<[EventName; 3]>,
}

/// Separator for the interner's lookup key; it cannot appear in a segment we accept.
const KEY_SEP: char = '\u{1f}';

struct Interner {
    by_key: RwLock<FxHashMap<Box<str>, EventName>>,
    by_id: RwLock<Vec<EventName>>,
    /// Serialises inserts so ids are dense and each name is interned once.
    insert: Mutex<()>,
}

fn interner() -> &'static Interner {
    static INTERNER: OnceLock<Interner> = OnceLock::new();
    INTERNER.get_or_init(|| Interner {
        by_key: RwLock::new(FxHashMap::default()),
        by_id: RwLock::new(Vec::new()),
        insert: Mutex::new(()),
    })
}

fn lookup_key<S: AsRef<str>>(segments: &[S]) -> String {
    let mut key = String::new();
    for (i, s) in segments.iter().enumerate() {
        if i > 0 {
            key.push(KEY_SEP);
        }
        key.push_str(s.as_ref());
    }
    key
}

impl EventName {
    /// Interns `segments` and returns its handle. The list must be non-empty, and no segment may
    /// be empty or contain a control character (the `badarg` cases of Erlang's telemetry) or a
    /// `.` (the dotted form must name one event).
    pub fn new<S: AsRef<str>>(segments: &[S]) -> Result<EventName, TelemetryError> {
        validate(segments)?;
        Ok(Self::intern_unchecked(segments))
    }

    /// The name if it is interned already (never interns).
    pub(crate) fn find<S: AsRef<str>>(segments: &[S]) -> Option<EventName> {
        read(&interner().by_key)
            .get(lookup_key(segments).as_str())
            .copied()
    }

    /// Checks `segments` as [`new`](Self::new) does, without interning.
    pub fn validate<S: AsRef<str>>(segments: &[S]) -> Result<(), TelemetryError> {
        validate(segments)
    }

    /// `self ++ [segment]`.
    pub fn join(self, segment: &str) -> Result<EventName, TelemetryError> {
        let mut parts: Vec<&str> = self.segments().to_vec();
        parts.push(segment);
        EventName::new(&parts)
    }

    fn intern_unchecked<S: AsRef<str>>(segments: &[S]) -> EventName {
        let key = lookup_key(segments);
        let interner = interner();
        if let Some(found) = read(&interner.by_key).get(key.as_str()) {
            return *found;
        }
        let _guard = interner.insert.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(found) = read(&interner.by_key).get(key.as_str()) {
            return *found;
        }
        let owned: Vec<&'static str> = segments
            .iter()
            .map(|s| &*Box::leak(s.as_ref().to_owned().into_boxed_str()))
            .collect();
        let dotted: &'static str = Box::leak(owned.join(".").into_boxed_str());
        let json: &'static str = Box::leak(
            serde_json::to_string(&owned)
                .expect("a list of strings serializes")
                .into_boxed_str(),
        );
        let mut by_id = write(&interner.by_id);
        let id = u32::try_from(by_id.len()).expect("fewer than 2^32 distinct event names");
        let entry: &'static Entry = Box::leak(Box::new(Entry {
            id,
            segments: Box::leak(owned.into_boxed_slice()),
            dotted,
            json,
            span_names: OnceLock::new(),
        }));
        let name = EventName(entry);
        by_id.push(name);
        drop(by_id);
        // Registries notice the new name when it is first dispatched (see `dispatch.rs`).
        write(&interner.by_key).insert(key.into_boxed_str(), name);
        name
    }

    /// Every name interned so far, in id order.
    pub(crate) fn all() -> Vec<EventName> {
        read(&interner().by_id).clone()
    }

    /// The segments, e.g. `["amoc", "throttle", "rate"]`.
    pub fn segments(self) -> &'static [&'static str] {
        self.0.segments
    }

    /// The segments joined with `.`, as the summary JSON keys them: `amoc.throttle.rate`.
    pub fn dotted(self) -> &'static str {
        self.0.dotted
    }

    /// The name as a JSON array, ready to write into an event log.
    pub fn json(self) -> &'static str {
        self.0.json
    }

    /// A dense id, unique per name in this process (not stable across processes).
    pub fn id(self) -> u32 {
        self.0.id
    }

    /// True when `prefix` is a whole-segment prefix of this name (the empty prefix matches all).
    pub fn starts_with<S: AsRef<str>>(self, prefix: &[S]) -> bool {
        prefix.len() <= self.0.segments.len()
            && prefix
                .iter()
                .zip(self.0.segments)
                .all(|(p, s)| p.as_ref() == *s)
    }

    /// `[start, stop, exception]` children, used by spans.
    pub(crate) fn span_names(self) -> &'static [EventName; 3] {
        self.0.span_names.get_or_init(|| {
            let child = |s: &str| {
                let mut parts: Vec<&str> = self.0.segments.to_vec();
                parts.push(s);
                EventName::intern_unchecked(&parts)
            };
            [child("start"), child("stop"), child("exception")]
        })
    }
}

fn validate<S: AsRef<str>>(segments: &[S]) -> Result<(), TelemetryError> {
    if segments.is_empty() {
        return Err(TelemetryError::BadEventName(
            "an event name needs at least one segment".into(),
        ));
    }
    validate_prefix(segments)
}

/// A prefix may be empty, but its segments follow the same rules as a name's.
pub(crate) fn validate_prefix<S: AsRef<str>>(segments: &[S]) -> Result<(), TelemetryError> {
    for (i, s) in segments.iter().enumerate() {
        let s = s.as_ref();
        // A `.` would make two names share one dotted form (`["a.b"]` and `["a", "b"]`), the
        // key of the summary's `by_event`: refused, like an empty segment.
        if s.is_empty() || s.chars().any(|c| c.is_control() || c == '.') {
            return Err(TelemetryError::BadEventName(format!(
                "segment {} of {:?} is empty or has a control character or a `.`",
                i + 1,
                segments.iter().map(|s| s.as_ref()).collect::<Vec<_>>()
            )));
        }
    }
    Ok(())
}

fn read<T>(lock: &RwLock<T>) -> std::sync::RwLockReadGuard<'_, T> {
    lock.read().unwrap_or_else(|e| e.into_inner())
}

fn write<T>(lock: &RwLock<T>) -> std::sync::RwLockWriteGuard<'_, T> {
    lock.write().unwrap_or_else(|e| e.into_inner())
}

impl PartialEq for EventName {
    fn eq(&self, other: &Self) -> bool {
        std::ptr::eq(self.0, other.0)
    }
}
impl Eq for EventName {}

impl Hash for EventName {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.0.id.hash(state);
    }
}

impl PartialOrd for EventName {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

/// Names order by their segments, so sorted output is stable across runs.
impl Ord for EventName {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.0.segments.cmp(other.0.segments)
    }
}

impl fmt::Debug for EventName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "[{}]", self.0.segments.join(", "))
    }
}

impl fmt::Display for EventName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0.dotted)
    }
}

impl serde::Serialize for EventName {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(self.0.segments)
    }
}

impl<'de> serde::Deserialize<'de> for EventName {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let parts: Vec<std::borrow::Cow<'de, str>> = serde::Deserialize::deserialize(d)?;
        EventName::new(&parts).map_err(serde::de::Error::custom)
    }
}

/// A name known at compile time, interned on first use.
///
/// ```
/// use rookery::telemetry::StaticName;
/// static RATE: StaticName = StaticName::new(&["amoc", "throttle", "rate"]);
/// assert_eq!(RATE.get().dotted(), "amoc.throttle.rate");
/// ```
pub struct StaticName {
    segments: &'static [&'static str],
    cell: OnceLock<EventName>,
}

impl StaticName {
    /// Declares a name. It is checked when first used: an invalid static name is a programming
    /// error and panics there.
    pub const fn new(segments: &'static [&'static str]) -> Self {
        StaticName {
            segments,
            cell: OnceLock::new(),
        }
    }

    /// The interned name.
    #[inline]
    pub fn get(&self) -> EventName {
        *self
            .cell
            .get_or_init(|| match EventName::new(self.segments) {
                Ok(name) => name,
                Err(e) => panic!("invalid static event name {:?}: {e}", self.segments),
            })
    }
}

/// An interned [`EventName`] from literal segments, cached at the call site:
/// `event_name!("amoc", "throttle", "request")`.
#[macro_export]
macro_rules! event_name {
    ($($seg:literal),+ $(,)?) => {{
        static NAME: $crate::telemetry::StaticName =
            $crate::telemetry::StaticName::new(&[$($seg),+]);
        NAME.get()
    }};
}
