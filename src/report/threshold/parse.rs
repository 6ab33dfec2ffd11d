//! The threshold parser (grammar in the [module docs](super)).

use std::fmt;

use super::MAX_WINDOW_S;

/// What a threshold is about.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Subject {
    Users,
    Events,
    Nodes,
    Throttle(String),
    /// A span prefix, dotted.
    Span(String),
    /// `http latency`: answered requests of the built-in `http` scenario, from the instant
    /// each was due (corrected for coordinated omission).
    HttpLatency,
    /// `http service`: the same requests from the send (the `http.request` span's duration).
    HttpService,
}

/// What is measured.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Metric {
    /// A latency quantile (0–1).
    Quantile(f64),
    Max,
    Count,
    Errors,
    Requests,
    Executes,
    Added,
    Removed,
    Started,
    Stopped,
    Failed,
    Running,
    Dropped,
    Up,
    Down,
}

impl Metric {
    /// A latency: the value is a duration.
    pub fn is_latency(self) -> bool {
        matches!(self, Metric::Quantile(_) | Metric::Max)
    }
}

/// A comparison.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    Lt,
    Le,
    Gt,
    Ge,
    Eq,
    Ne,
}

impl Op {
    /// Whether `value op limit` holds.
    pub fn holds(self, value: f64, limit: f64) -> bool {
        match self {
            Op::Lt => value < limit,
            Op::Le => value <= limit,
            Op::Gt => value > limit,
            Op::Ge => value >= limit,
            Op::Eq => value == limit,
            Op::Ne => value != limit,
        }
    }

    /// Whether `a` is a worse value than `b` for this comparison (the reported value of a
    /// windowed threshold is the worst window's).
    pub fn worse(self, a: f64, b: f64) -> bool {
        match self {
            Op::Lt | Op::Le => a > b,
            Op::Gt | Op::Ge => a < b,
            Op::Eq | Op::Ne => false,
        }
    }
}

/// The unit of the value: what the reported value is expressed in.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Unit {
    Plain,
    Percent,
    /// A duration; the number of µs in one of the unit written (1, 1000, 1e6, 6e7).
    Duration(f64),
}

/// One parsed threshold.
#[derive(Clone, Debug, PartialEq)]
pub struct Threshold {
    /// The expression as written (trimmed).
    pub expr: String,
    pub subject: Subject,
    pub metric: Metric,
    /// A `/s` metric.
    pub per_s: bool,
    /// Window in seconds.
    pub window_s: Option<u64>,
    pub op: Op,
    /// The limit in the metric's base unit: µs for latencies, a ratio (0–1) for percentages.
    pub limit: f64,
    pub unit: Unit,
}

impl Threshold {
    /// A value in the base unit, expressed in the unit the expression was written in.
    pub fn display_value(&self, base: f64) -> f64 {
        let v = match self.unit {
            Unit::Plain => base,
            Unit::Percent => base * 100.0,
            Unit::Duration(us) => base / us,
        };
        (v * 1000.0).round() / 1000.0
    }
}

/// A threshold that does not parse: the expression and the part that is wrong.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("threshold `{expr}`: {reason}")]
pub struct ThresholdError {
    pub expr: String,
    pub reason: String,
}

const OPS: [(&str, Op); 6] = [
    ("<=", Op::Le),
    (">=", Op::Ge),
    ("==", Op::Eq),
    ("!=", Op::Ne),
    ("<", Op::Lt),
    (">", Op::Gt),
];

const SPAN_METRICS: &str = "p50, p90, p95, p99, p999, max, count, count/s, errors";
const THROTTLE_METRICS: &str = "requests, executes, requests/s, executes/s";
const USER_METRICS: &str = "added, removed, started, stopped, failed, running";
const EVENT_METRICS: &str = "count, count/s, dropped";
const NODE_METRICS: &str = "up, down";
const HTTP_METRICS: &str = "p50, p90, p99, p999, max";

impl std::str::FromStr for Threshold {
    type Err = ThresholdError;
    fn from_str(s: &str) -> Result<Threshold, ThresholdError> {
        parse(s).map_err(|reason| ThresholdError {
            expr: s.trim().to_owned(),
            reason,
        })
    }
}

impl fmt::Display for Threshold {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.expr)
    }
}

fn parse(s: &str) -> Result<Threshold, String> {
    let expr = s.trim();
    if expr.is_empty() {
        return Err("empty (expected e.g. `http.request p99 < 250ms`)".into());
    }
    let (at, text, op) = OPS
        .iter()
        .filter_map(|(t, op)| expr.find(t).map(|i| (i, *t, *op)))
        .min_by_key(|(i, t, _)| (*i, usize::MAX - t.len()))
        .ok_or("no comparison (one of <, <=, >, >=, ==, !=)")?;
    let left = &expr[..at];
    let right = expr[at + text.len()..].trim();
    if right.is_empty() {
        return Err(format!("nothing after `{text}` (expected a value)"));
    }
    let words: Vec<&str> = left.split_whitespace().collect();
    let Some((metric_word, subject_words)) = words.split_last() else {
        return Err(format!(
            "nothing before `{text}` (expected a subject and a metric)"
        ));
    };
    let subject = match subject_words {
        [] => {
            return Err(format!(
                "`{metric_word}` needs a subject before it (users, events, nodes, throttle NAME, \
                 or a span prefix)"
            ));
        }
        ["users"] => Subject::Users,
        ["events"] => Subject::Events,
        ["nodes"] => Subject::Nodes,
        ["throttle"] => return Err("`throttle` needs a name".into()),
        ["throttle", name] => Subject::Throttle((*name).to_owned()),
        ["http", "latency"] => Subject::HttpLatency,
        ["http", "service"] => Subject::HttpService,
        ["span", prefix] | [prefix] => Subject::Span((*prefix).to_owned()),
        more => {
            return Err(format!(
                "`{}`: too many words before the metric",
                more.join(" ")
            ));
        }
    };
    let (name, window_s) = split_window(metric_word)?;
    let (base, per_s) = match name.strip_suffix("/s") {
        Some(b) => (b, true),
        None => (name, false),
    };
    let metric = metric_of(&subject, base, per_s).ok_or_else(|| {
        format!(
            "unknown metric `{name}` for {} (expected {})",
            subject_label(&subject),
            metrics_of(&subject)
        )
    })?;
    if window_s.is_some() && matches!(subject, Subject::HttpLatency | Subject::HttpService) {
        return Err(format!(
            "{} takes no window: it is judged on the whole run (a span's window, e.g. \
             `http.request p99[10s]`, is measured from the send)",
            subject_label(&subject)
        ));
    }
    if window_s.is_some() && !windowable(&subject, metric) {
        return Err(format!(
            "`{name}` takes no window (it is a level, not a rate or a latency)"
        ));
    }
    let (limit, unit) = value_of(right, metric)?;
    Ok(Threshold {
        expr: expr.to_owned(),
        subject,
        metric,
        per_s,
        window_s,
        op,
        limit,
        unit,
    })
}

fn subject_label(s: &Subject) -> String {
    match s {
        Subject::Users => "users".into(),
        Subject::Events => "events".into(),
        Subject::Nodes => "nodes".into(),
        Subject::Throttle(n) => format!("throttle {n}"),
        Subject::Span(p) => format!("span {p}"),
        Subject::HttpLatency => "http latency".into(),
        Subject::HttpService => "http service".into(),
    }
}

fn metrics_of(s: &Subject) -> &'static str {
    match s {
        Subject::Users => USER_METRICS,
        Subject::Events => EVENT_METRICS,
        Subject::Nodes => NODE_METRICS,
        Subject::Throttle(_) => THROTTLE_METRICS,
        Subject::Span(_) => SPAN_METRICS,
        Subject::HttpLatency | Subject::HttpService => HTTP_METRICS,
    }
}

fn metric_of(subject: &Subject, name: &str, per_s: bool) -> Option<Metric> {
    let m = match (subject, name) {
        (Subject::Span(_), "p50") => Metric::Quantile(0.5),
        (Subject::Span(_), "p90") => Metric::Quantile(0.9),
        (Subject::Span(_), "p95") => Metric::Quantile(0.95),
        (Subject::Span(_), "p99") => Metric::Quantile(0.99),
        (Subject::Span(_), "p999") => Metric::Quantile(0.999),
        (Subject::Span(_), "max") => Metric::Max,
        (Subject::HttpLatency | Subject::HttpService, "p50") => Metric::Quantile(0.5),
        (Subject::HttpLatency | Subject::HttpService, "p90") => Metric::Quantile(0.9),
        (Subject::HttpLatency | Subject::HttpService, "p99") => Metric::Quantile(0.99),
        (Subject::HttpLatency | Subject::HttpService, "p999") => Metric::Quantile(0.999),
        (Subject::HttpLatency | Subject::HttpService, "max") => Metric::Max,
        (Subject::Span(_) | Subject::Events, "count") => Metric::Count,
        (Subject::Span(_), "errors") => Metric::Errors,
        (Subject::Throttle(_), "requests") => Metric::Requests,
        (Subject::Throttle(_), "executes") => Metric::Executes,
        (Subject::Users, "added") => Metric::Added,
        (Subject::Users, "removed") => Metric::Removed,
        (Subject::Users, "started") => Metric::Started,
        (Subject::Users, "stopped") => Metric::Stopped,
        (Subject::Users, "failed") => Metric::Failed,
        (Subject::Users, "running") => Metric::Running,
        (Subject::Events, "dropped") => Metric::Dropped,
        (Subject::Nodes, "up") => Metric::Up,
        (Subject::Nodes, "down") => Metric::Down,
        _ => return None,
    };
    let rate_ok = matches!(m, Metric::Count | Metric::Requests | Metric::Executes);
    (!per_s || rate_ok).then_some(m)
}

fn windowable(subject: &Subject, m: Metric) -> bool {
    match subject {
        Subject::Span(_) | Subject::Throttle(_) => true,
        Subject::Users => matches!(m, Metric::Started | Metric::Failed),
        Subject::Events => m == Metric::Count,
        Subject::Nodes | Subject::HttpLatency | Subject::HttpService => false,
    }
}

/// `p99[10s]` → (`p99`, Some(10)).
fn split_window(word: &str) -> Result<(&str, Option<u64>), String> {
    let Some(open) = word.find('[') else {
        if word.contains(']') {
            return Err(format!("`{word}`: `]` without `[`"));
        }
        return Ok((word, None));
    };
    let Some(inner) = word[open + 1..].strip_suffix(']') else {
        return Err(format!(
            "`{word}`: a window is written `[10s]` right after the metric"
        ));
    };
    let secs = window_seconds(inner)
        .ok_or_else(|| format!("window `[{inner}]`: expected whole seconds such as 10s or 1m"))?;
    if !(1..=MAX_WINDOW_S).contains(&secs) {
        return Err(format!(
            "window `[{inner}]`: must be 1 s to {MAX_WINDOW_S} s"
        ));
    }
    Ok((&word[..open], Some(secs)))
}

fn window_seconds(s: &str) -> Option<u64> {
    let (num, mult) = if let Some(n) = s.strip_suffix('s') {
        (n, 1)
    } else if let Some(n) = s.strip_suffix('m') {
        (n, 60)
    } else {
        (s, 1)
    };
    num.parse::<u64>().ok().map(|n| n.saturating_mul(mult))
}

fn value_of(s: &str, metric: Metric) -> Result<(f64, Unit), String> {
    let split = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.' || c == '-' || c == '+' || c == 'e'))
        .unwrap_or(s.len());
    // `1e3ms` is fine, but `e` alone must not eat a unit: only digits before it count.
    let (num, unit) = s.split_at(split);
    let unit = unit.trim();
    let n: f64 = num
        .parse()
        .ok()
        .filter(|v: &f64| v.is_finite())
        .ok_or_else(|| format!("`{s}` is not a number"))?;
    let latency = metric.is_latency();
    match unit {
        "" if latency => Err(format!("`{s}`: a latency needs a unit (us, ms, s)")),
        "" => Ok((n, Unit::Plain)),
        "%" if matches!(metric, Metric::Errors | Metric::Failed) => Ok((n / 100.0, Unit::Percent)),
        "%" => Err(format!(
            "`{s}`: a percentage only applies to errors or failed"
        )),
        u => {
            let us = match u {
                "us" | "µs" => 1.0,
                "ms" => 1e3,
                "s" => 1e6,
                "m" => 6e7,
                _ => return Err(format!("`{u}` is not a unit (us, ms, s, m, %)")),
            };
            if !latency {
                return Err(format!(
                    "`{s}`: only a latency (p50 … max) takes a duration"
                ));
            }
            Ok((n * us, Unit::Duration(us)))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> Threshold {
        s.parse().unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn the_examples_parse() {
        let a = t("http.request p99 < 250ms");
        assert_eq!(a.subject, Subject::Span("http.request".into()));
        assert_eq!(a.metric, Metric::Quantile(0.99));
        assert_eq!((a.op, a.limit, a.window_s), (Op::Lt, 250_000.0, None));
        let b = t("http.request errors < 1%");
        assert_eq!(
            (b.metric, b.limit, b.unit),
            (Metric::Errors, 0.01, Unit::Percent)
        );
        let c = t("throttle messages executes/s >= 40");
        assert_eq!(c.subject, Subject::Throttle("messages".into()));
        assert!(c.per_s);
        assert_eq!((c.op, c.limit), (Op::Ge, 40.0));
        let d = t("users failed == 0");
        assert_eq!(
            (d.subject, d.metric, d.op),
            (Subject::Users, Metric::Failed, Op::Eq)
        );
        let e = t("  http.request p99[10s]<400ms ");
        assert_eq!((e.window_s, e.limit), (Some(10), 400_000.0));
        assert_eq!(e.expr, "http.request p99[10s]<400ms");
        assert_eq!(t("span demo.message max[1m] <= 1.5s").window_s, Some(60));
        assert_eq!(t("events count/s > 10").metric, Metric::Count);
    }

    #[test]
    fn http_latency_and_service_are_subjects_judged_on_the_whole_run() {
        let a = t("http latency p99 < 500ms");
        assert_eq!(
            (a.subject, a.metric, a.limit),
            (Subject::HttpLatency, Metric::Quantile(0.99), 500_000.0)
        );
        assert_eq!(t("http service max <= 2s").subject, Subject::HttpService);
        let e = |s: &str| s.parse::<Threshold>().unwrap_err().to_string();
        assert!(
            e("http latency p99[10s] < 1s").contains("http latency takes no window"),
            "{}",
            e("http latency p99[10s] < 1s")
        );
        assert!(e("http latency p95 < 1s").contains("expected p50, p90, p99, p999, max"));
        assert!(e("http latency p99 < 5").contains("needs a unit"));
    }

    #[test]
    fn errors_name_the_bad_part() {
        let e = |s: &str| s.parse::<Threshold>().unwrap_err().to_string();
        assert!(e("http.request p98 < 250ms").contains("unknown metric `p98`"));
        assert!(e("http.request p99 < 250").contains("needs a unit"));
        assert!(e("http.request p99 < 250xs").contains("`xs` is not a unit"));
        assert!(e("http.request p99 250ms").contains("no comparison"));
        assert!(e("users running[10s] > 1").contains("takes no window"));
        assert!(e("http.request p99[0s] < 1ms").contains("1 s to 300 s"));
        assert!(e("http.request p99[10x] < 1ms").contains("window `[10x]`"));
        assert!(e("p99 < 1ms").contains("needs a subject"));
        assert!(e("users failed <").contains("nothing after"));
        assert!(e("users running < 5%").contains("percentage"));
        assert!(
            e("throttle < 5").contains("needs a subject") || e("throttle < 5").contains("throttle")
        );
        assert!(e("users running/s < 5").contains("unknown metric `running/s`"));
        assert!(!e("a b c d < 1").contains('\n'));
    }

    #[test]
    fn ops_hold_and_rank() {
        assert!(Op::Le.holds(1.0, 1.0) && !Op::Lt.holds(1.0, 1.0));
        assert!(Op::Ne.holds(1.0, 2.0) && Op::Eq.holds(2.0, 2.0));
        assert!(Op::Lt.worse(3.0, 2.0) && Op::Ge.worse(1.0, 2.0));
    }
}
