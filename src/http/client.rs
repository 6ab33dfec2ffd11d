//! The client: a [`Connector`] per node (the checked options, prepared requests and the TLS
//! configuration) and a [`UserClient`] per virtual user holding its keep-alive connections, one
//! per origin, opened on first use and again after a failure.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::Poll;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::Request;
use hyper::body::Incoming;
use hyper::client::conn::{http1, http2};
use hyper::header::{HOST, HeaderValue};
use hyper_util::rt::{TokioExecutor, TokioIo};
use rustls::pki_types::ServerName;
use tokio::net::TcpStream;
use tokio::time::{Instant, Sleep};
use tokio_rustls::TlsConnector;

use super::error::{ErrorClass, RequestError, chain};
use super::options::{HttpOptions, Target};
use super::tls::client_config;

/// What the users of one node share: the options and what is prepared from them.
pub struct Connector {
    options: HttpOptions,
    /// Per target: the request to send, cloned for each one (method, URI, headers, body).
    prepared: Vec<Request<Full<Bytes>>>,
    tls: Option<TlsConnector>,
}

impl std::fmt::Debug for Connector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connector")
            .field("targets", &self.options.targets.len())
            .field("tls", &self.tls.is_some())
            .finish()
    }
}

impl Connector {
    /// Prepares the requests and, when a target is `https`, the TLS configuration.
    pub fn new(options: HttpOptions) -> Result<Connector, RequestError> {
        let tls = if options.needs_tls() {
            let config = client_config(options.insecure, options.http2)
                .map_err(|e| RequestError::new(ErrorClass::Tls, e))?;
            Some(TlsConnector::from(Arc::new(config)))
        } else {
            None
        };
        let prepared = options
            .targets
            .iter()
            .map(|t| {
                let mut headers = options.headers.clone();
                let uri = if options.http2 {
                    // HTTP/2 carries the authority in the URI (`:authority`).
                    t.absolute.clone()
                } else {
                    if !headers.contains_key(HOST)
                        && let Ok(v) = HeaderValue::from_str(&t.authority)
                    {
                        headers.insert(HOST, v);
                    }
                    t.origin_form.clone()
                };
                let mut req = Request::new(Full::new(options.body.clone()));
                *req.method_mut() = options.method.clone();
                *req.uri_mut() = uri;
                *req.headers_mut() = headers;
                req
            })
            .collect();
        Ok(Connector {
            options,
            prepared,
            tls,
        })
    }

    /// The options it was made from.
    pub fn options(&self) -> &HttpOptions {
        &self.options
    }

    fn request(&self, target: usize) -> Request<Full<Bytes>> {
        // One clone of a prepared request: no default URI and header map made and dropped.
        self.prepared[target].clone()
    }

    async fn connect(&self, t: &Target) -> Result<Sender, RequestError> {
        let tcp = TcpStream::connect((t.host.as_str(), t.port))
            .await
            .map_err(|e| {
                RequestError::new(ErrorClass::Connect, format!("{}:{}: {e}", t.host, t.port))
            })?;
        let _ = tcp.set_nodelay(true);
        let http2 = self.options.http2;
        match (&self.tls, t.tls) {
            (Some(tls), true) => {
                let name = ServerName::try_from(t.host.clone())
                    .map_err(|e| RequestError::new(ErrorClass::Tls, e))?;
                let stream = tls
                    .connect(name, tcp)
                    .await
                    .map_err(|e| RequestError::new(ErrorClass::Tls, chain(&e)))?;
                handshake(TokioIo::new(stream), http2).await
            }
            _ => handshake(TokioIo::new(tcp), http2).await,
        }
    }
}

/// A connection's sending half.
enum Sender {
    H1(http1::SendRequest<Full<Bytes>>),
    H2(http2::SendRequest<Full<Bytes>>),
}

impl Sender {
    async fn ready(&mut self) -> Result<(), hyper::Error> {
        match self {
            Sender::H1(s) => s.ready().await,
            Sender::H2(s) => s.ready().await,
        }
    }

    async fn send(
        &mut self,
        req: Request<Full<Bytes>>,
    ) -> Result<hyper::Response<Incoming>, hyper::Error> {
        match self {
            Sender::H1(s) => s.send_request(req).await,
            Sender::H2(s) => s.send_request(req).await,
        }
    }
}

async fn handshake<I>(io: I, http2: bool) -> Result<Sender, RequestError>
where
    I: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
{
    let other = |e: hyper::Error| RequestError::other(&e);
    if http2 {
        let (sender, conn) = http2::handshake(TokioExecutor::new(), io)
            .await
            .map_err(other)?;
        // Drives the connection; ends when every sender is dropped or the peer closes.
        tokio::spawn(async move {
            let _ = conn.await;
        });
        Ok(Sender::H2(sender))
    } else {
        let (sender, conn) = http1::handshake(io).await.map_err(other)?;
        tokio::spawn(async move {
            let _ = conn.await;
        });
        Ok(Sender::H1(sender))
    }
}

/// One answered request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Response {
    pub status: u16,
    /// Response body bytes.
    pub bytes_in: u64,
}

/// One virtual user's connections, one per origin.
#[derive(Default)]
pub struct UserClient {
    conns: Vec<Option<Sender>>,
    /// The timer that bounds each request, kept from one request to the next (see
    /// [`within`]); made by the first request.
    timer: Option<Pin<Box<Sleep>>>,
}

impl std::fmt::Debug for UserClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let open = self.conns.iter().filter(|c| c.is_some()).count();
        f.debug_struct("UserClient").field("open", &open).finish()
    }
}

impl UserClient {
    pub fn new() -> UserClient {
        UserClient::default()
    }

    /// Sends the request for target `i` (an index into the options' targets) and reads the
    /// whole response, within the timeout. A failure closes the connection it used.
    pub async fn send(&mut self, c: &Connector, i: usize) -> Result<Response, RequestError> {
        self.send_from(c, i, Instant::now()).await
    }

    /// [`send`](Self::send) with the timeout counted from `start` (the instant the caller
    /// sends it, already read from the clock).
    pub async fn send_from(
        &mut self,
        c: &Connector,
        i: usize,
        start: Instant,
    ) -> Result<Response, RequestError> {
        let target = &c.options.targets[i];
        if self.conns.len() < c.options.origins {
            self.conns.resize_with(c.options.origins, || None);
        }
        let slot = &mut self.conns[target.origin];
        let timeout = c.options.timeout;
        let deadline = start + timeout;
        let timer = self
            .timer
            .get_or_insert_with(|| Box::pin(tokio::time::sleep_until(deadline)));
        let outcome = {
            // Pinned where it is made: moving it into `within` would copy it once more.
            let work = std::pin::pin!(exchange(slot, c, i));
            within(deadline, timer.as_mut(), work).await
        };
        match outcome {
            Some(Ok(r)) => Ok(r),
            Some(Err(e)) => {
                self.conns[target.origin] = None;
                Err(e)
            }
            None => {
                self.conns[target.origin] = None;
                Err(RequestError::new(
                    ErrorClass::Timeout,
                    format!("no complete answer within {timeout:?}"),
                ))
            }
        }
    }
}

/// Runs `work` until it ends (`Some`) or `deadline` passes (`None`), like
/// `tokio::time::timeout_at`, on a `timer` kept from one call to the next.
///
/// A fresh timeout per request registers a timer in the runtime's wheel and removes it again,
/// under the timer driver's lock, for every request, although almost none times out. Here the
/// timer is left where it is while it is due no later than `deadline`: it fires at most once
/// per timeout period, and then, if the request running has time left, is set to that
/// request's own deadline. A request is abandoned at its deadline exactly as with `timeout`.
pub(crate) async fn within<F: Future>(
    deadline: Instant,
    mut timer: Pin<&mut Sleep>,
    mut work: Pin<&mut F>,
) -> Option<F::Output> {
    if timer.deadline() > deadline {
        timer.as_mut().reset(deadline);
    }
    std::future::poll_fn(move |cx| {
        if let Poll::Ready(out) = work.as_mut().poll(cx) {
            return Poll::Ready(Some(out));
        }
        while timer.as_mut().poll(cx).is_ready() {
            if Instant::now() >= deadline {
                return Poll::Ready(None);
            }
            // An earlier request's deadline: this one has time left.
            timer.as_mut().reset(deadline);
        }
        Poll::Pending
    })
    .await
}

async fn exchange(
    slot: &mut Option<Sender>,
    c: &Connector,
    i: usize,
) -> Result<Response, RequestError> {
    // A kept-alive connection the server has closed meanwhile is replaced, not an error.
    if let Some(s) = slot.as_mut()
        && s.ready().await.is_err()
    {
        *slot = None;
    }
    let reused = slot.is_some();
    let sender = match slot {
        Some(s) => s,
        // Boxed: connecting (TCP, TLS, the handshake) is the largest state of this future by
        // far, and rare; unboxed, every request would carry its size, and the future is moved
        // (copied whole) on its way into the timer's select.
        None => slot.insert(Box::pin(c.connect(&c.options.targets[i])).await?),
    };
    let other = |e: hyper::Error| RequestError::other(&e);
    let resp = match sender.send(c.request(i)).await {
        Ok(resp) => resp,
        // The server closed a kept-alive connection before it took this request: an HTTP/2
        // GOAWAY at its per-connection limit (nginx's `keepalive_requests`, 1,000 by default),
        // or an HTTP/1.1 close that crossed the send. hyper calls such a request canceled: it
        // was never processed, so it goes again, once, on a new connection.
        Err(e) if reused && e.is_canceled() => {
            *slot = None;
            let sender = slot.insert(Box::pin(c.connect(&c.options.targets[i])).await?);
            sender.send(c.request(i)).await.map_err(other)?
        }
        Err(e) => return Err(other(e)),
    };
    let status = resp.status().as_u16();
    let mut body = resp.into_body();
    let mut bytes_in = 0u64;
    while let Some(frame) = body.frame().await {
        if let Some(data) = frame.map_err(other)?.data_ref() {
            bytes_in += data.len() as u64;
        }
    }
    Ok(Response { status, bytes_in })
}

#[cfg(test)]
mod tests {
    use std::pin::pin;
    use std::time::Duration;

    use tokio::time::{Instant, sleep, sleep_until};

    use super::within;

    #[tokio::test(start_paused = true)]
    async fn a_kept_timer_bounds_each_request_by_its_own_deadline() {
        let second = Duration::from_secs(1);
        let t0 = Instant::now();
        let mut timer = Box::pin(sleep_until(t0 + second));
        // A quick answer leaves the timer armed for the first deadline.
        let quick = within(
            t0 + second,
            timer.as_mut(),
            pin!(sleep(Duration::from_millis(10))),
        )
        .await;
        assert_eq!(quick, Some(()));
        sleep(Duration::from_millis(600)).await;
        // A request that hangs, sent at 0.61 s: the timer fires at 1 s (the first request's
        // deadline), is moved to 1.61 s, and the request is abandoned then, not before.
        let start = Instant::now();
        let hung = within(
            start + second,
            timer.as_mut(),
            pin!(std::future::pending::<()>()),
        )
        .await;
        assert_eq!(hung, None);
        assert_eq!(Instant::now() - start, second);
        // An earlier deadline than the timer's (a shorter timeout) moves it back.
        let start = Instant::now();
        timer.as_mut().reset(start + 10 * second);
        let short = Duration::from_millis(250);
        let hung = within(
            start + short,
            timer.as_mut(),
            pin!(std::future::pending::<()>()),
        )
        .await;
        assert_eq!(hung, None);
        assert_eq!(Instant::now() - start, short);
        // Work that ends at its deadline's instant still counts (polled first).
        let start = Instant::now();
        let at_edge = within(start + short, timer.as_mut(), pin!(sleep(short))).await;
        assert_eq!(at_edge, Some(()));
    }
}
