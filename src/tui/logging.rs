//! The `log` facade's records, for the log pane: a process-wide logger keeps the newest
//! [`KEEP_RECORDS`] records (numbered), and each monitor's journal takes the ones it has not
//! seen yet. Initialised once per process (a second `log::set_logger` would fail).

use std::collections::VecDeque;
use std::sync::{Mutex, OnceLock};

/// Records kept for the pane (older ones go).
pub const KEEP_RECORDS: usize = 500;

/// One `log` record.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LogRecord {
    /// 1, 2, 3 … in the order they were logged.
    pub seq: u64,
    pub level: log::Level,
    pub target: String,
    pub message: String,
}

#[derive(Default)]
struct Ring {
    next: u64,
    records: VecDeque<LogRecord>,
}

static RING: Mutex<Ring> = Mutex::new(Ring {
    next: 0,
    records: VecDeque::new(),
});
static INIT: OnceLock<Result<(), String>> = OnceLock::new();

struct PaneLogger;

impl log::Log for PaneLogger {
    fn enabled(&self, metadata: &log::Metadata<'_>) -> bool {
        metadata.level() <= log::max_level()
    }

    fn log(&self, record: &log::Record<'_>) {
        if !self.enabled(record.metadata()) {
            return;
        }
        let message = record.args().to_string();
        let mut ring = RING.lock().unwrap_or_else(|e| e.into_inner());
        ring.next += 1;
        let seq = ring.next;
        if ring.records.len() >= KEEP_RECORDS {
            ring.records.pop_front();
        }
        ring.records.push_back(LogRecord {
            seq,
            level: record.level(),
            target: record.target().to_owned(),
            message,
        });
    }

    fn flush(&self) {}
}

static LOGGER: PaneLogger = PaneLogger;

/// Routes `log` records at `level` and above into the log pane. Safe to call many times (tests
/// do); returns the first call's outcome. Fails when another logger was installed first.
pub fn init(level: log::LevelFilter) -> Result<(), String> {
    INIT.get_or_init(|| {
        log::set_logger(&LOGGER).map_err(|e| format!("cannot start the log pane: {e}"))?;
        log::set_max_level(level);
        Ok(())
    })
    .clone()
}

/// The records logged after record number `after`, oldest first (those still kept).
pub fn since(after: u64) -> Vec<LogRecord> {
    let ring = RING.lock().unwrap_or_else(|e| e.into_inner());
    ring.records
        .iter()
        .filter(|r| r.seq > after)
        .cloned()
        .collect()
}
