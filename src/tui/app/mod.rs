//! The monitor's own state (selection, mode, theme, pending requests) and what keys do to it.
//! It reads the [`MonitorState`] and never changes it; engine changes go out as [`OperatorCommand`]s.

use std::sync::Arc;

use std::collections::BTreeMap;

use rookery_widgets::{Severity, Styles};

use crate::tui::action::Section;
use crate::tui::command::{CommandSink, OperatorCommand, Outcome, SettingRow};
use crate::tui::driver::Outcomes;
use crate::tui::input::Input;
use crate::tui::journal::Journal;
use crate::tui::keymap::{Keymap, sections_for};
use crate::tui::pending::{Asked, PendingChanges};
use crate::tui::rates::EventRates;
use crate::tui::theme::Theme;

mod update;

use crate::monitor::MonitorState;
pub use update::PAGE;

/// A replay control asked for by a key (the replay driver applies it).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReplayCtl {
    TogglePause,
    /// Seek by this many seconds (negative: back).
    Seek(i64),
    SpeedUp,
    SpeedDown,
}

/// What a key asks for outside the monitor's own state, returned by
/// [`App::update`] and carried out by [`App::perform`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Effect {
    /// A command for the engine (through the driver's bounded queue).
    Send(OperatorCommand),
    /// A replay control for the replay driver.
    Replay(ReplayCtl),
}

/// A destructive command waiting for `y`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Confirm {
    pub question: String,
    pub command: OperatorCommand,
}

/// The settings overlay: the declared settings once the engine answered.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct SettingsView {
    /// `None` until the engine answered.
    pub rows: Option<Vec<SettingRow>>,
    pub selected: usize,
}

/// What keys currently go to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Mode {
    Normal,
    Help,
    Input(Input),
    /// A question (`y` sends the command, any other key cancels).
    Confirm(Confirm),
    Settings(SettingsView),
}

/// A ramp this monitor started: what it aims at and when it should end (screen time).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RampTrack {
    pub to: u64,
    pub ends_us: u64,
}

/// Settings of the monitor that do not come from the state.
#[derive(Clone, Debug)]
pub struct AppOptions {
    pub keymap: Keymap,
    /// Themes to cycle through; the first is used at start.
    pub themes: Vec<Theme>,
    /// False under `NO_COLOR`.
    pub colour: bool,
    /// Users added or removed per key press.
    pub users_step: u64,
}

/// Seconds of event time a notice stays in the status bar.
pub const NOTICE_S: u64 = 5;

/// Seconds moved by one seek key.
pub const SEEK_S: i64 = 10;

/// The monitor's UI state.
pub struct App {
    pub keymap: Keymap,
    themes: Vec<Theme>,
    theme_idx: usize,
    colour: bool,
    users_step: u64,
    sink: Option<Arc<dyn CommandSink>>,
    /// Outcomes of the commands, from the engine driver (live only).
    outcomes: Option<Outcomes>,
    /// Effects of the key being handled, returned by `update`.
    effects: Vec<Effect>,
    pub mode: Mode,
    pub log_focused: bool,
    /// The events pane has the scroll keys.
    pub events_focused: bool,
    /// Rows scrolled up from the newest log line (0: the newest are shown).
    pub log_scroll: usize,
    /// Rows scrolled down from the top of the events pane.
    pub events_scroll: usize,
    /// The least severe log line shown.
    pub log_level: Severity,
    /// Show the source column of log lines.
    pub log_sources: bool,
    selected_throttle: usize,
    /// The node the user chose; `None` until then (the first worker is selected).
    selected_node: Option<usize>,
    /// Ramps started from this monitor, by throttle.
    pub ramps: BTreeMap<String, RampTrack>,
    /// The engine's log: what happened, derived from the state and the command outcomes.
    pub journal: Journal,
    /// The run has ended (the engine said so): "now" stops, the final figures stay.
    pub finished: bool,
    /// The run's planned length (`--duration`), for the time left.
    pub run_length_s: Option<f64>,
    pub pending: PendingChanges,
    /// A one-line message for the status bar (a refused key, a failed command), and the event
    /// time it was set at: it goes away after [`NOTICE_S`] seconds of event time.
    notice: Option<(String, u64)>,
    /// The latest event time seen by [`observe`](Self::observe).
    now_us: u64,
    pub quit: bool,
    pub rates: EventRates,
    /// The replay's mode text (`REPLAY 2x`), set by the replay driver; `None` when live.
    pub replay_status: Option<String>,
}

impl App {
    /// A monitor that sends commands to `sink` (live), or has none (replay).
    pub fn new(opts: AppOptions, sink: Option<Arc<dyn CommandSink>>) -> App {
        let mut themes = opts.themes;
        if themes.is_empty() {
            themes = super::theme::builtin_themes().unwrap_or_default();
        }
        App {
            keymap: opts.keymap,
            themes,
            theme_idx: 0,
            colour: opts.colour,
            users_step: opts.users_step.max(1),
            sink,
            outcomes: None,
            mode: Mode::Normal,
            log_focused: false,
            events_focused: false,
            log_scroll: 0,
            events_scroll: 0,
            log_level: Severity::Info,
            log_sources: true,
            selected_throttle: 0,
            selected_node: None,
            ramps: BTreeMap::new(),
            journal: Journal::default(),
            finished: false,
            run_length_s: None,
            pending: PendingChanges::default(),
            notice: None,
            now_us: 0,
            quit: false,
            effects: Vec::new(),
            rates: EventRates::default(),
            replay_status: None,
        }
    }

    /// Takes the outcomes of commands from an engine driver (see
    /// [`driver::spawn`](super::driver::spawn)).
    pub fn with_outcomes(mut self, outcomes: Outcomes) -> App {
        self.outcomes = Some(outcomes);
        self
    }

    /// Applies the outcomes that arrived; true when any did (redraw).
    pub fn poll_outcomes(&mut self) -> bool {
        let Some(outcomes) = self.outcomes.as_mut() else {
            return false;
        };
        let got = outcomes.drain();
        let any = !got.is_empty();
        for o in got {
            self.on_outcome(o);
        }
        any
    }

    /// What the monitor does with one command outcome.
    pub fn on_outcome(&mut self, outcome: Outcome) {
        let now = self.now_us;
        match outcome {
            Outcome::Done(cmd) => {
                let text = match &cmd {
                    OperatorCommand::CancelRamp { throttle } => {
                        self.ramps.remove(throttle);
                        format!("ramp of {throttle} cancelled: it keeps the rate it reached")
                    }
                    OperatorCommand::SetSetting { name, value } => {
                        format!("setting {name} = {value}")
                    }
                    other => format!("done: {other}"),
                };
                self.journal
                    .push(now, Severity::Info, "command", text.clone());
                if matches!(
                    cmd,
                    OperatorCommand::SetSetting { .. } | OperatorCommand::CancelRamp { .. }
                ) {
                    self.set_notice(text);
                }
            }
            Outcome::Failed(cmd, why) => {
                if let Some(t) = command_throttle(&cmd) {
                    self.pending.cancel(t);
                    if matches!(cmd, OperatorCommand::StartRamp { .. }) {
                        self.ramps.remove(t);
                    }
                }
                let text = format!("{cmd} failed: {why}");
                self.journal
                    .push(now, Severity::Error, "command", text.clone());
                if let (OperatorCommand::SetSetting { .. }, Mode::Input(i)) = (&cmd, &mut self.mode)
                {
                    i.error = Some(why);
                } else {
                    self.set_notice(text);
                }
            }
            Outcome::Settings(rows) => {
                if let Mode::Settings(v) = &mut self.mode {
                    v.selected = v.selected.min(rows.len().saturating_sub(1));
                    v.rows = Some(rows);
                }
            }
            Outcome::Finished => {
                if !self.finished {
                    self.finished = true;
                    self.journal.push(
                        now,
                        Severity::Info,
                        "run",
                        "the run has ended: final figures",
                    );
                }
            }
        }
    }

    /// True when watching a live engine (commands can be sent).
    pub fn is_live(&self) -> bool {
        self.sink.is_some()
    }

    /// The styles of the current theme (uncoloured under `NO_COLOR`).
    pub fn styles(&self) -> Styles {
        self.themes
            .get(self.theme_idx)
            .map(|t| t.styles(self.colour).clone())
            .unwrap_or_default()
    }

    /// The current theme's name.
    pub fn theme_name(&self) -> &str {
        self.themes.get(self.theme_idx).map_or("plain", |t| &t.name)
    }

    /// The keymap sections that apply now.
    pub fn sections(&self) -> Vec<Section> {
        sections_for(self.is_live(), self.log_focused || self.events_focused)
    }

    /// The keymap sections the help overlay lists.
    pub fn sections_for_help(&self) -> Vec<Section> {
        let mode = if self.is_live() {
            Section::Live
        } else {
            Section::Replay
        };
        vec![Section::Global, mode, Section::Log]
    }

    /// Index of the selected throttle, clamped to the throttles in `state`.
    pub fn selected_throttle(&self, state: &MonitorState) -> Option<usize> {
        let n = state.throttle_states().len();
        (n > 0).then(|| self.selected_throttle.min(n - 1))
    }

    /// Index of the selected node, clamped. Until the user picks one, the first worker (a
    /// node that is not the master), so a kill never aims at the master by default.
    pub fn selected_node(&self, state: &MonitorState) -> Option<usize> {
        let n = state.nodes().len();
        if n == 0 {
            return None;
        }
        Some(match self.selected_node {
            Some(i) => i.min(n - 1),
            None => {
                let master = state.master().map(|m| m.name.clone());
                state
                    .nodes()
                    .iter()
                    .position(|node| Some(&node.name) != master.as_ref() && node.up)
                    .unwrap_or(0)
            }
        })
    }

    fn selected_throttle_name(&self, state: &MonitorState) -> Option<String> {
        self.selected_throttle(state)
            .map(|i| state.throttle_states()[i].name.to_string())
    }

    /// Called once per frame after new events: drops confirmed requests, samples rates,
    /// expires the notice.
    pub fn observe(&mut self, state: &MonitorState) {
        self.pending.reconcile(state);
        self.rates.observe(state);
        self.journal.observe(state);
        self.now_us = state.last_t_us();
        // A ramp this monitor started is over once the engine no longer says it ramps.
        self.ramps.retain(|name, track| {
            state.throttle(name).and_then(|t| t.ramping()) != Some(false)
                || track.ends_us > self.now_us
        });
        if self
            .notice
            .as_ref()
            .is_some_and(|(_, at)| self.now_us > at + NOTICE_S * 1_000_000)
        {
            self.notice = None;
        }
    }

    /// The screen's "now" (µs since the start) as of the last [`observe`](Self::observe).
    pub fn now_us(&self) -> u64 {
        self.now_us
    }

    /// Seconds left of a run with a planned length; `None` without one.
    pub fn time_left_s(&self) -> Option<f64> {
        self.run_length_s
            .map(|len| (len - self.now_us as f64 / 1e6).max(0.0))
    }

    /// Shows `text` in the status bar for a while.
    pub fn set_notice(&mut self, text: impl Into<String>) {
        self.notice = Some((text.into(), self.now_us));
    }

    /// The status-bar notice, if any.
    pub fn notice(&self) -> Option<&str> {
        self.notice.as_ref().map(|(t, _)| t.as_str())
    }

    /// Asks for `cmd` to be sent (an [`Effect::Send`] of the key being handled). False in a
    /// replay, where engine keys are off.
    fn send(&mut self, cmd: OperatorCommand) -> bool {
        if self.sink.is_none() {
            self.set_notice("replay: engine keys are off".to_owned());
            return false;
        }
        self.set_notice(format!("sent: {cmd}"));
        self.effects.push(Effect::Send(cmd));
        true
    }

    /// Carries out the effects [`update`](Self::update) returned: each command goes to the
    /// sink (the driver's queue, which answers at once); a refused one is undone as a failed
    /// command is (its pending mark and ramp go, the log and the status bar say why).
    /// Returns the replay control, if one was asked for.
    pub fn perform(&mut self, effects: Vec<Effect>) -> Option<ReplayCtl> {
        let mut replay = None;
        for effect in effects {
            match effect {
                Effect::Replay(ctl) => replay = Some(ctl),
                Effect::Send(cmd) => {
                    let Some(sink) = &self.sink else { continue };
                    if let Err(why) = sink.send(cmd.clone()) {
                        if matches!(cmd, OperatorCommand::ListSettings)
                            && matches!(self.mode, Mode::Settings(_))
                        {
                            self.mode = Mode::Normal;
                        }
                        self.on_outcome(Outcome::Failed(cmd, why));
                    }
                }
            }
        }
        replay
    }

    /// Sends a throttle command and marks it pending until the engine confirms.
    fn send_throttle(
        &mut self,
        state: &MonitorState,
        throttle: &str,
        cmd: OperatorCommand,
        asked: Asked,
    ) {
        if self.send(cmd) {
            self.pending.ask(throttle, asked, state);
        }
    }
}

/// The throttle a command is about, if any.
fn command_throttle(cmd: &OperatorCommand) -> Option<&str> {
    match cmd {
        OperatorCommand::SetRate { throttle, .. }
        | OperatorCommand::SetUnlimited { throttle }
        | OperatorCommand::Pause { throttle }
        | OperatorCommand::Resume { throttle }
        | OperatorCommand::StartRamp { throttle, .. }
        | OperatorCommand::CancelRamp { throttle } => Some(throttle),
        _ => None,
    }
}
