//! The monitor's update is pure: a key changes the monitor's own state and returns effects;
//! nothing reaches the engine until they are performed, and a command the queue refuses is
//! undone on screen.

mod tui_support;

use std::sync::Arc;

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use rookery::tui::capture;
use rookery::tui::{App, CommandSink, Effect, Mode, OperatorCommand, ReplayCtl};
use tui_support::*;

fn key(c: char) -> KeyEvent {
    KeyEvent::new(KeyCode::Char(c), KeyModifiers::NONE)
}

/// A sink whose queue is always full, as the driver's is when the engine is busy.
struct FullQueue;

impl CommandSink for FullQueue {
    fn send(&self, _command: OperatorCommand) -> Result<(), String> {
        Err("the engine is busy (16 commands waiting): try again in a moment".to_owned())
    }
}

#[test]
fn update_returns_the_command_and_sends_nothing_until_performed() {
    let state = scenario();
    let (mut app, sink) = live_app();
    app.observe(&state);
    assert!(
        app.update(key('j'), &state).is_empty(),
        "selection is local"
    );
    let effects = app.update(key('+'), &state);
    let expected = OperatorCommand::SetRate {
        throttle: "messages".into(),
        rate: 660,
        interval_ms: None,
    };
    assert_eq!(effects, vec![Effect::Send(expected.clone())]);
    assert!(sink.sent().is_empty(), "update must not reach the engine");
    // The request is already pending on screen: the update assumed it taken.
    let screen = capture::text(&app, &state, W, H);
    assert!(screen.contains("→660?"), "{screen}");

    assert_eq!(app.perform(effects), None);
    assert_eq!(sink.sent(), vec![expected]);
}

#[test]
fn a_setting_change_is_two_effects_in_order() {
    let state = scenario();
    let (mut app, sink) = live_app();
    app.observe(&state);
    let fx = app.update(key('s'), &state);
    assert_eq!(fx, vec![Effect::Send(OperatorCommand::ListSettings)]);
    assert!(matches!(app.mode, Mode::Settings(_)));
    app.perform(fx);
    assert_eq!(sink.sent(), vec![OperatorCommand::ListSettings]);
}

#[test]
fn a_replay_key_is_a_replay_effect_and_engine_keys_send_nothing() {
    let state = scenario();
    let mut app = replay_app();
    app.observe(&state);
    assert_eq!(
        app.update(key(' '), &state),
        vec![Effect::Replay(ReplayCtl::TogglePause)]
    );
    app.update(key('j'), &state);
    for c in ['+', '-', 'p', 'a', 'x'] {
        assert!(app.update(key(c), &state).is_empty(), "{c} in a replay");
    }
}

#[test]
fn a_command_the_queue_refuses_is_undone_and_said() {
    let state = scenario();
    let mut app = App::new(options(), Some(Arc::new(FullQueue)));
    app.observe(&state);
    app.update(key('j'), &state);
    let fx = app.update(key('+'), &state);
    assert_eq!(fx.len(), 1);
    assert!(capture::text(&app, &state, W, H).contains("→660?"));
    app.perform(fx);
    let screen = capture::text(&app, &state, W, H);
    assert!(
        !screen.contains('→'),
        "the refused change is not pending:\n{screen}"
    );
    let notice = app.notice().expect("a notice");
    assert!(
        notice.contains("set messages rate to 660 failed: the engine is busy"),
        "{notice}"
    );

    // The settings overlay is not left waiting for an answer that will never come.
    let fx = app.update(key('s'), &state);
    assert!(matches!(app.mode, Mode::Settings(_)));
    app.perform(fx);
    assert_eq!(app.mode, Mode::Normal);
}
