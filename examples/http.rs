//! Load-test a real HTTP server on loopback with your own scenario.
//!
//! ```text
//! cargo run --release --example http                                   # the monitor
//! cargo run --release --example http -- run --headless --duration 3    # summary JSON
//! cargo run --release --example http -- run --headless --duration 10 --users 64 \
//!     --set request_rate=infinity --set user_rate=infinity             # flat out
//! cargo run --release --example http -- --serve-only                   # just the server
//! ```
//!
//! The example starts a small HTTP/1.1 server (hyper) on `127.0.0.1` at a port the OS
//! chooses, then hands the `http` scenario to [`rookery::cli::main_with`], so every argument
//! of `rookery` works (`run`, `--headless`, `--record`, `--set`, `--list-settings`, ...).
//! Users send `GET /` through the `requests` throttle (`request_rate` per second, or
//! `infinity`), each request a `[http, request, _]` span with `status` and `bytes`.
//! When the run ends, the server's own count goes to stderr:
//! `http example: server received N requests`.
//!
//! `--serve-only` runs the server alone and prints its URL on stdout (for a peer tool such as
//! `oha` to hit, see `benches/http_vs_oha.sh`); it serves until SIGINT/SIGTERM, then prints
//! the same count line.

use std::process::ExitCode;
use std::time::Duration;

use rookery::engine::boxed;

#[path = "common/http_load.rs"]
mod http_load;

use http_load::{HttpLoad, HttpServer};

fn main() -> ExitCode {
    let serve_only = std::env::args().nth(1).as_deref() == Some("--serve-only");
    // The server has a runtime of its own: `main_with` builds the engine's.
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("http-server")
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("http example: cannot start the server's runtime: {e}");
            return ExitCode::from(1);
        }
    };
    let server = match runtime.block_on(HttpServer::start()) {
        Ok(server) => server,
        Err(e) => {
            eprintln!("http example: cannot listen on 127.0.0.1: {e}");
            return ExitCode::from(1);
        }
    };
    let code = if serve_only {
        println!("http://{}/", server.addr());
        runtime.block_on(terminated());
        ExitCode::SUCCESS
    } else {
        rookery::cli::main_with(vec![boxed(HttpLoad::new(server.addr()))])
    };
    eprintln!(
        "http example: server received {} requests",
        server.received()
    );
    runtime.shutdown_timeout(Duration::from_secs(1));
    code
}

/// Completes on SIGINT or SIGTERM.
async fn terminated() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        if let Ok(mut term) = signal(SignalKind::terminate()) {
            tokio::select! {
                _ = term.recv() => {}
                _ = tokio::signal::ctrl_c() => {}
            }
            return;
        }
    }
    let _ = tokio::signal::ctrl_c().await;
}
