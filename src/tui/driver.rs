//! The engine driver: the monitor never waits on the engine.
//!
//! Keys become [`OperatorCommand`]s that the monitor puts on a bounded queue ([`QueueSink::send`]
//! returns at once, or says the queue is full). A driver task takes them one at a time and
//! calls the real [`CommandSink`] on a blocking thread, so a slow command (adding a node runs
//! the scenario's `init`) never holds a frame. What came of each command goes back to the
//! monitor as an [`Outcome`] on a second queue, drained once per frame
//! ([`Outcomes::drain`]). The task also polls [`CommandSink::run_finished`] and reports
//! [`Outcome::Finished`] once.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;

use super::command::{CommandSink, OperatorCommand, Outcome};

/// Commands that may wait for the driver before a key is refused as "busy".
pub const QUEUE_CAPACITY: usize = 16;
/// Outcomes kept for the monitor at most (older ones are dropped when it is not reading).
const OUTCOME_CAPACITY: usize = 64;
/// How often the driver asks whether the run has ended.
pub const FINISHED_POLL: Duration = Duration::from_millis(250);

/// The monitor's end of the command queue: a [`CommandSink`] that only enqueues.
pub struct QueueSink {
    tx: mpsc::Sender<OperatorCommand>,
}

impl CommandSink for QueueSink {
    fn send(&self, command: OperatorCommand) -> Result<(), String> {
        self.tx.try_send(command).map_err(|e| match e {
            mpsc::error::TrySendError::Full(_) => format!(
                "the engine is busy ({QUEUE_CAPACITY} commands waiting): try again in a moment"
            ),
            mpsc::error::TrySendError::Closed(_) => "the engine driver has stopped".to_owned(),
        })
    }
}

/// The monitor's end of the outcome queue.
pub struct Outcomes {
    rx: mpsc::Receiver<Outcome>,
}

impl Outcomes {
    /// Every outcome that arrived since the last call, oldest first. Never waits.
    pub fn drain(&mut self) -> Vec<Outcome> {
        let mut out = Vec::new();
        while let Ok(o) = self.rx.try_recv() {
            out.push(o);
        }
        out
    }
}

/// Starts the driver task on the current tokio runtime: commands sent to the returned
/// [`QueueSink`] are carried out on `sink`, their outcomes come back through [`Outcomes`].
/// The task ends when the [`QueueSink`] is dropped.
pub fn spawn(sink: Arc<dyn CommandSink>) -> (QueueSink, Outcomes) {
    let (tx, mut rx) = mpsc::channel::<OperatorCommand>(QUEUE_CAPACITY);
    let (out_tx, out_rx) = mpsc::channel::<Outcome>(OUTCOME_CAPACITY);
    tokio::spawn(async move {
        let mut poll = tokio::time::interval(FINISHED_POLL);
        poll.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        let mut finished = false;
        loop {
            tokio::select! {
                cmd = rx.recv() => {
                    let Some(cmd) = cmd else { break };
                    let outcome = carry_out(sink.clone(), cmd).await;
                    // A monitor that stopped reading loses outcomes, never blocks the driver.
                    let _ = out_tx.try_send(outcome);
                }
                _ = poll.tick(), if !finished => {
                    let s = sink.clone();
                    if tokio::task::spawn_blocking(move || s.run_finished())
                        .await
                        .unwrap_or(false)
                    {
                        finished = true;
                        let _ = out_tx.try_send(Outcome::Finished);
                    }
                }
            }
        }
    });
    (QueueSink { tx }, Outcomes { rx: out_rx })
}

/// Runs one command on a blocking thread and says what came of it.
async fn carry_out(sink: Arc<dyn CommandSink>, cmd: OperatorCommand) -> Outcome {
    let c = cmd.clone();
    let joined = tokio::task::spawn_blocking(move || match c {
        OperatorCommand::ListSettings => sink.settings().map(Some),
        other => sink.send(other).map(|()| None),
    })
    .await;
    match joined {
        Ok(Ok(Some(rows))) => Outcome::Settings(rows),
        Ok(Ok(None)) => Outcome::Done(cmd),
        Ok(Err(e)) => Outcome::Failed(cmd, e),
        Err(e) => Outcome::Failed(cmd, format!("the engine task failed: {e}")),
    }
}
