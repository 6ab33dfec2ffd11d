//! Each pane, from the scenario's state, at a fixed size (reducer → screen).

mod tui_support;

use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use rookery::monitor::MonitorState;
use rookery::tui::App;
use rookery::tui::capture::buffer_text;
use rookery::tui::view::pane;
use rookery_widgets::Styles;
use tui_support::*;

type PaneFn = fn(Rect, &mut Buffer, &App, &MonitorState, &Styles);

fn draw(f: PaneFn, w: u16, h: u16) -> String {
    let state = scenario();
    let (mut app, _) = live_app();
    app.observe(&state);
    let area = Rect::new(0, 0, w, h);
    let mut buf = Buffer::empty(area);
    f(area, &mut buf, &app, &state, &app.styles());
    buffer_text(&buf)
}

#[test]
fn users_pane() {
    let t = draw(pane::users, 34, 9);
    insta::assert_snapshot!(t);
    assert!(t.contains("running 27  added 30"), "{t}");
    assert!(t.contains("failed 1"), "{t}");
}

#[test]
fn throttles_pane() {
    let t = draw(pane::throttles, 90, 7);
    insta::assert_snapshot!(t);
    assert!(t.contains("▶ user_rate           6000 /1m"), "{t}");
    // messages: 10 requests a second never executed.
    assert!(
        t.contains("messages") && t.contains("     10 running"),
        "{t}"
    );
}

#[test]
fn coordinators_pane() {
    let t = draw(pane::coordinators, 80, 5);
    insta::assert_snapshot!(t);
    assert!(
        t.contains("rooms                 30       10/0/0/0    3.0        0"),
        "{t}"
    );
}

#[test]
fn nodes_pane() {
    let t = draw(pane::nodes, 34, 5);
    insta::assert_snapshot!(t);
    assert!(t.contains("* node1"), "{t}");
}

#[test]
fn events_pane_counts_every_name_including_custom_ones() {
    let t = draw(pane::events, 40, 16);
    insta::assert_snapshot!(t);
    assert!(t.contains("│shop.order                   10"), "{t}");
    assert!(
        t.contains("│throttle.request            197   19.6│"),
        "{t}"
    );
}

#[test]
fn warnings_pane() {
    let t = draw(pane::logs, 100, 5);
    insta::assert_snapshot!(t);
    assert!(
        t.contains("error   config.env AMOC_POSTS_PER_USER cannot parse"),
        "{t}"
    );
}

#[test]
fn status_bar_hints_come_from_the_keymap() {
    let t = draw(pane::status, 120, 1);
    insta::assert_snapshot!(t);
    assert!(t.starts_with(" LIVE  0:10  505 ev"), "{t}");
    assert!(t.contains("q quit") && t.contains("+ rate+"), "{t}");
}
