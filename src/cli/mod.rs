//! The command line (`shared/DESIGN.md`, "Command line"). Exit status: 0 success, 2 usage
//! error, 1 any other failure with a one-line reason on stderr.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};

pub mod replay;

/// Rookery: watch and steer an Amoc-style load test from your terminal.
///
/// With no command, runs the built-in demo scenario on three simulated nodes and opens the
/// monitor (the same as `rookery run`).
#[derive(Debug, Parser)]
#[command(name = "rookery", version, about, long_about)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run a scenario on the embedded engine and watch it (the default command).
    Run(RunArgs),
    /// Replay a recorded event log in the monitor, or summarise it with --headless.
    Replay(ReplayArgs),
}

#[derive(Debug, Args, Default)]
pub struct RunArgs {
    /// Scenario to run.
    #[arg(long, default_value = "demo")]
    pub scenario: String,
    /// Virtual users to add at the start.
    #[arg(long)]
    pub users: Option<u64>,
    /// Simulated nodes in the cluster (the first is the master).
    #[arg(long, default_value_t = 3)]
    pub nodes: usize,
    /// Record every event to this file (JSON Lines, event-log format v1; `.gz` compresses).
    #[arg(long, value_name = "FILE")]
    pub record: Option<PathBuf>,
    /// Stop after this many seconds (default: run until stopped).
    #[arg(long, value_name = "SECS")]
    pub duration: Option<f64>,
    /// No terminal UI: print the summary JSON on stdout when the run ends.
    #[arg(long)]
    pub headless: bool,
}

#[derive(Debug, Args)]
pub struct ReplayArgs {
    /// Event log(s) to replay; several files are merged by time.
    #[arg(required = true, value_name = "FILE")]
    pub files: Vec<PathBuf>,
    /// Playback speed: a factor such as 2 or 0.5, or `max` for as fast as possible.
    #[arg(long, default_value = "1")]
    pub speed: String,
    /// No terminal UI: print the summary JSON on stdout.
    #[arg(long)]
    pub headless: bool,
    /// Count malformed lines instead of stopping at the first one.
    #[arg(long)]
    pub skip_bad_lines: bool,
}

/// Parses the command line and runs it.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command.unwrap_or(Command::Run(RunArgs {
        scenario: "demo".into(),
        nodes: 3,
        ..RunArgs::default()
    })) {
        Command::Run(_) => {
            Err("`rookery run` is not built yet: the engine and monitor are in progress".to_owned())
        }
        Command::Replay(args) => match replay::run(&args) {
            Err(e) if e.exit_code() == 2 => {
                eprintln!("rookery: {e}");
                return ExitCode::from(2);
            }
            other => other.map_err(|e| e.to_string()),
        },
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(reason) => {
            eprintln!("rookery: {reason}");
            ExitCode::from(1)
        }
    }
}
