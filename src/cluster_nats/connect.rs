//! Connecting to NATS: the URL (`nats://`, `tls://`, `user:password@` or `token@` in it), a
//! `.creds` file or a token, and the connection's state as the heartbeat clocks need it.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use std::sync::Mutex;

/// How to reach the NATS server.
#[derive(Clone, Debug, Default)]
pub struct ClusterAddr {
    /// `nats://HOST:PORT`, `tls://HOST:PORT` (TLS required), credentials allowed in the URL.
    pub url: String,
    /// A NATS `.creds` file (JWT and NKey seed).
    pub creds: Option<PathBuf>,
    /// A server token (also read from `ROOKERY_CLUSTER_TOKEN`).
    pub token: Option<String>,
}

/// Whether the connection is up, and since when: a peer's silence only counts while we could
/// have heard it (a NATS server restart is nobody's death).
#[derive(Clone, Debug)]
pub struct Link {
    up: Arc<AtomicBool>,
    since: Arc<Mutex<Instant>>,
}

impl Default for Link {
    fn default() -> Self {
        Link {
            up: Arc::new(AtomicBool::new(true)),
            since: Arc::new(Mutex::new(Instant::now())),
        }
    }
}

impl Link {
    fn set(&self, up: bool) {
        if self.up.swap(up, Ordering::SeqCst) != up {
            *self.since.lock().unwrap_or_else(|e| e.into_inner()) = Instant::now();
        }
    }

    /// How long the link has been up (zero while it is down).
    pub fn up_for(&self) -> Duration {
        if self.up.load(Ordering::SeqCst) {
            self.since
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .elapsed()
        } else {
            Duration::ZERO
        }
    }
}

impl ClusterAddr {
    /// Connects (retrying while the server is not there yet, for up to `patience`), named
    /// `name`; reconnects after a server restart on its own. Returns the client and its link.
    pub async fn connect(
        &self,
        name: &str,
        patience: Duration,
    ) -> Result<(async_nats::Client, Link), String> {
        if !(self.url.starts_with("nats://") || self.url.starts_with("tls://")) {
            return Err(format!(
                "--cluster {:?}: expected nats://HOST:PORT or tls://HOST:PORT",
                self.url
            ));
        }
        let link = Link::default();
        let mut opts = async_nats::ConnectOptions::new()
            .name(name)
            .connection_timeout(Duration::from_secs(2))
            .ping_interval(Duration::from_secs(5))
            .max_reconnects(None)
            // Back soon after a server restart: 100 ms more per attempt, at most 1 s apart.
            .reconnect_delay_callback(|attempts| {
                Duration::from_millis((attempts as u64 * 100).min(1000))
            });
        if let Some(path) = &self.creds {
            opts = opts
                .credentials_file(path)
                .await
                .map_err(|e| format!("--cluster-creds {}: {e}", path.display()))?;
        }
        let token = self.token.clone().or_else(|| {
            std::env::var("ROOKERY_CLUSTER_TOKEN")
                .ok()
                .filter(|t| !t.is_empty())
        });
        if let Some(token) = token {
            opts = opts.token(token);
        }
        if self.url.starts_with("tls://") {
            opts = opts.require_tls(true);
        }
        let l = link.clone();
        opts = opts.event_callback(move |event| {
            let l = l.clone();
            async move {
                match event {
                    async_nats::Event::Connected => l.set(true),
                    async_nats::Event::Disconnected => l.set(false),
                    _ => {}
                }
            }
        });
        let deadline = Instant::now() + patience;
        loop {
            match opts.clone().connect(self.url.as_str()).await {
                Ok(client) => {
                    link.set(true);
                    return Ok((client, link));
                }
                Err(e) if Instant::now() < deadline => {
                    log::info!(target: "cluster", "connecting to {}: {e}; retrying", self.url);
                    tokio::time::sleep(Duration::from_millis(250)).await;
                }
                Err(e) => return Err(format!("cannot connect to {}: {e}", self.url)),
            }
        }
    }
}
