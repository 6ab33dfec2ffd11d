//! The recorder: every event of a registry into a format-v1 log, off the emitting threads.
//!
//! A handler attached to all events (`attach_prefix` with the empty prefix) copies each event
//! into a bounded queue: per-thread shards of flat storage behind uncontended locks, so queuing
//! allocates nothing once warm and never waits for the disk. A writer thread takes the shards'
//! batches at least every 10 ms (sooner when one is half full), writes them in time order, and
//! flushes at least every [`RecorderOptions::flush_interval`] and on finish.
//! When the queue is full the event is counted, not silently lost: the writer writes a
//! `["rookery","recorder","dropped"]` event with `count` = events lost since the last one.

use std::fs::File;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use crossbeam_channel::{Receiver, Sender, bounded, select};
use flate2::Compression;
use flate2::write::GzEncoder;

use super::LogError;
use super::format::{Header, write_event};
use crate::monitor::queue::{EventQueue, Pushed, Taken};
use crate::telemetry::{EventName, Field, Fields, HandlerId, Key, StaticName, Telemetry, Value};

/// `[rookery, recorder, dropped]`: measurements `count` (events lost since the previous such
/// line), metadata `total` (lost since the start).
pub static DROPPED_EVENT: StaticName = StaticName::new(&["rookery", "recorder", "dropped"]);

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

impl Recorder {
    /// Records every event of `telemetry` into `path` (`.gz`: gzip) with default options.
    pub fn start(
        path: impl AsRef<Path>,
        telemetry: &Telemetry,
    ) -> Result<RecorderHandle, LogError> {
        Self::start_with(path, telemetry, RecorderOptions::default())
    }

    /// [`start`](Self::start) with options.
    pub fn start_with(
        path: impl AsRef<Path>,
        telemetry: &Telemetry,
        options: RecorderOptions,
    ) -> Result<RecorderHandle, LogError> {
        let path = path.as_ref().to_path_buf();
        let io_err = |e: io::Error| LogError::Io {
            file: path.clone(),
            source: e,
        };
        let file = File::create(&path).map_err(io_err)?;
        let gz = path.extension().is_some_and(|e| e == "gz");
        let mut sink = if gz {
            Sink::Gz(GzEncoder::new(file, Compression::fast()))
        } else {
            Sink::Plain(file)
        };
        let start = options.start.unwrap_or_else(Instant::now);
        // `started_at` is the wall time of `start` (which may be earlier, shared with a feed).
        let started_at = options.started_at.unwrap_or_else(|| {
            Utc::now() - chrono::Duration::from_std(start.elapsed()).unwrap_or_default()
        });
        let mut header = Header::new(started_at).to_line();
        header.push('\n');
        sink.write_all(header.as_bytes()).map_err(io_err)?;
        sink.flush().map_err(io_err)?;

        let shared = Arc::new(EventQueue::new(options.queue_capacity, start));
        let (wake_tx, wake_rx) = bounded::<()>(1);
        let (stop_tx, stop_rx) = bounded::<()>(1);
        let h = shared.clone();
        telemetry
            .attach_prefix(
                options.handler_id.as_str(),
                &[] as &[&str],
                move |name, m, md, _| match h.push(name, m, md) {
                    Pushed::Queued => {}
                    Pushed::QueuedHalfFull | Pushed::Dropped => {
                        let _ = wake_tx.try_send(());
                    }
                },
                Value::Null,
            )
            .map_err(|e| LogError::Writer(e.to_string()))?;
        let dropped = shared.clone();
        let writer = Writer {
            sink,
            shared,
            wake: wake_rx,
            stop: stop_rx,
            reported: 0,
            flush_interval: options.flush_interval,
            buf: Vec::with_capacity(BATCH_BYTES * 2),
            last_t_us: 0,
            stats: RecorderStats::default(),
            taken: Taken::default(),
        };
        let thread = match std::thread::Builder::new()
            .name("rookery-recorder".into())
            .spawn(move || writer.run())
        {
            Ok(t) => t,
            Err(e) => {
                let _ = telemetry.detach(options.handler_id.as_str());
                return Err(io_err(e));
            }
        };
        Ok(RecorderHandle {
            telemetry: telemetry.clone(),
            id: HandlerId::from(options.handler_id),
            path,
            stop: Some(stop_tx),
            thread: Some(thread),
            shared: dropped,
        })
    }
}

/// A running recording. [`finish`](Self::finish) (or drop) detaches the handler, writes what is
/// queued and closes the file.
pub struct RecorderHandle {
    telemetry: Telemetry,
    id: HandlerId,
    path: PathBuf,
    stop: Option<Sender<()>>,
    thread: Option<JoinHandle<Result<RecorderStats, io::Error>>>,
    shared: Arc<EventQueue>,
}

impl RecorderHandle {
    /// The log's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Events dropped so far because the queue was full.
    pub fn dropped(&self) -> u64 {
        self.shared.dropped()
    }

    /// Events queued and not yet taken by the writer.
    pub fn pending(&self) -> usize {
        self.shared.len()
    }

    /// Stops recording: detaches, drains the queue, flushes and closes the file.
    pub fn finish(mut self) -> Result<RecorderStats, LogError> {
        self.finish_inner()
    }

    fn finish_inner(&mut self) -> Result<RecorderStats, LogError> {
        let _ = self.telemetry.detach(self.id.clone());
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
    fn close(self) -> io::Result<()> {
        match self {
            Sink::Plain(mut f) => f.flush(),
            Sink::Gz(g) => g.finish().and_then(|mut f| f.flush()),
        }
    }
}

struct Writer {
    sink: Sink,
    shared: Arc<EventQueue>,
    wake: Receiver<()>,
    stop: Receiver<()>,
    reported: u64,
    flush_interval: Duration,
    buf: Vec<u8>,
    last_t_us: u64,
    stats: RecorderStats,
    taken: Taken,
}

/// How often the writer collects the shards when not woken.
const COLLECT_EVERY: Duration = Duration::from_millis(10);

impl Writer {
    fn run(mut self) -> Result<RecorderStats, io::Error> {
        let result = self.run_loop();
        // Whatever happened, try to leave a complete file behind.
        let closed = self.write_out().and_then(|_| self.sink.close());
        result.and(closed).map(|_| self.stats)
    }

    fn run_loop(&mut self) -> io::Result<()> {
        let mut last_flush = Instant::now();
        loop {
            let wait = COLLECT_EVERY.min(self.flush_interval);
            let mut stopping = false;
            select! {
                recv(self.wake) -> _ => {},
                recv(self.stop) -> _ => stopping = true,
                default(wait) => {}
            }
            self.collect()?;
            if stopping {
                self.note_dropped();
                return Ok(());
            }
            if last_flush.elapsed() >= self.flush_interval {
                self.note_dropped();
                self.write_out()?;
                self.sink.flush()?;
                last_flush = Instant::now();
            }
        }
    }

    /// Takes everything queued and encodes it in time order.
    fn collect(&mut self) -> io::Result<()> {
        let mut taken = std::mem::take(&mut self.taken);
        self.shared.take(&mut taken);
        let mut result = Ok(());
        for i in 0..taken.len() {
            let (t, name, m, md) = taken.get(i);
            self.encode(t, name, m, md);
            if let Err(e) = self.write_if_full() {
                result = Err(e);
                break;
            }
        }
        self.taken = taken;
        result
    }

    fn encode(&mut self, t_us: u64, name: EventName, m: &[Field], md: &[Field]) {
        // Emitting threads race for the clock: keep t_us non-decreasing in the file.
        let t = t_us.max(self.last_t_us);
        self.last_t_us = t;
        let node = md.get_str("node");
        let before = self.buf.len();
        write_event(&mut self.buf, t, node, name, m, md);
        self.stats.bytes += (self.buf.len() - before) as u64;
        self.stats.events += 1;
    }

    fn note_dropped(&mut self) {
        let total = self.shared.dropped();
        if total > self.reported {
            let t = self.shared.now_us().max(self.last_t_us);
            self.last_t_us = t;
            let m = [(Key::new_static("count"), Value::from(total - self.reported))];
            let md = [(Key::new_static("total"), Value::from(total))];
            write_event(&mut self.buf, t, None, DROPPED_EVENT.get(), &m, &md);
            self.reported = total;
            self.stats.dropped = total;
        }
    }

    fn write_if_full(&mut self) -> io::Result<()> {
        if self.buf.len() >= BATCH_BYTES {
            self.write_out()?;
        }
        Ok(())
    }

    fn write_out(&mut self) -> io::Result<()> {
        if !self.buf.is_empty() {
            let r = self.sink.write_all(&self.buf);
            self.buf.clear();
            r?;
        }
        Ok(())
    }
}
