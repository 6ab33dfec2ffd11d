//! An in-process hyper test server for the `http` scenario's tests: HTTP/1.1 or HTTP/2, plain
//! or TLS (a self-signed certificate made with rcgen), on a free loopback port. Its tasks run
//! on the test's runtime and end with it; dropping the server stops accepting.
//!
//! Paths: `/` answers 200 `hello`; `/status/N` answers status N; `/echo` answers the request's
//! version, method, headers and body as text; `/sleep/MS` answers after MS ms. While
//! [`TestServer::stall`] is on, every request waits before it is answered. A second listener
//! ([`reset_server`]) resets every connection as soon as a request arrives.
#![allow(dead_code)]

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::{TokioExecutor, TokioIo};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use tokio::io::AsyncReadExt;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// How the server speaks.
#[derive(Clone, Copy, Debug, Default)]
pub struct Proto {
    pub http2: bool,
    pub tls: bool,
}

pub struct TestServer {
    addr: SocketAddr,
    tls: bool,
    received: Arc<AtomicU64>,
    connections: Arc<AtomicU64>,
    last: Arc<Mutex<String>>,
    open: watch::Sender<bool>,
    accept: JoinHandle<()>,
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.accept.abort();
        // Whoever waits on a stall is let go.
        let _ = self.open.send(true);
    }
}

impl TestServer {
    /// Starts on `127.0.0.1:0` on the current runtime.
    pub async fn start(proto: Proto) -> TestServer {
        let listener = TcpListener::bind(("127.0.0.1", 0)).await.expect("bind");
        let addr = listener.local_addr().expect("local addr");
        let received = Arc::new(AtomicU64::new(0));
        let connections = Arc::new(AtomicU64::new(0));
        let last = Arc::new(Mutex::new(String::new()));
        let (open, _) = watch::channel(true);
        let tls = proto
            .tls
            .then(|| tokio_rustls::TlsAcceptor::from(Arc::new(tls_config(proto.http2))));
        let counters = Counters {
            received: received.clone(),
            connections: connections.clone(),
            last: last.clone(),
        };
        let accept = tokio::spawn(accept_loop(listener, proto, tls, counters, open.clone()));
        TestServer {
            addr,
            tls: proto.tls,
            received,
            connections,
            last,
            open,
            accept,
        }
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:PORT/path` (or https).
    pub fn url(&self, path: &str) -> String {
        let scheme = if self.tls { "https" } else { "http" };
        format!("{scheme}://{}{path}", self.addr)
    }

    /// Requests received so far.
    pub fn received(&self) -> u64 {
        self.received.load(Ordering::SeqCst)
    }

    /// Connections accepted so far.
    pub fn connections(&self) -> u64 {
        self.connections.load(Ordering::SeqCst)
    }

    /// The latest request as `/echo` describes it (version, method, headers, body).
    pub fn last_request(&self) -> String {
        self.last.lock().unwrap().clone()
    }

    /// Holds every request (those arriving and those being served) until [`Self::resume`].
    pub fn stall(&self) {
        let _ = self.open.send(false);
    }

    pub fn resume(&self) {
        let _ = self.open.send(true);
    }
}

/// A self-signed certificate for `localhost` and `127.0.0.1`; ALPN `h2` or `http/1.1`.
fn tls_config(http2: bool) -> rustls::ServerConfig {
    let ck =
        rcgen::generate_simple_self_signed(vec!["localhost".to_owned(), "127.0.0.1".to_owned()])
            .expect("a self-signed certificate");
    let cert: CertificateDer<'static> = ck.cert.der().clone();
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(ck.signing_key.serialize_der()));
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("protocol versions")
        .with_no_client_auth()
        .with_single_cert(vec![cert], key)
        .expect("the certificate fits the key");
    config.alpn_protocols = if http2 {
        vec![b"h2".to_vec()]
    } else {
        vec![b"http/1.1".to_vec()]
    };
    config
}

#[derive(Clone)]
struct Counters {
    received: Arc<AtomicU64>,
    connections: Arc<AtomicU64>,
    last: Arc<Mutex<String>>,
}

async fn accept_loop(
    listener: TcpListener,
    proto: Proto,
    tls: Option<tokio_rustls::TlsAcceptor>,
    counters: Counters,
    open: watch::Sender<bool>,
) {
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        let _ = stream.set_nodelay(true);
        counters.connections.fetch_add(1, Ordering::SeqCst);
        let counters = counters.clone();
        let gate = open.subscribe();
        let service = hyper::service::service_fn(move |req: Request<Incoming>| {
            counters.received.fetch_add(1, Ordering::SeqCst);
            let mut gate = gate.clone();
            let last = counters.last.clone();
            async move {
                let _ = gate.wait_for(|open| *open).await;
                Ok::<_, Infallible>(answer(req, &last).await)
            }
        });
        let tls = tls.clone();
        tokio::spawn(async move {
            match tls {
                Some(acceptor) => {
                    let Ok(stream) = acceptor.accept(stream).await else {
                        return;
                    };
                    serve(TokioIo::new(stream), proto.http2, service).await;
                }
                None => serve(TokioIo::new(stream), proto.http2, service).await,
            }
        });
    }
}

async fn serve<I, S>(io: I, http2: bool, service: S)
where
    I: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
    S: hyper::service::Service<
            Request<Incoming>,
            Response = Response<Full<Bytes>>,
            Error = Infallible,
        > + Clone
        + Send
        + 'static,
    S::Future: Send + 'static,
{
    if http2 {
        let _ = hyper::server::conn::http2::Builder::new(TokioExecutor::new())
            .serve_connection(io, service)
            .await;
    } else {
        let _ = hyper::server::conn::http1::Builder::new()
            .serve_connection(io, service)
            .await;
    }
}

async fn answer(req: Request<Incoming>, last: &Mutex<String>) -> Response<Full<Bytes>> {
    let path = req.uri().path().to_owned();
    let mut seen = format!("version {:?}\nmethod {}\n", req.version(), req.method());
    for (k, v) in req.headers() {
        seen.push_str(&format!("header {}: {}\n", k, v.to_str().unwrap_or("?")));
    }
    let (_, body) = req.into_parts();
    let body = body
        .collect()
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_default();
    seen.push_str(&format!("body {}\n", String::from_utf8_lossy(&body)));
    *last.lock().unwrap() = seen.clone();
    let text = |status: u16, body: String| {
        let mut r = Response::new(Full::new(Bytes::from(body)));
        *r.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        r
    };
    if let Some(code) = path.strip_prefix("/status/") {
        return text(code.parse().unwrap_or(500), format!("status {code}\n"));
    }
    if let Some(ms) = path.strip_prefix("/sleep/") {
        tokio::time::sleep(Duration::from_millis(ms.parse().unwrap_or(0))).await;
        return text(200, "slept\n".to_owned());
    }
    if path == "/echo" {
        return text(200, seen);
    }
    if path == "/close" {
        // The server closes the connection after this answer.
        let mut r = text(200, "bye\n".to_owned());
        r.headers_mut().insert(
            hyper::header::CONNECTION,
            "close".parse().expect("a header value"),
        );
        return r;
    }
    text(200, "hello\n".to_owned())
}

/// A listener that resets each connection (RST) once a request's first bytes arrive.
pub async fn reset_server() -> (SocketAddr, JoinHandle<()>) {
    let listener = TcpListener::bind(("127.0.0.1", 0)).await.expect("bind");
    let addr = listener.local_addr().expect("local addr");
    let task = tokio::spawn(async move {
        loop {
            let Ok((mut stream, _)) = listener.accept().await else {
                continue;
            };
            tokio::spawn(async move {
                let mut buf = [0u8; 1024];
                let _ = stream.read(&mut buf).await;
                let _ = stream.set_zero_linger();
                drop(stream);
            });
        }
    });
    (addr, task)
}

/// A loopback port nobody listens on (bound, then released).
pub fn closed_port() -> u16 {
    let l = std::net::TcpListener::bind(("127.0.0.1", 0)).expect("bind");
    l.local_addr().expect("local addr").port()
}
