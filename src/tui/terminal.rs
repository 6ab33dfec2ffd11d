//! The terminal's lifecycle: raw mode and the alternate screen on entry, restored on every exit
//! (return, error, `?`, panic).

use std::io::{IsTerminal, stdout};

use crossterm::execute;
use crossterm::terminal::{EnterAlternateScreen, enable_raw_mode};
use ratatui::backend::CrosstermBackend;
use ratatui::{DefaultTerminal, Terminal};

use crate::telemetry::guard::{install_panic_hook, is_guarded};

/// Owns the terminal while the monitor runs; restores it when dropped.
pub struct TerminalGuard {
    terminal: DefaultTerminal,
}

impl TerminalGuard {
    /// Enters raw mode and the alternate screen (what `ratatui::try_init` does), with a panic
    /// hook that restores the terminal (`ratatui::try_restore`) before the panic message prints,
    /// except for panics inside a [`guarded`](crate::telemetry::guard::guarded) section: those are
    /// the engine's own (a crashing virtual user), caught and reported as events, and must not
    /// pull the terminal from under the running monitor. Then installs Rookery's guard-aware hook
    /// ([`install_panic_hook`]) over it, as the telemetry guard asks.
    ///
    /// Unlike `ratatui::try_init`'s hook, this one checks the guard itself, so it is correct
    /// whether or not `install_panic_hook` already ran before (e.g. the engine started first).
    ///
    /// Refuses when stdout is not a terminal (a pipe, a CI log): use the headless mode there.
    pub fn enter() -> std::io::Result<TerminalGuard> {
        ensure_terminal()?;
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if !is_guarded() {
                let _ = ratatui::try_restore();
            }
            previous(info);
        }));
        enable_raw_mode()?;
        let guard_on_error = RestoreOnDrop;
        execute!(stdout(), EnterAlternateScreen)?;
        let terminal = Terminal::new(CrosstermBackend::new(stdout()))?;
        std::mem::forget(guard_on_error);
        install_panic_hook();
        Ok(TerminalGuard { terminal })
    }

    /// The terminal to draw on.
    pub fn terminal(&mut self) -> &mut DefaultTerminal {
        &mut self.terminal
    }
}

impl Drop for TerminalGuard {
    fn drop(&mut self) {
        // Best effort: nothing useful can be done if the terminal is gone.
        let _ = ratatui::try_restore();
    }
}

/// Fails with a clear message when stdout is not a terminal (a pipe, a CI log). Check it before
/// starting an engine for the monitor.
pub fn ensure_terminal() -> std::io::Result<()> {
    if stdout().is_terminal() {
        Ok(())
    } else {
        Err(std::io::Error::other(
            "stdout is not a terminal: the monitor needs one (use --headless for a summary)",
        ))
    }
}

/// Restores the terminal if `enter` fails half-way (raw mode on, alternate screen not).
struct RestoreOnDrop;

impl Drop for RestoreOnDrop {
    fn drop(&mut self) {
        let _ = ratatui::try_restore();
    }
}
