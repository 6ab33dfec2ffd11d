//! The engine log pane: `log` records reach tui-logger and are drawn with their level, below
//! the config warnings. Its own test binary: the logger is process-global (initialised once
//! through a `OnceLock`).

mod tui_support;

use rookery::tui::capture;
use rookery::tui::logging;
use tui_support::*;

#[test]
fn log_records_show_in_the_log_pane() {
    logging::init(log::LevelFilter::Info).expect("first init");
    assert!(
        logging::init(log::LevelFilter::Info).is_ok(),
        "later calls are no-ops"
    );
    log::warn!(target: "engine", "throttle messages fell behind");
    log::info!(target: "config", "AMOC_USERS = 30");
    log::debug!(target: "engine", "not shown at info level");
    logging::flush();

    let state = scenario();
    let (mut app, _) = live_app();
    let screen = capture::text(&app, &state, W, H);
    let pane: Vec<&str> = screen
        .lines()
        .skip_while(|l| !l.contains("Warnings (1) & engine log"))
        .collect();
    let pane = pane.join("\n");
    assert!(
        pane.contains(" W engine throttle messages fell behind"),
        "{pane}"
    );
    assert!(pane.contains(" I config AMOC_USERS = 30"), "{pane}");
    assert!(!pane.contains("not shown"), "{pane}");
    assert!(
        pane.contains("config.env AMOC_POSTS_PER_USER"),
        "warnings stay on top"
    );

    // Focusing the log pane enlarges it and shows the target selector.
    app.handle_key(
        crossterm::event::KeyEvent::new(
            crossterm::event::KeyCode::Char('l'),
            crossterm::event::KeyModifiers::NONE,
        ),
        &state,
    );
    assert!(app.log_focused);
    let focused = capture::text(&app, &state, W, H);
    let log_top = focused
        .lines()
        .position(|l| l.contains("& engine log"))
        .expect("log pane title");
    assert!(
        log_top < H as usize / 2 + 2,
        "the focused pane takes half the column"
    );
    assert!(focused.contains("engine"), "target selector lists targets");
}
