//! Colour snapshots (the `Buffer` debug output lists every style run) of one pane in each
//! built-in theme and without colour, so a theme change shows up in review.

mod tui_support;

use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use rookery::tui::App;
use rookery::tui::theme::builtin_themes;
use rookery::tui::view::pane;
use tui_support::*;

fn throttles_in(theme: &str, colour: bool) -> Buffer {
    let state = scenario();
    let mut opts = options();
    opts.colour = colour;
    opts.themes = builtin_themes()
        .expect("themes")
        .into_iter()
        .filter(|t| t.name == theme)
        .collect();
    let app = App::new(opts, None);
    assert_eq!(app.theme_name(), theme);
    let area = Rect::new(0, 0, 80, 5);
    let mut buf = Buffer::empty(area);
    pane::throttles(area, &mut buf, &app, &state, &app.styles());
    buf
}

#[test]
fn dark() {
    insta::assert_debug_snapshot!(throttles_in("dark", true));
}

#[test]
fn light() {
    insta::assert_debug_snapshot!(throttles_in("light", true));
}

#[test]
fn high_contrast() {
    insta::assert_debug_snapshot!(throttles_in("high-contrast", true));
}

#[test]
fn no_color() {
    let buf = throttles_in("dark", false);
    insta::assert_debug_snapshot!(buf);
}

#[test]
fn themes_differ() {
    let dark = throttles_in("dark", true);
    let light = throttles_in("light", true);
    let hc = throttles_in("high-contrast", true);
    assert_ne!(dark, light);
    assert_ne!(dark, hc);
    assert_ne!(light, hc);
}
