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

/// sRGB of the colours the built-in themes use (xterm's defaults for the named ones).
fn rgb(c: ratatui::style::Color) -> (f64, f64, f64) {
    use ratatui::style::Color::*;
    let (r, g, b) = match c {
        Black => (0, 0, 0),
        White => (255, 255, 255),
        Gray => (229, 229, 229),
        DarkGray => (127, 127, 127),
        Yellow => (205, 205, 0),
        LightYellow => (255, 255, 0),
        Blue => (0, 0, 238),
        Rgb(r, g, b) => (r, g, b),
        other => panic!("add {other:?} to the test's colour table"),
    };
    (r as f64, g as f64, b as f64)
}

/// WCAG relative luminance and contrast ratio.
fn contrast(a: ratatui::style::Color, b: ratatui::style::Color) -> f64 {
    let lum = |(r, g, b): (f64, f64, f64)| {
        let ch = |v: f64| {
            let v = v / 255.0;
            if v <= 0.03928 {
                v / 12.92
            } else {
                ((v + 0.055) / 1.055).powf(2.4)
            }
        };
        0.2126 * ch(r) + 0.7152 * ch(g) + 0.0722 * ch(b)
    };
    let (la, lb) = (lum(rgb(a)), lum(rgb(b)));
    (la.max(lb) + 0.05) / (la.min(lb) + 0.05)
}

#[test]
fn status_notices_read_well_in_every_theme() {
    for theme in builtin_themes().expect("themes") {
        let s = theme.styles(true);
        let fg = s.notice.fg.expect("notice foreground");
        let bg = s.notice.bg.or(s.status.bg).expect("notice background");
        let ratio = contrast(fg, bg);
        let want = if theme.name == "high-contrast" {
            7.0
        } else {
            4.5
        };
        assert!(
            ratio >= want,
            "{}: notice contrast {ratio:.1} < {want}",
            theme.name
        );
    }
}
