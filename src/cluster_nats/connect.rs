//! Connecting to NATS: the URL (`nats://`, `tls://`, `user:password@` or `token@` in it), a
//! credentials file or a token, a CA to trust for TLS, and the connection's state as the
//! heartbeat clocks need it.
//!
//! Credentials, as the NATS server asks for them:
//! * a token: `nats://TOKEN@host:4222`, or `ROOKERY_CLUSTER_TOKEN` (server: `--auth TOKEN` or
//!   `authorization { token: … }`);
//! * a user and password: `nats://USER:PASSWORD@host:4222` (server: `--user`/`--pass` or
//!   `authorization { users = [{user: …, password: …}] }`);
//! * `--cluster-creds FILE` (or `ROOKERY_CLUSTER_CREDS`): either a NATS `.creds` file (a user
//!   JWT and its NKey seed, for a server in operator mode: decentralised auth), or a file
//!   holding only a user NKey seed (`SU…`, for `authorization { users = [{nkey: U…}] }`);
//! * TLS: `tls://host:4222` requires it; `--cluster-ca FILE` (or `ROOKERY_CLUSTER_CA`) adds a
//!   PEM certificate authority to trust (a self-signed server certificate, a private CA).
//!
//! A server that refuses the credentials, or a TLS handshake that fails, is an error at once
//! (one line, credentials never printed), not a retry.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use std::sync::Mutex;

use async_nats::ConnectErrorKind;

/// How to reach the NATS server.
#[derive(Clone, Debug, Default)]
pub struct ClusterAddr {
    /// `nats://HOST:PORT`, `tls://HOST:PORT` (TLS required), credentials allowed in the URL.
    pub url: String,
    /// A NATS `.creds` file (JWT and NKey seed) or a file holding a user NKey seed (also read
    /// from `ROOKERY_CLUSTER_CREDS`).
    pub creds: Option<PathBuf>,
    /// A server token (also read from `ROOKERY_CLUSTER_TOKEN`).
    pub token: Option<String>,
    /// A PEM file of certificate authorities to trust for TLS (also read from
    /// `ROOKERY_CLUSTER_CA`).
    pub ca: Option<PathBuf>,
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

/// `value`, or the environment variable `var` when it is set and not empty.
fn or_env<T: From<String> + Clone>(value: &Option<T>, var: &str) -> Option<T> {
    value.clone().or_else(|| {
        std::env::var(var)
            .ok()
            .filter(|v| !v.is_empty())
            .map(T::from)
    })
}

impl ClusterAddr {
    /// The URL without the credentials it may hold (`nats://***@host:4222`), for messages.
    pub fn shown(&self) -> String {
        redact(&self.url)
    }

    /// The connection options: name, reconnection, credentials, TLS.
    async fn options(&self, name: &str) -> Result<async_nats::ConnectOptions, String> {
        let mut opts = async_nats::ConnectOptions::new()
            .name(name)
            .connection_timeout(Duration::from_secs(2))
            .ping_interval(Duration::from_secs(5))
            .max_reconnects(None)
            // Back soon after a server restart: 100 ms more per attempt, at most 1 s apart.
            .reconnect_delay_callback(|attempts| {
                Duration::from_millis((attempts as u64 * 100).min(1000))
            });
        if let Some(path) = or_env(&self.creds, "ROOKERY_CLUSTER_CREDS") {
            let what = format!("--cluster-creds {}", path.display());
            let text = tokio::fs::read_to_string(&path)
                .await
                .map_err(|e| format!("{what}: {e}"))?;
            opts = match Creds::parse(&text) {
                Some(Creds::Jwt) => opts
                    .credentials(&text)
                    .map_err(|e| format!("{what}: {e}"))?,
                Some(Creds::Seed(seed)) => opts.nkey(seed),
                None => {
                    return Err(format!(
                        "{what}: neither a NATS .creds file (a user JWT and NKey seed) nor a \
                         user NKey seed (SU…)"
                    ));
                }
            };
        }
        match userinfo(&self.url) {
            // The client does not read credentials from the URL itself.
            Some((user, Some(password))) => opts = opts.user_and_password(user, password),
            Some((token, None)) => opts = opts.token(token),
            None => {}
        }
        if let Some(token) = or_env(&self.token, "ROOKERY_CLUSTER_TOKEN") {
            opts = opts.token(token);
        }
        if let Some(ca) = or_env(&self.ca, "ROOKERY_CLUSTER_CA") {
            if !ca.is_file() {
                return Err(format!(
                    "--cluster-ca {}: no such file (a PEM certificate authority)",
                    ca.display()
                ));
            }
            opts = opts.add_root_certificates(ca);
        }
        if self.url.starts_with("tls://") {
            opts = opts.require_tls(true);
        }
        Ok(opts)
    }

    /// Connects (retrying while the server is not there yet, for up to `patience`), named
    /// `name`; reconnects after a server restart on its own. Returns the client and its link.
    /// Refused credentials or a failed TLS handshake end it at once.
    pub async fn connect(
        &self,
        name: &str,
        patience: Duration,
    ) -> Result<(async_nats::Client, Link), String> {
        if !(self.url.starts_with("nats://") || self.url.starts_with("tls://")) {
            return Err(format!(
                "--cluster {:?}: expected nats://HOST:PORT or tls://HOST:PORT",
                self.shown()
            ));
        }
        let link = Link::default();
        let mut opts = self.options(name).await?;
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
        let mut said = false;
        loop {
            match opts
                .clone()
                .connect(without_userinfo(&self.url).as_str())
                .await
            {
                Ok(client) => {
                    link.set(true);
                    return Ok((client, link));
                }
                Err(e) => {
                    let fatal = match e.kind() {
                        ConnectErrorKind::AuthorizationViolation
                        | ConnectErrorKind::Authentication => Some(
                            "refused the credentials (check the token or user:password in the \
                             URL, --cluster-creds, ROOKERY_CLUSTER_TOKEN)",
                        ),
                        ConnectErrorKind::Tls => Some(TLS_FAILED),
                        ConnectErrorKind::Io if tls_failure(&e) => Some(TLS_FAILED),
                        ConnectErrorKind::ServerParse => Some("is not a NATS server address"),
                        _ => None,
                    };
                    let shown = self.shown();
                    let detail = redact(&e.to_string());
                    if let Some(why) = fatal {
                        return Err(format!("NATS at {shown} {why}: {detail}"));
                    }
                    if Instant::now() >= deadline {
                        return Err(format!("cannot connect to {shown}: {detail}"));
                    }
                    log::info!(target: "cluster", "connecting to {shown}: {detail}; retrying");
                    if !said {
                        // Once, where a person starting a node or a master looks: not silence.
                        said = true;
                        crate::cli::say(&format!(
                            "cannot reach NATS at {shown} yet ({detail}); retrying for up to {} s",
                            patience.as_secs()
                        ));
                    }
                    tokio::time::sleep(Duration::from_millis(250)).await;
                }
            }
        }
    }
}

const TLS_FAILED: &str = "TLS failed (tls:// needs a server with TLS; --cluster-ca FILE \
                          trusts its certificate authority)";

/// Whether a connection error comes from the TLS handshake (an untrusted certificate, a
/// server without TLS): its causes name TLS or a certificate.
fn tls_failure(e: &(dyn std::error::Error + 'static)) -> bool {
    let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(c) = cause {
        let text = c.to_string().to_ascii_lowercase();
        if text.contains("certificate") || text.contains("tls") || text.contains("handshake") {
            return true;
        }
        cause = c.source();
    }
    false
}

/// The `user:password@` (user and password) or `token@` (token) part of a URL, decoded.
fn userinfo(url: &str) -> Option<(String, Option<String>)> {
    let (_, rest) = url.split_once("://")?;
    let authority = rest.split('/').next().unwrap_or(rest);
    let (info, _) = authority.rsplit_once('@')?;
    Some(match info.split_once(':') {
        Some((user, password)) => (percent_decode(user), Some(percent_decode(password))),
        None => (percent_decode(info), None),
    })
}

/// `url` without its `…@` part.
fn without_userinfo(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let end = rest.find('/').unwrap_or(rest.len());
    match rest[..end].rfind('@') {
        Some(at) => format!("{scheme}://{}", &rest[at + 1..]),
        None => url.to_owned(),
    }
}

/// `%XX` escapes decoded (a password may hold `@`, `:` or `/` that way).
fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        if bytes[i] == b'%'
            && i + 2 < bytes.len()
            && let (Some(h), Some(l)) = (hex(bytes[i + 1]), hex(bytes[i + 2]))
        {
            out.push((h * 16 + l) as u8);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// What a `--cluster-creds` file holds.
#[derive(Debug, PartialEq)]
enum Creds {
    /// A `.creds` file: a user JWT and its seed, between NATS' armour lines.
    Jwt,
    /// A user NKey seed alone.
    Seed(String),
}

impl Creds {
    fn parse(text: &str) -> Option<Creds> {
        if text.contains("-----BEGIN NATS USER JWT-----") {
            return Some(Creds::Jwt);
        }
        // A seed alone, possibly with comments or armour lines around it.
        text.lines()
            .map(str::trim)
            .find(|l| l.starts_with("SU") && l.len() > 50 && !l.contains(' '))
            .map(|s| Creds::Seed(s.to_owned()))
    }
}

/// `url` with any `user:password@` or `token@` part replaced by `***@` (also inside a longer
/// message).
pub fn redact(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(i) = rest.find("://") {
        let (head, tail) = rest.split_at(i + 3);
        out.push_str(head);
        let end = tail
            .find(|c: char| c.is_whitespace() || c == '/' || c == '"' || c == '\'')
            .unwrap_or(tail.len());
        match tail[..end].rfind('@') {
            Some(at) => {
                out.push_str("***");
                out.push_str(&tail[at..end]);
            }
            None => out.push_str(&tail[..end]),
        }
        rest = &tail[end..];
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_never_show() {
        assert_eq!(redact("nats://s3cret@h:4222"), "nats://***@h:4222");
        assert_eq!(
            redact("cannot reach tls://u:p@a:1 or nats://b:2/x"),
            "cannot reach tls://***@a:1 or nats://b:2/x"
        );
        assert_eq!(redact("no url here"), "no url here");
    }

    #[test]
    fn credentials_come_out_of_the_url() {
        assert_eq!(
            userinfo("nats://tok@h:4222"),
            Some(("tok".to_string(), None))
        );
        assert_eq!(
            userinfo("tls://u:p%40ss%3A1@h:4222/x"),
            Some(("u".to_string(), Some("p@ss:1".to_string())))
        );
        assert_eq!(userinfo("nats://h:4222"), None);
        assert_eq!(without_userinfo("nats://u:p@h:4222"), "nats://h:4222");
        assert_eq!(without_userinfo("tls://h:1"), "tls://h:1");
        assert_eq!(percent_decode("a%2"), "a%2");
    }

    #[test]
    fn a_creds_file_or_a_seed() {
        let creds = "-----BEGIN NATS USER JWT-----\neyJ0\n------END NATS USER JWT------\n";
        assert_eq!(Creds::parse(creds), Some(Creds::Jwt));
        let seed = "SUAKYRHVIOREXV7EUZTBHUHL7NUMHPMAS7QMDU3GTIUWEI5LDNOXD43IZY";
        assert_eq!(
            Creds::parse(&format!("# a user\n{seed}\n")),
            Some(Creds::Seed(seed.into()))
        );
        assert_eq!(Creds::parse("hello"), None);
    }
}
