//! The event names read from logs: a reader's own [`LogNames`] table (freed with the reader,
//! bounded by [`MAX_LOG_NAMES`] and [`MAX_LOG_NAME_BYTES`]) and a small per-thread table for
//! the parsers that have none (the Amoc bridge, cluster batches).

use std::cell::RefCell;
use std::fmt;
use std::hash::{Hash, Hasher};

use rustc_hash::{FxHashMap, FxHasher};
use smallvec::SmallVec;

use crate::telemetry::{EventName, StaticName};

/// Most distinct event names one [`LogNames`] table holds (one reader of one log). Past it, or
/// past [`MAX_LOG_NAME_BYTES`], new names read as [`OTHER_NAME`], counted by the reader with a
/// warning: a log of any length costs the process at most this many names, and they are freed
/// with the reader and whatever it fed (a monitor state).
pub const MAX_LOG_NAMES: usize = 1 << 18;

/// Most bytes of name text one [`LogNames`] table holds (see [`MAX_LOG_NAMES`]).
pub const MAX_LOG_NAME_BYTES: usize = 16 << 20;

/// `[rookery, other, event]`: an event whose name came past a reader's [`MAX_LOG_NAMES`].
pub static OTHER_NAME: StaticName = StaticName::new(&["rookery", "other", "event"]);

/// The event names read by one reader: each distinct name is interned once, as a scoped
/// [`EventName`] (freed when the last handle drops, not kept by the process like the names the
/// program emits), and found again by a hash of its segments without allocating. Dropping the
/// table drops its handles.
#[derive(Default)]
pub struct LogNames {
    by_hash: FxHashMap<u64, SmallVec<[EventName; 1]>>,
    /// Distinct names held, and their bytes.
    count: usize,
    bytes: usize,
    /// Most names and bytes held before new names read as [`OTHER_NAME`].
    max_count: usize,
    max_bytes: usize,
    /// Names read as [`OTHER_NAME`] since the last [`take_other`](Self::take_other).
    other: u64,
}

impl std::fmt::Debug for LogNames {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LogNames")
            .field("count", &self.count)
            .field("bytes", &self.bytes)
            .finish_non_exhaustive()
    }
}

impl LogNames {
    /// A table holding at most [`MAX_LOG_NAMES`] names and [`MAX_LOG_NAME_BYTES`] bytes.
    pub fn new() -> LogNames {
        Self::with_limits(MAX_LOG_NAMES, MAX_LOG_NAME_BYTES)
    }

    /// A table with other limits (a thread's fallback cache, tests).
    pub fn with_limits(max_count: usize, max_bytes: usize) -> LogNames {
        LogNames {
            max_count,
            max_bytes,
            ..LogNames::default()
        }
    }

    /// Distinct names held.
    pub fn len(&self) -> usize {
        self.count
    }

    /// True when no name is held.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// Names read as [`OTHER_NAME`] since the last call (the table was full).
    pub fn take_other(&mut self) -> u64 {
        std::mem::take(&mut self.other)
    }

    /// Drops every name held (handles elsewhere keep theirs alive).
    pub fn clear(&mut self) {
        self.by_hash.clear();
        self.count = 0;
        self.bytes = 0;
    }

    /// The name of `parts`: from the table, else interned (scoped) and kept, else, when the
    /// table is full, [`OTHER_NAME`]. A bad name is an error naming the bad segment.
    pub fn get<S: AsRef<str>>(&mut self, parts: &[S]) -> Result<EventName, String> {
        let mut h = FxHasher::default();
        parts.len().hash(&mut h);
        for p in parts {
            p.as_ref().hash(&mut h);
        }
        let key = h.finish();
        let same = |n: &&EventName| {
            n.segments().len() == parts.len()
                && n.segments()
                    .iter()
                    .zip(parts)
                    .all(|(a, b)| *a == b.as_ref())
        };
        if let Some(n) = self.by_hash.get(&key).and_then(|v| v.iter().find(same)) {
            return Ok(n.clone());
        }
        // Checked first, so a bad name does not count against the limits.
        EventName::validate(parts).map_err(|e| e.to_string())?;
        let bytes: usize = parts.iter().map(|p| p.as_ref().len() + 1).sum();
        if self.count >= self.max_count || self.bytes.saturating_add(bytes) > self.max_bytes {
            self.other += 1;
            return Ok(OTHER_NAME.get());
        }
        let name = EventName::scoped(parts).map_err(|e| e.to_string())?;
        self.count += 1;
        self.bytes += bytes;
        self.by_hash.entry(key).or_default().push(name.clone());
        Ok(name)
    }
}

/// How many names the free parsing functions keep per thread (then they start over).
const THREAD_NAMES: usize = 1024;

thread_local! {
    /// The free functions' table: the last names this thread parsed, so a line costs no
    /// allocation for its name. Bounded, and emptied when full, so names that nothing else
    /// holds are freed.
    static NAMES: RefCell<LogNames> =
        RefCell::new(LogNames::with_limits(THREAD_NAMES, usize::MAX));
}

/// A name for a line parsed by the free functions: from this thread's small table.
pub(super) fn name_from_thread<S: AsRef<str>>(parts: &[S]) -> Result<EventName, String> {
    let cached = NAMES.try_with(|c| {
        let mut t = c.try_borrow_mut().ok()?;
        if t.len() >= THREAD_NAMES {
            t.clear();
        }
        Some(t.get(parts))
    });
    match cached {
        Ok(Some(r)) => r,
        // The thread is ending, or this is a nested call: no table, intern directly.
        _ => EventName::scoped(parts).map_err(|e| e.to_string()),
    }
}
