//! Event logs (format v1, JSON Lines; README, "Event logs"): the [`Recorder`], the streaming
//! [`LogReader`] and [`MergedReader`], and replay pacing ([`ReplayClock`], [`Replay`]).

mod format;
mod gz;
mod merge;
mod names;
mod reader;
mod recorder;
mod replay;

use std::path::PathBuf;

pub use crate::tap::{EventRef, LoggedEvent};
pub use format::{
    FORMAT_VERSION, Header, LineError, parse_event, parse_event_into, parse_event_with,
    parse_header, write_event,
};
pub use merge::MergedReader;
pub use names::{LogNames, MAX_LOG_NAME_BYTES, MAX_LOG_NAMES, OTHER_NAME};
pub use reader::{LogReader, ReadOptions, ReadStats, TrailingData};
pub use recorder::{
    DROPPED_EVENT, RECORDER_ERROR, Recorder, RecorderHandle, RecorderOptions, RecorderStats,
    is_gzip_path,
};
pub use replay::{LOG_WARNING, Replay, ReplayClock, Speed, SpeedParseError};

/// Errors reading or writing a log. Each names the file, and the line when there is one.
#[derive(Debug, thiserror::Error)]
pub enum LogError {
    #[error("{}: {source}", file.display())]
    Io {
        file: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{}:{line}: {error}", file.display())]
    Line {
        file: PathBuf,
        line: u64,
        error: LineError,
    },
    #[error("the recorder's writer thread failed: {0}")]
    Writer(String),
    /// A `.gz` log goes on, after the end of its compressed stream, with data that is not gzip.
    /// Every event before it was read: a replay or a report shows them, then tells this.
    #[error("{0}")]
    Trailing(TrailingData),
}
