//! `rookery http URL ...`: the built-in `http` scenario ([`crate::http`]) from flags.
//!
//! The flags become the defaults of the scenario's settings, so `rookery http URL` is the same
//! test as `rookery run --scenario http --set url=URL`, and `--set` still overrides a flag.
//! Everything is checked before anything starts: a bad URL, header or method, or a body file
//! that cannot be read, is a one-line usage error (exit status 2).

use std::path::PathBuf;
use std::time::Duration;

use clap::Args;

use super::RunArgs;
use super::run::{self, RunError};
use crate::engine::boxed;
use crate::engine::throttle::Rate;
use crate::http::{DEFAULT_TIMEOUT, HttpScenario, HttpSpec, SCENARIO_NAME};

/// Users `rookery http` adds when `--users` is not given (connections, as oha's `-c`).
pub const DEFAULT_HTTP_USERS: u64 = 50;

#[derive(Debug, Args)]
#[command(
    after_help = "With rookery http, --users defaults to 50 (connections, one per user) \
    and every user connects at once (the default user_rate is infinity; --set user_rate=N, \
    --settings or ROOKERY_USER_RATE override it); the scenario is always `http` (its \
    settings: rookery http URL --list-settings)."
)]
pub struct HttpArgs {
    /// The URL to load: http://HOST/PATH, http://HOST:PORT/PATH or https://...
    #[arg(value_name = "URL")]
    pub url: Option<String>,
    /// Requests per second, cluster-wide: requests start at the throttle's instants and
    /// --users caps how many are in flight (open model); `infinity`: every user sends back to
    /// back (closed model). Changed live with + - r g [default: infinity].
    #[arg(long, value_name = "R|infinity", value_parser = parse_rate)]
    pub rate: Option<Rate>,
    /// The request method.
    #[arg(short = 'm', long, value_name = "METHOD", default_value = "GET")]
    pub method: String,
    /// A request header (repeatable).
    #[arg(short = 'H', long = "header", value_name = "'Name: value'")]
    pub headers: Vec<String>,
    /// The request body.
    #[arg(long, value_name = "TEXT", conflicts_with = "body_file")]
    pub body: Option<String>,
    /// A file holding the request body.
    #[arg(long, value_name = "FILE")]
    pub body_file: Option<PathBuf>,
    /// Seconds a request may take, connecting included [default: 30].
    #[arg(long, value_name = "SECS", value_parser = parse_timeout)]
    pub timeout: Option<f64>,
    /// Accept any TLS certificate (self-signed test servers).
    #[arg(long)]
    pub insecure: bool,
    /// Speak HTTP/2 (ALPN h2 over TLS, prior knowledge over plain TCP).
    #[arg(long)]
    pub http2: bool,
    /// A file of URLs, one per line, sent round-robin (instead of URL).
    #[arg(long, value_name = "FILE", conflicts_with = "url")]
    pub urls: Option<PathBuf>,
    #[command(flatten)]
    pub run: RunArgs,
}

/// `--rate`: an integer >= 0 or `infinity`.
fn parse_rate(s: &str) -> Result<Rate, String> {
    match s.trim() {
        "infinity" | "inf" => Ok(Rate::Infinity),
        t => t
            .parse::<u64>()
            .map(Rate::Finite)
            .map_err(|_| format!("`{s}` is not a rate (an integer >= 0 or infinity)")),
    }
}

/// `--timeout`: a finite number of seconds > 0.
fn parse_timeout(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(v) if v.is_finite() && v > 0.0 && v < 1e9 => Ok(v),
        _ => Err(format!("`{s}` is not a number of seconds > 0")),
    }
}

impl HttpArgs {
    /// The request the flags describe.
    pub fn spec(&self) -> HttpSpec {
        HttpSpec {
            url: self.url.clone(),
            urls_file: self.urls.clone(),
            method: self.method.clone(),
            headers: self
                .headers
                .iter()
                .flat_map(|h| crate::http::split_headers(h))
                .collect(),
            body: self.body.clone(),
            body_file: self.body_file.clone(),
            timeout: self
                .timeout
                .map_or(DEFAULT_TIMEOUT, Duration::from_secs_f64),
            insecure: self.insecure,
            http2: self.http2,
        }
    }
}

/// Runs `rookery http`.
pub fn run(args: HttpArgs) -> Result<(), RunError> {
    if let Some(other) = args.run.scenario.as_deref()
        && other != SCENARIO_NAME
    {
        return Err(RunError::Usage(format!(
            "rookery http runs the http scenario, not {other:?} (use rookery run --scenario)"
        )));
    }
    let spec = args.spec();
    let url_set = args
        .run
        .set
        .iter()
        .any(|s| s.starts_with("url=") || s.starts_with("urls_file="));
    // Checked here (usage errors) and again by the scenario's init on every node.
    if let Err(e) = spec.resolve()
        && !(url_set && matches!(e, crate::http::OptionsError::NoUrl))
    {
        return Err(RunError::Usage(e.to_string()));
    }
    let scenario = HttpScenario::with(spec, args.rate.unwrap_or(crate::http::DEFAULT_RATE));
    let mut run_args = args.run;
    run_args.scenario = Some(SCENARIO_NAME.to_owned());
    run_args.users = Some(run_args.users.unwrap_or(DEFAULT_HTTP_USERS));
    // Every user connects at once unless `--set`, `--settings` or `ROOKERY_USER_RATE` says
    // otherwise.
    run_args.command_defaults.push(super::CommandDefault {
        command: "rookery http",
        name: crate::engine::USER_RATE,
        value: "infinity",
    });
    run::run(&run_args, &[boxed(scenario)])
}

/// The one-line warning a headless run prints on stderr when requests failed, with a hint for
/// the classes that usually mean a mistake (a self-signed certificate, nothing listening); the
/// summary on stdout has the counts too, but a CI log shows stderr first.
pub(crate) fn failure_warning(http: &crate::monitor::HttpSummary) -> Option<String> {
    let failed: u64 = http.errors.values().sum();
    if failed == 0 {
        return None;
    }
    let classes: Vec<String> = http
        .errors
        .iter()
        .filter(|(_, n)| **n > 0)
        .map(|(class, n)| format!("{class} {n}"))
        .collect();
    let mut hints = Vec::new();
    if http.errors.get("tls").is_some_and(|n| *n > 0) {
        hints.push("tls: a certificate refused or a failed handshake (--insecure accepts a self-signed certificate)");
    }
    if http.errors.get("connect").is_some_and(|n| *n > 0) {
        hints.push("connect: nothing accepted the connection (is the server up at that address?)");
    }
    if http.errors.get("timeout").is_some_and(|n| *n > 0) {
        hints.push("timeout: no answer within --timeout");
    }
    let all = if failed == http.requests {
        "every request failed: "
    } else {
        ""
    };
    let mut line = format!(
        "warning: {all}{failed} of {} requests failed ({})",
        http.requests,
        classes.join(", ")
    );
    for h in hints {
        line.push_str("; ");
        line.push_str(h);
    }
    Some(line)
}

/// The one-line warning a headless run prints when answers were client or server errors
/// (4xx, 5xx): they are answers, not failed requests, so `errors` thresholds do not see them.
pub(crate) fn status_warning(http: &crate::monitor::HttpSummary) -> Option<String> {
    let bad: Vec<(&String, &u64)> = http
        .status
        .iter()
        .filter(|(code, n)| **n > 0 && (code.starts_with('4') || code.starts_with('5')))
        .collect();
    if bad.is_empty() {
        return None;
    }
    let answers: u64 = http.status.values().sum();
    let n: u64 = bad.iter().map(|(_, n)| **n).sum();
    let codes: Vec<String> = bad.iter().map(|(c, n)| format!("{c} {n}")).collect();
    let all = if n == answers {
        "every answer was an error: "
    } else {
        ""
    };
    Some(format!(
        "warning: {all}{n} of {answers} answers had a 4xx or 5xx status ({})",
        codes.join(", ")
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn http_summary(answered: u64, errors: [u64; 4]) -> crate::monitor::HttpSummary {
        let errors: std::collections::BTreeMap<&'static str, u64> =
            ["connect", "timeout", "tls", "other"]
                .into_iter()
                .zip(errors)
                .collect();
        crate::monitor::HttpSummary {
            requests: answered + errors.values().sum::<u64>(),
            status: [("200".to_owned(), answered)].into_iter().collect(),
            errors,
            bytes_in: 0,
            bytes_out: 0,
            late_starts: 0,
            latency_us: None,
            service_us: None,
            backlog: Default::default(),
        }
    }

    #[test]
    fn error_statuses_are_one_warning_line() {
        let mut h = http_summary(90, [0; 4]);
        assert_eq!(status_warning(&h), None);
        h.status.insert("404".to_owned(), 8);
        h.status.insert("503".to_owned(), 2);
        assert_eq!(
            status_warning(&h).as_deref(),
            Some("warning: 10 of 100 answers had a 4xx or 5xx status (404 8, 503 2)")
        );
        h.status.remove("200");
        assert!(
            status_warning(&h)
                .expect("a warning")
                .starts_with("warning: every answer was an error: 10 of 10 answers"),
        );
    }

    #[test]
    fn failed_requests_are_one_warning_line_with_a_hint_for_likely_mistakes() {
        assert_eq!(failure_warning(&http_summary(100, [0; 4])), None);
        let tls = failure_warning(&http_summary(0, [0, 0, 1902, 0])).expect("a warning");
        assert_eq!(
            tls,
            "warning: every request failed: 1902 of 1902 requests failed (tls 1902); tls: a \
             certificate refused or a failed handshake (--insecure accepts a self-signed \
             certificate)"
        );
        let mixed = failure_warning(&http_summary(24245, [3, 0, 0, 9])).expect("a warning");
        assert!(
            mixed.starts_with("warning: 12 of 24257 requests failed (connect 3, other 9); connect: nothing accepted"),
            "{mixed}"
        );
        assert!(!mixed.contains('\n'), "{mixed}");
    }

    #[test]
    fn http_help_tells_its_own_defaults_and_hides_the_scenario() {
        let mut cmd = crate::cli::command();
        cmd.build();
        let help = cmd
            .find_subcommand_mut("http")
            .expect("an http subcommand")
            .render_help()
            .to_string();
        assert!(help.contains("[default: 50]"), "{help}");
        assert!(!help.contains("--scenario"), "{help}");
        let run = cmd
            .find_subcommand_mut("run")
            .expect("a run subcommand")
            .render_help()
            .to_string();
        assert!(
            run.contains("--scenario") && run.contains("[default: 40]"),
            "{run}"
        );
    }

    #[test]
    fn rates_and_timeouts_parse() {
        assert_eq!(parse_rate("1000"), Ok(Rate::Finite(1000)));
        assert_eq!(parse_rate("infinity"), Ok(Rate::Infinity));
        assert!(parse_rate("-1").is_err());
        assert!(parse_rate("fast").is_err());
        assert_eq!(parse_timeout("0.5"), Ok(0.5));
        assert!(parse_timeout("0").is_err());
        assert!(parse_timeout("nan").is_err());
    }
}
