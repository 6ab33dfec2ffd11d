//! What keys do: the update half of the monitor. [`App::update`] changes the [`App`] for one
//! key and returns what should happen outside it as [`Effect`] values (a command for the engine,
//! a replay control); it calls nothing. [`App::perform`] carries the effects out: a command goes
//! onto the engine driver's bounded queue, which never waits, and the engine's answer comes
//! back later as an [`Outcome`](super::super::command::Outcome) or as events.

use crossterm::event::{KeyCode, KeyEvent, KeyEventKind};
use rookery_widgets::Severity;

use super::{App, Confirm, Effect, Mode, RampTrack, ReplayCtl, SEEK_S, SettingsView};
use crate::monitor::{MonitorState, RateReading};
use crate::tui::action::KeyAction;
use crate::tui::command::OperatorCommand;
use crate::tui::input::{Input, InputKind, next_rate, parse_input};
use crate::tui::keys::KeyChord;
use crate::tui::pending::Asked;

impl App {
    /// Handles one key: [`update`](Self::update), then [`perform`](Self::perform). Returns a
    /// replay control when the key asks for one.
    pub fn handle_key(&mut self, ev: KeyEvent, state: &MonitorState) -> Option<ReplayCtl> {
        let effects = self.update(ev, state);
        self.perform(effects)
    }

    /// The monitor's update for one key: changes the monitor's own state and returns the
    /// effects the key asks for, in order. Sends nothing and never waits: commands are
    /// assumed taken (a throttle change is marked pending) until [`perform`](Self::perform)
    /// or the engine's outcome says otherwise.
    pub fn update(&mut self, ev: KeyEvent, state: &MonitorState) -> Vec<Effect> {
        debug_assert!(self.effects.is_empty());
        if let Some(ctl) = self.key(ev, state) {
            self.effects.push(Effect::Replay(ctl));
        }
        std::mem::take(&mut self.effects)
    }

    fn key(&mut self, ev: KeyEvent, state: &MonitorState) -> Option<ReplayCtl> {
        if ev.kind != KeyEventKind::Press {
            return None;
        }
        let key = KeyChord::from_event(&ev)?;
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
            Mode::Confirm(c) => {
                let c = c.clone();
                self.mode = Mode::Normal;
                if matches!(ev.code, KeyCode::Char('y') | KeyCode::Char('Y')) {
                    self.send(c.command);
                } else {
                    self.set_notice(format!("not sent: {}", c.command));
                }
                return None;
            }
            Mode::Settings(_) => {
                self.settings_key(ev);
                return None;
            }
            Mode::Normal => {}
        }
        let action = self.keymap.lookup(&self.sections(), key)?;
        self.notice = None;
        self.action(action, state)
    }

    /// Performs `action` (what a bound key does): [`update`](Self::update) for an action
    /// rather than a key, followed by [`perform`](Self::perform).
    pub fn act(&mut self, action: KeyAction, state: &MonitorState) -> Option<ReplayCtl> {
        if let Some(ctl) = self.action(action, state) {
            self.effects.push(Effect::Replay(ctl));
        }
        let effects = std::mem::take(&mut self.effects);
        self.perform(effects)
    }

    fn action(&mut self, action: KeyAction, state: &MonitorState) -> Option<ReplayCtl> {
        use KeyAction::*;
        match action {
            Quit => self.quit = true,
            Help => self.mode = Mode::Help,
            CycleTheme => {
                self.theme_idx = (self.theme_idx + 1) % self.themes.len().max(1);
                self.set_notice(format!("theme: {}", self.theme_name()));
            }
            FocusLog => {
                self.log_focused = !self.log_focused;
                self.events_focused = false;
            }
            FocusEvents => {
                self.events_focused = !self.events_focused;
                self.log_focused = false;
            }
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
                let cur = self.selected_node(state).unwrap_or(0);
                self.selected_node = Some((cur + 1) % n);
            }
            SelectPrevNode => {
                let n = state.nodes().len().max(1);
                let cur = self.selected_node(state).unwrap_or(0);
                self.selected_node = Some((cur + n - 1) % n);
            }
            RateUp | RateDown | RateUpLarge | RateDownLarge => self.step_rate(action, state),
            TypeRate | Ramp => {
                if let Some(throttle) = self.selected_throttle_name(state) {
                    let per = state
                        .throttle(&throttle)
                        .and_then(|t| t.interval_ms())
                        .map(|ms| rookery_widgets::fmt::interval_ms(ms.max(0) as u64));
                    let unit = match per {
                        Some(p) => format!("per {p}"),
                        None => "per interval".to_owned(),
                    };
                    let kind = if action == TypeRate {
                        InputKind::Rate { throttle, unit }
                    } else {
                        InputKind::Ramp { throttle, unit }
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
            CancelRamp => match self.selected_throttle_name(state) {
                Some(throttle) => {
                    self.send(OperatorCommand::CancelRamp { throttle });
                }
                None => self.set_notice("no throttle to change yet".to_owned()),
            },
            Settings => {
                if self.send(OperatorCommand::ListSettings) {
                    self.notice = None;
                    self.mode = Mode::Settings(SettingsView::default());
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
                        OperatorCommand::Resume {
                            throttle: throttle.clone(),
                        }
                    } else {
                        OperatorCommand::Pause {
                            throttle: throttle.clone(),
                        }
                    };
                    self.send_throttle(state, &throttle, cmd, Asked::Paused(!paused));
                }
            }
            AddUsers => {
                self.send(OperatorCommand::AddUsers {
                    count: self.users_step,
                });
            }
            RemoveUsers => {
                self.send(OperatorCommand::RemoveUsers {
                    count: self.users_step,
                });
            }
            AddNode => {
                self.send(OperatorCommand::AddNode);
            }
            KillNode => match self.selected_node(state) {
                Some(i) => {
                    let node = state.nodes()[i].name.to_string();
                    let master = state.master().is_some_and(|m| m.name == node.as_str());
                    let question = if master {
                        format!(
                            "{node} is the master: killing it ends the whole test. Kill it? (y/n)"
                        )
                    } else {
                        format!("kill node {node} and its users? (y/n)")
                    };
                    self.mode = Mode::Confirm(Confirm {
                        question,
                        command: OperatorCommand::KillNode { node },
                    });
                }
                None => self.set_notice("no node to kill".to_owned()),
            },
            ReplayTogglePause => return Some(ReplayCtl::TogglePause),
            SeekForward => return Some(ReplayCtl::Seek(SEEK_S)),
            SeekBack => return Some(ReplayCtl::Seek(-SEEK_S)),
            SpeedUp => return Some(ReplayCtl::SpeedUp),
            SpeedDown => return Some(ReplayCtl::SpeedDown),
            LogUp => self.scroll(-1),
            LogDown => self.scroll(1),
            LogPageUp => self.scroll(-(PAGE as i64)),
            LogPageDown => self.scroll(PAGE as i64),
            LogLevelUp => {
                self.log_level = match self.log_level {
                    Severity::Error => Severity::Warning,
                    _ => Severity::Info,
                };
                self.set_notice(format!("log: {} and up", severity_name(self.log_level)));
            }
            LogLevelDown => {
                self.log_level = match self.log_level {
                    Severity::Info => Severity::Warning,
                    _ => Severity::Error,
                };
                self.set_notice(format!("log: {} and up", severity_name(self.log_level)));
            }
            LogToggleTargets => self.log_sources = !self.log_sources,
            LogExit => {
                self.log_focused = false;
                self.events_focused = false;
            }
        }
        None
    }

    /// Moves the focused pane by `rows` (negative: towards older log lines / the top).
    fn scroll(&mut self, rows: i64) {
        if self.events_focused {
            self.events_scroll = self.events_scroll.saturating_add_signed(rows as isize);
        } else {
            // The log is anchored at its newest line: up goes back in time.
            self.log_scroll = self.log_scroll.saturating_add_signed(-rows as isize);
        }
    }

    /// A throttle command, marked pending until the engine confirms; says so when it replaces
    /// a running ramp.
    fn send_rate_change(
        &mut self,
        state: &MonitorState,
        throttle: &str,
        cmd: OperatorCommand,
        asked: Asked,
    ) -> bool {
        let ramping = self.ramps.contains_key(throttle)
            || state.throttle(throttle).and_then(|t| t.ramping()) == Some(true);
        let closing = matches!(cmd, OperatorCommand::SetRate { rate: 0, .. });
        let starts_ramp = matches!(cmd, OperatorCommand::StartRamp { .. });
        let text = cmd.to_string();
        if self.send(cmd) {
            self.pending.ask(throttle, asked, state);
            if ramping {
                self.set_notice(format!("{text}: replaces the running ramp"));
            } else if closing {
                self.set_notice(format!("{text}: the throttle is closed (nothing passes)"));
            }
            if !starts_ramp {
                self.ramps.remove(throttle);
            }
            return true;
        }
        false
    }

    fn settings_key(&mut self, ev: KeyEvent) {
        let Mode::Settings(view) = &mut self.mode else {
            return;
        };
        let n = view.rows.as_ref().map_or(0, Vec::len);
        match ev.code {
            KeyCode::Esc | KeyCode::Char('q') | KeyCode::Char('s') => self.mode = Mode::Normal,
            KeyCode::Down | KeyCode::Char('j') => {
                view.selected = (view.selected + 1).min(n.saturating_sub(1));
            }
            KeyCode::Up | KeyCode::Char('k') => view.selected = view.selected.saturating_sub(1),
            KeyCode::Enter => {
                let Some(row) = view.rows.as_ref().and_then(|r| r.get(view.selected)) else {
                    return;
                };
                if !row.updatable {
                    let text = format!("{} is read-only while the scenario runs", row.name);
                    self.set_notice(text);
                    return;
                }
                let kind = InputKind::Setting {
                    name: row.name.clone(),
                    current: row.value.clone(),
                };
                self.mode = Mode::Input(Input {
                    kind,
                    text: String::new(),
                    error: None,
                });
            }
            _ => {}
        }
    }

    fn step_rate(&mut self, action: KeyAction, state: &MonitorState) {
        let Some(throttle) = self.selected_throttle_name(state) else {
            self.set_notice("no throttle to change yet".to_owned());
            return;
        };
        let confirmed = state.throttle(&throttle).and_then(|t| t.rate());
        let base = match (self.pending.rate_target(&throttle), confirmed) {
            (Some(r), _) => r,
            (None, Some(RateReading::Finite(r))) => r.max(0.0).round() as u64,
            (None, Some(RateReading::Infinity)) => {
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
        let cmd = OperatorCommand::SetRate {
            throttle: throttle.clone(),
            rate: target,
            interval_ms: None,
        };
        self.send_rate_change(state, &throttle, cmd, Asked::Rate(target));
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
            KeyCode::Char(c) if input.text.len() < 64 => {
                input.text.push(c);
                input.error = None;
            }
            KeyCode::Enter => {
                let input = input.clone();
                if let InputKind::Setting { name, .. } = &input.kind {
                    let value = input.text.trim().to_owned();
                    if value.is_empty() {
                        if let Mode::Input(i) = &mut self.mode {
                            i.error = Some("type a value".to_owned());
                        }
                        return;
                    }
                    // The engine's verification decides; a refusal comes back as an outcome.
                    self.mode = Mode::Settings(SettingsView::default());
                    let cmd = OperatorCommand::SetSetting {
                        name: name.clone(),
                        value,
                    };
                    if self.send(cmd) {
                        self.send(OperatorCommand::ListSettings);
                    }
                    return;
                }
                match parse_input(&input) {
                    Ok((throttle, cmd, asked)) => {
                        self.mode = Mode::Normal;
                        if let OperatorCommand::StartRamp {
                            to, duration_ms, ..
                        } = &cmd
                        {
                            let track = RampTrack {
                                to: *to,
                                ends_us: self
                                    .now_us
                                    .saturating_add(duration_ms.saturating_mul(1000)),
                            };
                            if self.send_rate_change(state, &throttle, cmd, asked) {
                                self.ramps.insert(throttle, track);
                            }
                        } else {
                            self.send_rate_change(state, &throttle, cmd, asked);
                        }
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

/// Rows moved by a page key.
pub const PAGE: usize = 10;

fn severity_name(s: Severity) -> &'static str {
    match s {
        Severity::Error => "errors",
        Severity::Warning => "warnings",
        Severity::Info => "info",
    }
}
