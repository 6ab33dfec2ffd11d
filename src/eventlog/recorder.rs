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
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use crossbeam_channel::{Receiver, Sender, bounded, select};
use flate2::Compression;
use flate2::write::GzEncoder;

use super::LogError;
use super::format::{Header, write_event};
use crate::telemetry::{EventName, Field, Fields, HandlerId, Key, StaticName, Telemetry, Value};

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
            queue_capacity: 1 << 16,
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

        let shared = Arc::new(Shared::new(options.queue_capacity, start));
        let (wake_tx, wake_rx) = bounded::<()>(1);
        let (stop_tx, stop_rx) = bounded::<()>(1);
        let h = shared.clone();
        telemetry
            .attach_prefix(
                options.handler_id.as_str(),
                &[] as &[&str],
                move |name, m, md, _| h.push(name, m, md, &wake_tx),
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
            spares: Vec::new(),
            order: Vec::new(),
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
    shared: Arc<Shared>,
}

impl RecorderHandle {
    /// The log's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Events dropped so far because the queue was full.
    pub fn dropped(&self) -> u64 {
        self.shared.dropped.load(Ordering::Relaxed)
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

/// One event's place in a [`Batch`]: its fields are `fields[at..at + n_m + n_md]`.
struct Head {
    t_us: u64,
    name: EventName,
    at: u32,
    n_m: u16,
    n_md: u16,
}

/// Events queued by the handler: flat storage, so queuing allocates nothing once warm.
#[derive(Default)]
struct Batch {
    heads: Vec<Head>,
    fields: Vec<Field>,
}

/// A shard on its own cache lines, so emitting threads do not share one lock.
#[repr(align(128))]
struct Shard(Mutex<Batch>);

/// The queue between the handler and the writer: a few mutex-guarded shards (an emitting
/// thread always uses the same one, so locks are uncontended), each bounded.
struct Shared {
    shards: Box<[Shard]>,
    per_shard: usize,
    dropped: AtomicU64,
    start: Instant,
}

fn thread_slot() -> usize {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    thread_local! {
        static SLOT: usize = NEXT.fetch_add(1, Ordering::Relaxed);
    }
    SLOT.try_with(|s| *s).unwrap_or(0)
}

impl Shared {
    fn new(capacity: usize, start: Instant) -> Shared {
        let n = std::thread::available_parallelism()
            .map_or(4, |n| n.get() * 2)
            .clamp(2, 32);
        Shared {
            shards: (0..n)
                .map(|_| Shard(Mutex::new(Batch::default())))
                .collect(),
            per_shard: (capacity / n).max(1),
            dropped: AtomicU64::new(0),
            start,
        }
    }

    /// The handler: O(1), never blocks on the writer (only on a shard lock the writer holds
    /// for the time of a `mem::swap`).
    #[inline]
    fn push(&self, name: EventName, m: &[Field], md: &[Field], wake: &Sender<()>) {
        let t_us = self.start.elapsed().as_micros() as u64;
        let shard = &self.shards[thread_slot() % self.shards.len()];
        let mut b = shard.0.lock().unwrap_or_else(|e| e.into_inner());
        let (Ok(n_m), Ok(n_md), Ok(at)) = (
            u16::try_from(m.len()),
            u16::try_from(md.len()),
            u32::try_from(b.fields.len()),
        ) else {
            drop(b);
            self.dropped.fetch_add(1, Ordering::Relaxed);
            return;
        };
        if b.heads.len() >= self.per_shard {
            drop(b);
            self.dropped.fetch_add(1, Ordering::Relaxed);
            let _ = wake.try_send(());
            return;
        }
        b.fields.extend_from_slice(m);
        b.fields.extend_from_slice(md);
        b.heads.push(Head {
            t_us,
            name,
            at,
            n_m,
            n_md,
        });
        let len = b.heads.len();
        drop(b);
        if len == self.per_shard / 2 {
            let _ = wake.try_send(());
        }
    }
}

struct Writer {
    sink: Sink,
    shared: Arc<Shared>,
    wake: Receiver<()>,
    stop: Receiver<()>,
    reported: u64,
    flush_interval: Duration,
    buf: Vec<u8>,
    last_t_us: u64,
    stats: RecorderStats,
    spares: Vec<Batch>,
    order: Vec<(u64, u32, u32)>,
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

    /// Takes every shard's batch (swapping in an empty one) and encodes them in time order.
    fn collect(&mut self) -> io::Result<()> {
        let mut batches: Vec<Batch> = Vec::with_capacity(self.shared.shards.len());
        for shard in self.shared.shards.iter() {
            let mut spare = self.spares.pop().unwrap_or_default();
            {
                let mut b = shard.0.lock().unwrap_or_else(|e| e.into_inner());
                if b.heads.is_empty() {
                    self.spares.push(spare);
                    continue;
                }
                std::mem::swap(&mut *b, &mut spare);
            }
            batches.push(spare);
        }
        // Each shard is in time order already (one thread, or a few); interleave the shards.
        self.order.clear();
        for (bi, b) in batches.iter().enumerate() {
            for (hi, h) in b.heads.iter().enumerate() {
                self.order.push((h.t_us, bi as u32, hi as u32));
            }
        }
        if batches.len() > 1 {
            self.order.sort_by_key(|o| o.0);
        }
        let order = std::mem::take(&mut self.order);
        for &(_, bi, hi) in &order {
            let b = &batches[bi as usize];
            let h = &b.heads[hi as usize];
            let at = h.at as usize;
            let m = &b.fields[at..at + h.n_m as usize];
            let md = &b.fields[at + h.n_m as usize..at + h.n_m as usize + h.n_md as usize];
            self.encode(h.t_us, h.name, m, md);
            self.write_if_full()?;
        }
        self.order = order;
        for mut b in batches {
            b.heads.clear();
            b.fields.clear();
            self.spares.push(b);
        }
        Ok(())
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
        let total = self.shared.dropped.load(Ordering::Relaxed);
        if total > self.reported {
            let t = (self.shared.start.elapsed().as_micros() as u64).max(self.last_t_us);
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
