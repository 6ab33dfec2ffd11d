//! One monitor frame at 200×60 with 100 throttles and 20 coordinators, drawn into a
//! `TestBackend` (target: ≤ 5 ms). Run: `cargo bench --bench tui`.

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use rookery::monitor::{EventRef, MonitorState};
use rookery::telemetry::{EventName, Field, Key, Value};
use rookery::tui::theme::builtin_themes;
use rookery::tui::{App, AppOptions, Keymap, RecordingSink, view};

fn apply(s: &mut MonitorState, t_us: u64, node: &str, name: EventName, m: &[Field], md: &[Field]) {
    s.apply(&EventRef {
        t_us,
        node: Some(node),
        name: &name,
        measurements: m,
        metadata: md,
    });
}

/// 100 throttles and 20 coordinators on 3 nodes, 120 s of traffic.
fn big_state() -> MonitorState {
    let mut s = MonitorState::new();
    let n = |segs: &[&str]| EventName::new(segs).expect("event name");
    let (rate, req, exec) = (
        n(&["amoc", "throttle", "rate"]),
        n(&["amoc", "throttle", "request"]),
        n(&["amoc", "throttle", "execute"]),
    );
    let (cadd, cexec) = (
        n(&["amoc", "coordinator", "add"]),
        n(&["amoc", "coordinator", "execute"]),
    );
    let ustart = n(&["amoc", "scenario", "start", "start"]);
    let count = [(Key::new("count"), Value::Int(1))];
    let throttles: Vec<Vec<Field>> = (0..100)
        .map(|i| vec![(Key::new("name"), Value::from(format!("throttle_{i:03}")))])
        .collect();
    let coords: Vec<Vec<Field>> = (0..20)
        .map(|i| {
            vec![
                (Key::new("name"), Value::from(format!("coordinator_{i:02}"))),
                (Key::new("event"), Value::from("coordinate")),
            ]
        })
        .collect();
    for (i, md) in throttles.iter().enumerate() {
        let m = [
            (Key::new("rate"), Value::Int(100 * (i as i64 + 1))),
            (Key::new("interval"), Value::Int(60_000)),
        ];
        apply(&mut s, i as u64, "node1", rate.clone(), &m, md);
    }
    let mut user = 0i64;
    for sec in 0..120u64 {
        let t = sec * 1_000_000;
        for k in 0..3 {
            user += 1;
            let md = [
                (Key::new("scenario"), Value::from("bench")),
                (Key::new("user_id"), Value::Int(user)),
            ];
            apply(
                &mut s,
                t + k,
                ["node1", "node2", "node3"][k as usize],
                ustart.clone(),
                &[],
                &md,
            );
        }
        for (i, md) in throttles.iter().enumerate() {
            for j in 0..(1 + (i as u64 + sec) % 5) {
                apply(&mut s, t + 10 + j, "node1", req.clone(), &count, md);
                apply(&mut s, t + 20 + j, "node1", exec.clone(), &count, md);
            }
        }
        for md in &coords {
            apply(&mut s, t + 30, "node1", cadd.clone(), &count, md);
            apply(
                &mut s,
                t + 40,
                "node1",
                cexec.clone(),
                &[(Key::new("count"), Value::Int(2))],
                md,
            );
        }
    }
    s
}

fn frame(c: &mut Criterion) {
    let state = big_state();
    assert_eq!(state.throttle_states().len(), 100);
    assert_eq!(state.coordinators().len(), 20);
    let opts = AppOptions {
        keymap: Keymap::defaults().expect("keymap"),
        themes: builtin_themes().expect("themes"),
        colour: true,
        users_step: 10,
    };
    let mut app = App::new(opts, Some(std::sync::Arc::new(RecordingSink::default())));
    // Select a throttle far down so the table scrolls.
    for _ in 0..60 {
        app.handle_key(KeyEvent::new(KeyCode::Down, KeyModifiers::NONE), &state);
    }
    app.observe(&state);
    let mut terminal = Terminal::new(TestBackend::new(200, 60)).expect("terminal");
    c.bench_function("frame_200x60_100_throttles_20_coordinators", |b| {
        b.iter(|| {
            terminal
                .draw(|f| view::draw(f, black_box(&app), black_box(&state)))
                .expect("draw");
        })
    });
    // The log pane at its fullest: the journal's 1000 lines merged with the state's warnings,
    // focused (half the column), scrolled back a page.
    for i in 0..rookery::tui::journal::KEEP_LINES as u64 {
        app.journal.push(
            i * 1_000,
            rookery_widgets::Severity::Warning,
            "users",
            format!("a user failed on node{}: connection reset by peer", i % 3),
        );
    }
    app.log_focused = true;
    app.log_scroll = 10;
    c.bench_function("frame_200x60_full_log_pane_focused", |b| {
        b.iter(|| {
            terminal
                .draw(|f| view::draw(f, black_box(&app), black_box(&state)))
                .expect("draw");
        })
    });
}

criterion_group!(benches, frame);
criterion_main!(benches);
