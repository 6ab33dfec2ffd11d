//! State → the status bar; the key hints come from the live keymap.

use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::widgets::Widget;
use rookery_widgets::fmt::elapsed;
use rookery_widgets::{StatusBar, Styles};

use crate::monitor::MonitorState;
use crate::tui::action::KeyAction;
use crate::tui::app::App;
use crate::tui::rates::{RATE_SPAN, now_sec, recent_rate};

/// Draws the pane into `area`.
pub fn render(area: Rect, buf: &mut Buffer, app: &App, state: &MonitorState, styles: &Styles) {
    let actions: &[KeyAction] = if app.log_focused {
        &[
            KeyAction::LogExit,
            KeyAction::LogUp,
            KeyAction::LogLevelUp,
            KeyAction::Help,
            KeyAction::Quit,
        ]
    } else if app.is_live() {
        &[
            KeyAction::Quit,
            KeyAction::Help,
            KeyAction::SelectNext,
            KeyAction::RateUp,
            KeyAction::RateDown,
            KeyAction::TypeRate,
            KeyAction::TogglePause,
            KeyAction::AddUsers,
            KeyAction::CycleTheme,
            KeyAction::FocusLog,
        ]
    } else {
        &[
            KeyAction::Quit,
            KeyAction::Help,
            KeyAction::ReplayTogglePause,
            KeyAction::SeekForward,
            KeyAction::SpeedUp,
            KeyAction::SelectNext,
            KeyAction::CycleTheme,
        ]
    };
    let hints = app.keymap.hints(actions);
    let mode = match (&app.replay_status, app.finished, app.time_left_s()) {
        (Some(replay), _, _) => replay.clone(),
        (None, true, _) => "FINISHED".to_owned(),
        (None, false, Some(left)) => format!("LIVE {} left", elapsed(left.ceil())),
        (None, false, None) => "LIVE".to_owned(),
    };
    StatusBar {
        mode: &mode,
        elapsed_s: state.duration_s(),
        events_per_s: {
            let now = now_sec(state);
            recent_rate(&state.event_series().window(now, RATE_SPAN), now)
        },
        events_total: state.events(),
        dropped: state.dropped() + state.recorder_dropped(),
        failures: state.handler_failures(),
        notice: app.notice(),
        hints: &hints,
        styles,
    }
    .render(area, buf);
}
