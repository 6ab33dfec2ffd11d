//! Event names: non-empty lists of segments, interned once and compared by pointer.
//!
//! Erlang event names are lists of atoms, and atoms are interned by the VM. Rookery does the
//! same: an [`EventName`] is a handle to a process-wide entry, so comparing two names is a
//! pointer comparison and dispatch can index handler tables by a dense id. There are two
//! lifetimes of entries:
//!
//! * **Permanent** names ([`EventName::new`], [`StaticName`], [`event_name!`]): the names the
//!   program emits. Like atoms they are never freed, and a handle costs nothing to clone or drop
//!   (one flag is read).
//! * **Scoped** names ([`EventName::scoped`]): names read from outside the program (event logs,
//!   a bridge, a cluster's batches). They are counted: the entry is freed, and its id reused,
//!   when the last handle drops: when the reader, replay or monitor state that held them is
//!   dropped. A scoped name that the program later asks for with [`EventName::new`] (or spans
//!   over) becomes permanent.
//!
//! Names known at compile time are declared once with [`StaticName`] (or the [`event_name!`]
//! macro), which interns on first use and then costs one atomic load.
//!
//! Because ids are reused, a table indexed by [`EventName::id`] that does not hold the names it
//! indexes must tell apart two names that had the same id: [`EventName::serial`] is unique per
//! entry for the life of the process (the handler registry keeps it beside each id).
//!
//! [`event_name!`]: crate::event_name

use std::fmt;
use std::hash::{Hash, Hasher};
use std::ptr::NonNull;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{OnceLock, RwLock};

use rustc_hash::FxHashMap;

use super::TelemetryError;

/// One interned event name, e.g. `[amoc, throttle, rate]`.
pub struct EventName(NonNull<Entry>);

// SAFETY: an entry is immutable but for its atomics and `OnceLock`, and it is freed only when
// no handle is left (see `release`), so handles may move and be shared between threads.
unsafe impl Send for EventName {}
// SAFETY: as above.
unsafe impl Sync for EventName {}

struct Entry {
    id: u32,
    serial: u64,
    /// Never freed and not counted (made by [`EventName::new`]).
    permanent: bool,
    /// Handles alive, for a scoped entry (permanent ones are not counted).
    refs: AtomicUsize,
    /// A scoped entry made permanent: it holds one handle of its own, never released.
    immortal: AtomicBool,
    /// Points into `dotted`: valid for as long as the entry.
    segments: Box<[&'static str]>,
    dotted: Box<str>,
    json: Box<str>,
    /// `self ++ [start]`, `self ++ [stop]`, `self ++ [exception]`, built on first use by spans.
    span_names: OnceLock<[EventName; 3]>,
}

/// Separator for the interner's lookup key; it cannot appear in a segment we accept.
const KEY_SEP: char = '\u{1f}';

/// An entry pointer that does not count as a handle (the interner's own references).
#[derive(Clone, Copy, PartialEq, Eq)]
struct Ptr(NonNull<Entry>);
// SAFETY: only dereferenced under the interner's lock, while the entry is alive.
unsafe impl Send for Ptr {}
// SAFETY: as above.
unsafe impl Sync for Ptr {}

#[derive(Default)]
struct Table {
    by_key: FxHashMap<Box<str>, Ptr>,
    /// Indexed by id; `None` for a freed id waiting in `free`.
    by_id: Vec<Option<Ptr>>,
    free: Vec<u32>,
    next_serial: u64,
    scoped_live: usize,
}

/// The interner. Entries are found and revived under the read lock and freed under the write
/// lock, so a lookup never returns an entry being freed.
fn table() -> &'static RwLock<Table> {
    static TABLE: OnceLock<RwLock<Table>> = OnceLock::new();
    TABLE.get_or_init(|| RwLock::new(Table::default()))
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

/// Lifetime of a new entry.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Permanent,
    Scoped,
}

impl Table {
    /// A new handle to the entry at `p`, or `None` if there is none.
    fn handle(p: Option<&Ptr>, kind: Kind) -> Option<EventName> {
        let p = *p?;
        // SAFETY: the entry is in the table, and the caller holds the table's lock: it is alive.
        let e = unsafe { p.0.as_ref() };
        if !e.permanent {
            e.refs.fetch_add(1, Ordering::Relaxed);
        }
        let name = EventName(p.0);
        if kind == Kind::Permanent {
            name.make_immortal();
        }
        Some(name)
    }
}

impl EventName {
    /// Interns `segments` for good (like an atom) and returns its handle. The list must be
    /// non-empty, and no segment may be empty or contain a control character (the `badarg`
    /// cases of Erlang's telemetry) or a `.` (the dotted form must name one event).
    pub fn new<S: AsRef<str>>(segments: &[S]) -> Result<EventName, TelemetryError> {
        validate(segments)?;
        Ok(Self::intern(segments, Kind::Permanent))
    }

    /// Interns `segments` for as long as a handle to it lives (checked as [`new`](Self::new)
    /// checks). A name already interned is returned as it is; a new one is freed, and its id
    /// reused, when its last handle drops. For names read from outside the program: they do not
    /// accumulate in a long-lived process.
    pub fn scoped<S: AsRef<str>>(segments: &[S]) -> Result<EventName, TelemetryError> {
        validate(segments)?;
        Ok(Self::intern(segments, Kind::Scoped))
    }

    /// The name if it is interned already (never interns).
    #[cfg(test)]
    fn find<S: AsRef<str>>(segments: &[S]) -> Option<EventName> {
        let t = read(table());
        Table::handle(t.by_key.get(lookup_key(segments).as_str()), Kind::Scoped)
    }

    /// Checks `segments` as [`new`](Self::new) does, without interning.
    pub fn validate<S: AsRef<str>>(segments: &[S]) -> Result<(), TelemetryError> {
        validate(segments)
    }

    /// `self ++ [segment]` (permanent).
    pub fn join(&self, segment: &str) -> Result<EventName, TelemetryError> {
        let mut parts: Vec<&str> = self.segments().to_vec();
        parts.push(segment);
        EventName::new(&parts)
    }

    fn intern<S: AsRef<str>>(segments: &[S], kind: Kind) -> EventName {
        let key = lookup_key(segments);
        if let Some(found) = Table::handle(read(table()).by_key.get(key.as_str()), kind) {
            return found;
        }
        let mut t = write(table());
        if let Some(found) = Table::handle(t.by_key.get(key.as_str()), kind) {
            return found;
        }
        let dotted: Box<str> = segments
            .iter()
            .map(AsRef::as_ref)
            .collect::<Vec<&str>>()
            .join(".")
            .into_boxed_str();
        // SAFETY: the slices point into `dotted`'s heap buffer, which lives (unmoved and
        // unchanged) as long as the entry; they are only handed out borrowed from a handle.
        let segments: Box<[&'static str]> = dotted
            .split('.')
            .map(|s| unsafe { &*(s as *const str) })
            .collect();
        let json = serde_json::to_string(&*segments)
            .expect("a list of strings serializes")
            .into_boxed_str();
        let id = match t.free.pop() {
            Some(id) => id,
            None => {
                t.by_id.push(None);
                u32::try_from(t.by_id.len() - 1).expect("fewer than 2^32 event names")
            }
        };
        let serial = t.next_serial;
        t.next_serial += 1;
        let permanent = kind == Kind::Permanent;
        if !permanent {
            t.scoped_live += 1;
        }
        let entry = Box::new(Entry {
            id,
            serial,
            permanent,
            refs: AtomicUsize::new(1),
            immortal: AtomicBool::new(false),
            segments,
            dotted,
            json,
            span_names: OnceLock::new(),
        });
        let p = Ptr(NonNull::from(Box::leak(entry)));
        t.by_id[id as usize] = Some(p);
        // Registries notice the new name when it is first dispatched (see `dispatch.rs`).
        t.by_key.insert(key.into_boxed_str(), p);
        EventName(p.0)
    }

    /// Every name interned and alive now, in id order.
    pub(crate) fn all() -> Vec<EventName> {
        let t = read(table());
        t.by_id
            .iter()
            .filter_map(|p| Table::handle(p.as_ref(), Kind::Scoped))
            .collect()
    }

    /// How many scoped names are alive in the process now (see [`scoped`](Self::scoped)).
    pub fn scoped_count() -> usize {
        read(table()).scoped_live
    }

    #[inline]
    fn entry(&self) -> &Entry {
        // SAFETY: a handle keeps its entry alive.
        unsafe { self.0.as_ref() }
    }

    /// The segments, e.g. `["amoc", "throttle", "rate"]`.
    #[inline]
    pub fn segments(&self) -> &[&str] {
        &self.entry().segments
    }

    /// The segments joined with `.`, as the summary JSON keys them: `amoc.throttle.rate`.
    #[inline]
    pub fn dotted(&self) -> &str {
        &self.entry().dotted
    }

    /// The name as a JSON array, ready to write into an event log.
    #[inline]
    pub fn json(&self) -> &str {
        &self.entry().json
    }

    /// A dense id, unique among the names alive in this process (not stable across processes;
    /// the id of a freed scoped name is given to a later one).
    #[inline]
    pub fn id(&self) -> u32 {
        self.entry().id
    }

    /// Unique per interned entry for the life of the process (ids are reused, serials not).
    #[inline]
    pub fn serial(&self) -> u64 {
        self.entry().serial
    }

    /// True for a name that is never freed ([`new`](Self::new), or a scoped name made
    /// permanent since).
    pub fn is_permanent(&self) -> bool {
        let e = self.entry();
        e.permanent || e.immortal.load(Ordering::Relaxed)
    }

    /// True when `prefix` is a whole-segment prefix of this name (the empty prefix matches all).
    pub fn starts_with<S: AsRef<str>>(&self, prefix: &[S]) -> bool {
        let segments = self.segments();
        prefix.len() <= segments.len() && prefix.iter().zip(segments).all(|(p, s)| p.as_ref() == *s)
    }

    /// Makes a scoped entry permanent: it keeps one handle of its own.
    fn make_immortal(&self) {
        let e = self.entry();
        if !e.permanent && !e.immortal.swap(true, Ordering::Relaxed) {
            e.refs.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// `[start, stop, exception]` children, used by spans (a span's prefix is made permanent).
    pub(crate) fn span_names(&self) -> &'static [EventName; 3] {
        self.make_immortal();
        // SAFETY: the entry is permanent now: it is never freed.
        let e: &'static Entry = unsafe { self.0.as_ref() };
        e.span_names.get_or_init(|| {
            let child = |s: &str| {
                let mut parts: Vec<&str> = e.segments.to_vec();
                parts.push(s);
                EventName::intern(&parts, Kind::Permanent)
            };
            [child("start"), child("stop"), child("exception")]
        })
    }
}

impl Clone for EventName {
    /// A permanent name (what the program emits) is not counted: one flag is read.
    #[inline(always)]
    fn clone(&self) -> Self {
        if !self.entry().permanent {
            retain(self.0);
        }
        EventName(self.0)
    }
}

impl Drop for EventName {
    #[inline(always)]
    fn drop(&mut self) {
        if !self.entry().permanent {
            release(self.0);
        }
    }
}

/// Counts one more handle of a scoped entry. Out of line: the hot paths clone permanent names.
#[cold]
#[inline(never)]
fn retain(p: NonNull<Entry>) {
    // SAFETY: the caller holds a handle, so the entry is alive.
    unsafe { p.as_ref() }.refs.fetch_add(1, Ordering::Relaxed);
}

/// Drops one handle of a scoped entry; the last one frees it. Out of line, as [`retain`].
#[cold]
#[inline(never)]
fn release(p: NonNull<Entry>) {
    // SAFETY: the caller's handle keeps the entry alive until it is released here.
    let e = unsafe { p.as_ref() };
    let mut n = e.refs.load(Ordering::Relaxed);
    while n > 1 {
        match e
            .refs
            .compare_exchange_weak(n, n - 1, Ordering::Release, Ordering::Relaxed)
        {
            Ok(_) => return,
            Err(now) => n = now,
        }
    }
    // Perhaps the last handle: decide under the write lock, where no lookup can revive it.
    let mut t = write(table());
    if e.refs.fetch_sub(1, Ordering::AcqRel) != 1 {
        return;
    }
    t.by_key.remove(lookup_key(&e.segments[..]).as_str());
    t.by_id[e.id as usize] = None;
    t.free.push(e.id);
    t.scoped_live -= 1;
    drop(t);
    // SAFETY: no handle is left and the table no longer points to it; made by `Box::leak`.
    // Dropping it may release its span names (which take the lock again: it is released).
    drop(unsafe { Box::from_raw(p.as_ptr()) });
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
    #[inline]
    fn eq(&self, other: &Self) -> bool {
        self.0 == other.0
    }
}
impl Eq for EventName {}

impl Hash for EventName {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.entry().id.hash(state);
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
        self.segments().cmp(other.segments())
    }
}

impl fmt::Debug for EventName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "[{}]", self.segments().join(", "))
    }
}

impl fmt::Display for EventName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.dotted())
    }
}

impl serde::Serialize for EventName {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(self.segments())
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
        self.cell
            .get_or_init(|| match EventName::new(self.segments) {
                Ok(name) => name,
                Err(e) => panic!("invalid static event name {:?}: {e}", self.segments),
            })
            .clone()
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

#[cfg(test)]
mod tests {
    use super::*;

    /// Scoped names of this module's tests (unique, so no other test shares them).
    fn parts(i: usize) -> [String; 3] {
        ["name_rs_test".into(), "scoped".into(), format!("n{i}")]
    }

    #[test]
    fn a_scoped_name_is_freed_with_its_last_handle_and_its_id_reused() {
        let a = EventName::scoped(&parts(1)).unwrap();
        assert!(!a.is_permanent());
        let b = a.clone();
        let again = EventName::scoped(&parts(1)).unwrap();
        assert_eq!(a, again, "one entry per name");
        let (id, serial) = (a.id(), a.serial());
        drop(a);
        drop(again);
        assert!(EventName::find(&parts(1)).is_some(), "b still holds it");
        drop(b);
        assert!(
            EventName::find(&parts(1)).is_none(),
            "freed with its last handle"
        );
        let c = EventName::scoped(&parts(2)).unwrap();
        let c_id = c.id();
        assert_ne!(c.serial(), serial, "serials are never reused");
        // Another test may take the freed id first; when none did, this name has it.
        if c_id == id {
            assert_eq!(c.dotted(), "name_rs_test.scoped.n2");
        }
        assert_eq!(c.segments(), ["name_rs_test", "scoped", "n2"]);
        assert_eq!(c.json(), r#"["name_rs_test","scoped","n2"]"#);
    }

    #[test]
    fn a_scoped_name_asked_for_permanently_stays() {
        let s = EventName::scoped(&parts(3)).unwrap();
        let p = EventName::new(&parts(3)).unwrap();
        assert_eq!(s, p);
        assert!(s.is_permanent());
        drop(s);
        drop(p);
        assert!(EventName::find(&parts(3)).is_some(), "now permanent");
        // A permanent name asked for as scoped is the permanent one.
        let again = EventName::scoped(&parts(3)).unwrap();
        assert!(again.is_permanent());
    }

    #[test]
    fn a_span_over_a_scoped_name_makes_it_permanent() {
        let s = EventName::scoped(&parts(4)).unwrap();
        let stop = s.span_names()[1].clone();
        assert_eq!(stop.dotted(), "name_rs_test.scoped.n4.stop");
        drop(s);
        assert!(EventName::find(&parts(4)).is_some());
        assert!(stop.is_permanent());
    }

    #[test]
    fn handles_cross_threads_and_the_last_drop_anywhere_frees() {
        let name = EventName::scoped(&parts(5)).unwrap();
        let threads: Vec<_> = (0..4)
            .map(|_| {
                let n = name.clone();
                std::thread::spawn(move || {
                    for _ in 0..1000 {
                        let again = EventName::scoped(&parts(5)).unwrap();
                        assert_eq!(again, n);
                        drop(again.clone());
                    }
                })
            })
            .collect();
        drop(name);
        for t in threads {
            t.join().unwrap();
        }
        assert!(EventName::find(&parts(5)).is_none());
    }
}
