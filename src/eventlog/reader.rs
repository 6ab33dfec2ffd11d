//! Streaming reader of one log file: constant memory, `.gz` transparently.

use std::fs::File;
use std::io::{self, BufRead, BufReader, Read};
use std::path::{Path, PathBuf};

use super::format::{Header, LineError, parse_event_with, parse_header};
use super::gz::{GzMembers, NotGzipAfterEnd};
use super::names::LogNames;
use super::{LogError, LoggedEvent};

/// How many warnings a reader keeps word for word (the rest are only counted).
const KEEP_WARNINGS: usize = 20;

/// Reader options.
#[derive(Clone, Copy, Debug, Default)]
pub struct ReadOptions {
    /// Count malformed lines and lines that are not events instead of failing on them.
    pub skip_bad_lines: bool,
}

/// What a reader noticed that was not fatal.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ReadStats {
    /// Events returned.
    pub events: u64,
    /// Lines skipped under `skip_bad_lines`.
    pub bad_lines: u64,
    /// Events whose time went backwards and was clamped.
    pub clamped: u64,
    /// A truncated last line was ignored.
    pub truncated_last_line: bool,
    /// The first warnings, each naming file and line.
    pub warnings: Vec<String>,
    /// Warnings not kept in `warnings`.
    pub more_warnings: u64,
    /// Events whose name came past the reader's limit of distinct names and were read as
    /// `rookery.other.event` (see [`MAX_LOG_NAMES`](super::MAX_LOG_NAMES)).
    pub other_names: u64,
    /// A `.gz` log went on after its compressed stream with data that is not gzip (without
    /// `skip_bad_lines`; with it, that is a bad line and a warning). The events before it were
    /// read; [`Replay`](super::Replay) tells it as an error once they are applied.
    pub trailing: Option<TrailingData>,
}

/// Where a `.gz` log's data that is not gzip starts, after the end of its compressed stream.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{}: after line {line}: {after}", file.display())]
pub struct TrailingData {
    pub file: PathBuf,
    /// The lines read before it (the header is line 1).
    pub line: u64,
    /// Where it starts in the compressed file, how long it is and what the decompressor said.
    after: NotGzipAfterEnd,
}

impl TrailingData {
    /// The byte of the compressed file it starts at.
    pub fn offset(&self) -> u64 {
        self.after.offset
    }
}

impl ReadStats {
    fn warn(&mut self, w: String) {
        if self.warnings.len() < KEEP_WARNINGS {
            self.warnings.push(w);
        } else {
            self.more_warnings += 1;
        }
    }

    /// Warnings so far, kept or not.
    pub fn warning_count(&self) -> u64 {
        self.warnings.len() as u64 + self.more_warnings
    }

    /// Adds another reader's figures (for merged reads).
    pub fn absorb(&mut self, other: &ReadStats) {
        self.events += other.events;
        self.bad_lines += other.bad_lines;
        self.clamped += other.clamped;
        self.truncated_last_line |= other.truncated_last_line;
        for w in &other.warnings {
            self.warn(w.clone());
        }
        self.more_warnings += other.more_warnings;
        self.other_names += other.other_names;
        // The first file's is the error; another file's is told too.
        match (&self.trailing, &other.trailing) {
            (None, t) => self.trailing = t.clone(),
            (Some(_), Some(t)) => self.warn(t.to_string()),
            (Some(_), None) => {}
        }
    }
}

/// Reads one log: the header on open, then events one at a time.
///
/// The event names it reads live in its own table (a [`LogNames`]): they are freed when the
/// reader, and whatever holds its events' names (a monitor state), are dropped.
pub struct LogReader {
    path: PathBuf,
    names: LogNames,
    input: Box<dyn BufRead + Send>,
    header: Header,
    line_no: u64,
    buf: Vec<u8>,
    last_t_us: u64,
    options: ReadOptions,
    stats: ReadStats,
    done: bool,
}

impl std::fmt::Debug for LogReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LogReader")
            .field("path", &self.path)
            .field("line_no", &self.line_no)
            .finish()
    }
}

fn open_input(path: &Path) -> Result<Box<dyn BufRead + Send>, LogError> {
    let io_err = |e: io::Error| LogError::Io {
        file: path.to_path_buf(),
        source: e,
    };
    let file = File::open(path).map_err(io_err)?;
    let len = file.metadata().map_err(io_err)?.len();
    let mut file = BufReader::with_capacity(256 * 1024, file);
    // gzip by content (magic bytes), so a renamed file still reads.
    let gz = file.fill_buf().map_err(io_err)?.starts_with(&[0x1f, 0x8b]);
    if gz {
        Ok(Box::new(BufReader::with_capacity(
            256 * 1024,
            GzMembers::new(file, len),
        )))
    } else {
        Ok(Box::new(file))
    }
}

impl LogReader {
    /// Opens `path` and reads its header.
    pub fn open(path: impl AsRef<Path>, options: ReadOptions) -> Result<LogReader, LogError> {
        let path = path.as_ref();
        let input = open_input(path)?;
        Self::from_reader(path, input, options)
    }

    /// Reads a log from any buffered input; `path` is only used in messages.
    pub fn from_reader(
        path: impl AsRef<Path>,
        mut input: Box<dyn BufRead + Send>,
        options: ReadOptions,
    ) -> Result<LogReader, LogError> {
        let path = path.as_ref().to_path_buf();
        let mut buf = Vec::with_capacity(4096);
        let n = read_line(&mut *input, &mut buf).map_err(|e| LogError::Io {
            file: path.clone(),
            source: e,
        })?;
        if n == 0 {
            return Err(LogError::Line {
                file: path,
                line: 1,
                error: LineError::MissingHeader("the file is empty".into()),
            });
        }
        let header = parse_header(trim_line(&buf)).map_err(|error| LogError::Line {
            file: path.clone(),
            line: 1,
            error,
        })?;
        Ok(LogReader {
            path,
            names: LogNames::new(),
            input,
            header,
            line_no: 1,
            buf,
            last_t_us: 0,
            options,
            stats: ReadStats::default(),
            done: false,
        })
    }

    pub fn header(&self) -> &Header {
        &self.header
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Warnings and counts so far.
    pub fn stats(&self) -> &ReadStats {
        &self.stats
    }

    /// Distinct event names this reader holds.
    pub fn names_held(&self) -> usize {
        self.names.len()
    }

    /// The next event, `Ok(None)` at the end. After an error the reader is finished.
    #[allow(clippy::should_implement_trait)]
    pub fn next(&mut self) -> Result<Option<LoggedEvent>, LogError> {
        let mut ev = LoggedEvent::placeholder();
        Ok(self.next_into(&mut ev)?.then_some(ev))
    }

    /// Reads the next event into `out`, reusing its buffers; `Ok(false)` at the end (then `out`
    /// is unspecified). After an error the reader is finished.
    pub fn next_into(&mut self, out: &mut LoggedEvent) -> Result<bool, LogError> {
        while !self.done {
            self.buf.clear();
            let n = match read_line(&mut *self.input, &mut self.buf) {
                Ok(n) => n,
                Err(e) => {
                    self.done = true;
                    if let Some(after) = e
                        .get_ref()
                        .and_then(|inner| inner.downcast_ref::<NotGzipAfterEnd>())
                    {
                        // A last line without its newline, read before the bad data, is
                        // still read (as a plain log's last line would be).
                        let partial = !self.buf.is_empty();
                        let t = TrailingData {
                            file: self.path.clone(),
                            line: self.line_no + u64::from(partial),
                            after: after.clone(),
                        };
                        if self.options.skip_bad_lines {
                            self.stats.bad_lines += 1;
                            self.stats.warn(format!("{t}: skipped"));
                        } else {
                            self.stats.trailing = Some(t);
                        }
                        if !partial {
                            return Ok(false);
                        }
                        self.buf.len()
                    } else {
                        // A gzip stream cut short is a truncated log, like a cut last line.
                        if e.kind() == io::ErrorKind::UnexpectedEof {
                            self.stats.truncated_last_line = true;
                            self.stats.warn(format!(
                                "{}: compressed stream ends abruptly after line {} (the recorder was killed?)",
                                self.path.display(),
                                self.line_no
                            ));
                            return Ok(false);
                        }
                        return Err(LogError::Io {
                            file: self.path.clone(),
                            source: e,
                        });
                    }
                }
            };
            if n == 0 {
                self.done = true;
                return Ok(false);
            }
            self.line_no += 1;
            let complete = self.buf.last() == Some(&b'\n');
            let line = trim_line(&self.buf);
            if line.iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            match parse_event_with(line, out, &mut self.names) {
                Ok(()) => {
                    let ev = out;
                    if ev.t_us < self.last_t_us {
                        self.stats.clamped += 1;
                        self.stats.warn(format!(
                            "{}:{}: time goes backwards ({} < {} µs), clamped",
                            self.path.display(),
                            self.line_no,
                            ev.t_us,
                            self.last_t_us
                        ));
                        ev.t_us = self.last_t_us;
                    }
                    self.last_t_us = ev.t_us;
                    self.stats.events += 1;
                    let other = self.names.take_other();
                    if other > 0 {
                        if self.stats.other_names == 0 {
                            self.stats.warn(format!(
                                "{}:{}: more than {} distinct event names (or {} MiB of them) \
                                 in this log: this and later new names count as \
                                 rookery.other.event",
                                self.path.display(),
                                self.line_no,
                                super::names::MAX_LOG_NAMES,
                                super::names::MAX_LOG_NAME_BYTES >> 20
                            ));
                        }
                        self.stats.other_names += other;
                    }
                    return Ok(true);
                }
                Err(error) => {
                    // A name read as `rookery.other.event` on a line that is not an event.
                    self.names.take_other();
                    if !complete && self.at_eof() {
                        self.done = true;
                        self.stats.truncated_last_line = true;
                        self.stats.warn(format!(
                            "{}:{}: truncated last line ignored (the recorder was killed?)",
                            self.path.display(),
                            self.line_no
                        ));
                        return Ok(false);
                    }
                    if self.options.skip_bad_lines {
                        self.stats.bad_lines += 1;
                        self.stats.warn(format!(
                            "{}:{}: skipped: {error}",
                            self.path.display(),
                            self.line_no
                        ));
                        continue;
                    }
                    self.done = true;
                    return Err(LogError::Line {
                        file: self.path.clone(),
                        line: self.line_no,
                        error,
                    });
                }
            }
        }
        Ok(false)
    }

    fn at_eof(&mut self) -> bool {
        matches!(self.input.fill_buf(), Ok(b) if b.is_empty())
    }
}

/// Reads one line including its `\n` (if any). Lines longer than 64 MiB are cut there and the
/// rest is skipped, so one huge line cannot exhaust memory.
fn read_line(input: &mut dyn BufRead, buf: &mut Vec<u8>) -> io::Result<usize> {
    const MAX_LINE: u64 = 64 * 1024 * 1024;
    let n = input.take(MAX_LINE).read_until(b'\n', buf)?;
    if n as u64 == MAX_LINE && buf.last() != Some(&b'\n') {
        // Skip to the end of this line.
        let mut sink = Vec::new();
        loop {
            sink.clear();
            let m = input.take(1 << 20).read_until(b'\n', &mut sink)?;
            if m == 0 || sink.last() == Some(&b'\n') {
                break;
            }
        }
        buf.push(b'\n');
    }
    Ok(n)
}

fn trim_line(buf: &[u8]) -> &[u8] {
    let mut end = buf.len();
    while end > 0 && matches!(buf[end - 1], b'\n' | b'\r') {
        end -= 1;
    }
    &buf[..end]
}
