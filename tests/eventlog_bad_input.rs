//! Each bad-input case of the format contract, through the reader and through
//! `rookery replay --headless` (exit status, one-line error naming file and line).

use std::io::Write;
use std::path::PathBuf;
use std::process::Command;

use rookery::eventlog::{LineError, LogError, LogReader, MergedReader, ReadOptions};

fn asset(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("assets/logs")
        .join(name)
}

/// Reads a whole file; returns events read, or the error.
fn read_all(path: &PathBuf, skip: bool) -> Result<(u64, rookery::eventlog::ReadStats), LogError> {
    let mut r = LogReader::open(
        path,
        ReadOptions {
            skip_bad_lines: skip,
        },
    )?;
    let mut n = 0;
    while r.next()?.is_some() {
        n += 1;
    }
    Ok((n, r.stats().clone()))
}

fn line_error(path: &str) -> (u64, LineError, String) {
    match read_all(&asset(path), false) {
        Err(e @ LogError::Line { .. }) => {
            let msg = e.to_string();
            let LogError::Line { line, error, .. } = e else {
                unreachable!()
            };
            (line, error, msg)
        }
        other => panic!("{path}: expected a line error, got {other:?}"),
    }
}

#[test]
fn malformed_line_names_file_and_line() {
    let (line, err, msg) = line_error("bad-malformed.jsonl");
    assert_eq!(line, 4);
    assert!(matches!(err, LineError::Malformed(_)));
    assert!(msg.contains("bad-malformed.jsonl:4:"), "{msg}");
}

#[test]
fn a_line_that_is_not_an_event() {
    let (line, err, msg) = line_error("bad-not-event.jsonl");
    assert_eq!(line, 3);
    assert!(matches!(err, LineError::NotAnEvent(_)), "{err:?}");
    assert!(msg.contains("bad-not-event.jsonl:3: not an event"), "{msg}");
}

#[test]
fn missing_header() {
    let (line, err, _) = line_error("bad-no-header.jsonl");
    assert_eq!(line, 1);
    assert!(matches!(err, LineError::MissingHeader(_)), "{err:?}");
}

#[test]
fn newer_version_is_refused_clearly() {
    let (line, err, msg) = line_error("bad-newer-version.jsonl");
    assert_eq!((line, err), (1, LineError::NewerVersion(2)));
    assert!(msg.contains("newer"), "{msg}");
}

#[test]
fn empty_file_has_no_header() {
    let f = tempfile::NamedTempFile::new().unwrap();
    let err = read_all(&f.path().to_path_buf(), false).unwrap_err();
    assert!(err.to_string().contains("missing header"), "{err}");
}

#[test]
fn skip_bad_lines_counts_instead() {
    let (n, stats) = read_all(&asset("bad-malformed.jsonl"), true).expect("skips");
    assert_eq!((n, stats.bad_lines), (3, 1));
    assert!(
        stats.warnings[0].contains("bad-malformed.jsonl:4"),
        "{:?}",
        stats.warnings
    );
    let (n, stats) = read_all(&asset("bad-not-event.jsonl"), true).expect("skips");
    assert_eq!((n, stats.bad_lines), (2, 1));
}

#[test]
fn truncated_last_line_is_a_warning() {
    let (n, stats) = read_all(&asset("bad-truncated.jsonl"), false).expect("reads");
    assert_eq!(n, 3);
    assert!(stats.truncated_last_line);
    assert!(
        stats.warnings[0].contains("bad-truncated.jsonl:5: truncated"),
        "{:?}",
        stats.warnings
    );
}

#[test]
fn truncated_gzip_is_a_warning() {
    let gz = std::fs::read(asset("amoc-sample.jsonl.gz")).unwrap();
    let mut f = tempfile::Builder::new()
        .suffix(".jsonl.gz")
        .tempfile()
        .unwrap();
    f.write_all(&gz[..gz.len() * 2 / 3]).unwrap();
    let (n, stats) = read_all(&f.path().to_path_buf(), false).expect("reads what is there");
    assert!(n > 50 && n < 274, "{n}");
    assert!(stats.truncated_last_line);
}

#[test]
fn time_going_backwards_is_clamped() {
    let mut r = LogReader::open(asset("bad-backwards.jsonl"), ReadOptions::default()).unwrap();
    let mut times = Vec::new();
    while let Some(ev) = r.next().unwrap() {
        times.push(ev.t_us);
    }
    assert_eq!(times, [10, 30, 30]);
    assert_eq!(r.stats().clamped, 1);
    assert!(r.stats().warnings[0].contains("bad-backwards.jsonl:4: time goes backwards"));
}

#[test]
fn merged_reader_reports_the_failing_file() {
    let err = MergedReader::open(
        &[asset("amoc-sample.jsonl"), asset("bad-no-header.jsonl")],
        ReadOptions::default(),
    )
    .unwrap_err();
    assert!(err.to_string().contains("bad-no-header.jsonl:1:"), "{err}");
}

fn rookery(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_rookery"))
        .args(args)
        .output()
        .expect("runs");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn cli_bad_input_is_one_line_and_exit_1() {
    for (file, needle) in [
        (
            "bad-malformed.jsonl",
            "bad-malformed.jsonl:4: malformed line",
        ),
        ("bad-not-event.jsonl", "bad-not-event.jsonl:3: not an event"),
        (
            "bad-no-header.jsonl",
            "bad-no-header.jsonl:1: missing header",
        ),
        (
            "bad-newer-version.jsonl",
            "bad-newer-version.jsonl:1: event-log format version 2",
        ),
    ] {
        let path = asset(file);
        let (code, stdout, stderr) = rookery(&["replay", "--headless", path.to_str().unwrap()]);
        assert_eq!(code, 1, "{file}: {stderr}");
        assert!(stdout.is_empty(), "{file}: {stdout}");
        assert_eq!(stderr.lines().count(), 1, "{file}: {stderr}");
        assert!(stderr.contains(needle), "{file}: {stderr}");
    }
}

#[test]
fn cli_skip_bad_lines_and_warnings() {
    let path = asset("bad-malformed.jsonl");
    let (code, stdout, stderr) = rookery(&[
        "replay",
        "--headless",
        "--skip-bad-lines",
        path.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{stderr}");
    let summary: serde_json::Value = serde_json::from_str(&stdout).expect("JSON on stdout");
    assert_eq!(summary["events"], 3);
    assert!(stderr.contains("skipped 1 bad lines"), "{stderr}");

    let path = asset("bad-truncated.jsonl");
    let (code, stdout, stderr) = rookery(&["replay", "--headless", path.to_str().unwrap()]);
    assert_eq!(code, 0, "{stderr}");
    assert!(
        stderr.contains("warning") && stderr.contains("truncated"),
        "{stderr}"
    );
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&stdout).unwrap()["events"],
        3
    );
}

#[test]
fn cli_usage_errors_exit_2() {
    let path = asset("amoc-sample.jsonl");
    let (code, _, stderr) = rookery(&[
        "replay",
        "--headless",
        "--speed",
        "fast",
        path.to_str().unwrap(),
    ]);
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("invalid speed"));
}

#[test]
fn cli_headless_merges_several_files() {
    let m = asset("cluster-master.jsonl");
    let w = asset("cluster-worker.jsonl");
    let (code, stdout, stderr) = rookery(&[
        "replay",
        "--headless",
        "--speed",
        "max",
        m.to_str().unwrap(),
        w.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{stderr}");
    let s: serde_json::Value = serde_json::from_str(&stdout).expect("JSON");
    assert_eq!(s["throttles"]["msg"]["requests"], 6);
    assert_eq!(s["nodes"]["worker@h"], "down");
    assert!(stderr.is_empty(), "{stderr}");
}

#[test]
fn cli_gzip_gives_the_same_summary() {
    let plain = asset("amoc-sample.jsonl");
    let gz = asset("amoc-sample.jsonl.gz");
    let (c1, out1, err1) = rookery(&["replay", "--headless", plain.to_str().unwrap()]);
    let (c2, out2, err2) = rookery(&["replay", "--headless", gz.to_str().unwrap()]);
    assert_eq!((c1, c2), (0, 0), "{err1} {err2}");
    assert_eq!(out1, out2);
    let s: serde_json::Value = serde_json::from_str(&out1).unwrap();
    assert_eq!(s["events"], 274);
    assert_eq!(s["throttles"]["post"]["rate"], 2400);
}

/// The sample log gzip-compressed (a real recorder's `.gz`) with `junk` appended, in a
/// temporary folder; returns the folder, the file and the compressed stream's length.
fn gz_with_junk(junk: &[u8]) -> (tempfile::TempDir, PathBuf, usize) {
    let gz = std::fs::read(asset("amoc-sample.jsonl.gz")).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("junk.jsonl.gz");
    let mut f = std::fs::File::create(&path).unwrap();
    f.write_all(&gz).unwrap();
    f.write_all(junk).unwrap();
    (dir, path, gz.len())
}

#[test]
fn junk_after_a_gzip_stream_keeps_every_event_and_names_where_it_starts() {
    let junk = b"this is not gzip\n";
    let (_dir, path, end) = gz_with_junk(junk);
    let (n, stats) = read_all(&path, false).expect("every event before the junk");
    assert_eq!(n, 274, "nothing lost");
    let t = stats.trailing.expect("the junk is told");
    assert_eq!((t.line, t.offset()), (275, end as u64));
    let msg = t.to_string();
    assert!(
        msg.contains("junk.jsonl.gz: after line 275: 17 bytes at byte 5256 of the file")
            && msg.contains("not gzip (invalid gzip header)"),
        "{msg}"
    );
    // Under --skip-bad-lines it is a bad line: counted, warned about, not an error.
    let (n, stats) = read_all(&path, true).unwrap();
    assert_eq!((n, stats.bad_lines, &stats.trailing), (274, 1, &None));
    assert!(stats.warnings[0].contains("after line 275"), "{stats:?}");
}

#[test]
fn a_last_line_without_its_newline_before_the_junk_is_still_read() {
    let text = std::fs::read_to_string(asset("amoc-sample.jsonl")).unwrap();
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(text.trim_end().as_bytes()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("no-newline.jsonl.gz");
    // Junk shorter than a gzip header, too.
    std::fs::write(&path, [gz.finish().unwrap(), b"junk".to_vec()].concat()).unwrap();
    let (n, stats) = read_all(&path, false).expect("every event");
    assert_eq!(n, 274);
    assert_eq!(stats.trailing.expect("the junk is told").line, 275);
}

#[test]
fn cli_junk_after_a_gzip_stream_still_summarises_and_reports_then_fails() {
    let (dir, path, end) = gz_with_junk(b"\x00\x01 garbage");
    let file = path.to_str().unwrap();
    let (_, clean, _) = rookery(&[
        "replay",
        "--headless",
        asset("amoc-sample.jsonl.gz").to_str().unwrap(),
    ]);
    let told = |stderr: &str| {
        let lines: Vec<&str> = stderr.lines().collect();
        assert_eq!(lines.len(), 1, "one line: {stderr}");
        assert!(
            lines[0].contains("junk.jsonl.gz: after line 275")
                && lines[0].contains(&format!("at byte {end} of the file")),
            "{stderr}"
        );
    };
    // The summary of every event, then the bad input as the error (exit 1), as a bad line is.
    let (code, stdout, stderr) = rookery(&["replay", "--headless", file]);
    assert_eq!(code, 1, "{stderr}");
    assert_eq!(stdout, clean, "the same summary as the clean log");
    told(&stderr);
    // The report is written, with every event, and names the bad input too.
    let html = dir.path().join("report.html");
    let (code, _, stderr) = rookery(&["report", file, "-o", html.to_str().unwrap()]);
    assert_eq!(code, 1, "{stderr}");
    told(&stderr);
    let report = std::fs::read_to_string(&html).expect("the report is written");
    assert!(report.contains("after line 275"), "the report tells it");
    // --skip-bad-lines: a warning, and a success.
    let (code, stdout, stderr) = rookery(&["replay", "--headless", "--skip-bad-lines", file]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(stdout, clean);
    assert!(
        stderr.contains("after line 275") && stderr.contains("skipped"),
        "{stderr}"
    );
}
