//! The monitor's own state (selection, mode, theme, pending requests) and what keys do to it.
//! It reads the [`MonitorState`] and never changes it; engine changes go out as [`Command`]s.

use std::sync::Arc;

use crossterm::event::{KeyCode, KeyEvent, KeyEventKind};
use rookery_widgets::Styles;
use tui_logger::{TuiWidgetEvent, TuiWidgetState};

use super::action::{Action, Section};
use super::command::{Command, CommandSink};
use super::input::{Input, InputKind, next_rate, parse_input};
use super::keymap::{Keymap, sections_for};
use super::keys::Key;
use super::pending::{Asked, Pending};
use super::rates::EventRates;
use super::theme::Theme;
use crate::monitor::{MonitorState, Rate};

/// A replay control asked for by a key (the replay driver applies it).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReplayCtl {
    TogglePause,
    /// Seek by this many seconds (negative: back).
    Seek(i64),
    SpeedUp,
    SpeedDown,
}

/// What keys currently go to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Mode {
    Normal,
    Help,
    Input(Input),
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
    pub mode: Mode,
    pub log_focused: bool,
    selected_throttle: usize,
    selected_node: usize,
    pub pending: Pending,
    /// A one-line message for the status bar (a refused key, a failed command), and the event
    /// time it was set at: it goes away after [`NOTICE_S`] seconds of event time.
    notice: Option<(String, u64)>,
    /// The latest event time seen by [`observe`](Self::observe).
    now_us: u64,
    pub quit: bool,
    pub rates: EventRates,
    /// The replay's mode text (`REPLAY 2x`), set by the replay driver; `None` when live.
    pub replay_status: Option<String>,
    pub log_state: TuiWidgetState,
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
            mode: Mode::Normal,
            log_focused: false,
            selected_throttle: 0,
            selected_node: 0,
            pending: Pending::default(),
            notice: None,
            now_us: 0,
            quit: false,
            rates: EventRates::default(),
            replay_status: None,
            log_state: TuiWidgetState::new(),
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
        sections_for(self.is_live(), self.log_focused)
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

    /// Index of the selected node, clamped.
    pub fn selected_node(&self, state: &MonitorState) -> Option<usize> {
        let n = state.nodes().len();
        (n > 0).then(|| self.selected_node.min(n - 1))
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
        self.now_us = state.last_t_us();
        if self
            .notice
            .as_ref()
            .is_some_and(|(_, at)| self.now_us > at + NOTICE_S * 1_000_000)
        {
            self.notice = None;
        }
    }

    /// Shows `text` in the status bar for a while.
    pub fn set_notice(&mut self, text: impl Into<String>) {
        self.notice = Some((text.into(), self.now_us));
    }

    /// The status-bar notice, if any.
    pub fn notice(&self) -> Option<&str> {
        self.notice.as_ref().map(|(t, _)| t.as_str())
    }

    fn send(&mut self, cmd: Command) -> bool {
        let Some(sink) = &self.sink else {
            self.set_notice("replay: engine keys are off".to_owned());
            return false;
        };
        match sink.send(cmd.clone()) {
            Ok(()) => {
                self.set_notice(format!("sent: {cmd}"));
                true
            }
            Err(e) => {
                self.set_notice(format!("{cmd} failed: {e}"));
                false
            }
        }
    }

    /// Sends a throttle command and marks it pending until the engine confirms.
    fn send_throttle(&mut self, state: &MonitorState, throttle: &str, cmd: Command, asked: Asked) {
        if self.send(cmd) {
            self.pending.ask(throttle, asked, state);
        }
    }

    /// Handles one key. Returns a replay control when the key asks for one.
    pub fn handle_key(&mut self, ev: KeyEvent, state: &MonitorState) -> Option<ReplayCtl> {
        if ev.kind != KeyEventKind::Press {
            return None;
        }
        let key = Key::from_event(&ev)?;
        if key.is_ctrl_c() {
            self.quit = true;
            return None;
        }
        match &mut self.mode {
            Mode::Help => {
                self.mode = Mode::Normal;
                return None;
            }
            Mode::Input(_) => {
                self.input_key(ev, state);
                return None;
            }
            Mode::Normal => {}
        }
        let action = self.keymap.lookup(&self.sections(), key)?;
        self.notice = None;
        self.act(action, state)
    }

    /// Performs `action` (what a bound key does).
    pub fn act(&mut self, action: Action, state: &MonitorState) -> Option<ReplayCtl> {
        use Action::*;
        match action {
            Quit => self.quit = true,
            Help => self.mode = Mode::Help,
            CycleTheme => {
                self.theme_idx = (self.theme_idx + 1) % self.themes.len().max(1);
                self.set_notice(format!("theme: {}", self.theme_name()));
            }
            FocusLog => self.log_focused = !self.log_focused,
            SelectNext => {
                let n = state.throttle_states().len();
                self.selected_throttle = (self.selected_throttle + 1).min(n.saturating_sub(1));
            }
            SelectPrev => {
                let cur = self.selected_throttle(state).unwrap_or(0);
                self.selected_throttle = cur.saturating_sub(1);
            }
            SelectNextNode => {
                let n = state.nodes().len().max(1);
                self.selected_node = (self.selected_node.min(n - 1) + 1) % n;
            }
            SelectPrevNode => {
                let n = state.nodes().len().max(1);
                self.selected_node = (self.selected_node.min(n - 1) + n - 1) % n;
            }
            RateUp | RateDown | RateUpLarge | RateDownLarge => self.step_rate(action, state),
            TypeRate | Ramp => {
                if let Some(throttle) = self.selected_throttle_name(state) {
                    let kind = if action == TypeRate {
                        InputKind::Rate { throttle }
                    } else {
                        InputKind::Ramp { throttle }
                    };
                    self.mode = Mode::Input(Input {
                        kind,
                        text: String::new(),
                        error: None,
                    });
                } else {
                    self.set_notice("no throttle to change yet".to_owned());
                }
            }
            TogglePause => {
                if let Some(throttle) = self.selected_throttle_name(state) {
                    let paused = match self.pending.get(&throttle) {
                        Some(Asked::Paused(p)) => p,
                        _ => state
                            .throttle(&throttle)
                            .and_then(|t| t.paused())
                            .unwrap_or(false),
                    };
                    let cmd = if paused {
                        Command::Resume {
                            throttle: throttle.clone(),
                        }
                    } else {
                        Command::Pause {
                            throttle: throttle.clone(),
                        }
                    };
                    self.send_throttle(state, &throttle, cmd, Asked::Paused(!paused));
                }
            }
            AddUsers => {
                self.send(Command::AddUsers {
                    count: self.users_step,
                });
            }
            RemoveUsers => {
                self.send(Command::RemoveUsers {
                    count: self.users_step,
                });
            }
            AddNode => {
                self.send(Command::AddNode);
            }
            KillNode => match self.selected_node(state) {
                Some(i) => {
                    let node = state.nodes()[i].name.to_string();
                    self.send(Command::KillNode { node });
                }
                None => self.set_notice("no node to kill".to_owned()),
            },
            ReplayTogglePause => return Some(ReplayCtl::TogglePause),
            SeekForward => return Some(ReplayCtl::Seek(SEEK_S)),
            SeekBack => return Some(ReplayCtl::Seek(-SEEK_S)),
            SpeedUp => return Some(ReplayCtl::SpeedUp),
            SpeedDown => return Some(ReplayCtl::SpeedDown),
            LogUp => self.log_state.transition(TuiWidgetEvent::UpKey),
            LogDown => self.log_state.transition(TuiWidgetEvent::DownKey),
            LogPageUp => self.log_state.transition(TuiWidgetEvent::PrevPageKey),
            LogPageDown => self.log_state.transition(TuiWidgetEvent::NextPageKey),
            LogLevelUp => self.log_state.transition(TuiWidgetEvent::PlusKey),
            LogLevelDown => self.log_state.transition(TuiWidgetEvent::MinusKey),
            LogToggleTargets => self.log_state.transition(TuiWidgetEvent::HideKey),
            LogExit => self.log_focused = false,
        }
        None
    }

    fn step_rate(&mut self, action: Action, state: &MonitorState) {
        let Some(throttle) = self.selected_throttle_name(state) else {
            self.set_notice("no throttle to change yet".to_owned());
            return;
        };
        let confirmed = state.throttle(&throttle).and_then(|t| t.rate());
        let base = match (self.pending.rate_target(&throttle), confirmed) {
            (Some(r), _) => r,
            (None, Some(Rate::Finite(r))) => r.max(0.0).round() as u64,
            (None, Some(Rate::Infinity)) => {
                self.set_notice(format!(
                    "{throttle} is unlimited: type a rate with the set-rate key"
                ));
                return;
            }
            (None, None) => {
                self.set_notice(format!("{throttle}: rate not known yet"));
                return;
            }
        };
        let target = next_rate(base, action);
        if target == base {
            return;
        }
        let cmd = Command::SetRate {
            throttle: throttle.clone(),
            rate: target,
            interval_ms: None,
        };
        self.send_throttle(state, &throttle, cmd, Asked::Rate(target));
    }

    fn input_key(&mut self, ev: KeyEvent, state: &MonitorState) {
        let Mode::Input(input) = &mut self.mode else {
            return;
        };
        match ev.code {
            KeyCode::Esc => self.mode = Mode::Normal,
            KeyCode::Backspace => {
                input.text.pop();
                input.error = None;
            }
            KeyCode::Char(c) if input.text.len() < 32 => {
                input.text.push(c);
                input.error = None;
            }
            KeyCode::Enter => {
                let input = input.clone();
                match parse_input(&input) {
                    Ok((throttle, cmd, asked)) => {
                        self.mode = Mode::Normal;
                        self.send_throttle(state, &throttle, cmd, asked);
                    }
                    Err(e) => {
                        if let Mode::Input(i) = &mut self.mode {
                            i.error = Some(e);
                        }
                    }
                }
            }
            _ => {}
        }
    }
}
