//! `rookery replay FILE... [--speed X|max] [--headless] [--skip-bad-lines] [--threshold EXPR]...
//! [--summary-json FILE]`.
//!
//! `--headless` reads the logs as fast as possible (pacing only matters on screen), prints the
//! summary JSON on stdout and warnings on stderr. The paced, on-screen replay is driven by the
//! TUI through [`crate::eventlog::Replay`].

use std::io::Write;
use std::time::Instant;

use super::ReplayArgs;
use crate::eventlog::{LogError, ReadOptions, ReadStats, Replay, Speed};
use crate::monitor::{MonitorState, Summary};

/// Why `rookery replay` failed.
#[derive(Debug, thiserror::Error)]
pub enum ReplayError {
    /// A bad command line (exit status 2).
    #[error("{0}")]
    Usage(String),
    /// Bad input or I/O (exit status 1).
    #[error("{0}")]
    Log(#[from] LogError),
    /// Something else (exit status 1).
    #[error("{0}")]
    Other(String),
}

impl ReplayError {
    /// The process exit status for this error.
    pub fn exit_code(&self) -> u8 {
        match self {
            ReplayError::Usage(_) => 2,
            _ => 1,
        }
    }
}

/// The read options and speed the arguments ask for. The same file twice is refused (it would
/// double every count).
pub fn options(args: &ReplayArgs) -> Result<(ReadOptions, Speed), ReplayError> {
    refuse_repeats(&args.files)?;
    let speed = args
        .speed
        .parse::<Speed>()
        .map_err(|e| ReplayError::Usage(e.to_string()))?;
    Ok((
        ReadOptions {
            skip_bad_lines: args.skip_bad_lines,
        },
        speed,
    ))
}

/// A usage error when two arguments name the same file (also through another path or a link).
fn refuse_repeats(files: &[std::path::PathBuf]) -> Result<(), ReplayError> {
    let mut seen: Vec<(std::path::PathBuf, &std::path::Path)> = Vec::new();
    for f in files {
        // A file that cannot be resolved is reported when it is opened.
        let Ok(real) = std::fs::canonicalize(f) else {
            continue;
        };
        if let Some((_, first)) = seen.iter().find(|(r, _)| *r == real) {
            return Err(ReplayError::Usage(format!(
                "{} and {} are the same file: replaying it twice would double every count",
                first.display(),
                f.display()
            )));
        }
        seen.push((real, f));
    }
    Ok(())
}

/// What reading the logs to their end gave: a summary of every event, the state, the
/// reading's warnings, and bad data after a `.gz` log's stream (every event before it was
/// read: the caller shows them, then fails with it as with a bad line).
pub struct Summarized {
    pub summary: Summary,
    pub state: MonitorState,
    pub stats: ReadStats,
    pub trailing: Option<LogError>,
}

/// Reads every event of the logs into a fresh state, as fast as possible.
pub fn summarize(args: &ReplayArgs) -> Result<Summarized, ReplayError> {
    let (opts, _speed) = options(args)?;
    let replay = Replay::open(&args.files, opts, Speed::Max, Instant::now())?;
    let state = args.results.state().map_err(ReplayError::Usage)?;
    read_to_end(replay, state)
}

/// Applies every event of `replay` to `state`; bad data after a `.gz` stream does not lose them.
pub fn read_to_end(mut replay: Replay, mut state: MonitorState) -> Result<Summarized, ReplayError> {
    let trailing = match replay.run_to_end(&mut state) {
        Ok(()) => None,
        Err(e @ LogError::Trailing(_)) => Some(e),
        Err(e) => return Err(e.into()),
    };
    Ok(Summarized {
        summary: state.summary(),
        state,
        stats: replay.stats(),
        trailing,
    })
}

/// The end of a command that showed every event it read: bad data after a `.gz` stream is
/// its error (exit status 1), told after the outputs; a failed threshold is said before it.
pub fn then_trailing(
    verdict: super::report::ThresholdVerdict,
    trailing: Option<LogError>,
) -> Result<super::report::ThresholdVerdict, ReplayError> {
    match trailing {
        None => Ok(verdict),
        Some(e) => {
            if let super::report::ThresholdVerdict::Failed(reason) = &verdict {
                super::say(reason);
            }
            Err(e.into())
        }
    }
}

/// One line per warning, for stderr.
pub fn warning_lines(stats: &ReadStats, state: &MonitorState) -> Vec<String> {
    let mut out: Vec<String> = stats.warnings.clone();
    if stats.more_warnings > 0 {
        out.push(format!("... and {} more warnings", stats.more_warnings));
    }
    if stats.bad_lines > 0 {
        out.push(format!("skipped {} bad lines", stats.bad_lines));
    }
    if stats.clamped > 0 {
        out.push(format!(
            "{} events had times going backwards and were clamped",
            stats.clamped
        ));
    }
    if state.recorder_dropped() > 0 {
        out.push(format!(
            "the recorder of this log lost {} events (its queue was full)",
            state.recorder_dropped()
        ));
    }
    out
}

/// Runs `rookery replay`: the summary with `--headless`, otherwise the monitor at the
/// recorded pace (scaled by `--speed`). Thresholds and `--summary-json` are judged on the
/// whole logs, read once more after the monitor closes.
pub fn run(args: &ReplayArgs) -> Result<super::report::ThresholdVerdict, ReplayError> {
    super::report::check_outputs(&args.results, None).map_err(ReplayError::Usage)?;
    if !args.headless {
        show(args)?;
        let r = &args.results;
        if r.thresholds.is_empty() && r.summary_json.is_none() {
            return Ok(super::report::ThresholdVerdict::Passed);
        }
        // The monitor told bad data after a `.gz` stream already.
        let read = summarize(args)?;
        return super::report::finish(
            &read.state,
            r,
            None,
            &warning_lines(&read.stats, &read.state),
        )
        .map_err(ReplayError::Other);
    }
    let read = summarize(args)?;
    let warnings = warning_lines(&read.stats, &read.state);
    for w in &warnings {
        super::say(&format!("warning: {w}"));
    }
    print_summary(&read.summary).map_err(ReplayError::Other)?;
    let verdict = super::report::finish(&read.state, &args.results, None, &warnings)
        .map_err(ReplayError::Other)?;
    then_trailing(verdict, read.trailing)
}

/// The monitor on the replay.
fn show(args: &ReplayArgs) -> Result<(), ReplayError> {
    let (opts, speed) = options(args)?;
    let tui = crate::tui::TuiOptions::load(args.theme.as_deref())
        .map_err(|e| ReplayError::Other(e.to_string()))?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| ReplayError::Other(format!("cannot start the async runtime: {e}")))?;
    runtime.block_on(async {
        let mut signals = super::signals::Signals::new()
            .map_err(|e| ReplayError::Other(format!("cannot listen to signals: {e}")))?;
        // The monitor lists the reader's warnings (skipped lines, a truncated tail, clamped
        // times) with the others.
        let mut replay = Replay::open(
            &args.files,
            opts,
            speed,
            tokio::time::Instant::now().into_std(),
        )?
        .with_warning_events();
        replay.set_thresholds(args.results.set().map_err(ReplayError::Usage)?);
        tokio::select! {
            r = crate::tui::run_replay(replay, tui) => {
                r.map(|_| ()).map_err(|e| ReplayError::Other(e.to_string()))
            }
            // Cancelling the monitor drops its terminal guard, which restores the screen. A
            // signal ends the replay as `q` does: a success (the exit-status rule).
            () = signals.recv() => Ok(()),
        }
    })
}

/// Prints the summary JSON on stdout, as every `--headless` command does at its end (also for
/// `rookery run --headless`). Warnings belong on stderr, before it.
pub fn print_summary(summary: &Summary) -> Result<(), String> {
    let mut out = std::io::stdout().lock();
    writeln!(out, "{}", summary.to_json_pretty())
        .and_then(|_| out.flush())
        .map_err(|e| format!("writing the summary: {e}"))
}
