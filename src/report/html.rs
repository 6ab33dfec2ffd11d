//! The HTML report: one self-contained file (inline CSS and SVG, a content security policy
//! that forbids any fetch), readable in a minute: the verdict and the summary first, the
//! thresholds, then charts over time, the tables and the warnings.
//!
//! Every chart is a `<figure class="chart" data-chart="ID" data-points="N">`; a small inline
//! script checks, once the browser has laid the page out, that each chart's SVG has a size
//! and drawn data, and writes the outcome into `data-render` attributes (the browser test
//! reads them).

use std::fmt::Write;

use super::charts::{Line, PALETTE, line_chart};
use crate::monitor::{MonitorState, Summary};

const STYLE: &str = r#"
body{font-family:system-ui,-apple-system,"Segoe UI",sans-serif;margin:0;background:#f4f5f7;color:#1d2330}
header{background:#1d2330;color:#fff;padding:16px 28px}
header h1{margin:0;font-size:22px}header p{margin:4px 0 0;color:#b8c0cc;font-size:13px}
main{padding:12px 28px 40px;max-width:1640px}
h2{font-size:17px;margin:26px 0 10px}
.verdict{display:inline-block;padding:4px 12px;border-radius:4px;font-weight:600;margin-left:10px;font-size:14px}
.pass{background:#2e7d32;color:#fff}.fail{background:#c62828;color:#fff}.none{background:#5c6778;color:#fff}
.tiles{display:flex;flex-wrap:wrap;gap:10px}
.tile{background:#fff;border-radius:6px;padding:10px 16px;min-width:120px;box-shadow:0 1px 2px #0002}
.tile b{display:block;font-size:20px}.tile span{color:#5c6778;font-size:12px}
table{border-collapse:collapse;background:#fff;box-shadow:0 1px 2px #0002;font-size:13px}
th,td{padding:5px 12px;text-align:right;border-bottom:1px solid #e6e8eb}
th:first-child,td:first-child{text-align:left}th{background:#eef0f3}
td.ok{color:#2e7d32;font-weight:600}td.bad{color:#c62828;font-weight:600}
.charts{display:flex;flex-wrap:wrap;gap:14px}
.tables{display:flex;flex-wrap:wrap;gap:14px;align-items:flex-start}
figure.chart{background:#fff;margin:0;padding:8px;border-radius:6px;box-shadow:0 1px 2px #0002}
figcaption{font-weight:600;font-size:14px;margin:2px 4px 6px}
ul.warnings{background:#fff;padding:10px 30px;font-size:13px;box-shadow:0 1px 2px #0002}
.muted{color:#5c6778;font-size:13px}
"#;

const CHECK: &str = r#"
(function(){
  var figs=document.querySelectorAll('figure.chart'),bad=0;
  figs.forEach(function(f){
    var svg=f.querySelector('svg'),r=svg?svg.getBoundingClientRect():null;
    var pts=0;
    if(svg){svg.querySelectorAll('polyline').forEach(function(p){
        var n=p.points.numberOfItems,s=(p.getAttribute('stroke')||'').toUpperCase();
        if(n>=3&&s!=='#000000')pts+=n;});
      pts+=svg.querySelectorAll('circle').length;}
    var ok=svg&&r.width>100&&r.height>100&&pts>0;
    f.setAttribute('data-render',ok?'ok':'empty');
    f.setAttribute('data-drawn-points',String(pts));
    if(!ok)bad++;
  });
  var c=document.getElementById('render-check');
  c.setAttribute('data-charts',String(figs.length));
  c.setAttribute('data-failed',String(bad));
  c.textContent=figs.length+' charts rendered'+(bad?', '+bad+' empty':'');
})();
"#;

/// Escapes text for HTML.
pub(crate) fn esc(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => o.push_str("&amp;"),
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '"' => o.push_str("&quot;"),
            '\'' => o.push_str("&#39;"),
            c => o.push(c),
        }
    }
    o
}

/// A duration in µs, readable.
pub fn fmt_us(us: u64) -> String {
    match us {
        0..1_000 => format!("{us} µs"),
        1_000..1_000_000 => format!("{:.1} ms", us as f64 / 1e3),
        _ => format!("{:.2} s", us as f64 / 1e6),
    }
}

fn fmt_num(v: f64) -> String {
    if v.fract() == 0.0 && v.abs() < 1e15 {
        format!("{}", v as i64)
    } else {
        format!("{v:.3}")
    }
}

/// A threshold's value in the unit its limit was written in (`1.173 ms` for `p99 < 500ms`).
fn with_unit(v: f64, expr: &str) -> String {
    match crate::report::threshold::unit_written(expr) {
        "" => fmt_num(v),
        "%" => format!("{} %", fmt_num(v)),
        unit => format!("{} {unit}", fmt_num(v)),
    }
}

/// `1 threshold`, `2 thresholds`.
fn plural(n: usize, word: &str) -> String {
    if n == 1 {
        word.to_owned()
    } else {
        format!("{word}s")
    }
}

/// A chart to draw: its id, title, y axis and lines.
struct Chart {
    id: String,
    title: String,
    y: &'static str,
    lines: Vec<Line>,
}

fn line(i: usize, name: impl Into<String>, values: Vec<Option<f64>>) -> Line {
    Line {
        name: name.into(),
        colour: PALETTE[i % PALETTE.len()],
        values,
    }
}

fn some<T: Copy + Into<f64>>(v: &[T]) -> Vec<Option<f64>> {
    v.iter().map(|&x| Some(x.into())).collect()
}

/// Per-second values of a series whose last bucket may be cut short by the end of the run:
/// that bucket's value is scaled to the time it covered, or left out when it covered less than
/// half its step (a few requests in the last 15 ms would otherwise draw a drop to zero).
fn per_second(
    values: impl IntoIterator<Item = f64>,
    xs: &[u64],
    step_s: u64,
    duration_s: f64,
) -> Vec<Option<f64>> {
    let step = step_s.max(1) as f64;
    let last = xs.len().checked_sub(1);
    values
        .into_iter()
        .enumerate()
        .map(|(i, v)| {
            if Some(i) != last {
                return Some(v);
            }
            let covered = (duration_s - xs[i] as f64).clamp(0.0, step);
            if covered < step / 2.0 {
                None
            } else {
                Some(v * step / covered)
            }
        })
        .collect()
}

fn charts(summary: &Summary) -> Vec<Chart> {
    let s = &summary.series;
    let rate = |values: Vec<f64>| per_second(values, &s.t_s, s.step_s, summary.duration_s);
    let mut out = Vec::new();
    let mut users = vec![line(
        0,
        "all nodes",
        some(&s.users.iter().map(|&u| u as f64).collect::<Vec<_>>()),
    )];
    for (i, (node, v)) in s.users_by_node.iter().enumerate() {
        users.push(line(
            i + 1,
            node.as_str(),
            v.iter().map(|&u| Some(u as f64)).collect(),
        ));
    }
    out.push(Chart {
        id: "users".into(),
        title: "Running users per node".into(),
        y: "users",
        lines: users,
    });
    for (name, t) in &s.throttles {
        out.push(Chart {
            id: format!("throttle-{name}"),
            title: format!("Throttle {name}: set rate vs executes"),
            y: "per second",
            lines: vec![
                line(0, "set rate", t.rate_per_s.clone()),
                line(1, "executes", rate(t.executes_per_s.clone())),
                line(2, "requests", rate(t.requests_per_s.clone())),
            ],
        });
    }
    // The scenario's own spans first, then Amoc's (user init, start, terminate).
    let mut spans: Vec<_> = s
        .spans
        .iter()
        .filter(|(_, sp)| sp.count.iter().any(|&c| c > 0))
        .collect();
    spans.sort_by_key(|(name, _)| name.starts_with("amoc."));
    for (name, sp) in spans {
        let ms = |v: &[Option<u64>]| v.iter().map(|x| x.map(|u| u as f64 / 1e3)).collect();
        out.push(Chart {
            id: format!("latency-{name}"),
            title: format!("Latency of {name}"),
            y: "ms",
            lines: vec![
                line(0, "p50", ms(&sp.p50_us)),
                line(1, "p90", ms(&sp.p90_us)),
                line(3, "p99", ms(&sp.p99_us)),
            ],
        });
    }
    let step = s.step_s.max(1) as f64;
    let mut errors = Vec::new();
    for (i, (name, sp)) in s.spans.iter().enumerate() {
        if sp.exceptions.iter().any(|&e| e > 0) {
            errors.push(line(
                i + 3,
                format!("{name} exceptions"),
                rate(sp.exceptions.iter().map(|&e| e as f64 / step).collect()),
            ));
        }
    }
    if s.users_failed.iter().any(|&f| f > 0) {
        errors.push(line(
            3,
            "users failed",
            rate(s.users_failed.iter().map(|&f| f as f64 / step).collect()),
        ));
    }
    if !errors.is_empty() {
        out.push(Chart {
            id: "errors".into(),
            title: "Errors".into(),
            y: "per second",
            lines: errors,
        });
    }
    out.push(Chart {
        id: "events".into(),
        title: "Events per second".into(),
        y: "events/s",
        lines: vec![line(0, "events", rate(s.events_per_s.clone()))],
    });
    out
}

/// The whole report.
pub fn render(state: &MonitorState, summary: &Summary, warnings: &[String]) -> String {
    let mut h = String::with_capacity(64 * 1024);
    let title = match state.scenario() {
        Some(s) => format!("Rookery report: {}", esc(s)),
        None => "Rookery report".to_owned(),
    };
    let failed = summary.thresholds.iter().filter(|t| !t.ok).count();
    let verdict = match (summary.thresholds.len(), failed) {
        (0, _) => r#"<span class="verdict none">no thresholds</span>"#.to_owned(),
        (n, 0) => format!(
            r#"<span class="verdict pass">PASSED: {n} {}</span>"#,
            plural(n, "threshold")
        ),
        (n, f) => format!(
            r#"<span class="verdict fail">FAILED: {f} of {n} {}</span>"#,
            plural(n, "threshold")
        ),
    };
    let _ = write!(
        h,
        r#"<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'">
<meta name="viewport" content="width=device-width,initial-scale=1">
<title>{title}</title><style>{STYLE}</style></head><body>
<header><h1>{title}{verdict}</h1><p>{} events over {:.1} s · rookery {}</p></header><main>
"#,
        summary.events,
        summary.duration_s,
        env!("CARGO_PKG_VERSION")
    );
    let u = &summary.users;
    let up = summary.nodes.values().filter(|v| **v == "up").count();
    h.push_str(r#"<h2>Summary</h2><div class="tiles">"#);
    let errors: u64 = summary.spans.values().map(|s| s.exceptions).sum();
    for (v, label) in [
        (format!("{:.1} s", summary.duration_s), "duration"),
        (summary.events.to_string(), "events"),
        (u.started.to_string(), "users started"),
        (u.running.to_string(), "users running"),
        (u.exceptions.to_string(), "users failed"),
        (format!("{up}/{}", summary.nodes.len()), "nodes up"),
        (errors.to_string(), "span exceptions"),
        (state.warnings_total().to_string(), "warnings"),
    ] {
        let _ = write!(
            h,
            r#"<div class="tile"><b>{}</b><span>{label}</span></div>"#,
            esc(&v)
        );
    }
    h.push_str("</div>\n");

    h.push_str("<h2>Thresholds</h2>");
    if summary.thresholds.is_empty() {
        h.push_str(r#"<p class="muted">None were given (<code>--threshold EXPR</code>).</p>"#);
    } else {
        h.push_str("<table><tr><th>threshold</th><th>value</th><th>result</th></tr>");
        for t in &summary.thresholds {
            let _ = write!(
                h,
                r#"<tr><td><code>{}</code></td><td>{}</td><td class="{}">{}</td></tr>"#,
                esc(&t.expr),
                t.value.map_or("–".to_owned(), |v| with_unit(v, &t.expr)),
                if t.ok { "ok" } else { "bad" },
                if t.ok { "pass" } else { "FAIL" }
            );
        }
        h.push_str("</table>\n");
    }

    if let Some(http) = &summary.http {
        h.push_str(&super::http::section(http));
    }

    h.push_str(r#"<h2>Over time</h2><div class="charts">"#);
    let xs = &summary.series.t_s;
    for c in charts(summary) {
        let points: usize = c
            .lines
            .iter()
            .map(|l| l.values.iter().flatten().count())
            .sum();
        let svg = line_chart(c.y, xs, &c.lines).unwrap_or_else(|e| format!("<p>{}</p>", esc(&e)));
        let _ = write!(
            h,
            r#"<figure class="chart" data-chart="{}" data-points="{points}"><figcaption>{}</figcaption>{svg}</figure>"#,
            esc(&c.id),
            esc(&c.title)
        );
    }
    let _ = write!(
        h,
        r#"</div><p class="muted">{} s per point. <span id="render-check"></span></p>"#,
        summary.series.step_s
    );

    if !summary.spans.is_empty() {
        h.push_str("<h2>Latency (since the start)</h2><table><tr><th>span</th><th>count</th><th>p50</th><th>p90</th><th>p99</th><th>max</th><th>exceptions</th></tr>");
        for (name, s) in &summary.spans {
            let _ = write!(
                h,
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                esc(name),
                s.count,
                fmt_us(s.p50_us),
                fmt_us(s.p90_us),
                fmt_us(s.p99_us),
                fmt_us(s.max_us),
                s.exceptions
            );
        }
        h.push_str("</table>\n");
    }
    if !summary.throttles.is_empty() {
        h.push_str("<h2>Throttles</h2><table><tr><th>throttle</th><th>rate</th><th>interval</th><th>requests</th><th>executes</th></tr>");
        for (name, t) in &summary.throttles {
            let rate = match t.rate {
                Some(crate::monitor::RateReading::Finite(r)) => fmt_num(r),
                Some(crate::monitor::RateReading::Infinity) => "infinity".into(),
                None => "–".into(),
            };
            let _ = write!(
                h,
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                esc(name),
                rate,
                t.interval.map_or("–".into(), |i| format!("{i} ms")),
                t.requests,
                t.executes
            );
        }
        h.push_str("</table>\n");
    }

    h.push_str("<h2>Warnings</h2>");
    let mut lines: Vec<String> = warnings.to_vec();
    for w in state.warnings() {
        lines.push(format!(
            "{:.3} s {} {} [{}]: {}",
            w.t_us as f64 / 1e6,
            w.node.as_deref().unwrap_or("-"),
            w.event.dotted(),
            w.level,
            w.msg
        ));
    }
    if state.warnings_total() > state.warnings().len() as u64 {
        lines.push(format!(
            "… {} older warnings not kept",
            state.warnings_total() - state.warnings().len() as u64
        ));
    }
    if summary.handler_failures > 0 {
        lines.push(format!(
            "{} telemetry handler failures",
            summary.handler_failures
        ));
    }
    if state.dropped() > 0 {
        lines.push(format!(
            "the monitor's queue dropped {} events",
            state.dropped()
        ));
    }
    if lines.is_empty() {
        h.push_str(r#"<p class="muted">No warnings.</p>"#);
    } else {
        h.push_str(r#"<ul class="warnings">"#);
        for l in &lines {
            let _ = write!(h, "<li>{}</li>", esc(l));
        }
        h.push_str("</ul>");
    }
    let _ = write!(h, "\n</main><script>{CHECK}</script></body></html>\n");
    h
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::monitor::EventRef;
    use crate::report::threshold::ThresholdSet;
    use crate::telemetry::{EventName, Key, Value};

    /// A state with `n` answered requests of 2 ms and one threshold.
    fn http_run(n: u64, threshold: &str) -> MonitorState {
        let set = ThresholdSet::parse(&[threshold.to_owned()]).expect("threshold");
        let mut s = MonitorState::with_thresholds(set);
        let name = EventName::new(&["http", "request", "stop"]).expect("name");
        for i in 0..n {
            let m = vec![
                (Key::new("duration"), Value::Int(2_000_000)),
                (Key::new("latency"), Value::Int(3_000_000)),
            ];
            let md = vec![(Key::new("status"), Value::Int(200))];
            s.apply(&EventRef {
                t_us: 1_000 + i * 10_000,
                node: Some("node1"),
                name: &name,
                measurements: &m,
                metadata: &md,
            });
        }
        s
    }

    #[test]
    fn an_http_run_has_its_section_and_thresholds_show_their_unit() {
        let state = http_run(50, "http.request p99 < 500ms");
        let summary = state.summary();
        let h = render(&state, &summary, &[]);
        assert!(h.contains("PASSED: 1 threshold<"), "{h}");
        assert!(h.contains("<td>2 ms</td>"), "the value in ms: {h}");
        assert!(h.contains("<h2>HTTP requests</h2>"), "{h}");
        assert!(h.contains("<td>status 200</td><td>50</td>"), "{h}");
        assert!(
            h.contains("<td>latency (from the due instant)</td><td>3.0 ms</td>"),
            "{h}"
        );
        // The section comes before the charts.
        assert!(h.find("HTTP requests") < h.find("Over time"), "{h}");
    }

    #[test]
    fn a_run_without_requests_has_no_http_section() {
        let state = MonitorState::new();
        let summary = state.summary();
        let h = render(&state, &summary, &[]);
        assert!(!h.contains("HTTP requests"), "{h}");
        assert!(h.contains("no thresholds"), "{h}");
    }

    #[test]
    fn a_last_bucket_cut_short_is_scaled_to_its_time_or_left_out() {
        let xs = [0, 1, 2];
        // 15 ms of the last second: 10 requests are not a drop to 10/s.
        assert_eq!(
            per_second([2000.0, 2000.0, 10.0], &xs, 1, 2.015),
            vec![Some(2000.0), Some(2000.0), None]
        );
        // Three quarters of it: scaled to the time it covered.
        assert_eq!(
            per_second([2000.0, 2000.0, 1500.0], &xs, 1, 2.75),
            vec![Some(2000.0), Some(2000.0), Some(2000.0)]
        );
        // A whole last bucket (and doubled steps) stay as they are.
        assert_eq!(
            per_second([5.0, 6.0, 7.0], &[0, 2, 4], 2, 6.0),
            vec![Some(5.0), Some(6.0), Some(7.0)]
        );
        assert_eq!(per_second([], &[], 1, 0.0), Vec::<Option<f64>>::new());
    }

    #[test]
    fn values_take_the_unit_their_limit_was_written_in() {
        assert_eq!(with_unit(1.173, "http.request p99 < 500ms"), "1.173 ms");
        assert_eq!(with_unit(0.5, "http.request errors < 1%"), "0.500 %");
        assert_eq!(with_unit(3.0, "users failed == 0"), "3");
        assert_eq!(plural(1, "threshold"), "threshold");
        assert_eq!(plural(3, "threshold"), "thresholds");
    }
}
