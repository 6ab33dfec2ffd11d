//! The connection to a bridge: the hello, a reader thread that parses event lines into a
//! bounded queue (and writes them to the recording as they came), a writer thread for
//! commands, and the replies.

use std::collections::HashMap;
use std::fs::File;
use std::io::{self, BufRead, BufReader, BufWriter, Write};
use std::net::{Shutdown, TcpStream, ToSocketAddrs};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Sender, TrySendError, bounded};
use flate2::Compression;
use flate2::write::GzEncoder;

use super::address::BridgeAddress;
use super::wire::{BridgeCommand, Incoming, classify, hello_line};
use crate::eventlog::{Header, LogError, LoggedEvent, parse_event, parse_header};
use crate::monitor::MonitorState;

/// How an attachment connects.
#[derive(Clone, Debug)]
pub struct AttachOptions {
    /// The bridge's token: needed for commands, and to watch from another host.
    pub token: Option<String>,
    /// Write every event received to this log (format v1; `.gz` compresses).
    pub record: Option<PathBuf>,
    /// Events the queue to the monitor holds before new ones are dropped (and counted).
    pub queue: usize,
    /// How long connecting and the bridge's answer to the hello may take.
    pub connect_timeout: Duration,
}

impl Default for AttachOptions {
    fn default() -> Self {
        AttachOptions {
            token: None,
            record: None,
            queue: 1 << 16,
            connect_timeout: Duration::from_secs(10),
        }
    }
}

/// Why attaching failed.
#[derive(Debug, thiserror::Error)]
pub enum AttachError {
    #[error("cannot connect to {addr}: {source}")]
    Connect {
        addr: String,
        #[source]
        source: io::Error,
    },
    #[error("{addr} refused the connection: {reason}")]
    Refused { addr: String, reason: String },
    #[error("{addr}: {reason}")]
    Protocol { addr: String, reason: String },
    #[error(transparent)]
    Log(#[from] LogError),
}

/// Amoc's answer to a command: the reply object (`{"reply":N,"ok":true,…}`), or Amoc's
/// error as Erlang printed it.
pub type BridgeReply = Result<serde_json::Value, String>;

/// What the reader thread and the handle share.
#[derive(Default)]
struct Shared {
    replies: Mutex<HashMap<u64, BridgeReply>>,
    replied: Condvar,
    /// What each command in flight was, for the log line its reply makes.
    asked: Mutex<HashMap<u64, String>>,
    /// Why the stream ended, once it has.
    closed: Mutex<Option<String>>,
    dropped: AtomicU64,
    events: AtomicU64,
}

/// A live connection to a bridge. Commands go out with [`send`](Self::send); the events come
/// in through the [`AttachFeed`] returned with it. [`close`](Self::close) (or drop) ends it.
pub struct Attachment {
    addr: BridgeAddress,
    header: Header,
    commands: bool,
    stream: TcpStream,
    out: Mutex<Option<Sender<String>>>,
    next_id: AtomicU64,
    shared: Arc<Shared>,
    threads: Mutex<Vec<JoinHandle<Result<(), LogError>>>>,
}

/// The events of an attachment, for the monitor: drain them into a [`MonitorState`].
pub struct AttachFeed {
    rx: Receiver<LoggedEvent>,
    shared: Arc<Shared>,
    end_noted: bool,
    /// `t_us = 0` of the bridge's events.
    started_at: chrono::DateTime<chrono::Utc>,
}

impl Attachment {
    /// Connects, says hello and reads the bridge's header (or its refusal).
    pub fn connect(
        addr: &BridgeAddress,
        opts: AttachOptions,
    ) -> Result<(Attachment, AttachFeed), AttachError> {
        let name = addr.to_string();
        let connect_err = |source| AttachError::Connect {
            addr: name.clone(),
            source,
        };
        let protocol = |reason: String| AttachError::Protocol {
            addr: name.clone(),
            reason,
        };
        let stream = connect_any(addr, opts.connect_timeout).map_err(connect_err)?;
        let _ = stream.set_nodelay(true);
        (&stream)
            .write_all(hello_line(opts.token.as_deref()).as_bytes())
            .map_err(connect_err)?;
        stream
            .set_read_timeout(Some(opts.connect_timeout))
            .map_err(connect_err)?;
        let mut reader = BufReader::new(stream.try_clone().map_err(connect_err)?);
        let mut first = Vec::new();
        match reader.read_until(b'\n', &mut first) {
            Ok(0) => return Err(protocol("closed the connection without a word".into())),
            Ok(_) => {}
            Err(e) => return Err(protocol(format!("no answer to the hello: {e}"))),
        }
        let first = trim_newline(&first);
        if let Incoming::Refused(reason) = classify(first) {
            return Err(AttachError::Refused { addr: name, reason });
        }
        let header = parse_header(first).map_err(|e| {
            protocol(format!(
                "not a Rookery bridge ({e}): {}",
                String::from_utf8_lossy(first)
            ))
        })?;
        let commands = serde_json::from_slice::<serde_json::Value>(first)
            .ok()
            .and_then(|v| v.get("commands").and_then(|c| c.as_bool()))
            .unwrap_or(false);
        stream.set_read_timeout(None).map_err(connect_err)?;

        let record = match &opts.record {
            Some(path) => Some(Recording::create(path, &header)?),
            None => None,
        };
        let shared = Arc::new(Shared::default());
        let (tx, rx) = bounded(opts.queue.max(1));
        let reading = {
            let shared = shared.clone();
            std::thread::Builder::new()
                .name("rookery-attach-read".into())
                .spawn(move || read_loop(reader, tx, record, &shared))
                .map_err(connect_err)?
        };
        let (out_tx, out_rx) = bounded::<String>(256);
        let writing = {
            let mut stream = stream.try_clone().map_err(connect_err)?;
            std::thread::Builder::new()
                .name("rookery-attach-write".into())
                .spawn(move || {
                    for line in out_rx {
                        if stream.write_all(line.as_bytes()).is_err() {
                            break;
                        }
                    }
                    Ok(())
                })
                .map_err(connect_err)?
        };
        let feed = AttachFeed {
            rx,
            shared: shared.clone(),
            end_noted: false,
            started_at: header.started_at,
        };
        Ok((
            Attachment {
                addr: addr.clone(),
                header,
                commands,
                stream,
                out: Mutex::new(Some(out_tx)),
                next_id: AtomicU64::new(1),
                shared,
                threads: Mutex::new(vec![reading, writing]),
            },
            feed,
        ))
    }

    /// The bridge's address.
    pub fn address(&self) -> &BridgeAddress {
        &self.addr
    }

    /// The log header the bridge sent (its `started_at` is `t_us = 0` of every event).
    pub fn header(&self) -> &Header {
        &self.header
    }

    /// True when the bridge takes commands from this client (it was given the token).
    pub fn commands_allowed(&self) -> bool {
        self.commands
    }

    /// Queues a command for the bridge without waiting; returns its id (see
    /// [`wait_reply`](Self::wait_reply)).
    pub fn send(&self, cmd: &BridgeCommand, what: &str) -> Result<u64, String> {
        if !self.commands {
            return Err(
                "commands are off: attach with the bridge's --token (and start the bridge with one)"
                    .into(),
            );
        }
        if let Some(reason) = self.closed() {
            return Err(format!("the bridge is gone: {reason}"));
        }
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        lock(&self.shared.asked).insert(id, what.to_owned());
        let out = lock(&self.out);
        let Some(tx) = out.as_ref() else {
            return Err("the connection is closed".into());
        };
        match tx.try_send(cmd.to_line(id)) {
            Ok(()) => Ok(id),
            Err(TrySendError::Full(_)) => {
                lock(&self.shared.asked).remove(&id);
                Err("too many commands waiting for the bridge".into())
            }
            Err(TrySendError::Disconnected(_)) => {
                lock(&self.shared.asked).remove(&id);
                Err("the connection is closed".into())
            }
        }
    }

    /// Waits up to `timeout` for the answer to command `id`.
    pub fn wait_reply(&self, id: u64, timeout: Duration) -> Option<BridgeReply> {
        let deadline = Instant::now() + timeout;
        let mut replies = lock(&self.shared.replies);
        loop {
            if let Some(r) = replies.remove(&id) {
                return Some(r);
            }
            let left = deadline.checked_duration_since(Instant::now())?;
            if lock(&self.shared.closed).is_some() {
                return None;
            }
            replies = self
                .shared
                .replied
                .wait_timeout(replies, left.min(Duration::from_millis(100)))
                .map(|(g, _)| g)
                .unwrap_or_else(|e| e.into_inner().0);
        }
    }

    /// Why the stream ended, once it has (the bridge stopped, the network went).
    pub fn closed(&self) -> Option<String> {
        lock(&self.shared.closed).clone()
    }

    /// Events received so far (queued or dropped).
    pub fn events(&self) -> u64 {
        self.shared.events.load(Ordering::Relaxed)
    }

    /// Disconnects and finishes the recording (flushed and closed).
    pub fn close(&self) -> Result<(), AttachError> {
        lock(&self.out).take();
        let _ = self.stream.shutdown(Shutdown::Both);
        let threads: Vec<_> = lock(&self.threads).drain(..).collect();
        let mut result = Ok(());
        for t in threads {
            match t.join() {
                Ok(Ok(())) => {}
                Ok(Err(e)) => result = Err(AttachError::Log(e)),
                Err(_) => {
                    result = Err(AttachError::Log(LogError::Writer(
                        "the attach reader panicked".into(),
                    )))
                }
            }
        }
        result
    }
}

impl Drop for Attachment {
    fn drop(&mut self) {
        let _ = self.close();
    }
}

impl AttachFeed {
    /// Applies every queued event to `state` and updates its dropped count. Returns how many.
    pub fn drain_into(&self, state: &mut MonitorState) -> usize {
        let mut n = 0;
        while let Ok(ev) = self.rx.try_recv() {
            state.apply(&ev.as_ref());
            n += 1;
        }
        state.set_dropped(self.dropped());
        n
    }

    /// Events dropped because the monitor's queue was full.
    pub fn dropped(&self) -> u64 {
        self.shared.dropped.load(Ordering::Relaxed)
    }

    /// True once the stream has ended and every event it brought has been drained.
    pub fn finished(&self) -> bool {
        // The reader sets `closed` after its last event is queued.
        lock(&self.shared.closed).is_some() && self.rx.is_empty()
    }

    /// Why the stream ended, once it has.
    pub fn closed(&self) -> Option<String> {
        lock(&self.shared.closed).clone()
    }
}

impl crate::tui::Feed for AttachFeed {
    fn pump(&mut self, state: &mut MonitorState, _wall: Duration) -> usize {
        let n = self.drain_into(state);
        if n == 0 && !self.end_noted && self.finished() {
            // Said once, in the log pane; the screen keeps the last state.
            self.end_noted = true;
            log::error!(
                target: "amoc",
                "the bridge's stream ended: {}",
                self.closed().unwrap_or_default()
            );
        }
        n
    }

    /// The bridge's clock: microseconds since it started (the live screen's "now").
    fn now_us(&self) -> Option<u64> {
        let since = chrono::Utc::now() - self.started_at;
        Some(since.num_microseconds().unwrap_or(0).max(0) as u64)
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

fn connect_any(addr: &BridgeAddress, timeout: Duration) -> io::Result<TcpStream> {
    let mut last = io::Error::new(io::ErrorKind::NotFound, "the host has no address");
    for sa in (addr.host.as_str(), addr.port).to_socket_addrs()? {
        match TcpStream::connect_timeout(&sa, timeout) {
            Ok(s) => return Ok(s),
            Err(e) => last = e,
        }
    }
    Err(last)
}

fn trim_newline(line: &[u8]) -> &[u8] {
    let line = line.strip_suffix(b"\n").unwrap_or(line);
    line.strip_suffix(b"\r").unwrap_or(line)
}

/// The reader thread: events to the queue (and the recording), replies to the waiting map.
fn read_loop(
    mut reader: BufReader<TcpStream>,
    tx: Sender<LoggedEvent>,
    mut record: Option<Recording>,
    shared: &Shared,
) -> Result<(), LogError> {
    let mut line = Vec::with_capacity(1024);
    let mut bad_lines = 0u64;
    let reason = loop {
        line.clear();
        match reader.read_until(b'\n', &mut line) {
            Ok(0) => break "the bridge closed the connection".to_owned(),
            Ok(_) => {}
            Err(e) => break format!("reading from the bridge: {e}"),
        }
        if !line.ends_with(b"\n") {
            break "the bridge closed the connection mid-line".to_owned();
        }
        let text = trim_newline(&line);
        match classify(text) {
            Incoming::Event(bytes) => match parse_event(bytes) {
                Ok(ev) => {
                    if let Some(r) = record.as_mut() {
                        r.write_line(&line)?;
                    }
                    shared.events.fetch_add(1, Ordering::Relaxed);
                    if tx.try_send(ev).is_err() {
                        shared.dropped.fetch_add(1, Ordering::Relaxed);
                    }
                }
                Err(e) => {
                    bad_lines += 1;
                    if bad_lines <= 10 {
                        log::warn!(target: "amoc", "a bad event line from the bridge: {e}");
                    }
                }
            },
            Incoming::Reply { id, result } => {
                let what = lock(&shared.asked).remove(&id).unwrap_or_default();
                // The sink waiting for it shows the outcome; this is for debugging.
                match &result {
                    Ok(_) => log::debug!(target: "amoc", "{what}: ok"),
                    Err(e) => log::debug!(target: "amoc", "{what}: Amoc answered {e}"),
                }
                lock(&shared.replies).insert(id, result);
                shared.replied.notify_all();
            }
            Incoming::Refused(e) => break format!("the bridge said: {e}"),
            Incoming::Unknown(text) => {
                log::warn!(target: "amoc", "an unknown line from the bridge: {text}");
            }
        }
        // Flush when the bridge has nothing more buffered, so the file follows the stream.
        if reader.buffer().is_empty()
            && let Some(r) = record.as_mut()
        {
            r.flush()?;
        }
    };
    *lock(&shared.closed) = Some(reason);
    shared.replied.notify_all();
    drop(tx);
    match record {
        Some(r) => r.finish(),
        None => Ok(()),
    }
}

/// The client's recording: the bridge's header and its event lines, byte for byte.
struct Recording {
    path: PathBuf,
    sink: RecordSink,
}

enum RecordSink {
    Plain(BufWriter<File>),
    Gz(GzEncoder<BufWriter<File>>),
}

impl Recording {
    fn create(path: &Path, header: &Header) -> Result<Recording, LogError> {
        let io_err = |source| LogError::Io {
            file: path.to_path_buf(),
            source,
        };
        let file = BufWriter::new(File::create(path).map_err(io_err)?);
        let sink = if path.extension().is_some_and(|e| e == "gz") {
            RecordSink::Gz(GzEncoder::new(file, Compression::fast()))
        } else {
            RecordSink::Plain(file)
        };
        let mut r = Recording {
            path: path.to_path_buf(),
            sink,
        };
        let mut line = header.to_line();
        line.push('\n');
        r.write_line(line.as_bytes())?;
        r.flush()?;
        Ok(r)
    }

    fn io_err(&self, source: io::Error) -> LogError {
        LogError::Io {
            file: self.path.clone(),
            source,
        }
    }

    fn write_line(&mut self, line: &[u8]) -> Result<(), LogError> {
        let r = match &mut self.sink {
            RecordSink::Plain(w) => w.write_all(line),
            RecordSink::Gz(w) => w.write_all(line),
        };
        r.map_err(|e| self.io_err(e))
    }

    fn flush(&mut self) -> Result<(), LogError> {
        let r = match &mut self.sink {
            RecordSink::Plain(w) => w.flush(),
            RecordSink::Gz(w) => w.flush(),
        };
        r.map_err(|e| self.io_err(e))
    }

    fn finish(self) -> Result<(), LogError> {
        let r = match self.sink {
            RecordSink::Plain(mut w) => w.flush(),
            RecordSink::Gz(w) => w.finish().and_then(|mut f| f.flush()),
        };
        r.map_err(|source| LogError::Io {
            file: self.path,
            source,
        })
    }
}
