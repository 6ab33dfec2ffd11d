//! `rookery attach amoc://HOST:PORT [--token T] [--record FILE] [--headless --duration S]
//! [--threshold EXPR]... [--summary-json FILE] [--report FILE.html]`:
//! the monitor on a real Amoc cluster, through the bridge (`integrations/amoc/`).
//!
//! The events come from the bridge and go into the same monitor (or, headless, the same
//! summary) as a run or a replay; the keys send commands to Amoc through the bridge. Quitting
//! only disconnects: the Amoc run goes on. Headless, the summary is printed at `--duration`,
//! on a signal, or when the bridge ends the stream.

use std::sync::Arc;
use std::time::Duration;

use super::signals::Signals;
use crate::attach::{AttachFeed, AttachOptions, Attachment, BridgeAddress, BridgeSink};
use crate::monitor::MonitorState;
use crate::tui::{TuiOptions, run_live};
use clap::Args;
use std::path::PathBuf;

#[derive(Debug, Args)]
pub struct AttachArgs {
    /// The bridge: amoc://HOST:PORT (`rookery_bridge:start/1` on the Amoc master says the
    /// port).
    #[arg(value_name = "amoc://HOST:PORT")]
    pub url: String,
    /// The bridge's token: needed for commands (throttle keys, users), and to watch from
    /// another host.
    #[arg(long, value_name = "T")]
    pub token: Option<String>,
    /// Record every event received to this file (event-log format v1; `.gz` compresses).
    #[arg(long, value_name = "FILE")]
    pub record: Option<PathBuf>,
    /// No terminal UI: print the summary JSON on stdout at --duration, on SIGINT, SIGTERM or
    /// SIGHUP, or when the bridge ends the stream.
    #[arg(long)]
    pub headless: bool,
    /// With --headless: stop watching after this many seconds.
    #[arg(long, value_name = "SECS", value_parser = super::parse_seconds)]
    pub duration: Option<f64>,
    /// Colour theme: dark, light, high-contrast, or a path to a theme file.
    #[arg(long, value_name = "NAME|PATH")]
    pub theme: Option<String>,
    /// With --headless: write a self-contained HTML report when watching ends.
    #[arg(long, value_name = "FILE.html", requires = "headless")]
    pub report: Option<PathBuf>,
    #[command(flatten)]
    pub results: super::report::ThresholdArgs,
    #[command(flatten)]
    pub abort: super::report::AbortArgs,
}

/// How often the headless client moves events from the queue into the state.
const HEADLESS_DRAIN: Duration = Duration::from_millis(10);

/// Why `rookery attach` failed.
#[derive(Debug)]
pub enum AttachRunError {
    /// A bad command line (exit status 2).
    Usage(String),
    /// Anything else (exit status 1).
    Failed(String),
    /// Watching went through but thresholds failed (exit status 99).
    Thresholds(String),
}

/// Runs `rookery attach`.
pub fn run(args: &AttachArgs) -> Result<(), AttachRunError> {
    let addr = BridgeAddress::parse(&args.url).map_err(AttachRunError::Usage)?;
    if args.duration.is_some() && !args.headless {
        return Err(AttachRunError::Usage(
            "--duration goes with --headless (the monitor runs until q)".into(),
        ));
    }
    if !args.headless
        && (!args.results.thresholds.is_empty() || args.results.summary_json.is_some())
    {
        return Err(AttachRunError::Usage(
            "--threshold and --summary-json go with --headless on attach".into(),
        ));
    }
    super::report::check_outputs(&args.results, args.report.as_deref())
        .map_err(AttachRunError::Usage)?;
    let state = args.results.state().map_err(AttachRunError::Usage)?;
    let tui = if args.headless {
        None
    } else {
        crate::tui::terminal::ensure_terminal()
            .map_err(|e| AttachRunError::Failed(format!("terminal: {e}")))?;
        Some(
            TuiOptions::load(args.theme.as_deref())
                .map_err(|e| AttachRunError::Failed(e.to_string()))?,
        )
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| AttachRunError::Failed(format!("cannot start the async runtime: {e}")))?;
    let verdict = runtime
        .block_on(run_async(args, addr, tui, state))
        .map_err(AttachRunError::Failed)?;
    match verdict {
        super::report::ThresholdVerdict::Passed => Ok(()),
        super::report::ThresholdVerdict::Failed(reason) => Err(AttachRunError::Thresholds(reason)),
    }
}

async fn run_async(
    args: &AttachArgs,
    addr: BridgeAddress,
    tui: Option<TuiOptions>,
    state: MonitorState,
) -> Result<super::report::ThresholdVerdict, String> {
    let mut signals = Signals::new().map_err(|e| format!("cannot listen to signals: {e}"))?;
    let opts = AttachOptions {
        token: args.token.clone(),
        record: args.record.clone(),
        ..AttachOptions::default()
    };
    // Connecting blocks (a few seconds at most): off the runtime's thread.
    let (attachment, feed) = tokio::task::spawn_blocking(move || Attachment::connect(&addr, opts))
        .await
        .map_err(|e| e.to_string())?
        .map_err(|e| e.to_string())?;
    let attachment = Arc::new(attachment);
    let outcome = match tui {
        None => {
            let deadline = args.duration.map(Duration::from_secs_f64);
            let abort = args.abort.abort_on_fail;
            let state = headless(&feed, state, deadline, abort, &mut signals).await;
            // Before we disconnect: did the bridge end the stream itself?
            let ended = feed.closed();
            Ok(Some((state, feed, ended)))
        }
        Some(opts) => {
            if !attachment.commands_allowed() {
                log::warn!(
                    target: "amoc",
                    "watching only: the bridge takes commands with its token (--token)"
                );
            }
            let sink = Arc::new(BridgeSink::new(attachment.clone()));
            // Its headline would say the run stopped: quitting here only disconnects.
            let opts = TuiOptions {
                print_summary: false,
                ..opts
            };
            let monitor = run_live(feed, sink, opts);
            tokio::select! {
                r = monitor => r.map(|_| None).map_err(|e| e.to_string()),
                // Cancelling the monitor drops its terminal guard, which restores the screen.
                () = signals.recv() => Err("terminated by a signal".into()),
            }
        }
    };
    let closed = attachment.close().map_err(|e| e.to_string());
    if let Some((mut state, feed, ended)) = outcome? {
        feed.drain_into(&mut state);
        if let Some(reason) = ended.filter(|_| args.duration.is_some()) {
            super::say(&format!("warning: {reason} before --duration ended"));
        }
        if state.dropped() > 0 {
            super::say(&format!(
                "warning: the monitor's queue was full and dropped {} events: the summary \
                 undercounts",
                state.dropped()
            ));
        }
        if state.recorder_dropped() > 0 {
            super::say(&format!(
                "warning: the bridge lost {} events (its queue was full or over its max_rate)",
                state.recorder_dropped()
            ));
        }
        super::replay::print_summary(&state.summary())?;
        let verdict = super::report::finish(&state, &args.results, args.report.as_deref(), &[])?;
        closed?;
        return Ok(verdict);
    }
    closed.map(|()| super::report::ThresholdVerdict::Passed)
}

/// Drains the feed until the deadline, a signal, or the end of the stream.
async fn headless(
    feed: &AttachFeed,
    mut state: MonitorState,
    deadline: Option<Duration>,
    abort_on_fail: bool,
    signals: &mut Signals,
) -> MonitorState {
    let mut tick = tokio::time::interval(HEADLESS_DRAIN);
    let end = super::sleep_or_forever(deadline);
    tokio::pin!(end);
    loop {
        tokio::select! {
            _ = tick.tick() => {
                feed.drain_into(&mut state);
                if feed.finished() {
                    break;
                }
                if abort_on_fail && state.threshold_breach().is_some() {
                    super::say("a threshold failed: --abort-on-fail stops watching");
                    break;
                }
            }
            () = &mut end => break,
            () = signals.recv() => break,
        }
    }
    feed.drain_into(&mut state);
    state
}
