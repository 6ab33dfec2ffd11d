//! The report's HTTP section, for runs with requests of the built-in `http` scenario (the
//! summary's `http` key): requests and their outcome (status codes, errors by class), latency
//! from the due instant beside service time from the send, late starts, the backlog and bytes.

use std::fmt::Write;

use super::html::{esc, fmt_us};
use crate::monitor::{HttpSummary, Percentiles};

/// The section's HTML: a heading and three tables.
pub fn section(http: &HttpSummary) -> String {
    let mut h = String::with_capacity(2048);
    h.push_str(r#"<h2>HTTP requests</h2><div class="tables">"#);

    let failed: u64 = http.errors.values().sum();
    h.push_str("<table><tr><th>outcome</th><th>requests</th><th>share</th></tr>");
    let share = |n: u64| match http.requests {
        0 => "–".to_owned(),
        all => format!("{:.2} %", n as f64 * 100.0 / all as f64),
    };
    let _ = write!(
        h,
        "<tr><td><b>all</b></td><td>{}</td><td>{}</td></tr>",
        http.requests,
        share(http.requests)
    );
    for (code, n) in &http.status {
        let class = if code.starts_with('2') || code.starts_with('3') {
            ""
        } else {
            r#" class="bad""#
        };
        let _ = write!(
            h,
            "<tr><td>status {}</td><td{class}>{n}</td><td>{}</td></tr>",
            esc(code),
            share(*n)
        );
    }
    for (class, n) in &http.errors {
        let cell = if *n > 0 { r#" class="bad""# } else { "" };
        let _ = write!(
            h,
            "<tr><td>error: {}</td><td{cell}>{n}</td><td>{}</td></tr>",
            esc(class),
            share(*n)
        );
    }
    if http.requests > 0 && failed == http.requests {
        h.push_str(r#"<tr><td colspan="3" class="bad">every request failed</td></tr>"#);
    }
    h.push_str("</table>");

    h.push_str(
        "<table><tr><th>answered requests</th><th>p50</th><th>p90</th><th>p99</th>\
         <th>p99.9</th><th>max</th></tr>",
    );
    let answered = http.requests.saturating_sub(failed);
    for (name, p) in [
        ("latency (from the due instant)", &http.latency_us),
        ("service (from the send)", &http.service_us),
    ] {
        let _ = write!(h, "<tr><td>{name}</td>{}</tr>", cells(p.as_ref(), answered));
    }
    h.push_str("</table>");

    let b = &http.backlog;
    h.push_str("<table><tr><th>schedule and bytes</th><th></th></tr>");
    for (what, value, bad) in [
        (
            "late starts (sent 10 ms or more after due)",
            http.late_starts.to_string(),
            false,
        ),
        ("backlog at the end", b.last.to_string(), false),
        ("largest backlog", b.max.to_string(), false),
        (
            "backlog served",
            if b.unserved {
                "no: raise --users or lower the rate".to_owned()
            } else {
                "yes".to_owned()
            },
            b.unserved,
        ),
        ("bytes received (bodies)", http.bytes_in.to_string(), false),
        ("bytes sent (bodies)", http.bytes_out.to_string(), false),
    ] {
        let class = if bad { r#" class="bad""# } else { "" };
        let _ = write!(h, "<tr><td>{what}</td><td{class}>{}</td></tr>", esc(&value));
    }
    h.push_str("</table></div>\n");
    h
}

/// A row's percentile cells; dashes when no request was answered (there is no latency).
fn cells(p: Option<&Percentiles>, answered: u64) -> String {
    match p {
        Some(p) if answered > 0 => [p.p50, p.p90, p.p99, p.p999, p.max]
            .iter()
            .map(|&us| format!("<td>{}</td>", fmt_us(us)))
            .collect(),
        _ => "<td>–</td>".repeat(5),
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::monitor::BacklogSummary;

    fn summary(status: &[(&str, u64)], errors: [u64; 4]) -> HttpSummary {
        let p = |base: u64| Percentiles {
            p50: base,
            p90: base * 2,
            p99: base * 10,
            p999: base * 20,
            max: base * 30,
        };
        let status: BTreeMap<String, u64> =
            status.iter().map(|(c, n)| ((*c).to_owned(), *n)).collect();
        let errors: BTreeMap<&'static str, u64> = ["connect", "timeout", "tls", "other"]
            .into_iter()
            .zip(errors)
            .collect();
        let requests = status.values().sum::<u64>() + errors.values().sum::<u64>();
        HttpSummary {
            requests,
            status,
            errors,
            bytes_in: 6_000,
            bytes_out: 70,
            late_starts: 12,
            latency_us: Some(p(900)),
            service_us: Some(p(100)),
            backlog: BacklogSummary {
                last: 3,
                max: 41,
                unserved: true,
            },
        }
    }

    #[test]
    fn the_section_shows_outcomes_latency_beside_service_and_the_backlog() {
        let h = section(&summary(&[("200", 950), ("503", 40)], [0, 10, 0, 0]));
        assert!(
            h.contains(r#"<h2>HTTP requests</h2><div class="tables">"#),
            "tables keep their own height: {h}"
        );
        assert!(
            h.contains("<td>status 200</td><td>950</td><td>95.00 %</td>"),
            "{h}"
        );
        assert!(
            h.contains(r#"<td>status 503</td><td class="bad">40</td><td>4.00 %</td>"#),
            "{h}"
        );
        assert!(
            h.contains(r#"<td>error: timeout</td><td class="bad">10</td><td>1.00 %</td>"#),
            "{h}"
        );
        assert!(h.contains("<td>error: tls</td><td>0</td>"), "{h}");
        assert!(
            h.contains(
                "<td>latency (from the due instant)</td><td>900 µs</td><td>1.8 ms</td>\
                 <td>9.0 ms</td><td>18.0 ms</td><td>27.0 ms</td>"
            ),
            "{h}"
        );
        assert!(
            h.contains("<td>service (from the send)</td><td>100 µs</td>"),
            "{h}"
        );
        assert!(h.contains("<td>largest backlog</td><td>41</td>"), "{h}");
        assert!(h.contains(r#"class="bad">no: raise --users"#), "{h}");
        assert!(h.contains("<td>late starts"), "{h}");
        assert!(!h.contains("every request failed"), "{h}");
    }

    #[test]
    fn a_run_where_every_request_failed_says_so_and_shows_no_latency() {
        let h = section(&summary(&[], [0, 0, 1902, 0]));
        assert!(h.contains("every request failed"), "{h}");
        assert!(
            h.contains(r#"<td>error: tls</td><td class="bad">1902</td><td>100.00 %</td>"#),
            "{h}"
        );
        assert!(
            h.contains(
                "<td>latency (from the due instant)</td><td>–</td><td>–</td><td>–</td>\
                 <td>–</td><td>–</td>"
            ),
            "{h}"
        );
    }
}
