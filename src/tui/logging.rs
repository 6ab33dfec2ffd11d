//! The engine log pane's source: the `log` facade feeding tui-logger. Initialised once per
//! process (a second `log::set_logger` would fail).

use std::sync::OnceLock;

static INIT: OnceLock<Result<(), String>> = OnceLock::new();

/// Routes `log` records at `level` and above into the log pane. Safe to call many times (tests
/// do); returns the first call's outcome. Fails when another logger was installed first.
pub fn init(level: log::LevelFilter) -> Result<(), String> {
    INIT.get_or_init(|| {
        tui_logger::init_logger(level).map_err(|e| format!("cannot start the log pane: {e}"))?;
        tui_logger::set_default_level(level);
        Ok(())
    })
    .clone()
}

/// Moves records logged so far into the pane's buffer now (normally a background thread does
/// it every few milliseconds); tests call it before drawing.
pub fn flush() {
    tui_logger::move_events();
}
