//! The HTML report in a real browser: Debian's headless Chromium renders the report of a
//! recorded run; every chart must be there, laid out, with data drawn, and the page must not
//! try to fetch anything. The screenshot is kept under `target/test-artefacts/`.
//! Needs `chromium` (`.ci/install-deps` installs it); fails without it.

mod results_support;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use results_support::{rookery, write_log};

const CHROMIUM: &str = "/usr/bin/chromium";

fn chromium(profile: &Path, extra: &[&str], url: &str) -> (bool, String, String) {
    assert!(
        Path::new(CHROMIUM).exists(),
        "{CHROMIUM} is missing: install Debian's chromium (.ci/install-deps does)"
    );
    let out = Command::new(CHROMIUM)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            "--window-size=1600,2400",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(extra)
        .arg(url)
        .stdin(Stdio::null())
        .output()
        .expect("start chromium");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn artefacts() -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/test-artefacts");
    std::fs::create_dir_all(&dir).expect("artefact dir");
    dir
}

/// `attr="value"` of the element whose opening tag contains `anchor`.
fn attr(dom: &str, anchor: &str, name: &str) -> Option<String> {
    let at = dom.find(anchor)?;
    let tag_start = dom[..at].rfind('<')?;
    let tag = &dom[tag_start..tag_start + dom[tag_start..].find('>')?];
    let key = format!("{name}=\"");
    let v = &tag[tag.find(&key)? + key.len()..];
    Some(v[..v.find('"')?].to_owned())
}

#[test]
fn the_report_of_a_recorded_run_renders_every_chart_in_chromium() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("run.jsonl");
    write_log(&log, 40);
    let html = dir.path().join("report.html");
    let (code, _, err) = rookery(&[
        "report",
        log.to_str().unwrap(),
        "-o",
        html.to_str().unwrap(),
        "--threshold",
        "http.request p99[5s] < 400ms",
        "--threshold",
        "users failed <= 1",
    ]);
    assert_eq!(
        code, 99,
        "a failed threshold still writes the report: {err}"
    );
    let page = std::fs::read_to_string(&html).unwrap();
    // Self-contained: nothing to fetch (SVG's xmlns is a name, not a fetch), and a policy
    // that forbids fetching anyway.
    for forbidden in ["src=", "<link", "url(", "@import", "href=\"http"] {
        assert!(
            !page.contains(forbidden),
            "self-contained: found {forbidden}"
        );
    }
    assert!(page.contains("Content-Security-Policy\" content=\"default-src 'none'"));
    assert!(page.find("Thresholds").unwrap() < page.find("Over time").unwrap());

    let profile = tempfile::tempdir().unwrap();
    let url = format!("file://{}", html.display());
    let (ok, dom, err) = chromium(profile.path(), &["--dump-dom"], &url);
    assert!(ok, "chromium --dump-dom failed: {err}");
    let expected = [
        "users",
        "throttle-messages",
        "latency-http.request",
        "errors",
        "events",
    ];
    for id in expected {
        let anchor = format!("data-chart=\"{id}\"");
        assert!(dom.contains(&anchor), "chart {id} missing");
        let render = attr(&dom, &anchor, "data-render");
        assert_eq!(render.as_deref(), Some("ok"), "chart {id} not drawn");
        let drawn: usize = attr(&dom, &anchor, "data-drawn-points")
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        assert!(drawn >= 20, "chart {id}: {drawn} data points drawn");
    }
    let charts: usize = attr(&dom, "id=\"render-check\"", "data-charts")
        .and_then(|v| v.parse().ok())
        .expect("the page's check ran");
    assert_eq!(charts, expected.len(), "one chart per expected id");
    assert_eq!(
        attr(&dom, "id=\"render-check\"", "data-failed").as_deref(),
        Some("0")
    );
    assert!(dom.contains("FAILED: 1 of 2 thresholds"));
    for line in err.lines() {
        assert!(
            !line.contains("Refused to") && !line.contains("Uncaught"),
            "page error: {line}"
        );
    }

    let shot = artefacts().join("report.png");
    let _ = std::fs::remove_file(&shot);
    let (ok, _, err) = chromium(
        profile.path(),
        &[&format!("--screenshot={}", shot.display())],
        &url,
    );
    assert!(ok, "chromium --screenshot failed: {err}");
    let png = std::fs::read(&shot).expect("screenshot written");
    assert!(
        png.starts_with(b"\x89PNG") && png.len() > 20_000,
        "a real screenshot"
    );
}
