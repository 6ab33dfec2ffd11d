//! The recorder: every event of a registry into a format-v1 log, off the emitting threads.
//!
//! The recorder is a consumer of an event [`Tap`] (its own, or one it shares with the live
//! monitor, so each event is copied once for both). A writer thread pumps the tap at least every
//! 10 ms (sooner when a shard is half full), writes the batches in time order, and flushes at
//! least every [`RecorderOptions::flush_interval`] and on finish.
//!
//! Nothing is lost silently: a `[rookery, tap, dropped]` event (the tap's queue was full) is
//! written like any other, and when the writer itself falls behind it writes a
//! `["rookery","recorder","dropped"]` event with `count` = events lost since the last one.
//!
//! A write that fails (a full disk, a closed pipe) is reported at once: the writer emits
//! `[rookery, recorder, error]` ([`RECORDER_ERROR`], metadata `file` and `reason`) on the
//! registry, so the monitor shows it as an error while the run goes on, then stops recording;
//! [`RecorderHandle::finish`] returns the error.

use std::fs::File;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use crossbeam_channel::{Receiver, Sender, bounded, select};
use flate2::Compression;
use flate2::write::GzEncoder;

use super::LogError;
use super::format::{Header, write_event};
use crate::tap::{Inlet, TAP_DROPPED, Tap, TapOptions, dropped_fields};
use crate::telemetry::{EventName, Field, Fields, Key, StaticName, Telemetry, Value};

/// `[rookery, recorder, dropped]`: measurements `count` (events lost since the previous such
/// line), metadata `total` (lost since the start).
pub static DROPPED_EVENT: StaticName = StaticName::new(&["rookery", "recorder", "dropped"]);

/// `[rookery, recorder, error]`: the recording failed (metadata `file`, `reason`); emitted on
/// the registry when it happens, so a live monitor shows it.
pub static RECORDER_ERROR: StaticName = StaticName::new(&["rookery", "recorder", "error"]);

/// Events the recorder may fall behind by on a shared tap before it counts them as lost.
const INLET_CAPACITY: usize = 1 << 22;

/// Recorder settings.
#[derive(Clone, Debug)]
pub struct RecorderOptions {
    /// Events the queue holds, per emitting-thread shard, before new ones are dropped (and
    /// counted). The total is bounded by this times the shard count (twice the cores, ≤ 32).
    pub queue_capacity: usize,
    /// Longest time between flushes.
    pub flush_interval: Duration,
    /// The telemetry handler id.
    pub handler_id: String,
    /// `t_us = 0` (default: now).
    pub start: Option<Instant>,
    /// The header's `started_at` (default: now).
    pub started_at: Option<DateTime<Utc>>,
}

impl Default for RecorderOptions {
    fn default() -> Self {
        RecorderOptions {
            queue_capacity: 1 << 15,
            flush_interval: Duration::from_millis(100),
            handler_id: "rookery-recorder".into(),
            start: None,
            started_at: None,
        }
    }
}

/// What a finished recording wrote.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RecorderStats {
    /// Event lines written (not counting the header and dropped-count lines).
    pub events: u64,
    /// Events lost because the queue was full (each written into the log as a count).
    pub dropped: u64,
    /// Bytes written before compression.
    pub bytes: u64,
}

/// Starts recordings.
pub struct Recorder;

/// True when `path` ends in `.gz`, in any case (`run.JSONL.GZ` is compressed too).
pub fn is_gzip_path(path: &Path) -> bool {
    path.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| e.eq_ignore_ascii_case("gz"))
}

impl Recorder {
    /// Records every event of `telemetry` into `path` (`.gz`: gzip) with default options.
    pub fn start(
        path: impl AsRef<Path>,
        telemetry: &Telemetry,
    ) -> Result<RecorderHandle, LogError> {
        Self::start_with(path, telemetry, RecorderOptions::default())
    }

    /// [`start`](Self::start) with options, on a tap of its own.
    pub fn start_with(
        path: impl AsRef<Path>,
        telemetry: &Telemetry,
        options: RecorderOptions,
    ) -> Result<RecorderHandle, LogError> {
        let tap = Tap::attach(
            telemetry,
            TapOptions {
                handler_id: options.handler_id.clone(),
                capacity: options.queue_capacity,
                start: options.start.unwrap_or_else(Instant::now),
            },
        )
        .map_err(|e| LogError::Writer(e.to_string()))?;
        let mut handle = Self::start_on(path, &tap, options)?;
        handle.owns_tap = true;
        Ok(handle)
    }

    /// Records every event of a shared `tap` (one the live monitor reads too) into `path`.
    /// `options.start` and `queue_capacity` are the tap's; `started_at` is taken from the
    /// tap's start unless given.
    pub fn start_on(
        path: impl AsRef<Path>,
        tap: &Tap,
        options: RecorderOptions,
    ) -> Result<RecorderHandle, LogError> {
        let path = path.as_ref().to_path_buf();
        let io_err = |e: io::Error| LogError::Io {
            file: path.clone(),
            source: e,
        };
        let file = File::create(&path).map_err(io_err)?;
        let mut sink = if is_gzip_path(&path) {
            Sink::Gz(GzEncoder::new(file, Compression::fast()))
        } else {
            Sink::Plain(file)
        };
        let start = tap.start();
        // `started_at` is the wall time of `start` (which may be earlier, shared with a feed).
        let started_at = options.started_at.unwrap_or_else(|| {
            Utc::now() - chrono::Duration::from_std(start.elapsed()).unwrap_or_default()
        });
        let mut header = Header::new(started_at).to_line();
        header.push('\n');
        sink.write_all(header.as_bytes()).map_err(io_err)?;
        sink.flush().map_err(io_err)?;

        let (stop_tx, stop_rx) = bounded::<()>(1);
        let writer = Writer {
            sink,
            path: path.clone(),
            tap: tap.clone(),
            inlet: tap.subscribe(INLET_CAPACITY),
            tap_dropped_before: tap.dropped(),
            stop: stop_rx,
            flush_interval: options.flush_interval,
            buf: Vec::with_capacity(BATCH_BYTES * 2),
            last_t_us: 0,
            stats: RecorderStats::default(),
        };
        let thread = std::thread::Builder::new()
            .name("rookery-recorder".into())
            .spawn(move || writer.run())
            .map_err(io_err)?;
        Ok(RecorderHandle {
            tap: tap.clone(),
            owns_tap: false,
            path,
            stop: Some(stop_tx),
            thread: Some(thread),
        })
    }
}

/// A running recording. [`finish`](Self::finish) (or drop) writes what is queued and closes
/// the file (and detaches the recorder's own tap, if it has one).
pub struct RecorderHandle {
    tap: Tap,
    owns_tap: bool,
    path: PathBuf,
    stop: Option<Sender<()>>,
    thread: Option<JoinHandle<Result<RecorderStats, io::Error>>>,
}

impl RecorderHandle {
    /// The log's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Events the tap's queue could not hold so far (written into the log as counts).
    pub fn dropped(&self) -> u64 {
        self.tap.dropped()
    }

    /// Events queued and not yet taken by the writer.
    pub fn pending(&self) -> usize {
        self.tap.pending()
    }

    /// Stops recording: writes every event emitted before this call (detaching its own tap
    /// first; a shared tap should be [closed](Tap::close) by its owner before), flushes and
    /// closes the file.
    pub fn finish(mut self) -> Result<RecorderStats, LogError> {
        self.finish_inner()
    }

    fn finish_inner(&mut self) -> Result<RecorderStats, LogError> {
        if self.owns_tap {
            self.tap.close();
        }
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        let Some(thread) = self.thread.take() else {
            return Err(LogError::Writer("already finished".into()));
        };
        match thread.join() {
            Ok(Ok(stats)) => Ok(stats),
            Ok(Err(e)) => Err(LogError::Io {
                file: self.path.clone(),
                source: e,
            }),
            Err(_) => Err(LogError::Writer("the writer thread panicked".into())),
        }
    }
}

impl Drop for RecorderHandle {
    fn drop(&mut self) {
        if self.thread.is_some()
            && let Err(e) = self.finish_inner()
        {
            log::error!(target: "recorder", "finishing the event log failed: {e}");
        }
    }
}

const BATCH_BYTES: usize = 256 * 1024;

enum Sink {
    Plain(File),
    Gz(GzEncoder<File>),
}

impl Sink {
    fn write_all(&mut self, b: &[u8]) -> io::Result<()> {
        match self {
            Sink::Plain(f) => f.write_all(b),
            Sink::Gz(g) => g.write_all(b),
        }
    }
    fn flush(&mut self) -> io::Result<()> {
        match self {
            Sink::Plain(f) => f.flush(),
            Sink::Gz(g) => g.flush(),
        }
    }
    fn close(&mut self) -> io::Result<()> {
        match self {
            Sink::Plain(f) => f.flush(),
            Sink::Gz(g) => g.try_finish().and_then(|()| g.get_mut().flush()),
        }
    }
}

struct Writer {
    sink: Sink,
    path: PathBuf,
    tap: Tap,
    inlet: Inlet,
    /// The tap's dropped count when the recording started (earlier losses are not its own).
    tap_dropped_before: u64,
    stop: Receiver<()>,
    flush_interval: Duration,
    buf: Vec<u8>,
    last_t_us: u64,
    stats: RecorderStats,
}

/// How often the writer pumps the tap when not woken.
const COLLECT_EVERY: Duration = Duration::from_millis(10);

impl Writer {
    fn run(mut self) -> Result<RecorderStats, io::Error> {
        let result = self.run_loop();
        // Whatever happened, try to leave a complete file behind.
        let closed = self.write_out().and_then(|_| self.sink.close());
        let result = result.and(closed);
        if let Err(e) = &result {
            self.report(e);
        }
        self.stats.dropped = self
            .tap
            .dropped()
            .saturating_sub(self.tap_dropped_before)
            .saturating_add(self.inlet.lost());
        result.map(|_| self.stats)
    }

    /// `[rookery, recorder, error]` on the registry, for the monitor: a log-shaped event
    /// (measurement `error`, metadata `log_level`, `msg`, `file`, `reason`).
    fn report(&self, e: &io::Error) {
        let file = self.path.display().to_string();
        let md = [
            (Key::new_static("log_level"), Value::atom("error")),
            (
                Key::new_static("msg"),
                Value::from(format!("recording to {file} stopped: {e}")),
            ),
            (Key::new_static("file"), Value::from(file)),
            (Key::new_static("reason"), Value::from(e.to_string())),
        ];
        self.tap.telemetry().execute(
            RECORDER_ERROR.get(),
            &[(Key::new_static("error"), Value::Int(1))],
            &md,
        );
    }

    fn run_loop(&mut self) -> io::Result<()> {
        let mut last_flush = Instant::now();
        let wake = self.tap.wake().clone();
        loop {
            let wait = COLLECT_EVERY.min(self.flush_interval);
            let mut stopping = false;
            select! {
                recv(wake) -> _ => {},
                recv(self.stop) -> _ => stopping = true,
                default(wait) => {}
            }
            self.tap.pump();
            self.collect()?;
            self.note_lost();
            if stopping {
                return Ok(());
            }
            if last_flush.elapsed() >= self.flush_interval {
                self.write_out()?;
                self.sink.flush()?;
                last_flush = Instant::now();
            }
        }
    }

    /// Encodes every batch received, in order.
    fn collect(&mut self) -> io::Result<()> {
        let mut result = Ok(());
        let Writer {
            inlet,
            buf,
            last_t_us,
            stats,
            sink,
            ..
        } = self;
        inlet.drain(|t, name, m, md| {
            if result.is_err() {
                return;
            }
            encode(buf, last_t_us, stats, t, name, m, md);
            if buf.len() >= BATCH_BYTES {
                result = write_buf(sink, buf);
            }
        });
        result
    }

    /// Writes how many events this writer fell behind on, if any since the last time.
    fn note_lost(&mut self) {
        if let Some((count, total)) = self.inlet.newly_lost() {
            let t = self.tap.now_us().max(self.last_t_us);
            self.last_t_us = t;
            let (m, md) = dropped_fields(count, total);
            write_event(&mut self.buf, t, None, &DROPPED_EVENT.get(), &m, &md);
        }
    }

    fn write_out(&mut self) -> io::Result<()> {
        write_buf(&mut self.sink, &mut self.buf)
    }
}

fn encode(
    buf: &mut Vec<u8>,
    last_t_us: &mut u64,
    stats: &mut RecorderStats,
    t_us: u64,
    name: &EventName,
    m: &[Field],
    md: &[Field],
) {
    // The tap orders times already; a lost-count line may have been written in between.
    let t = t_us.max(*last_t_us);
    *last_t_us = t;
    let node = md.get_str("node");
    let before = buf.len();
    write_event(buf, t, node, name, m, md);
    stats.bytes += (buf.len() - before) as u64;
    if *name != TAP_DROPPED.get() {
        stats.events += 1;
    }
}

fn write_buf(sink: &mut Sink, buf: &mut Vec<u8>) -> io::Result<()> {
    if !buf.is_empty() {
        let r = sink.write_all(buf);
        buf.clear();
        r?;
    }
    Ok(())
}
