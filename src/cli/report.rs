//! What every mode leaves behind: `--threshold`, `--summary-json`, `--report`, `--metrics`
//! (shared argument structs that `run`, `replay` and later modes flatten), `--abort-on-fail`
//! (only the live modes: a finished log has nothing to stop), and
//! `rookery report LOG... -o FILE.html`.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use clap::Args;

use crate::eventlog::{ReadOptions, Replay, Speed};
use crate::monitor::{LiveFeed, MonitorState};
use crate::report::metrics::MetricsServer;
use crate::report::threshold::{ThresholdResult, ThresholdSet, unit_written};

/// Pass/fail and the JSON summary: flattened into every mode that ends with a state.
#[derive(Debug, Args, Default, Clone)]
pub struct ThresholdArgs {
    /// A pass/fail condition, e.g. `http.request p99 < 250ms`, `users failed == 0`, or
    /// windowed `http.request p99[10s] < 400ms` (must hold in every 10 s window). Repeatable.
    /// Exit status 99 when one fails. Grammar: see the README, "Results".
    #[arg(long = "threshold", value_name = "EXPR", value_parser = parse_threshold)]
    pub thresholds: Vec<String>,
    /// Write the JSON summary to this file when the run ends (any mode, with or without a UI).
    #[arg(long, value_name = "FILE")]
    pub summary_json: Option<PathBuf>,
}

/// `--abort-on-fail`: only in the modes that have something to stop (`run`, `http`,
/// `attach`), not in `replay` or `report`, which read a finished log.
#[derive(Debug, Args, Default, Clone)]
pub struct AbortArgs {
    /// Stop the run as soon as a windowed threshold fails.
    #[arg(long, requires = "thresholds")]
    pub abort_on_fail: bool,
}

/// Outputs of a live run: flattened into `run` (and modes like it).
#[derive(Debug, Args, Default, Clone)]
pub struct OutputArgs {
    /// Write a self-contained HTML report (summary, thresholds, charts) when the run ends.
    #[arg(long, value_name = "FILE.html")]
    pub report: Option<PathBuf>,
    /// Serve OpenMetrics text of the live state at http://ADDR/metrics (e.g. 127.0.0.1:9464).
    /// Loopback addresses only, unless --metrics-public.
    #[arg(long, value_name = "ADDR")]
    pub metrics: Option<SocketAddr>,
    /// Allow --metrics on a non-loopback address; requests must then carry
    /// `Authorization: Bearer TOKEN` (--metrics-token or ROOKERY_METRICS_TOKEN).
    #[arg(long, requires = "metrics")]
    pub metrics_public: bool,
    /// The bearer token --metrics-public requires [default: $ROOKERY_METRICS_TOKEN].
    #[arg(long, value_name = "TOKEN")]
    pub metrics_token: Option<String>,
}

impl OutputArgs {
    /// `--metrics-token`, else `ROOKERY_METRICS_TOKEN`; never empty.
    pub fn token(&self) -> Option<String> {
        self.metrics_token
            .clone()
            .or_else(|| std::env::var("ROOKERY_METRICS_TOKEN").ok())
            .filter(|t| !t.is_empty())
    }
}

/// `rookery report LOG... -o FILE.html`.
#[derive(Debug, Args)]
pub struct ReportArgs {
    /// Event log(s); several files are merged by time (one per node, say).
    #[arg(required = true, value_name = "LOG")]
    pub files: Vec<PathBuf>,
    /// The HTML file to write.
    #[arg(short = 'o', long = "output", value_name = "FILE.html")]
    pub output: PathBuf,
    /// Count malformed lines instead of stopping at the first one.
    #[arg(long)]
    pub skip_bad_lines: bool,
    #[command(flatten)]
    pub results: ThresholdArgs,
}

fn parse_threshold(s: &str) -> Result<String, String> {
    s.parse::<crate::report::threshold::Threshold>()
        .map(|_| s.to_owned())
        .map_err(|e| e.to_string())
}

impl ThresholdArgs {
    /// The thresholds (already checked by the argument parser).
    pub fn set(&self) -> Result<ThresholdSet, String> {
        ThresholdSet::parse(&self.thresholds).map_err(|e| e.to_string())
    }

    /// A fresh state checking these thresholds.
    pub fn state(&self) -> Result<MonitorState, String> {
        Ok(MonitorState::with_thresholds(self.set()?))
    }
}

/// How a finished run ends, beyond its own errors.
#[derive(Debug, PartialEq)]
pub enum ThresholdVerdict {
    Passed,
    /// Thresholds failed: the one-line reason (exit status 99).
    Failed(String),
}

/// The one-line reason for failed thresholds, `None` when all passed.
pub fn failed_thresholds(results: &[ThresholdResult]) -> Option<String> {
    let failed: Vec<String> = results
        .iter()
        .filter(|r| !r.ok)
        .map(|r| match r.value {
            Some(v) => format!("`{}` (was {}{})", r.expr, short(v), unit_written(&r.expr)),
            None => format!("`{}` (no value)", r.expr),
        })
        .collect();
    (!failed.is_empty()).then(|| format!("thresholds failed: {}", failed.join(", ")))
}

/// `v` with at most three decimals and no trailing zeros (`7.923`, `12`, `0.5`).
fn short(v: f64) -> String {
    let s = format!("{v:.3}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    if s.is_empty() || s == "-" {
        "0".to_owned()
    } else {
        s.to_owned()
    }
}

/// Writes the summary file and the report a run asked for, and says whether its thresholds
/// passed. The summary is taken once, so the file, the report and the verdict agree.
pub fn finish(
    state: &MonitorState,
    results: &ThresholdArgs,
    report: Option<&Path>,
    warnings: &[String],
) -> Result<ThresholdVerdict, String> {
    let summary = state.summary();
    if let Some(path) = &results.summary_json {
        std::fs::write(path, summary.to_json_pretty() + "\n")
            .map_err(|e| format!("writing the summary to {}: {e}", path.display()))?;
    }
    if let Some(path) = report {
        let html = crate::report::html::render(state, &summary, warnings);
        std::fs::write(path, html)
            .map_err(|e| format!("writing the report to {}: {e}", path.display()))?;
    }
    Ok(match failed_thresholds(&summary.thresholds) {
        Some(reason) => ThresholdVerdict::Failed(reason),
        None => ThresholdVerdict::Passed,
    })
}

/// Runs `rookery report`: reads the logs as fast as possible and writes the HTML report.
pub fn run(args: &ReportArgs) -> Result<ThresholdVerdict, super::replay::ReplayError> {
    use super::replay::ReplayError;
    check_outputs(&args.results, Some(&args.output)).map_err(ReplayError::Usage)?;
    let state = args.results.state().map_err(ReplayError::Usage)?;
    let opts = ReadOptions {
        skip_bad_lines: args.skip_bad_lines,
    };
    let replay = Replay::open(&args.files, opts, Speed::Max, Instant::now())?;
    let read = super::replay::read_to_end(replay, state)?;
    let mut warnings = super::replay::warning_lines(&read.stats, &read.state);
    for w in &warnings {
        super::say(&format!("warning: {w}"));
    }
    // The report has every event read, and names the bad data after them.
    if let Some(t) = &read.trailing {
        warnings.push(t.to_string());
    }
    let verdict = finish(&read.state, &args.results, Some(&args.output), &warnings)
        .map_err(ReplayError::Other)?;
    super::replay::then_trailing(verdict, read.trailing)
}

/// The files a run writes at its end (`--summary-json`, `--report`, `rookery report -o`) are
/// checked before it starts: a folder that does not exist, or a path that is a folder, is a
/// usage error (exit status 2) now rather than a lost summary after an hour's run.
pub fn check_outputs(results: &ThresholdArgs, report: Option<&Path>) -> Result<(), String> {
    let outputs = [
        ("--summary-json", results.summary_json.as_deref()),
        ("--report", report),
    ];
    for (flag, path) in outputs {
        let Some(path) = path else { continue };
        if path.is_dir() {
            return Err(format!(
                "{flag} {}: is a folder, not a file",
                path.display()
            ));
        }
        let folder = match path.parent() {
            Some(p) if !p.as_os_str().is_empty() => p,
            _ => Path::new("."),
        };
        if !folder.is_dir() {
            return Err(format!(
                "{flag} {}: the folder {} does not exist",
                path.display(),
                folder.display()
            ));
        }
    }
    Ok(())
}

/// `--metrics` without `--metrics-public` must be a loopback address; with it, a token is
/// required (a usage error, exit status 2, before anything starts).
pub fn check_metrics_args(out: &OutputArgs) -> Result<(), String> {
    let Some(addr) = out.metrics else {
        return Ok(());
    };
    if !addr.ip().is_loopback() && !out.metrics_public {
        return Err(format!(
            "--metrics {addr}: not a loopback address (add --metrics-public and a --metrics-token)"
        ));
    }
    if out.metrics_public && out.token().is_none() {
        return Err(format!(
            "--metrics {addr}: --metrics-public needs --metrics-token (or ROOKERY_METRICS_TOKEN)"
        ));
    }
    Ok(())
}

/// What `rookery run` adds around its feed: the thresholds, the metrics endpoint and
/// `--abort-on-fail`.
pub struct RunHooks {
    metrics: Option<Arc<MetricsServer>>,
    breach: Arc<tokio::sync::Notify>,
    abort_on_fail: bool,
}

impl RunHooks {
    /// Installs them on `feed` (inside the run's runtime: the endpoint listens at once).
    pub async fn install(args: &super::RunArgs, feed: &LiveFeed) -> Result<RunHooks, String> {
        let set = args.results.set()?;
        let checks = !set.is_empty();
        if checks {
            feed.set_thresholds(set);
        }
        let metrics = match args.output.metrics {
            Some(addr) => {
                let server =
                    MetricsServer::start(addr, args.output.metrics_public, args.output.token())
                        .await
                        .map_err(|e| e.to_string())?;
                super::say(&format!("metrics at http://{}/metrics", server.addr()));
                let server = Arc::new(server);
                let s = server.clone();
                feed.observe(Box::new(move |state| s.publish_throttled(state)));
                Some(server)
            }
            None => None,
        };
        let breach = Arc::new(tokio::sync::Notify::new());
        let abort_on_fail = args.abort.abort_on_fail && checks;
        if abort_on_fail {
            let b = breach.clone();
            let mut fired = false;
            feed.observe(Box::new(move |state| {
                if !fired && state.threshold_breach().is_some() {
                    fired = true;
                    b.notify_one();
                }
            }));
        }
        Ok(RunHooks {
            metrics,
            breach,
            abort_on_fail,
        })
    }

    /// Completes when a windowed threshold has failed and `--abort-on-fail` was given; never
    /// otherwise.
    pub async fn breached(&self) {
        if self.abort_on_fail {
            self.breach.notified().await
        } else {
            std::future::pending().await
        }
    }

    /// The run ended with `state`: the endpoint shows it, the summary file and the report
    /// are written, and the thresholds judged.
    pub fn finish(
        &self,
        args: &super::RunArgs,
        state: &MonitorState,
    ) -> Result<ThresholdVerdict, String> {
        if let Some(m) = &self.metrics {
            m.publish(state);
        }
        // The report lists the state's own warnings and drops.
        finish(state, &args.results, args.output.report.as_deref(), &[])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outputs_in_a_missing_folder_or_on_a_folder_are_refused_up_front() {
        let dir = std::env::temp_dir();
        let missing = dir.join("rookery-no-such-folder-4f1c").join("s.json");
        let results = |p: Option<PathBuf>| ThresholdArgs {
            summary_json: p,
            ..ThresholdArgs::default()
        };
        let e = check_outputs(&results(Some(missing.clone())), None).expect_err("missing folder");
        assert!(
            e.starts_with("--summary-json ") && e.contains("does not exist"),
            "{e}"
        );
        let e = check_outputs(&results(None), Some(&dir)).expect_err("a folder");
        assert!(
            e.starts_with("--report ") && e.contains("is a folder"),
            "{e}"
        );
        assert_eq!(
            check_outputs(
                &results(Some(PathBuf::from("s.json"))),
                Some(&dir.join("r.html"))
            ),
            Ok(())
        );
    }

    fn failed(expr: &str, value: Option<f64>) -> ThresholdResult {
        ThresholdResult {
            expr: expr.to_owned(),
            value,
            ok: false,
        }
    }

    #[test]
    fn a_failed_threshold_says_its_value_in_the_expressions_unit() {
        let line = failed_thresholds(&[
            failed("http.request p99 < 1ms", Some(7.923_4)),
            failed("users failed == 0", Some(3.0)),
            failed("http.request error_rate < 1%", Some(12.5)),
            failed("chat.send p50[10s] < 2s", None),
        ])
        .expect("a failure");
        assert_eq!(
            line,
            "thresholds failed: `http.request p99 < 1ms` (was 7.923ms), \
             `users failed == 0` (was 3), `http.request error_rate < 1%` (was 12.5%), \
             `chat.send p50[10s] < 2s` (no value)"
        );
        assert_eq!(failed_thresholds(&[]), None);
    }
}
