//! Shared by the `tui_*` tests: a deterministic scenario built from events with explicit
//! timestamps, and an app wired to a recording sink.
#![allow(dead_code)]

use std::sync::Arc;

use rookery::monitor::{EventRef, MonitorState};
use rookery::telemetry::{EventName, Field, Key, Value};
use rookery::tui::theme::builtin_themes;
use rookery::tui::{App, AppOptions, Keymap, RecordingSink};

pub const W: u16 = 120;
pub const H: u16 = 36;

/// Applies one event at `t_ms` from `node`.
pub fn apply(
    s: &mut MonitorState,
    t_ms: u64,
    node: &str,
    name: &[&str],
    m: &[(&str, Value)],
    md: &[(&str, Value)],
) {
    let m: Vec<Field> = m.iter().map(|(k, v)| (Key::new(k), v.clone())).collect();
    let mut md: Vec<Field> = md.iter().map(|(k, v)| (Key::new(k), v.clone())).collect();
    md.push((Key::new("node"), Value::from(node)));
    let ev = EventRef {
        t_us: t_ms * 1000,
        node: Some(node),
        name: &EventName::new(name).expect("valid event name"),
        measurements: &m,
        metadata: &md,
    };
    s.apply(&ev);
}

/// A throttle rate event (the engine's confirmation).
pub fn rate(s: &mut MonitorState, t_ms: u64, throttle: &str, rate: i64, paused: bool) {
    apply(
        s,
        t_ms,
        "node1",
        &["amoc", "throttle", "rate"],
        &[("rate", Value::Int(rate)), ("interval", Value::Int(60_000))],
        &[
            ("name", Value::from(throttle)),
            ("paused", Value::Bool(paused)),
        ],
    );
}

/// Ten seconds of a small run on three nodes: users, three throttles, a coordinator, a bad
/// environment variable and a custom event.
pub fn scenario() -> MonitorState {
    let mut s = MonitorState::new();
    let nodes = ["node1", "node2", "node3"];
    apply(
        &mut s,
        5,
        "node1",
        &["amoc", "config", "env"],
        &[("error", Value::Int(1))],
        &[
            ("log_level", Value::from("error")),
            (
                "msg",
                Value::from("cannot parse environment variable, using default value"),
            ),
            ("variable_name", Value::from("AMOC_POSTS_PER_USER")),
        ],
    );
    for (i, (name, r)) in [("user_rate", 6000), ("messages", 600), ("login", 120)]
        .iter()
        .enumerate()
    {
        apply(
            &mut s,
            10 + i as u64,
            "node1",
            &["amoc", "throttle", "init"],
            &[("count", Value::Int(1))],
            &[("name", Value::from(*name))],
        );
        rate(&mut s, 10 + i as u64, name, *r, false);
    }
    apply(
        &mut s,
        20,
        "node1",
        &["amoc", "coordinator", "start"],
        &[("count", Value::Int(1))],
        &[("name", Value::from("rooms"))],
    );
    let mut user = 0;
    for sec in 0..10u64 {
        let t0 = sec * 1000 + 100;
        // three users a second join, spread over the nodes
        for k in 0..3u64 {
            user += 1;
            let node = nodes[(user % 3) as usize];
            apply(
                &mut s,
                t0 + k,
                node,
                &["amoc", "controller", "users"],
                &[("count", Value::Int(1))],
                &[
                    ("type", Value::from("add")),
                    ("scenario", Value::from("chat")),
                ],
            );
            apply(
                &mut s,
                t0 + k + 1,
                node,
                &["amoc", "scenario", "start", "start"],
                &[
                    ("monotonic_time", Value::Int(0)),
                    ("system_time", Value::Int(0)),
                ],
                &[
                    ("scenario", Value::from("chat")),
                    ("user_id", Value::Int(user)),
                ],
            );
            apply(
                &mut s,
                t0 + k + 2,
                node,
                &["amoc", "coordinator", "add"],
                &[("count", Value::Int(1))],
                &[("name", Value::from("rooms"))],
            );
        }
        for j in 0..(10 + sec) {
            let t = t0 + 10 + j * 50;
            for th in ["messages", "login"] {
                if th == "login" && j % 3 != 0 {
                    continue;
                }
                for ev in ["request", "execute"] {
                    if ev == "execute" && th == "messages" && j == 0 {
                        continue; // one request a second waits: a visible backlog
                    }
                    apply(
                        &mut s,
                        t,
                        "node1",
                        &["amoc", "throttle", ev],
                        &[("count", Value::Int(1))],
                        &[("name", Value::from(th))],
                    );
                }
            }
        }
        apply(
            &mut s,
            t0 + 900,
            "node1",
            &["amoc", "coordinator", "execute"],
            &[("count", Value::Int(3))],
            &[
                ("name", Value::from("rooms")),
                ("event", Value::from("coordinate")),
            ],
        );
        if sec % 4 == 3 {
            apply(
                &mut s,
                t0 + 950,
                nodes[(sec % 3) as usize],
                &["amoc", "scenario", "start", "stop"],
                &[("duration", Value::Int(1000))],
                &[
                    ("scenario", Value::from("chat")),
                    ("user_id", Value::Int(sec as i64)),
                ],
            );
        }
        apply(
            &mut s,
            t0 + 960,
            "node2",
            &["shop", "order"],
            &[("count", Value::Int(1))],
            &[],
        );
    }
    apply(
        &mut s,
        9_990,
        "node3",
        &["amoc", "scenario", "start", "exception"],
        &[("duration", Value::Int(1000))],
        &[
            ("scenario", Value::from("chat")),
            ("user_id", Value::Int(7)),
        ],
    );
    s
}

/// Options with the built-in keymap and themes, colours on.
pub fn options() -> AppOptions {
    AppOptions {
        keymap: Keymap::defaults().expect("built-in keymap"),
        themes: builtin_themes().expect("built-in themes"),
        colour: true,
        users_step: 10,
    }
}

/// A live app whose commands land in the returned sink.
pub fn live_app() -> (App, Arc<RecordingSink>) {
    let sink = Arc::new(RecordingSink::default());
    let app = App::new(options(), Some(sink.clone()));
    (app, sink)
}

/// A replay app (no sink).
pub fn replay_app() -> App {
    let mut app = App::new(options(), None);
    app.replay_status = Some("REPLAY 1x".to_owned());
    app
}
