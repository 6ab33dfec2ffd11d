//! The signals that end a run cleanly: SIGINT, SIGTERM and SIGHUP (a closed terminal or ssh
//! session). They are listened to from the start of a command, so one that arrives while the
//! engine is still starting is not lost: it is delivered at the next wait.

use std::io;

/// Listens from creation on; [`recv`](Signals::recv) completes on the next signal.
pub struct Signals {
    #[cfg(unix)]
    streams: [tokio::signal::unix::Signal; 3],
}

impl Signals {
    /// Starts listening (inside a tokio runtime).
    pub fn new() -> io::Result<Signals> {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{SignalKind, signal};
            Ok(Signals {
                streams: [
                    signal(SignalKind::interrupt())?,
                    signal(SignalKind::terminate())?,
                    signal(SignalKind::hangup())?,
                ],
            })
        }
        #[cfg(not(unix))]
        {
            Ok(Signals {})
        }
    }

    /// Completes when a signal arrives (or has arrived since the last call).
    pub async fn recv(&mut self) {
        #[cfg(unix)]
        {
            let [int, term, hup] = &mut self.streams;
            tokio::select! {
                _ = int.recv() => {}
                _ = term.recv() => {}
                _ = hup.recv() => {}
            }
        }
        #[cfg(not(unix))]
        {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}
