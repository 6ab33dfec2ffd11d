//! The `chat` example's parts: a small line-based chat server on loopback that counts the
//! messages it receives, and the `chat` scenario whose users, paired by a coordinator, talk
//! through it.
//!
//! Shared by `examples/chat.rs` and `tests/examples_chat.rs` (included with `#[path]`).
//!
//! Protocol (one line each, `\n`-terminated): a client says `HELLO <id>` once and the server
//! answers `WELCOME <id>`; then the client sends `TO <peer> <text>`, which the server counts
//! and relays to the peer's connection as `FROM <id> <text>` (or drops if the peer is not
//! connected).
//!
//! Each user connects and says hello, then until it is asked to leave: joins the `pairs`
//! coordinator, and with the partner it is given exchanges `rounds` messages (each one waits
//! for the `messages` throttle, is sent as a `[chat, message, start | stop | exception]` span
//! with `to` and `bytes` in the stop metadata, then waits for the partner's message of the same
//! round). A user left without a partner when the coordinator times out joins again.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rookery::engine::config::{ConfigValue, Setting, SettingType, UpdateRule, Verdict};
use rookery::engine::coordinator::{Action, CoordinatorError, Plan};
use rookery::engine::throttle::ThrottleError;
use rookery::engine::{InitContext, Scenario, ScenarioError, UserContext, UserResult, rate_config};
use rookery::fields;
use rookery::telemetry::{StaticName, Value};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader, Lines};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, oneshot};

/// The span prefix of one message sent: `[chat, message, start | stop | exception]`.
pub static MESSAGE: StaticName = StaticName::new(&["chat", "message"]);
/// The throttle every message passes.
pub const THROTTLE: &str = "messages";
/// The coordinator that pairs users.
pub const COORDINATOR: &str = "pairs";
/// Messages per second when `message_rate` is not set.
pub const DEFAULT_RATE: i64 = 2000;
/// How long a user waits for its partner's message before giving the partner up.
const PARTNER_TIMEOUT: Duration = Duration::from_secs(5);

#[derive(Debug, Default)]
struct Counters {
    received: AtomicU64,
    relayed: AtomicU64,
    connections: AtomicU64,
    open: AtomicU64,
}

/// The chat server: where it listens and what it has seen.
#[derive(Clone, Debug)]
pub struct ChatServer {
    addr: SocketAddr,
    counters: Arc<Counters>,
}

type Peers = Arc<Mutex<HashMap<u64, mpsc::UnboundedSender<String>>>>;

impl ChatServer {
    /// Binds `127.0.0.1:0` (a port the OS chooses) and serves on the current tokio runtime.
    pub async fn start() -> std::io::Result<ChatServer> {
        let listener = TcpListener::bind(("127.0.0.1", 0)).await?;
        let server = ChatServer {
            addr: listener.local_addr()?,
            counters: Arc::default(),
        };
        tokio::spawn(accept_loop(listener, server.counters.clone()));
        Ok(server)
    }

    /// The address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `TO` lines received so far.
    pub fn received(&self) -> u64 {
        self.counters.received.load(Ordering::SeqCst)
    }

    /// Messages passed on to a connected peer.
    pub fn relayed(&self) -> u64 {
        self.counters.relayed.load(Ordering::SeqCst)
    }

    /// Connections accepted so far.
    pub fn connections(&self) -> u64 {
        self.counters.connections.load(Ordering::SeqCst)
    }

    /// Connections not yet closed (each has been read to its end once it is closed, so every
    /// message its client sent is counted).
    pub fn open(&self) -> u64 {
        self.counters.open.load(Ordering::SeqCst)
    }
}

async fn accept_loop(listener: TcpListener, counters: Arc<Counters>) {
    let peers: Peers = Arc::default();
    loop {
        let stream = match listener.accept().await {
            Ok((stream, _)) => stream,
            Err(e) => {
                eprintln!("chat example: accept failed: {e}");
                tokio::time::sleep(Duration::from_millis(10)).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        counters.connections.fetch_add(1, Ordering::SeqCst);
        counters.open.fetch_add(1, Ordering::SeqCst);
        let counters = counters.clone();
        let peers = peers.clone();
        tokio::spawn(async move {
            serve_client(stream, &counters, &peers).await;
            counters.open.fetch_sub(1, Ordering::SeqCst);
        });
    }
}

/// Reads one client's lines to the end of its stream.
async fn serve_client(stream: TcpStream, counters: &Counters, peers: &Peers) {
    let (read, mut write) = stream.into_split();
    let (tx, mut rx) = mpsc::unbounded_channel::<String>();
    let writer = tokio::spawn(async move {
        while let Some(line) = rx.recv().await {
            if write.write_all(line.as_bytes()).await.is_err() {
                break;
            }
        }
    });
    let mut lines = BufReader::new(read).lines();
    let mut me: Option<u64> = None;
    // A read error ends the connection like its end does.
    while let Ok(Some(line)) = lines.next_line().await {
        if let Some(id) = line.strip_prefix("HELLO ") {
            if let Ok(id) = id.trim().parse::<u64>() {
                lock(peers).insert(id, tx.clone());
                me = Some(id);
                let _ = tx.send(format!("WELCOME {id}\n"));
            }
        } else if let Some(rest) = line.strip_prefix("TO ") {
            counters.received.fetch_add(1, Ordering::SeqCst);
            let (to, text) = rest.split_once(' ').unwrap_or((rest, ""));
            let peer = to
                .parse::<u64>()
                .ok()
                .and_then(|to| lock(peers).get(&to).cloned());
            if let (Some(peer), Some(from)) = (peer, me)
                && peer.send(format!("FROM {from} {text}\n")).is_ok()
            {
                counters.relayed.fetch_add(1, Ordering::SeqCst);
            }
        }
    }
    if let Some(id) = me {
        let mut map = lock(peers);
        if map.get(&id).is_some_and(|t| t.same_channel(&tx)) {
            map.remove(&id);
        }
    }
    drop(tx);
    let _ = writer.await;
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Users waiting for the coordinator to give them a partner (`None`: none this time).
type Waiting = Arc<Mutex<HashMap<u64, oneshot::Sender<Option<u64>>>>>;

/// The `chat` scenario: paired users exchange messages through the server at `target`.
#[derive(Clone, Debug)]
pub struct ChatLoad {
    target: SocketAddr,
    /// Shared by every node: the coordinator (started by the first node's `init`) answers here.
    waiting: Waiting,
}

impl ChatLoad {
    /// A scenario whose users talk through the chat server at `target`.
    pub fn new(target: SocketAddr) -> ChatLoad {
        ChatLoad {
            target,
            waiting: Arc::default(),
        }
    }
}

/// What `init` resolved, shared by a node's users.
#[derive(Debug)]
pub struct ChatState {
    target: SocketAddr,
    rounds: u64,
    waiting: Waiting,
}

fn failed(what: &str, e: impl std::fmt::Display) -> ScenarioError {
    ScenarioError::new(format!("{what}: {e}"))
}

impl Scenario for ChatLoad {
    type State = ChatState;

    fn name(&self) -> &str {
        "chat"
    }

    fn settings(&self) -> Vec<Setting> {
        vec![
            Setting::new("message_rate", "Chat messages per second, cluster-wide")
                .ty(SettingType::Rate)
                .default_value(ConfigValue::Int(DEFAULT_RATE))
                .update(UpdateRule::throttle_rate(THROTTLE, 1000)),
            Setting::new("rounds", "Messages each user sends to one partner")
                .ty(SettingType::Int)
                .default_value(ConfigValue::Int(10))
                .verify(|v: &ConfigValue| match v.as_i64() {
                    Some(n) if n > 0 => Verdict::Accept,
                    _ => Verdict::Reject("must be a positive integer".into()),
                }),
        ]
    }

    fn init(&self, ctx: &InitContext<'_>) -> Result<ChatState, ScenarioError> {
        let rate = ctx
            .setting("message_rate")
            .map_err(|e| failed("message_rate", e))?
            .and_then(|v| rate_config(&v, 1000))
            .ok_or_else(|| ScenarioError::new("message_rate has no rate"))?;
        let rounds = ctx
            .setting("rounds")
            .map_err(|e| failed("rounds", e))?
            .and_then(|v| v.as_i64())
            .and_then(|n| u64::try_from(n).ok())
            .ok_or_else(|| ScenarioError::new("rounds has no value"))?;
        match ctx.throttles().start(THROTTLE, rate) {
            Ok(_) | Err(ThrottleError::WrongReconfiguration { .. }) => {}
            Err(e) => return Err(failed("throttle messages", e)),
        }
        let waiting = self.waiting.clone();
        let answer = move |user: u64, partner: Option<u64>| {
            if let Some(tx) = lock(&waiting).remove(&user) {
                let _ = tx.send(partner);
            }
        };
        // Pairs, in the order they joined; a user left alone (timeout, stop) gets `None`.
        let plan = Plan::new().item(
            2,
            Action::pairs(move |_, a, b| match (a, b) {
                (Some(a), Some(b)) => {
                    answer(a.user, Some(b.user));
                    answer(b.user, Some(a.user));
                }
                (Some(a), None) | (None, Some(a)) => answer(a.user, None),
                (None, None) => {}
            }),
        );
        match ctx
            .coordinators()
            .start(COORDINATOR, plan, Some(Duration::from_secs(1)))
        {
            Ok(()) | Err(CoordinatorError::AlreadyStarted { .. }) => {}
            Err(e) => return Err(failed("coordinator pairs", e)),
        }
        Ok(ChatState {
            target: self.target,
            rounds,
            waiting: self.waiting.clone(),
        })
    }

    async fn start(&self, user: UserContext, state: Arc<ChatState>) -> UserResult {
        let id = user.user_id();
        let throttle = user
            .throttles()
            .handle(THROTTLE)
            .map_err(|e| failed("throttle", e))?;
        let stream = TcpStream::connect(state.target)
            .await
            .map_err(|e| failed("connect", e))?;
        let _ = stream.set_nodelay(true);
        let (read, mut write) = stream.into_split();
        let mut lines = BufReader::new(read).lines();
        write
            .write_all(format!("HELLO {id}\n").as_bytes())
            .await
            .map_err(|e| failed("hello", e))?;
        // Messages to this user are relayed from now on: only then may it be paired.
        let welcome = format!("WELCOME {id}");
        loop {
            match lines.next_line().await {
                Ok(Some(line)) if line == welcome => break,
                Ok(Some(_)) => {}
                Ok(None) => return Err(ScenarioError::new("the server closed the connection")),
                Err(e) => return Err(failed("hello", e)),
            }
        }
        let mut sent: u64 = 0;
        'pairing: while !user.removal_requested() {
            let (tx, rx) = oneshot::channel();
            lock(&state.waiting).insert(id, tx);
            if user
                .coordinators()
                .add(COORDINATOR, id, Value::from(user.node()))
                .is_err()
            {
                // The coordinator has stopped: the scenario is ending.
                lock(&state.waiting).remove(&id);
                break;
            }
            let partner = tokio::select! {
                p = rx => p.ok().flatten(),
                () = user.removed() => {
                    lock(&state.waiting).remove(&id);
                    break;
                }
            };
            let Some(partner) = partner else { continue };
            for round in 0..state.rounds {
                if user.removal_requested() {
                    break 'pairing;
                }
                // As in the `http` example, a release is always followed by its message.
                throttle.wait().await.map_err(|e| failed("throttle", e))?;
                send(&user, &mut write, partner, round).await?;
                sent += 1;
                tokio::select! {
                    r = read_from(&mut lines, partner) => r?,
                    () = user.removed() => break 'pairing,
                    // The partner has gone (failed, or removed alone): find another.
                    () = tokio::time::sleep(PARTNER_TIMEOUT) => continue 'pairing,
                }
            }
        }
        // Closing the connection lets the server read everything sent before.
        let _ = write.shutdown().await;
        Ok(Value::from(sent))
    }
}

/// Sends one message inside a `[chat, message, _]` span.
async fn send(
    user: &UserContext,
    write: &mut OwnedWriteHalf,
    partner: u64,
    round: u64,
) -> Result<(), ScenarioError> {
    let id = i64::try_from(user.user_id()).unwrap_or(i64::MAX);
    let to = i64::try_from(partner).unwrap_or(i64::MAX);
    let line = format!("TO {partner} round {round} from {id}\n");
    let emitter = user.emitter();
    let start_md = fields! {"user_id" => id, "to" => to};
    let span = emitter.span_start(&MESSAGE, &start_md);
    match write.write_all(line.as_bytes()).await {
        Ok(()) => {
            let md = fields! {"user_id" => id, "to" => to, "bytes" => line.len() as i64};
            span.stop(user.telemetry(), &[], &emitter.with_node(&md));
            Ok(())
        }
        Err(e) => {
            let reason = e.to_string();
            span.exception(
                user.telemetry(),
                &emitter.with_node(&start_md),
                "error",
                reason.as_str(),
                Value::list([]),
            );
            Err(failed("send", reason))
        }
    }
}

/// Reads lines until one from `partner` (earlier partners' late messages are skipped).
async fn read_from(
    lines: &mut Lines<BufReader<OwnedReadHalf>>,
    partner: u64,
) -> Result<(), ScenarioError> {
    let prefix = format!("FROM {partner} ");
    loop {
        match lines.next_line().await {
            Ok(Some(line)) if line.starts_with(&prefix) => return Ok(()),
            Ok(Some(_)) => {}
            Ok(None) => return Err(ScenarioError::new("the server closed the connection")),
            Err(e) => return Err(failed("read", e)),
        }
    }
}
