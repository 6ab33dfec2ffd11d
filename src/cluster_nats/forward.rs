//! The worker's event forwarder: every event of the worker's registry, in batches, to the
//! master.
//!
//! A telemetry handler copies each event into a bounded queue (the same per-thread shards the
//! monitor and the recorder use: O(1), never waiting for the network; an event that does not
//! fit is counted). A pump takes the queue every 10 ms (sooner when a shard is half full),
//! encodes the events into [batches](super::batch) of at most [`BATCH_BYTES`] and publishes
//! them on `rookery.<run>.ev.<node>`.
//!
//! A worker runs the pump on a thread of its own with a NATS connection of its own
//! ([`Forwarder::start_own_thread`]): its users, however many start at once, cannot keep the
//! pump from emptying the queue (on the users' runtime, 333,000 users starting at once kept it
//! waiting until the queue overflowed).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use tokio::sync::{Notify, oneshot};

use super::batch::{BatchHeader, BatchWriter};
use super::connect::ClusterAddr;
use super::liveness::OwnThread;
use super::wire::PROTOCOL;
use crate::tap::queue::{EventQueue, Pushed, Taken};
use crate::telemetry::{HandlerId, Telemetry, Value};

/// A batch is published once it holds this many bytes of events (NATS' default payload limit
/// is 1 MiB).
pub const BATCH_BYTES: usize = 256 * 1024;
/// Events the queue holds per emitting-thread shard before it drops (and counts) them.
pub const QUEUE_CAPACITY: usize = 1 << 16;
/// Longest time an event waits in the queue.
const COLLECT_EVERY: Duration = Duration::from_millis(10);

/// Counters shared by the forwarder's handler, its task and whoever reports them.
#[derive(Default, Debug)]
pub struct ForwardStats {
    /// Events published.
    pub sent: AtomicU64,
    /// Batches published.
    pub batches: AtomicU64,
    /// Events published but refused by the connection (counted as lost by the master too).
    pub failed: AtomicU64,
}

/// A running forwarder; [`finish`](Self::finish) sends what is queued and detaches.
pub struct Forwarder {
    telemetry: Telemetry,
    id: HandlerId,
    queue: Arc<EventQueue>,
    wake: Arc<Notify>,
    stop: Arc<Notify>,
    /// Fires when the pump has returned.
    done: Option<oneshot::Receiver<()>>,
    runner: Option<Runner>,
    pub stats: Arc<ForwardStats>,
}

/// The pump's future.
type Pump = std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>>;

/// Where the pump runs.
enum Runner {
    Task(tokio::task::JoinHandle<()>),
    Thread(OwnThread),
}

/// Where batches go: an abstraction over the NATS client, so the batching is testable and
/// benchmarkable without a server.
pub trait BatchSink: Send + Sync + 'static {
    fn publish(
        &self,
        payload: Vec<u8>,
    ) -> impl std::future::Future<Output = Result<(), String>> + Send;
}

/// Publishes on one subject of a NATS client.
pub struct NatsSink {
    pub client: async_nats::Client,
    pub subject: String,
}

impl BatchSink for NatsSink {
    async fn publish(&self, payload: Vec<u8>) -> Result<(), String> {
        self.client
            .publish(self.subject.clone(), payload.into())
            .await
            .map_err(|e| e.to_string())
    }
}

impl Forwarder {
    /// Attaches handler `id` to every event of `telemetry` and starts the publishing task on
    /// the current runtime. `t_us` counts from `start` (share it with a recorder: the worker's
    /// log and its batches then carry the same times).
    pub fn start<S: BatchSink>(
        telemetry: &Telemetry,
        id: &str,
        node: &str,
        start: Instant,
        sink: S,
        gzip: bool,
    ) -> Result<Forwarder, String> {
        let mut f = Forwarder::attach(telemetry, id, start)?;
        let pump = f.pump(node, gzip);
        let (done_tx, done) = oneshot::channel();
        f.done = Some(done);
        f.runner = Some(Runner::Task(tokio::spawn(async move {
            pump(sink).await;
            let _ = done_tx.send(());
        })));
        Ok(f)
    }

    /// [`start`](Self::start) with the pump on a thread of its own, publishing on `subject`
    /// through a NATS connection of its own (to `addr`); returns once it is connected.
    pub async fn start_own_thread(
        telemetry: &Telemetry,
        id: &str,
        node: &str,
        start: Instant,
        addr: &ClusterAddr,
        subject: String,
        gzip: bool,
    ) -> Result<Forwarder, String> {
        let mut f = Forwarder::attach(telemetry, id, start)?;
        let pump = f.pump(node, gzip);
        let (done_tx, done) = oneshot::channel();
        let (ready_tx, ready) = oneshot::channel();
        let (addr, name) = (addr.clone(), format!("rookery node {node} events"));
        let thread = OwnThread::spawn("rookery-forwarder", move |stop| async move {
            match addr.connect(&name, Duration::from_secs(10)).await {
                Ok((client, _link)) => {
                    let _ = ready_tx.send(Ok(()));
                    tokio::select! {
                        () = pump(NatsSink { client: client.clone(), subject }) => {
                            // Its last batches leave before `finish` returns.
                            let _ = client.flush().await;
                            let _ = done_tx.send(());
                        }
                        _ = stop => {}
                    }
                }
                Err(e) => {
                    let _ = ready_tx.send(Err(format!("the forwarder's connection: {e}")));
                }
            }
        })?;
        f.runner = Some(Runner::Thread(thread));
        match ready.await {
            Ok(Ok(())) => {
                f.done = Some(done);
                Ok(f)
            }
            Ok(Err(e)) => Err(e),
            Err(_) => Err("the forwarder's thread ended at once".into()),
        }
    }

    /// The handler and the queue, no pump yet.
    fn attach(telemetry: &Telemetry, id: &str, start: Instant) -> Result<Forwarder, String> {
        let queue = Arc::new(EventQueue::new(QUEUE_CAPACITY, start));
        let wake = Arc::new(Notify::new());
        let (q, w) = (queue.clone(), wake.clone());
        telemetry
            .attach_prefix(
                id,
                &[] as &[&str],
                move |name, m, md, _| match q.push(name, m, md) {
                    Pushed::Queued => {}
                    Pushed::QueuedHalfFull | Pushed::Dropped => w.notify_one(),
                },
                Value::Null,
            )
            .map_err(|e| format!("forwarder: {e}"))?;
        Ok(Forwarder {
            telemetry: telemetry.clone(),
            id: HandlerId::from(id),
            queue,
            wake,
            stop: Arc::new(Notify::new()),
            done: None,
            runner: None,
            stats: Arc::new(ForwardStats::default()),
        })
    }

    /// The pump, given its sink.
    fn pump<S: BatchSink>(
        &self,
        node: &str,
        gzip: bool,
    ) -> impl FnOnce(S) -> Pump + Send + 'static {
        let (queue, wake, stop, stats) = (
            self.queue.clone(),
            self.wake.clone(),
            self.stop.clone(),
            self.stats.clone(),
        );
        let node = node.to_owned();
        move |sink: S| -> Pump { Box::pin(pump(queue, wake, stop, sink, node, stats, gzip)) }
    }

    /// Events dropped so far because the queue was full.
    pub fn dropped(&self) -> u64 {
        self.queue.dropped()
    }

    /// Events published so far.
    pub fn sent(&self) -> u64 {
        self.stats.sent.load(Ordering::Relaxed)
    }

    /// Detaches, publishes what is queued and waits for the pump; returns the events sent.
    pub async fn finish(mut self) -> u64 {
        let _ = self.telemetry.detach(self.id.clone());
        self.stop.notify_one();
        if let Some(done) = self.done.take() {
            let _ = done.await;
        }
        self.sent()
    }
}

impl Drop for Forwarder {
    fn drop(&mut self) {
        let _ = self.telemetry.detach(self.id.clone());
        match self.runner.take() {
            Some(Runner::Task(task)) => task.abort(),
            Some(Runner::Thread(mut thread)) => thread.stop(),
            None => {}
        }
    }
}

async fn pump<S: BatchSink>(
    queue: Arc<EventQueue>,
    wake: Arc<Notify>,
    stop: Arc<Notify>,
    sink: S,
    node: String,
    stats: Arc<ForwardStats>,
    gzip: bool,
) {
    let mut taken = Taken::default();
    let mut batch = BatchWriter::default();
    let mut seq = 0u64;
    let mut first = 0u64;
    loop {
        let stopping = tokio::select! {
            () = tokio::time::sleep(COLLECT_EVERY) => false,
            () = wake.notified() => false,
            () = stop.notified() => true,
        };
        queue.take(&mut taken);
        for i in 0..taken.len() {
            let (t, name, m, md) = taken.get(i);
            batch.push(t, name, m, md);
            if batch.len() >= BATCH_BYTES {
                send(
                    &sink, &mut batch, &node, &mut seq, &mut first, &queue, &stats, gzip,
                )
                .await;
            }
        }
        if !batch.is_empty() {
            send(
                &sink, &mut batch, &node, &mut seq, &mut first, &queue, &stats, gzip,
            )
            .await;
        }
        if stopping {
            return;
        }
    }
}

#[allow(clippy::too_many_arguments)]
async fn send<S: BatchSink>(
    sink: &S,
    batch: &mut BatchWriter,
    node: &str,
    seq: &mut u64,
    first: &mut u64,
    queue: &EventQueue,
    stats: &ForwardStats,
    gzip: bool,
) {
    let count = batch.count();
    let header = BatchHeader {
        rookery_batch: PROTOCOL,
        node: node.to_owned(),
        seq: *seq,
        first: *first,
        count,
        dropped: queue.dropped(),
    };
    let payload = batch.finish(&header, gzip);
    *seq += 1;
    *first += count;
    stats.batches.fetch_add(1, Ordering::Relaxed);
    // Counted as sent either way: `first` moves on, so the master sees a gap it counts as lost.
    stats.sent.fetch_add(count, Ordering::Relaxed);
    if let Err(e) = sink.publish(payload).await {
        stats.failed.fetch_add(count, Ordering::Relaxed);
        log::warn!(target: "cluster", "publishing {count} events failed: {e}");
    }
}
