//! The `http` example's parts: a small HTTP/1.1 server on loopback that counts the requests
//! it receives, and the `http` scenario whose users send requests to it.
//!
//! Shared by `examples/http.rs` and `tests/examples_http.rs` (included with `#[path]`).
//!
//! Each user opens one keep-alive connection and, until it is asked to leave, waits for the
//! cluster-wide `requests` throttle and sends `GET /`. Each request is a span of the
//! scenario's own, `[http, request, start | stop | exception]`: start metadata `user_id`,
//! `method`, `path`; stop metadata `user_id`, `status`, `bytes` (response body length);
//! exception (a failed request) `kind` `error` and the error as `reason`.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use bytes::Bytes;
use http_body_util::{BodyExt, Empty, Full};
use hyper::body::Incoming;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use rookery::engine::config::{ConfigValue, Setting, SettingType, UpdateRule};
use rookery::engine::throttle::ThrottleError;
use rookery::engine::{InitContext, Scenario, ScenarioError, UserContext, UserResult, rate_config};
use rookery::fields;
use rookery::telemetry::{StaticName, Value};
use tokio::net::{TcpListener, TcpStream};

/// The span prefix of one request: `[http, request, start | stop | exception]`.
pub static REQUEST: StaticName = StaticName::new(&["http", "request"]);
/// The throttle every request passes.
pub const THROTTLE: &str = "requests";
/// The setting holding the throttle's rate (requests per second, or `infinity`).
pub const RATE_SETTING: &str = "request_rate";
/// Requests per second when `request_rate` is not set.
pub const DEFAULT_RATE: i64 = 1000;
/// What the server answers to every request.
pub const BODY: &[u8] = b"hello from the rookery http example\n";

/// The server: where it listens and how many requests it has received.
#[derive(Clone, Debug)]
pub struct HttpServer {
    addr: SocketAddr,
    received: Arc<AtomicU64>,
}

impl HttpServer {
    /// Binds `127.0.0.1:0` (a port the OS chooses) and serves on the current tokio runtime.
    pub async fn start() -> std::io::Result<HttpServer> {
        let listener = TcpListener::bind(("127.0.0.1", 0)).await?;
        let server = HttpServer {
            addr: listener.local_addr()?,
            received: Arc::new(AtomicU64::new(0)),
        };
        tokio::spawn(accept_loop(listener, server.received.clone()));
        Ok(server)
    }

    /// The address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Requests received so far (counted before the response is sent).
    pub fn received(&self) -> u64 {
        self.received.load(Ordering::SeqCst)
    }
}

async fn accept_loop(listener: TcpListener, received: Arc<AtomicU64>) {
    loop {
        let stream = match listener.accept().await {
            Ok((stream, _)) => stream,
            Err(e) => {
                // Out of file descriptors and the like: note it and keep serving.
                eprintln!("http example: accept failed: {e}");
                tokio::time::sleep(std::time::Duration::from_millis(10)).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let received = received.clone();
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |_req: Request<Incoming>| {
                received.fetch_add(1, Ordering::SeqCst);
                async { Ok::<_, Infallible>(Response::new(Full::new(Bytes::from_static(BODY)))) }
            });
            // A client closing its connection ends this task; errors concern that one
            // connection only.
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

/// The `http` scenario: users send `GET /` to `target` through the `requests` throttle.
#[derive(Clone, Debug)]
pub struct HttpLoad {
    target: SocketAddr,
}

impl HttpLoad {
    /// A scenario whose users send their requests to `target`.
    pub fn new(target: SocketAddr) -> HttpLoad {
        HttpLoad { target }
    }
}

/// What `init` resolved, shared by a node's users.
#[derive(Debug)]
pub struct HttpState {
    target: SocketAddr,
}

fn failed(what: &str, e: impl std::fmt::Display) -> ScenarioError {
    ScenarioError::new(format!("{what}: {e}"))
}

impl Scenario for HttpLoad {
    type State = HttpState;

    fn name(&self) -> &str {
        "http"
    }

    fn settings(&self) -> Vec<Setting> {
        vec![
            Setting::new(RATE_SETTING, "HTTP requests per second, cluster-wide")
                .ty(SettingType::Rate)
                .default_value(ConfigValue::Int(DEFAULT_RATE))
                .update(UpdateRule::throttle_rate(THROTTLE, 1000)),
        ]
    }

    fn init(&self, ctx: &InitContext<'_>) -> Result<HttpState, ScenarioError> {
        let rate = ctx
            .setting(RATE_SETTING)
            .map_err(|e| failed(RATE_SETTING, e))?
            .and_then(|v| rate_config(&v, 1000))
            .ok_or_else(|| ScenarioError::new(format!("{RATE_SETTING} has no rate")))?;
        // Every node runs `init`; the first creates the throttle, the others find it.
        match ctx.throttles().start(THROTTLE, rate) {
            Ok(_) | Err(ThrottleError::WrongReconfiguration { .. }) => {}
            Err(e) => return Err(failed("throttle requests", e)),
        }
        Ok(HttpState {
            target: self.target,
        })
    }

    async fn start(&self, user: UserContext, state: Arc<HttpState>) -> UserResult {
        let id = i64::try_from(user.user_id()).unwrap_or(i64::MAX);
        let throttle = user
            .throttles()
            .handle(THROTTLE)
            .map_err(|e| failed("throttle", e))?;
        let stream = TcpStream::connect(state.target)
            .await
            .map_err(|e| failed("connect", e))?;
        let _ = stream.set_nodelay(true);
        let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .map_err(|e| failed("handshake", e))?;
        // Drives the connection; ends when `sender` is dropped.
        tokio::spawn(connection);
        let emitter = user.emitter();
        let telemetry = user.telemetry();
        let mut sent: u64 = 0;
        while !user.removal_requested() {
            // Not raced against `removed()`: a release the throttle has counted as executed is
            // always sent, so the server's count, the spans and the throttle's executes agree.
            // (A user held here at rate 0 is cancelled when the stop's grace period ends, before
            // anything was released to it.)
            throttle.wait().await.map_err(|e| failed("throttle", e))?;
            let start_md = fields! {"user_id" => id, "method" => "GET", "path" => "/"};
            let span = emitter.span_start(&REQUEST, &start_md);
            let outcome = async {
                sender.ready().await?;
                let request = Request::get("/")
                    .header(hyper::header::HOST, "127.0.0.1")
                    .body(Empty::<Bytes>::new())
                    .map_err(|e| failed("request", e))?;
                let response = sender.send_request(request).await?;
                let status = response.status().as_u16();
                let body = response.into_body().collect().await?.to_bytes();
                Ok::<_, Box<dyn std::error::Error + Send + Sync>>((status, body.len()))
            }
            .await;
            match outcome {
                Ok((status, bytes)) => {
                    let md = fields! {
                        "user_id" => id,
                        "status" => i64::from(status),
                        "bytes" => bytes as i64,
                    };
                    span.stop(telemetry, &[], &emitter.with_node(&md));
                    sent += 1;
                }
                Err(e) => {
                    let reason = e.to_string();
                    span.exception(
                        telemetry,
                        &emitter.with_node(&start_md),
                        "error",
                        reason.as_str(),
                        Value::list([]),
                    );
                    return Err(failed("request", reason));
                }
            }
        }
        Ok(Value::from(sent))
    }
}
