//! The attach client against a scripted bridge on loopback (no Erlang needed): the hello and
//! the header, events into the monitor, the monitor's keys out as bridge commands, keys Amoc
//! cannot honour shown as unavailable, refusals and non-bridges reported in one line.

mod tui_support;

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::sync::Arc;
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use rookery::attach::{AttachError, AttachOptions, Attachment, BridgeAddress, BridgeSink};
use rookery::monitor::MonitorState;
use rookery::tui::App;

const HEADER: &str = r#"{"rookery_log":1,"started_at":"2026-12-01T00:00:00.000000Z","source":"amoc 4.1.0 (m@h) via rookery_bridge","bridge":1,"commands":true}"#;

fn rate_line(t_us: u64, rate: u64) -> String {
    format!(
        r#"{{"t_us":{t_us},"node":"m@h","event":["amoc","throttle","rate"],"measurements":{{"interval":60000,"rate":{rate}}},"metadata":{{"name":"login"}}}}"#
    )
}

/// A one-connection bridge: checks the hello, sends `first`, then answers each command line
/// with `answer(line)` (and hands the line to the test) until the client goes.
fn scripted(
    first: Vec<String>,
    answer: fn(&str) -> Vec<String>,
) -> (u16, mpsc::Receiver<String>, JoinHandle<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let (tx, rx) = mpsc::channel();
    let t = std::thread::spawn(move || {
        let (stream, _) = listener.accept().unwrap();
        let mut out = stream.try_clone().unwrap();
        let mut lines = BufReader::new(stream).lines();
        let hello = lines.next().unwrap().unwrap();
        tx.send(hello).unwrap();
        for l in first {
            writeln!(out, "{l}").unwrap();
        }
        for line in lines {
            let Ok(line) = line else { break };
            for l in answer(&line) {
                if writeln!(out, "{l}").is_err() {
                    return;
                }
            }
            if tx.send(line).is_err() {
                return;
            }
        }
    });
    (port, rx, t)
}

fn addr(port: u16) -> BridgeAddress {
    BridgeAddress::parse(&format!("amoc://127.0.0.1:{port}")).unwrap()
}

fn key(c: char) -> KeyEvent {
    KeyEvent::new(KeyCode::Char(c), KeyModifiers::NONE)
}

#[test]
fn keys_become_bridge_commands_and_amocs_rate_event_confirms_them() {
    fn answer(line: &str) -> Vec<String> {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        let id = v["id"].as_u64().unwrap();
        if v["cmd"] == "change_rate" {
            // Amoc answers, then its own rate event follows.
            vec![
                format!(r#"{{"reply":{id},"ok":true}}"#),
                rate_line(2_000_000, v["rate"].as_u64().unwrap()),
            ]
        } else {
            vec![format!(
                r#"{{"reply":{id},"error":"{{no_throttle_by_name,x}}"}}"#
            )]
        }
    }
    let (port, seen, bridge) = scripted(vec![HEADER.into(), rate_line(1_000, 600)], answer);
    let (attachment, feed) = Attachment::connect(
        &addr(port),
        AttachOptions {
            token: Some("secret".into()),
            ..AttachOptions::default()
        },
    )
    .unwrap();
    assert_eq!(
        seen.recv_timeout(Duration::from_secs(10)).unwrap(),
        r#"{"hello":1,"token":"secret"}"#
    );
    assert!(attachment.commands_allowed());
    assert_eq!(
        attachment.header().source.as_deref(),
        Some("amoc 4.1.0 (m@h) via rookery_bridge")
    );
    let attachment = Arc::new(attachment);
    let mut app = App::new(
        tui_support::options(),
        Some(Arc::new(BridgeSink::new(attachment.clone()))),
    );
    let mut state = MonitorState::new();
    let deadline = Instant::now() + Duration::from_secs(10);
    while state.throttle("login").is_none() {
        feed.drain_into(&mut state);
        assert!(Instant::now() < deadline, "no rate event arrived");
        std::thread::sleep(Duration::from_millis(10));
    }
    app.observe(&state);

    app.handle_key(key('+'), &state);
    let sent: serde_json::Value =
        serde_json::from_str(&seen.recv_timeout(Duration::from_secs(10)).unwrap()).unwrap();
    assert_eq!(sent["cmd"], "change_rate");
    assert_eq!(sent["name"], "login");
    assert_eq!(sent["rate"], 660);
    assert!(
        sent.get("interval").is_none(),
        "the throttle keeps its interval"
    );
    // The sink waited for Amoc's ok.
    assert_eq!(app.notice(), Some("sent: set login rate to 660"));
    // The screen's rate is Amoc's event, not the request.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        feed.drain_into(&mut state);
        let s = serde_json::to_value(state.summary()).unwrap();
        if s["throttles"]["login"]["rate"].as_f64() == Some(660.0) {
            break;
        }
        assert!(Instant::now() < deadline, "no confirming rate event");
        std::thread::sleep(Duration::from_millis(10));
    }

    // Keys Amoc cannot honour say so, and nothing goes to the bridge.
    app.handle_key(key('N'), &state);
    let notice = app.notice().unwrap_or_default().to_owned();
    assert!(notice.contains("unavailable on Amoc"), "{notice}");
    // Amoc's error comes back as the command's failure.
    app.handle_key(key('p'), &state);
    let sent: serde_json::Value =
        serde_json::from_str(&seen.recv_timeout(Duration::from_secs(10)).unwrap()).unwrap();
    assert_eq!(sent["cmd"], "pause", "the add-node key sent nothing");
    let notice = app.notice().unwrap_or_default().to_owned();
    assert_eq!(
        notice,
        "pause login failed: Amoc answered {no_throttle_by_name,x}"
    );

    // The bridge goes away: the stream ends, commands are refused with the reason.
    drop(seen);
    attachment.close().unwrap();
    bridge.join().unwrap();
    assert!(feed.finished());
    assert!(attachment.closed().is_some());
}

#[test]
fn refusals_and_strangers_are_reported_in_one_line() {
    let (port, _seen, t) = scripted(vec![r#"{"error":"wrong token"}"#.into()], |_| vec![]);
    match Attachment::connect(&addr(port), AttachOptions::default()) {
        Err(e @ AttachError::Refused { .. }) => {
            assert_eq!(
                e.to_string(),
                format!("amoc://127.0.0.1:{port} refused the connection: wrong token")
            )
        }
        Err(e) => panic!("{e}"),
        Ok(_) => panic!("accepted"),
    }
    t.join().unwrap();

    let (port, _seen, t) = scripted(vec!["HTTP/1.1 400 Bad Request".into()], |_| vec![]);
    let e = Attachment::connect(&addr(port), AttachOptions::default())
        .err()
        .expect("not a bridge");
    let text = e.to_string();
    assert!(text.contains("not a Rookery bridge"), "{text}");
    assert!(!text.contains('\n'), "{text}");
    t.join().unwrap();

    // Nobody listening.
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let e = Attachment::connect(&addr(port), AttachOptions::default())
        .err()
        .expect("nobody there");
    assert!(
        e.to_string()
            .starts_with("cannot connect to amoc://127.0.0.1:"),
        "{e}"
    );
}

#[test]
fn bad_command_lines_are_usage_errors() {
    let run = |args: &[&str]| {
        std::process::Command::new(env!("CARGO_BIN_EXE_rookery"))
            .arg("attach")
            .args(args)
            .output()
            .unwrap()
    };
    for (args, says) in [
        (&["http://127.0.0.1:1"][..], "does not start with amoc://"),
        (&["amoc://127.0.0.1"][..], "no port"),
        (
            &["amoc://127.0.0.1:1", "--duration", "5"][..],
            "--duration goes with --headless",
        ),
    ] {
        let out = run(args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(says), "{args:?}: {err}");
        assert_eq!(err.lines().count(), 1, "{err}");
    }
    // Nobody there: a failure (1), not a usage error.
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let out = run(&[&format!("amoc://127.0.0.1:{port}"), "--headless"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).starts_with("rookery: cannot connect to"));
}

/// Headless attach judges thresholds like a run: the stream ends, the summary is printed and
/// written, and a failed threshold is exit status 99 (a passing one, 0).
#[test]
fn headless_attach_judges_thresholds_and_writes_the_summary() {
    let dir = tempfile::tempdir().unwrap();
    for (expr, code) in [("throttle login requests >= 1", 99), ("nodes down == 0", 0)] {
        // Three rate events, no request: `requests >= 1` fails, no node is down.
        let lines = vec![
            HEADER.to_string(),
            rate_line(1_000, 600),
            rate_line(2_000, 900),
            rate_line(3_000, 1200),
        ];
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let server = std::thread::spawn(move || {
            let (stream, _) = listener.accept().unwrap();
            let mut out = stream.try_clone().unwrap();
            let mut hello = String::new();
            BufReader::new(stream).read_line(&mut hello).unwrap();
            for l in lines {
                writeln!(out, "{l}").unwrap();
            }
            // Closing ends the stream: the client prints its summary.
        });
        let summary = dir.path().join(format!("summary{code}.json"));
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_rookery"))
            .args([
                "attach",
                &format!("amoc://127.0.0.1:{port}"),
                "--headless",
                "--threshold",
                expr,
                "--summary-json",
                summary.to_str().unwrap(),
            ])
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        // Checked before joining: a client that never connected leaves the server in accept.
        assert_eq!(out.status.code(), Some(code), "{expr}: {err}");
        server.join().unwrap();
        let printed: serde_json::Value = serde_json::from_slice(&out.stdout).expect("summary");
        let written: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&summary).unwrap()).unwrap();
        assert_eq!(printed, written);
        assert_eq!(printed["thresholds"][0]["expr"], expr);
        assert_eq!(printed["thresholds"][0]["ok"], code == 0);
        assert_eq!(printed["by_event"]["amoc.throttle.rate"], 3);
        if code == 99 {
            assert!(err.contains("thresholds failed"), "{err}");
        }
    }
    // Without --headless, thresholds are a usage error (the monitor has no verdict to give).
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_rookery"))
        .args([
            "attach",
            "amoc://127.0.0.1:1",
            "--threshold",
            "nodes down == 0",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
}
