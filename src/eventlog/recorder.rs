//! The recorder: every event of a registry into a format-v1 log, off the emitting threads.
//!
//! A handler attached to all events (`attach_prefix` with the empty prefix) copies each event
//! into a bounded queue with `try_send`; it never blocks. A writer thread serializes batches,
//! writes them, and flushes at least every [`RecorderOptions::flush_interval`] and on finish.
//! When the queue is full the event is counted, not silently lost: the writer writes a
//! `["rookery","recorder","dropped"]` event with `count` = events lost since the last one.

use std::fs::File;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use crossbeam_channel::{Receiver, Sender, bounded, select};
use flate2::Compression;
use flate2::write::GzEncoder;

use super::format::{Header, write_event};
use super::{LogError, LoggedEvent};
use crate::telemetry::{Fields, HandlerId, Key, StaticName, Telemetry, Value};

/// `[rookery, recorder, dropped]`: measurements `count` (events lost since the previous such
/// line), metadata `total` (lost since the start).
pub static DROPPED_EVENT: StaticName = StaticName::new(&["rookery", "recorder", "dropped"]);

/// Recorder settings.
#[derive(Clone, Debug)]
pub struct RecorderOptions {
    /// Events the queue holds before new ones are dropped (and counted).
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
            queue_capacity: 1 << 17,
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
        let started_at = options.started_at.unwrap_or_else(Utc::now);
        let mut header = Header::new(started_at).to_line();
        header.push('\n');
        sink.write_all(header.as_bytes()).map_err(io_err)?;
        sink.flush().map_err(io_err)?;

        let (tx, rx) = bounded::<LoggedEvent>(options.queue_capacity.max(1));
        let (stop_tx, stop_rx) = bounded::<()>(1);
        let dropped = Arc::new(AtomicU64::new(0));
        let d = dropped.clone();
        telemetry
            .attach_prefix(
                options.handler_id.as_str(),
                &[] as &[&str],
                move |name, m, md, _| {
                    let ev = LoggedEvent {
                        t_us: start.elapsed().as_micros() as u64,
                        node: None,
                        name,
                        measurements: m.to_vec(),
                        metadata: md.to_vec(),
                    };
                    if tx.try_send(ev).is_err() {
                        d.fetch_add(1, Ordering::Relaxed);
                    }
                },
                Value::Null,
            )
            .map_err(|e| LogError::Writer(e.to_string()))?;
        let writer = Writer {
            sink,
            rx,
            stop: stop_rx,
            dropped: dropped.clone(),
            reported: 0,
            start,
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
            telemetry: telemetry.clone(),
            id: HandlerId::from(options.handler_id),
            path,
            stop: Some(stop_tx),
            thread: Some(thread),
            dropped,
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
    dropped: Arc<AtomicU64>,
}

impl RecorderHandle {
    /// The log's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Events dropped so far because the queue was full.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
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
    rx: Receiver<LoggedEvent>,
    stop: Receiver<()>,
    dropped: Arc<AtomicU64>,
    reported: u64,
    start: Instant,
    flush_interval: Duration,
    buf: Vec<u8>,
    last_t_us: u64,
    stats: RecorderStats,
}

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
            let wait = self.flush_interval.saturating_sub(last_flush.elapsed());
            let mut stopping = false;
            select! {
                recv(self.rx) -> ev => match ev {
                    Ok(ev) => self.drain_from(ev)?,
                    Err(_) => stopping = true,
                },
                recv(self.stop) -> _ => stopping = true,
                default(wait) => {}
            }
            if stopping {
                while let Ok(ev) = self.rx.try_recv() {
                    self.encode(&ev);
                    self.write_if_full()?;
                }
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

    fn drain_from(&mut self, first: LoggedEvent) -> io::Result<()> {
        self.encode(&first);
        // A bounded batch, so the flush deadline is checked regularly.
        for _ in 0..4096 {
            match self.rx.try_recv() {
                Ok(ev) => self.encode(&ev),
                Err(_) => break,
            }
        }
        self.write_if_full()
    }

    fn encode(&mut self, ev: &LoggedEvent) {
        // Emitting threads race for the queue: keep t_us non-decreasing in the file.
        let t = ev.t_us.max(self.last_t_us);
        self.last_t_us = t;
        let node = ev.node.as_deref().or_else(|| ev.metadata.get_str("node"));
        let before = self.buf.len();
        write_event(
            &mut self.buf,
            t,
            node,
            ev.name,
            &ev.measurements,
            &ev.metadata,
        );
        self.stats.bytes += (self.buf.len() - before) as u64;
        self.stats.events += 1;
    }

    fn note_dropped(&mut self) {
        let total = self.dropped.load(Ordering::Relaxed);
        if total > self.reported {
            let t = (self.start.elapsed().as_micros() as u64).max(self.last_t_us);
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
