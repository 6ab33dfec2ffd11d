//! The command line. Exit status: 0 success (a run ended by SIGINT, SIGTERM or SIGHUP is a
//! success too, in the monitor and headless alike), 2 usage error, 99 a threshold failed, 1 any
//! other failure with a one-line reason on stderr.
//!
//! Output never panics: a closed or full stdout or stderr (`2>/dev/full`) makes the write fail
//! quietly (stderr) or the command fail with status 1 (the summary on stdout), never lose the
//! summary to a panic on a warning.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use clap::{Args, CommandFactory, FromArgMatches, Parser, Subcommand};

pub mod attach;
pub mod http;
use crate::report::threshold::EXIT_THRESHOLDS_FAILED;

pub mod master;
pub mod node;
pub mod replay;
pub mod report;
pub mod run;
pub mod signals;
pub mod sink;

pub use attach::AttachArgs;

/// Rookery: watch and steer an Amoc-style load test from your terminal.
///
/// With no command, runs the built-in demo scenario on three simulated nodes and opens the
/// monitor (the same as `rookery run`).
#[derive(Debug, Parser)]
#[command(
    name = "rookery",
    version,
    about,
    long_about,
    args_conflicts_with_subcommands = true
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<CliCommand>,
    /// With no command, the options of `run` (`rookery --users 5` is `rookery run --users 5`).
    #[command(flatten)]
    pub run: RunArgs,
}

/// A `rookery` subcommand (the TUI's key commands are `tui::OperatorCommand`).
#[derive(Debug, Subcommand)]
pub enum CliCommand {
    /// Run a scenario on the embedded engine and watch it (the default command).
    Run(RunArgs),
    /// Replay a recorded event log in the monitor, or summarise it with --headless.
    Replay(ReplayArgs),
    /// Load a URL: the built-in `http` scenario (every option of `run` works too).
    Http(http::HttpArgs),
    /// Watch and steer a real Amoc cluster through its Rookery bridge.
    Attach(AttachArgs),
    /// Write the HTML report of recorded event logs: `rookery report LOG... -o FILE.html`.
    Report(report::ReportArgs),
    /// Be a worker node of a real cluster (the master is `rookery run --cluster`).
    Node(node::NodeArgs),
}

#[derive(Debug, Args, Default)]
pub struct RunArgs {
    /// Scenario to run [default: the first one the program offers: `demo` for rookery].
    #[arg(long, value_name = "NAME")]
    pub scenario: Option<String>,
    /// Virtual users to add at the start, at most 10,000,000 [default: 40].
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(0..=10_000_000))]
    pub users: Option<u64>,
    /// Simulated nodes in the cluster, 1 to 64 (the first is the master).
    #[arg(long, default_value_t = 3, value_parser = parse_nodes)]
    pub nodes: usize,
    /// Record every event to this file (JSON Lines, event-log format v1; `.gz`, in any case,
    /// compresses). An existing file is only replaced with --force.
    #[arg(long, value_name = "FILE")]
    pub record: Option<PathBuf>,
    /// Let --record replace an existing file.
    #[arg(long)]
    pub force: bool,
    /// Stop after this many seconds (default: run until stopped).
    #[arg(long, value_name = "SECS", value_parser = parse_seconds)]
    pub duration: Option<f64>,
    /// No terminal UI: print the summary JSON on stdout when the run ends (at --duration, or
    /// on SIGINT, SIGTERM or SIGHUP).
    #[arg(long)]
    pub headless: bool,
    /// Set a scenario or engine setting, e.g. `--set user_rate=600` (repeatable; see
    /// --list-settings). Overrides --settings and the `ROOKERY_<NAME>` environment variables.
    #[arg(long = "set", value_name = "NAME=VALUE", value_parser = parse_set_arg)]
    pub set: Vec<String>,
    /// A TOML file of settings (`name = value` lines).
    #[arg(long, value_name = "FILE")]
    pub settings: Option<PathBuf>,
    /// Print every setting of the scenario (description, type, default, the value it would
    /// take now and where from) and exit.
    #[arg(long)]
    pub list_settings: bool,
    /// Colour theme: dark, light, high-contrast, or a path to a theme file.
    #[arg(long, value_name = "NAME|PATH")]
    pub theme: Option<String>,
    /// Threads the virtual users run on: user N on thread N mod T, with the tasks it spawns
    /// (its connections), none moved between threads. 0 runs them on the engine's shared,
    /// work-stealing runtime instead [default: the number of CPUs].
    #[arg(long, value_name = "T", value_parser = clap::value_parser!(u16).range(0..=1024))]
    pub user_threads: Option<u16>,
    #[command(flatten)]
    pub results: report::ThresholdArgs,
    #[command(flatten)]
    pub abort: report::AbortArgs,
    #[command(flatten)]
    pub output: report::OutputArgs,
    /// How long stopping the users may take before the run ends anyway [default: 10].
    #[arg(long, value_name = "SECS", value_parser = parse_seconds, hide = true)]
    pub stop_timeout: Option<f64>,
    #[command(flatten)]
    pub cluster: node::ClusterRunArgs,
    /// Settings' defaults the command itself gives (`rookery http`: every user at once), not
    /// on the command line: under `--set`, `--settings` and `ROOKERY_<NAME>`, over the declared
    /// default, and listed by `--list-settings` as coming from the command.
    #[arg(skip)]
    pub command_defaults: Vec<CommandDefault>,
}

/// A setting's default given by a command rather than by its declaration.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CommandDefault {
    /// The command, as `--list-settings` names it: `rookery http`.
    pub command: &'static str,
    pub name: &'static str,
    /// Read like a `--set` value.
    pub value: &'static str,
}

impl RunArgs {
    /// The `--settings` file (read here when given as text) and every `--set`, over the
    /// command's own defaults.
    pub(crate) fn explicit_settings(
        &self,
    ) -> Result<crate::engine::config::ExplicitSettings, String> {
        let explicit =
            crate::engine::config::ExplicitSettings::from_cli(&self.set, self.settings.as_deref())
                .map_err(|e| format!("settings: {e}"))?;
        Ok(self
            .command_defaults
            .iter()
            .fold(explicit, |e, d| e.fallback_to(d.name, d.value, d.command)))
    }
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
    /// Colour theme: dark, light, high-contrast, or a path to a theme file.
    #[arg(long, value_name = "NAME|PATH")]
    pub theme: Option<String>,
    #[command(flatten)]
    pub results: report::ThresholdArgs,
}

/// Longest `--duration` accepted: 100 years, far below what the clocks can add to now.
pub const MAX_SECONDS: f64 = 100.0 * 365.25 * 24.0 * 3600.0;

/// `--duration`: a finite, non-negative number of seconds the clock can hold.
fn parse_seconds(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(v) if (0.0..=MAX_SECONDS).contains(&v) => Ok(v),
        Ok(v) if v.is_finite() && v > MAX_SECONDS => Err(format!(
            "`{s}` seconds is more than the clock can hold (at most {MAX_SECONDS:.0}, 100 years)"
        )),
        _ => Err(format!("`{s}` is not a number of seconds >= 0")),
    }
}

/// `--nodes`: 1 to 64 simulated nodes.
/// `--user-threads`, or the number of CPUs (1 when it cannot be told).
fn user_threads(arg: Option<u16>) -> usize {
    arg.map_or_else(
        || std::thread::available_parallelism().map_or(1, usize::from),
        usize::from,
    )
}

fn parse_nodes(s: &str) -> Result<usize, String> {
    match s.parse::<usize>() {
        Ok(n) if (1..=64).contains(&n) => Ok(n),
        _ => Err(format!("`{s}` is not a node count from 1 to 64")),
    }
}

/// `--set`: `NAME=VALUE` (the value is checked against the setting's type when the run starts).
fn parse_set_arg(s: &str) -> Result<String, String> {
    crate::engine::config::parse_set(s)
        .map(|_| s.to_owned())
        .map_err(|e| e.to_string())
}

/// Sleeps for `duration`, or forever when there is none (a `--duration` that may be absent).
pub(crate) async fn sleep_or_forever(duration: Option<std::time::Duration>) {
    match duration {
        Some(d) => tokio::time::sleep(d).await,
        None => std::future::pending().await,
    }
}

/// Users `rookery run` adds at the start when `--users` is not given.
pub const DEFAULT_USERS: u64 = 40;

/// Parses the command line and runs it with the built-in demo scenario.
pub fn main() -> ExitCode {
    main_with(vec![
        crate::engine::boxed(crate::demo::Demo),
        crate::engine::boxed(crate::http::HttpScenario::new()),
    ])
}

/// The whole Rookery command line (`run`, `replay`, `--headless`, `--record`, settings) with
/// your own scenarios: `rookery run --scenario NAME` picks one by its name. With no command,
/// runs the first scenario in the monitor.
///
/// ```no_run
/// # use rookery::engine::{boxed, DynScenario};
/// # use std::sync::Arc;
/// # fn my_scenarios() -> Vec<Arc<dyn DynScenario>> { vec![boxed(rookery::demo::Demo)] }
/// fn main() -> std::process::ExitCode {
///     rookery::cli::main_with(my_scenarios())
/// }
/// ```
pub fn main_with(scenarios: Vec<Arc<dyn crate::engine::DynScenario>>) -> ExitCode {
    let cli = Cli::from_arg_matches(&command().get_matches()).unwrap_or_else(|e| e.exit());
    let command = cli.command.unwrap_or(CliCommand::Run(cli.run));
    let result = match command {
        CliCommand::Run(args) => run_outcome(run::run(&args, &scenarios)),
        CliCommand::Http(args) => run_outcome(http::run(args)),
        CliCommand::Replay(args) => replay_outcome(replay::run(&args)),
        CliCommand::Report(args) => replay_outcome(report::run(&args)),
        CliCommand::Attach(args) => attach::run(&args).map_err(|e| match e {
            attach::AttachRunError::Usage(reason) => (2, reason),
            attach::AttachRunError::Failed(reason) => (1, reason),
            attach::AttachRunError::Thresholds(reason) => (EXIT_THRESHOLDS_FAILED, reason),
        }),
        CliCommand::Node(args) => node::run(&args, &scenarios).map_err(|reason| (1, reason)),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err((code, reason)) => {
            say(&one_line(&reason));
            ExitCode::from(code)
        }
    }
}

/// The command line's definition: [`Cli`]'s, with `http`'s help telling its own defaults for
/// the options it shares with `run` (the scenario is always `http`, so `--scenario` is hidden).
pub fn command() -> clap::Command {
    Cli::command().mut_subcommand("http", |c| {
        c.mut_arg("scenario", |a| a.hide(true))
            .mut_arg("users", |a| {
                a.help(
                    "Virtual users, each with its own connection: at most this many requests are \
                 in flight, at most 10,000,000 [default: 50]",
                )
            })
    })
}

/// `replay` and `report`: usage errors exit 2, failed thresholds 99, others 1.
fn run_outcome(r: Result<(), run::RunError>) -> Result<(), (u8, String)> {
    match r {
        Ok(()) => Ok(()),
        Err(run::RunError::Usage(reason)) => Err((2, reason)),
        Err(run::RunError::Failed(reason)) => Err((1, reason)),
        Err(run::RunError::Thresholds(reason)) => Err((EXIT_THRESHOLDS_FAILED, reason)),
    }
}

fn replay_outcome(
    r: Result<report::ThresholdVerdict, replay::ReplayError>,
) -> Result<(), (u8, String)> {
    match r {
        Ok(report::ThresholdVerdict::Passed) => Ok(()),
        Ok(report::ThresholdVerdict::Failed(reason)) => Err((EXIT_THRESHOLDS_FAILED, reason)),
        Err(e) => Err((e.exit_code(), e.to_string())),
    }
}

/// `rookery: LINE` on stderr; a closed or full stderr is ignored (never a panic).
pub(crate) fn say(line: &str) {
    use std::io::Write;
    let _ = writeln!(std::io::stderr().lock(), "rookery: {line}");
}

/// Failures are reported on one line: a multi-line reason (every bad setting, say) is folded,
/// its lines separated by `; `.
fn one_line(reason: &str) -> String {
    let mut lines = reason.lines().map(str::trim).filter(|l| !l.is_empty());
    let mut out = lines.next().unwrap_or_default().to_owned();
    for (i, line) in lines.enumerate() {
        out.push_str(if i == 0 && out.ends_with(':') {
            " "
        } else {
            "; "
        });
        out.push_str(line);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::one_line;

    #[test]
    fn multi_line_reasons_fold_into_one_line() {
        assert_eq!(
            one_line("settings: 2 errors:\n  a is bad\n  b is bad\n"),
            "settings: 2 errors: a is bad; b is bad"
        );
        assert_eq!(one_line("plain"), "plain");
    }
}
