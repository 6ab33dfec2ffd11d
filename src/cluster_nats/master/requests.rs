//! The master's side of the node protocol over NATS: a request in the engine's envelope on the
//! worker's command subject, its reply matched by request id, answered or timed out.

use std::time::{Duration, Instant};

use super::Master;
use crate::engine::protocol::{self, NodeCommand, NodeReport, Request};
use crate::telemetry::Key;

/// A request is sent again (the same id: a node answers a repeat from its reply cache without
/// applying it again) when no answer came within half its time limit.
const ATTEMPTS: u32 = 2;
/// The pause before asking again when nobody listened on the subject.
const RETRY: Duration = Duration::from_millis(100);

impl Master {
    /// Sends `command` to `node` and waits for its report, at most `limit` in all.
    pub(super) async fn ask(
        &self,
        node: &str,
        command: NodeCommand,
        limit: Duration,
    ) -> Result<NodeReport, String> {
        let key = Key::new(node);
        let id = self.pending().open(key.clone(), Instant::now(), limit);
        let request = Request::new(id, key, command);
        let payload = bytes::Bytes::from(protocol::encode(&request));
        let subject = self.shared.subjects.command(node);
        let per_attempt = limit / ATTEMPTS;
        let deadline = Instant::now() + limit;
        let mut last_error = format!("{node} did not answer within {:.1}s", limit.as_secs_f64());
        while let Some(left) = deadline.checked_duration_since(Instant::now())
            && !left.is_zero()
        {
            let asked = self.shared.client.request(subject.clone(), payload.clone());
            match tokio::time::timeout(per_attempt.min(left), asked).await {
                Ok(Ok(msg)) => match protocol::decode_reply(&msg.payload) {
                    Ok(reply) if reply.id == Some(id) => {
                        self.pending().answered(id);
                        return Ok(reply.report);
                    }
                    Ok(reply) => {
                        last_error = format!("{node} answered request {:?} instead", reply.id);
                    }
                    Err(e) => {
                        self.ignore(&self.shared.counters.undecodable, &e.to_string(), &subject);
                        last_error = format!("{node}: {e}");
                    }
                },
                Ok(Err(e)) => {
                    // No responder (yet): try again shortly.
                    last_error = format!("{node}: {e}");
                    tokio::time::sleep(RETRY.min(left)).await;
                }
                Err(_) => {}
            }
        }
        // Timed out: forget it, so a late reply is ignored.
        self.pending().answered(id);
        Err(last_error)
    }
}
