//! Paired users chatting over TCP on loopback: a coordinator, a throttle and spans of your own.
//!
//! ```text
//! cargo run --release --example chat                                   # the monitor
//! cargo run --release --example chat -- run --headless --duration 3    # summary JSON
//! cargo run --release --example chat -- run --headless --duration 5 --set rounds=20
//! ```
//!
//! The example starts a small line-based chat server on `127.0.0.1` at a port the OS chooses,
//! then hands the `chat` scenario to [`rookery::cli::main_with`], so every argument of
//! `rookery` works. Users connect, are paired by the `pairs` coordinator, and exchange
//! `rounds` messages per partner through the `messages` throttle (`message_rate` per second),
//! each message a `[chat, message, _]` span with `to` and `bytes`. When the run ends, the
//! server's own count goes to stderr: `chat example: server received N messages`.

use std::process::ExitCode;
use std::time::{Duration, Instant};

use rookery::engine::boxed;

#[path = "common/chat_load.rs"]
mod chat_load;

use chat_load::{ChatLoad, ChatServer};

fn main() -> ExitCode {
    // The server has a runtime of its own: `main_with` builds the engine's.
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("chat-server")
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("chat example: cannot start the server's runtime: {e}");
            return ExitCode::from(1);
        }
    };
    let server = match runtime.block_on(ChatServer::start()) {
        Ok(server) => server,
        Err(e) => {
            eprintln!("chat example: cannot listen on 127.0.0.1: {e}");
            return ExitCode::from(1);
        }
    };
    let code = rookery::cli::main_with(vec![boxed(ChatLoad::new(server.addr()))]);
    // The users have closed their connections; give the server a moment to read them to the
    // end, so the count includes everything they sent.
    let deadline = Instant::now() + Duration::from_secs(2);
    while server.open() > 0 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(5));
    }
    eprintln!(
        "chat example: server relayed {} messages over {} connections",
        server.relayed(),
        server.connections()
    );
    eprintln!(
        "chat example: server received {} messages",
        server.received()
    );
    runtime.shutdown_timeout(Duration::from_secs(1));
    code
}
