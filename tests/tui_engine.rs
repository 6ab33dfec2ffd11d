//! The monitor on the real engine (the built-in demo scenario, three nodes, virtual time):
//! keys → commands through the engine's command sink (`cli::sink::EngineSink`) → the engine's events → the screen.

mod tui_support;

use std::sync::Arc;
use std::time::Duration;

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use rookery::cli::sink::EngineSink;
use rookery::demo::Demo;
use rookery::engine::config::ExplicitSettings;
use rookery::engine::{EngineHandle, EngineOptions, boxed};
use rookery::monitor::{LiveFeed, MonitorState, RateReading};
use rookery::telemetry::Telemetry;
use rookery::tui::{App, capture};
use tokio::time::sleep;
use tui_support::*;

fn key(c: char) -> KeyEvent {
    KeyEvent::new(KeyCode::Char(c), KeyModifiers::NONE)
}

fn row(screen: &str, name: &str) -> String {
    screen
        .lines()
        .find(|l| l.contains(&format!(" {name} ")) && l.contains('/'))
        .unwrap_or_else(|| panic!("no {name} row in\n{screen}"))
        .to_owned()
}

#[tokio::test(start_paused = true)]
async fn keys_drive_the_engine_and_the_screen_shows_its_events() {
    let t = Telemetry::new();
    let feed = LiveFeed::attach_default(&t).expect("attach the monitor");
    let engine = EngineHandle::start(EngineOptions {
        telemetry: t.clone(),
        ..EngineOptions::default()
    })
    .expect("engine");
    engine
        .start_scenario_with(
            boxed(Demo),
            &ExplicitSettings::new().set("user_rate", "6000"),
            &|_| None,
        )
        .expect("demo scenario");
    engine.add_users(12).expect("users");
    sleep(Duration::from_secs(2)).await;

    let mut state = MonitorState::new();
    let sink = Arc::new(EngineSink::new(engine.clone()));
    let mut app = App::new(options(), Some(sink));
    let frame = |app: &mut App, state: &mut MonitorState| {
        feed.drain_into(state);
        app.observe(state);
        capture::text(app, state, W, H)
    };
    frame(&mut app, &mut state);

    // Select `messages` and raise its rate by a step.
    let names: Vec<String> = state
        .throttle_states()
        .iter()
        .map(|t| t.name.to_string())
        .collect();
    let idx = names
        .iter()
        .position(|n| n == "messages")
        .expect("messages throttle");
    for _ in 0..idx {
        app.handle_key(key('j'), &state);
    }
    let Some(RateReading::Finite(before)) = state.throttle("messages").and_then(|t| t.rate())
    else {
        panic!("messages has a finite rate")
    };
    let before = before as u64;
    let expected = before + (before / 10).max(1);
    app.handle_key(key('+'), &state);
    let screen = frame(&mut app, &mut state);
    assert!(
        row(&screen, "messages").contains(&format!("▶ messages {expected:>15} /1m")),
        "the engine's rate event shows the new rate:\n{}",
        row(&screen, "messages")
    );
    let info = engine
        .services()
        .throttles()
        .info("messages")
        .expect("info");
    assert_eq!(info.rate, rookery::engine::throttle::Rate::Finite(expected));

    // Pause: the throttle's "throttle paused" event marks it paused.
    app.handle_key(key('p'), &state);
    let screen = frame(&mut app, &mut state);
    assert!(row(&screen, "messages").contains(" paused "), "{screen}");
    app.handle_key(key('p'), &state);
    let screen = frame(&mut app, &mut state);
    assert!(row(&screen, "messages").contains(" running "), "{screen}");

    // Add users; kill node3.
    app.handle_key(key('a'), &state);
    sleep(Duration::from_secs(2)).await;
    let screen = frame(&mut app, &mut state);
    assert!(screen.contains("added 22"), "{screen}");
    // The selection starts on the first worker (node2); one Tab moves it to node3. The kill
    // asks first.
    app.handle_key(KeyEvent::new(KeyCode::Tab, KeyModifiers::NONE), &state);
    app.handle_key(
        KeyEvent::new(KeyCode::Char('X'), KeyModifiers::SHIFT),
        &state,
    );
    let asked = capture::text(&app, &state, W, H);
    assert!(
        asked.contains("kill node node3 and its users? (y/n)"),
        "{asked}"
    );
    app.handle_key(key('y'), &state);
    sleep(Duration::from_millis(100)).await;
    let screen = frame(&mut app, &mut state);
    let node3 = screen
        .lines()
        .find(|l| l.contains(" node3 "))
        .expect("node3 row");
    let cell = node3.split('│').nth(1).unwrap_or("").trim_end();
    assert!(cell.ends_with(" 0"), "no user left on node3: {node3}");
    assert!(
        screen.contains("cluster.nodedown"),
        "the nodedown events arrived:\n{screen}"
    );
    // node3's cancelled users report their ends after its nodedown; it stays down.
    assert!(node3.contains(" down "), "node3 is shown down: {node3}");

    // A ramp starts (its first step is a rate event).
    app.handle_key(key('g'), &state);
    for c in "200 2".chars() {
        app.handle_key(key(c), &state);
    }
    app.handle_key(KeyEvent::new(KeyCode::Enter, KeyModifiers::NONE), &state);
    sleep(Duration::from_secs(3)).await;
    let screen = frame(&mut app, &mut state);
    assert!(
        row(&screen, "messages").contains(&format!("▶ messages {:>15} /1m", 200)),
        "ramped to 200:\n{}",
        row(&screen, "messages")
    );
    assert!(app.pending.is_empty(), "nothing left pending");

    app.handle_key(key('q'), &state);
    assert!(app.quit);
    engine.shutdown();
}
