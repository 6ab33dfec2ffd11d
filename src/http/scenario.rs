//! [`HttpScenario`]: the scenario named `http`, its settings and its users' loop.

use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;

use super::client::{Connector, UserClient};
use super::error::ErrorClass;
use super::events::{BYTES_IN, BYTES_OUT, CLASS, LATENCY, REQUEST, START_DELAY, STATUS};
use super::options::HttpSpec;
use super::pacing::{CATCH_UP, Gate, report_backlog};
use crate::engine::config::{ConfigError, ConfigValue, Setting, SettingType, UpdateRule};
use crate::engine::throttle::{Rate, StartOutcome, ThrottleError};
use crate::engine::{InitContext, Scenario, ScenarioError, UserContext, UserResult, rate_config};
use crate::telemetry::{Key, Value};

/// The scenario's name (`rookery run --scenario http`).
pub const SCENARIO_NAME: &str = "http";
/// The throttle every request passes (per second).
pub const THROTTLE: &str = "requests";
/// The setting holding the throttle's rate: requests per second, or `infinity`.
pub const RATE_SETTING: &str = "request_rate";
/// Requests per second when nothing says otherwise: as fast as the users go (closed model).
pub const DEFAULT_RATE: Rate = Rate::Infinity;
/// Per request, connecting included, when nothing says otherwise.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

const URL: &str = "url";
const URLS_FILE: &str = "urls_file";
const METHOD: &str = "method";
const HEADERS: &str = "headers";
const BODY: &str = "body";
const BODY_FILE: &str = "body_file";
const TIMEOUT: &str = "timeout";
const INSECURE: &str = "insecure";
const HTTP2: &str = "http2";

/// The built-in scenario. [`HttpScenario::new`] has no URL (`--set url=...` gives one);
/// [`HttpScenario::with`] makes the given request and rate the settings' defaults (what
/// `rookery http URL ...` does), so `--set` still overrides them.
#[derive(Clone, Debug)]
pub struct HttpScenario {
    spec: HttpSpec,
    rate: Rate,
}

impl Default for HttpScenario {
    fn default() -> Self {
        HttpScenario::new()
    }
}

impl HttpScenario {
    pub fn new() -> HttpScenario {
        HttpScenario::with(HttpSpec::default(), DEFAULT_RATE)
    }

    pub fn with(spec: HttpSpec, rate: Rate) -> HttpScenario {
        HttpScenario { spec, rate }
    }
}

/// What `init` prepared on one node, shared by its users.
#[derive(Debug)]
pub struct HttpState {
    connector: Connector,
    /// Per target: `url` and `method` metadata values, made once.
    urls: Vec<Value>,
    method: Value,
    bytes_out: i64,
    /// The `[http, backlog]` report, on the node that started the throttle.
    reporter: Option<tokio::task::AbortHandle>,
}

fn path_text(p: &Option<std::path::PathBuf>) -> Option<String> {
    p.as_ref().map(|p| p.display().to_string())
}

fn rate_value(r: Rate) -> ConfigValue {
    match r {
        Rate::Finite(n) => ConfigValue::Int(i64::try_from(n).unwrap_or(i64::MAX)),
        Rate::Infinity => ConfigValue::Infinity,
    }
}

/// `headers` setting text: one `Name: value` per line; `\n` (backslash, n) also separates, for
/// `--set` on a shell. `-H` values are split the same way, so the command line checks what
/// every node will read.
pub(crate) fn split_headers(text: &str) -> Vec<String> {
    text.split('\n')
        .flat_map(|l| l.split("\\n"))
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(str::to_owned)
        .collect()
}

impl HttpScenario {
    /// The spec the settings give (each setting read through `get`).
    fn spec_from(
        &self,
        get: impl Fn(&str) -> Result<Option<ConfigValue>, ConfigError>,
    ) -> Result<HttpSpec, ScenarioError> {
        let read = |name: &str| get(name).map_err(|e| ScenarioError::new(format!("{name}: {e}")));
        let text = |name: &str| -> Result<Option<String>, ScenarioError> {
            Ok(read(name)?
                .and_then(|v| v.as_str().map(str::to_owned))
                .filter(|s| !s.is_empty()))
        };
        let flag = |name: &str| -> Result<bool, ScenarioError> {
            Ok(matches!(read(name)?, Some(ConfigValue::Bool(true))))
        };
        Ok(HttpSpec {
            url: text(URL)?,
            urls_file: text(URLS_FILE)?.map(Into::into),
            method: text(METHOD)?.unwrap_or_else(|| "GET".to_owned()),
            headers: text(HEADERS)?
                .map(|h| split_headers(&h))
                .unwrap_or_default(),
            body: read(BODY)?.and_then(|v| v.as_str().map(str::to_owned)),
            body_file: text(BODY_FILE)?.map(Into::into),
            timeout: read(TIMEOUT)?
                .and_then(|v| v.as_duration())
                .unwrap_or(DEFAULT_TIMEOUT),
            insecure: flag(INSECURE)?,
            http2: flag(HTTP2)?,
        })
    }
}

fn str_setting(name: &str, description: &str, default: Option<String>) -> Setting {
    let s = Setting::new(name, description).ty(SettingType::Str);
    match default {
        Some(d) => s.default_value(ConfigValue::Str(d)),
        None => s,
    }
}

impl Scenario for HttpScenario {
    type State = HttpState;

    fn name(&self) -> &str {
        SCENARIO_NAME
    }

    fn settings(&self) -> Vec<Setting> {
        let s = &self.spec;
        vec![
            str_setting(URL, "The URL to load (http:// or https://)", s.url.clone()),
            str_setting(
                URLS_FILE,
                "A file of URLs, one per line, sent round-robin (instead of url)",
                path_text(&s.urls_file),
            ),
            str_setting(METHOD, "The request method", Some(s.method.clone())),
            str_setting(
                HEADERS,
                "Request headers, `Name: value`, one per line (or separated by \\n)",
                (!s.headers.is_empty()).then(|| s.headers.join("\n")),
            ),
            str_setting(BODY, "The request body", s.body.clone()),
            str_setting(
                BODY_FILE,
                "A file holding the request body",
                path_text(&s.body_file),
            ),
            Setting::new(TIMEOUT, "Per request, connecting included")
                .ty(SettingType::Duration)
                .default_value(s.timeout),
            Setting::new(INSECURE, "Accept any TLS certificate")
                .ty(SettingType::Bool)
                .default_value(s.insecure),
            Setting::new(HTTP2, "Speak HTTP/2")
                .ty(SettingType::Bool)
                .default_value(s.http2),
            Setting::new(
                RATE_SETTING,
                "Requests per second, cluster-wide (infinity: every user back to back)",
            )
            .ty(SettingType::Rate)
            .default_value(rate_value(self.rate))
            .update(UpdateRule::throttle_rate(THROTTLE, 1000)),
        ]
    }

    fn init(&self, ctx: &InitContext<'_>) -> Result<HttpState, ScenarioError> {
        let spec = self.spec_from(|name| ctx.setting(name))?;
        let options = spec
            .resolve()
            .map_err(|e| ScenarioError::new(e.to_string()))?;
        let urls = options
            .targets
            .iter()
            .map(|t| Value::atom(interned(&t.url)))
            .collect();
        let method = Value::from(options.method.as_str());
        let bytes_out = i64::try_from(options.body.len()).unwrap_or(i64::MAX);
        let connector = Connector::new(options).map_err(|e| ScenarioError::new(e.to_string()))?;
        let rate = ctx
            .setting(RATE_SETTING)
            .map_err(|e| ScenarioError::new(format!("{RATE_SETTING}: {e}")))?
            .and_then(|v| rate_config(&v, 1000))
            .ok_or_else(|| ScenarioError::new(format!("{RATE_SETTING} has no rate")))?
            .catch_up(CATCH_UP);
        // Every node runs `init`; the first starts the throttle (and reports its backlog),
        // the others find it.
        let reporter = match ctx.throttles().start(THROTTLE, rate) {
            Ok(StartOutcome::Started) => {
                report_backlog(ctx.throttles().clone(), THROTTLE, ctx.emitter().clone())
            }
            Ok(_) | Err(ThrottleError::WrongReconfiguration { .. }) => None,
            Err(e) => return Err(ScenarioError::new(format!("throttle {THROTTLE}: {e}"))),
        };
        Ok(HttpState {
            connector,
            urls,
            method,
            bytes_out,
            reporter,
        })
    }

    async fn start(&self, user: UserContext, state: Arc<HttpState>) -> UserResult {
        let id = Value::Int(i64::try_from(user.user_id()).unwrap_or(i64::MAX));
        let mut gate = Gate::new(
            user.throttles()
                .handle(THROTTLE)
                .map_err(|e| ScenarioError::new(format!("throttle {THROTTLE}: {e}")))?,
        );
        let c = &state.connector;
        let n = state.urls.len();
        // Users begin at different URLs, so a short run still covers them all.
        let mut next = (user.user_id() as usize) % n;
        let mut client = UserClient::new();
        let emitter = user.emitter();
        let telemetry = user.telemetry();
        // Stop and exception metadata carry `node` like every engine event (built here, once).
        let node = Value::Str(emitter.node().clone());
        let mut answered: u64 = 0;
        while !user.removal_requested() {
            // Not raced against `removed()`: a release the throttle counted is always sent.
            let (due, now) = gate
                .next_due()
                .await
                .map_err(|e| ScenarioError::new(format!("throttle {THROTTLE}: {e}")))?;
            let i = next;
            next = (next + 1) % n;
            let sent_at = if now { due } else { Instant::now() };
            let due = due.min(sent_at);
            let delay = nanos(sent_at - due);
            // `node` as `Emitter::span_start` would add it, without its copy of the rest.
            // Keys in the order the monitor looks for them: `node` for every event, then
            // `start_delay` (start) or `status` (stop); a lookup scans from the first.
            let start_md = [
                (Key::new_static("node"), node.clone()),
                (Key::new_static(START_DELAY), Value::Int(delay)),
                (Key::new_static("user_id"), id.clone()),
                (Key::new_static("method"), state.method.clone()),
                (Key::new_static("url"), state.urls[i].clone()),
            ];
            let span = telemetry.span_start(REQUEST.get(), &start_md);
            match client.send_from(c, i, sent_at).await {
                Ok(r) => {
                    let m = [
                        (Key::new_static(LATENCY), Value::Int(nanos(due.elapsed()))),
                        (
                            Key::new_static(BYTES_IN),
                            Value::Int(i64::try_from(r.bytes_in).unwrap_or(i64::MAX)),
                        ),
                        (Key::new_static(BYTES_OUT), Value::Int(state.bytes_out)),
                        (Key::new_static(START_DELAY), Value::Int(delay)),
                    ];
                    let md = [
                        (Key::new_static("node"), node.clone()),
                        (Key::new_static(STATUS), Value::Int(i64::from(r.status))),
                        (Key::new_static("user_id"), id.clone()),
                    ];
                    span.stop(telemetry, &m, &md);
                    answered += 1;
                    gate.reset_backoff();
                }
                Err(e) => {
                    if e.class == ErrorClass::Connect {
                        gate.connect_failed();
                    } else {
                        gate.reset_backoff();
                    }
                    let md = [
                        (Key::new_static("node"), node.clone()),
                        (Key::new_static(CLASS), Value::from(e.class.as_str())),
                        (Key::new_static("user_id"), id.clone()),
                        (Key::new_static("method"), state.method.clone()),
                        (Key::new_static("url"), state.urls[i].clone()),
                    ];
                    span.exception(telemetry, &md, "error", e.reason.as_str(), Value::list([]));
                }
            }
        }
        Ok(Value::from(answered))
    }

    fn terminate(&self, state: &HttpState) -> UserResult {
        if let Some(r) = &state.reporter {
            r.abort();
        }
        Ok(Value::atom("ok"))
    }
}

/// `text` as a `&'static str`, each distinct text kept once for the life of the process.
///
/// The `url` of every request's start event is a string too long to be held inline; as a
/// static string the event tap copies it bit for bit instead of cloning (an atomic count per
/// event) and dropping it again, which costs every batch of events its fast path. The URLs
/// of a process are few (the targets of its runs), so keeping them is bounded.
fn interned(text: &str) -> &'static str {
    use std::collections::HashSet;
    use std::sync::{Mutex, OnceLock};
    static SEEN: OnceLock<Mutex<HashSet<&'static str>>> = OnceLock::new();
    let mut seen = SEEN
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(|e| e.into_inner());
    if let Some(s) = seen.get(text) {
        return s;
    }
    let s: &'static str = Box::leak(text.to_owned().into_boxed_str());
    seen.insert(s);
    s
}

fn nanos(d: Duration) -> i64 {
    i64::try_from(d.as_nanos()).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use super::{interned, split_headers};

    #[test]
    fn interned_urls_are_kept_once() {
        let a = interned("http://127.0.0.1:8080/a-path-longer-than-inline");
        let b = interned(&String::from(
            "http://127.0.0.1:8080/a-path-longer-than-inline",
        ));
        assert!(std::ptr::eq(a, b));
        assert_ne!(interned("http://x/1"), interned("http://x/2"));
    }

    #[test]
    fn header_setting_splits_on_newlines_and_escaped_newlines() {
        assert_eq!(
            split_headers("A: 1\nB: 2\\nC: 3\n\n"),
            ["A: 1", "B: 2", "C: 3"]
        );
        assert!(split_headers("").is_empty());
    }
}
