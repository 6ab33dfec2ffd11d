//! The terminal's lifecycle: raw mode and the alternate screen on entry, restored on every exit
//! (return, error, `?`, panic).

use std::io::IsTerminal;

use ratatui::DefaultTerminal;

/// Owns the terminal while the monitor runs; restores it when dropped.
pub struct TerminalGuard {
    terminal: Option<DefaultTerminal>,
}

impl TerminalGuard {
    /// Enters raw mode and the alternate screen, and installs ratatui's restoring panic hook.
    ///
    /// Then installs Rookery's guard-aware hook *over* it
    /// ([`install_panic_hook`](crate::telemetry::guard::install_panic_hook)): panics that the
    /// engine catches on purpose (a crashing virtual user) stay quiet and never restore the
    /// terminal under a running monitor; any other panic reaches ratatui's hook, which restores
    /// the terminal before the message prints.
    ///
    /// Refuses when stdout is not a terminal (a pipe, a CI log): use the headless mode there.
    pub fn enter() -> std::io::Result<TerminalGuard> {
        if !std::io::stdout().is_terminal() {
            return Err(std::io::Error::other(
                "stdout is not a terminal: the monitor needs one (use --headless for a summary)",
            ));
        }
        let terminal = ratatui::try_init()?;
        crate::telemetry::guard::install_panic_hook();
        Ok(TerminalGuard {
            terminal: Some(terminal),
        })
    }

    /// The terminal to draw on.
    pub fn terminal(&mut self) -> &mut DefaultTerminal {
        match self.terminal.as_mut() {
            Some(t) => t,
            None => unreachable!("the terminal is only taken in drop"),
        }
    }
}

impl Drop for TerminalGuard {
    fn drop(&mut self) {
        if self.terminal.take().is_some() {
            // Best effort: nothing useful can be done if the terminal is gone.
            let _ = ratatui::try_restore();
        }
    }
}
