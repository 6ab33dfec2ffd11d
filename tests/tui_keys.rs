//! Key actions end to end in-process: key → OperatorCommand out → (engine's confirming event) →
//! screen. Rates on screen are always the engine's; a request is only a pending marker.

mod tui_support;

use crossterm::event::{KeyCode, KeyEvent, KeyEventKind, KeyEventState, KeyModifiers};
use ratatui::style::Color;
use rookery::tui::capture;
use rookery::tui::{Mode, OperatorCommand};
use tui_support::*;

fn key(c: char) -> KeyEvent {
    KeyEvent::new(KeyCode::Char(c), KeyModifiers::NONE)
}

fn code(c: KeyCode) -> KeyEvent {
    KeyEvent::new(c, KeyModifiers::NONE)
}

fn row<'a>(screen: &'a str, name: &str) -> &'a str {
    screen
        .lines()
        .find(|l| l.contains(&format!(" {name} ")))
        .unwrap_or_else(|| panic!("no row for {name} in\n{screen}"))
}

#[test]
fn rate_up_sends_a_command_and_shows_the_rate_only_once_confirmed() {
    let mut state = scenario();
    let (mut app, sink) = live_app();
    app.observe(&state);
    app.handle_key(key('j'), &state);
    app.handle_key(key('+'), &state);
    assert_eq!(
        sink.sent(),
        vec![OperatorCommand::SetRate {
            throttle: "messages".into(),
            rate: 660,
            interval_ms: None
        }]
    );
    let pending = capture::text(&app, &state, W, H);
    insta::assert_snapshot!("rate_up_pending", pending);
    assert!(row(&pending, "messages").contains("▶ messages             600 /1m"));
    assert!(row(&pending, "messages").contains("→660?"));

    // A second press before the engine answers steps from the requested rate.
    app.handle_key(key('+'), &state);
    assert!(matches!(
        sink.sent()[1],
        OperatorCommand::SetRate { rate: 726, .. }
    ));

    // The engine confirms (it may settle on what it likes: the screen shows its figure).
    rate(&mut state, 10_500, "messages", 726, false);
    app.observe(&state);
    let confirmed = capture::text(&app, &state, W, H);
    insta::assert_snapshot!("rate_up_confirmed", confirmed);
    assert!(row(&confirmed, "messages").contains("▶ messages             726 /1m"));
    assert!(!confirmed.contains('→'), "no pending marker left");

    // The "sent" notice goes away after a few seconds of event time.
    assert!(
        app.notice()
            .is_some_and(|n| n.starts_with("sent: set messages rate"))
    );
    rate(&mut state, 16_000, "login", 120, false);
    app.observe(&state);
    assert_eq!(app.notice(), None);
}

#[test]
fn large_steps_and_lower() {
    let state = scenario();
    let (mut app, sink) = live_app();
    app.handle_key(key(']'), &state);
    app.handle_key(key('['), &state);
    app.handle_key(key('-'), &state);
    let rates: Vec<u64> = sink
        .sent()
        .into_iter()
        .map(|c| match c {
            OperatorCommand::SetRate { rate, .. } => rate,
            other => panic!("unexpected {other:?}"),
        })
        .collect();
    assert_eq!(rates, vec![12_000, 6_000, 5_400]);
}

#[test]
fn pause_then_confirmed_paused() {
    let mut state = scenario();
    let (mut app, sink) = live_app();
    app.observe(&state);
    app.handle_key(key('j'), &state);
    app.handle_key(key('p'), &state);
    assert_eq!(
        sink.sent(),
        vec![OperatorCommand::Pause {
            throttle: "messages".into()
        }]
    );
    assert!(row(&capture::text(&app, &state, W, H), "messages").contains("→pause?"));
    rate(&mut state, 10_600, "messages", 600, true);
    app.observe(&state);
    let screen = capture::text(&app, &state, W, H);
    insta::assert_snapshot!("paused", screen);
    assert!(row(&screen, "messages").contains(" paused "));
    // Six seconds later (other throttles keep the clock going) its rates have decayed to 0.
    for t in (11_000..=16_000).step_by(500) {
        apply(
            &mut state,
            t,
            "node1",
            &["amoc", "throttle", "request"],
            &[("count", rookery::telemetry::Value::Int(1))],
            &[("name", rookery::telemetry::Value::from("login"))],
        );
    }
    app.observe(&state);
    let later = capture::text(&app, &state, W, H);
    assert!(
        row(&later, "messages").contains("600 /1m       0.0     0.0      10 paused"),
        "{}",
        row(&later, "messages")
    );

    // Pressing again resumes.
    app.handle_key(key('p'), &state);
    assert_eq!(
        sink.sent()[1],
        OperatorCommand::Resume {
            throttle: "messages".into()
        }
    );
}

#[test]
fn typed_rate_and_ramp() {
    let state = scenario();
    let (mut app, sink) = live_app();
    app.handle_key(key('r'), &state);
    for c in "7x".chars() {
        app.handle_key(key(c), &state);
    }
    app.handle_key(code(KeyCode::Enter), &state);
    let screen = capture::text(&app, &state, W, H);
    insta::assert_snapshot!("typed_rate_error", screen);
    assert!(screen.contains("`7x` is not a whole number"));
    assert!(sink.sent().is_empty());
    app.handle_key(code(KeyCode::Backspace), &state);
    app.handle_key(key('5'), &state);
    app.handle_key(code(KeyCode::Enter), &state);
    assert_eq!(app.mode, Mode::Normal);
    app.handle_key(key('g'), &state);
    for c in "9000 30".chars() {
        app.handle_key(key(c), &state);
    }
    app.handle_key(code(KeyCode::Enter), &state);
    assert_eq!(
        sink.sent(),
        vec![
            OperatorCommand::SetRate {
                throttle: "user_rate".into(),
                rate: 75,
                interval_ms: None
            },
            OperatorCommand::StartRamp {
                throttle: "user_rate".into(),
                to: 9000,
                duration_ms: 30_000
            }
        ]
    );
    // Esc cancels a prompt without sending.
    app.handle_key(key('r'), &state);
    app.handle_key(code(KeyCode::Esc), &state);
    assert_eq!(app.mode, Mode::Normal);
    assert_eq!(sink.sent().len(), 2);
}

#[test]
fn users_and_nodes() {
    let state = scenario();
    let (mut app, sink) = live_app();
    let shift_x = KeyEvent::new(KeyCode::Char('X'), KeyModifiers::SHIFT);
    app.handle_key(key('a'), &state);
    app.handle_key(key('d'), &state);
    app.handle_key(key('N'), &state);
    // The selection starts on the first worker, never on the master.
    assert_eq!(app.selected_node(&state), Some(1), "node2, a worker");
    // A kill asks first; any key but y cancels.
    app.handle_key(shift_x, &state);
    let asked = capture::text(&app, &state, W, H);
    assert!(
        asked.contains("kill node node2 and its users? (y/n)"),
        "{asked}"
    );
    app.handle_key(key('n'), &state);
    assert_eq!(app.mode, Mode::Normal);
    assert_eq!(sink.sent().len(), 3, "nothing sent on n");
    app.handle_key(shift_x, &state);
    app.handle_key(key('y'), &state);
    // Two tabs from node2 reach node1, the master: the question says the test ends.
    app.handle_key(code(KeyCode::Tab), &state);
    app.handle_key(code(KeyCode::Tab), &state);
    app.handle_key(shift_x, &state);
    let asked = capture::text(&app, &state, W, H);
    assert!(
        asked.contains("node1 is the master: killing it ends the whole test"),
        "{asked}"
    );
    app.handle_key(key('y'), &state);
    assert_eq!(
        sink.sent(),
        vec![
            OperatorCommand::AddUsers { count: 10 },
            OperatorCommand::RemoveUsers { count: 10 },
            OperatorCommand::AddNode,
            OperatorCommand::KillNode {
                node: "node2".into()
            },
            OperatorCommand::KillNode {
                node: "node1".into()
            },
        ]
    );
}

#[test]
fn help_overlay_lists_the_live_keymap_and_any_key_closes_it() {
    let state = scenario();
    let (mut app, sink) = live_app();
    app.handle_key(key('?'), &state);
    assert_eq!(app.mode, Mode::Help);
    let screen = capture::text(&app, &state, W, H);
    insta::assert_snapshot!("help", screen);
    assert!(screen.contains("raise the selected throttle's rate 10%"));
    assert!(
        screen.contains("q, ctrl-c") || screen.contains("q "),
        "{screen}"
    );
    app.handle_key(key('+'), &state);
    assert_eq!(app.mode, Mode::Normal);
    assert!(sink.sent().is_empty(), "the closing key does nothing else");
}

#[test]
fn replay_has_no_engine_keys() {
    let state = scenario();
    let mut app = replay_app();
    assert_eq!(app.handle_key(key('+'), &state), None);
    assert_eq!(
        app.handle_key(code(KeyCode::Right), &state),
        Some(rookery::tui::ReplayCtl::Seek(10))
    );
    let screen = capture::text(&app, &state, W, H);
    insta::assert_snapshot!("replay_screen", screen);
    assert!(screen.contains("REPLAY 1x"));
    assert!(
        screen.contains("space pause"),
        "replay hints from the keymap"
    );
}

#[test]
fn quit_keys_and_key_releases() {
    let state = scenario();
    let (mut app, _) = live_app();
    let mut release = key('q');
    release.kind = KeyEventKind::Release;
    release.state = KeyEventState::NONE;
    app.handle_key(release, &state);
    assert!(!app.quit, "a key release does nothing");
    app.handle_key(
        KeyEvent::new(KeyCode::Char('c'), KeyModifiers::CONTROL),
        &state,
    );
    assert!(app.quit);
    let (mut app, _) = live_app();
    app.handle_key(key('q'), &state);
    assert!(app.quit);
}

#[test]
fn theme_cycles_and_no_color_drops_colours() {
    let state = scenario();
    let (mut app, _) = live_app();
    let fg_of_title = |app: &rookery::tui::App| {
        let buf = capture::buffer(app, &state, W, H);
        buf[(3u16, 0u16)].fg
    };
    let dark = fg_of_title(&app);
    app.handle_key(key('t'), &state);
    assert_eq!(app.theme_name(), "light");
    assert_ne!(fg_of_title(&app), dark);
    assert_eq!(app.notice(), Some("theme: light"));

    let mut opts = options();
    opts.colour = false;
    let app = rookery::tui::App::new(opts, None);
    let buf = capture::buffer(&app, &state, W, H);
    assert!(
        buf.content()
            .iter()
            .all(|c| matches!(c.fg, Color::Reset) && matches!(c.bg, Color::Reset)),
        "NO_COLOR: no cell has a colour"
    );
}

#[test]
fn too_small_terminal() {
    let state = scenario();
    let (app, _) = live_app();
    let screen = capture::text(&app, &state, 79, 24);
    insta::assert_snapshot!("too_small", screen);
    assert!(screen.contains("Terminal too small"));
    assert!(screen.contains("79x24, need at least 80x24"));
    assert!(capture::text(&app, &state, 80, 24).contains("Throttles"));
}
