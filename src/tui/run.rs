//! The monitor's loop and its two entry points, [`run_live`] and [`run_replay`].
//!
//! One `tokio::select!` waits on terminal events and a frame ticker (30 fps by default). Each
//! tick drains the feed once (never one redraw per event) and redraws only when something
//! changed, or once a second so the log pane moves. A key, a resize or a command's outcome is
//! drawn on the next tick; new events at most [`DATA_FPS`] times a second (a frame is the
//! monitor's main cost on a busy run, and figures changing faster cannot be read anyway). The loop is generic over the ratatui
//! backend and the terminal-event stream so tests drive it with a `TestBackend`.

use std::sync::Arc;
use std::time::Duration;

use crossterm::event::{Event, EventStream};
use futures::{Stream, StreamExt};
use ratatui::Terminal;
use ratatui::backend::Backend;
use tokio::time::{Instant, MissedTickBehavior, interval};

use super::app::{App, AppOptions, ReplayCtl};
use super::command::{CommandSink, OperatorCommand};
use super::driver;
use super::keymap::{Keymap, KeymapError};
use super::replay::ReplayFeed;
use super::summary::FinalSummary;
use super::terminal::TerminalGuard;
use super::theme::{Theme, ThemeError, builtin_themes, colour_enabled};
use super::{logging, view};
use crate::eventlog::Replay;
use crate::monitor::{LiveFeed, MonitorState};

/// Redraws a second at most for new events alone (keys, resizes and outcomes are drawn on the
/// next tick).
pub const DATA_FPS: u32 = 10;

/// Why the monitor stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum TuiError {
    #[error("terminal: {0}")]
    Terminal(#[from] std::io::Error),
    #[error("keymap: {0}")]
    Keymap(#[from] KeymapError),
    #[error("{0}")]
    Theme(#[from] ThemeError),
    #[error("replay: {0}")]
    Replay(String),
    #[error("drawing failed: {0}")]
    Draw(String),
}

/// How the monitor starts.
#[derive(Clone, Debug)]
pub struct TuiOptions {
    pub app: AppOptions,
    /// Frames per second at most.
    pub fps: u32,
    /// The run's planned length (`--duration`): the status bar shows the time left.
    pub run_length: Option<Duration>,
    /// Print the final summary on the normal screen when the monitor quits.
    pub print_summary: bool,
}

impl TuiOptions {
    /// Options from the environment: the user's keymap over the defaults, `theme` (a built-in
    /// name or a path; `None` = dark) first in the cycle, `NO_COLOR` honoured.
    pub fn load(theme: Option<&str>) -> Result<TuiOptions, TuiError> {
        let keymap = Keymap::load(Keymap::user_path().as_deref())?;
        let mut themes = builtin_themes()?;
        if let Some(arg) = theme {
            let chosen = Theme::resolve(arg)?;
            themes.retain(|t| t.name != chosen.name);
            themes.insert(0, chosen);
        }
        Ok(TuiOptions {
            app: AppOptions {
                keymap,
                themes,
                colour: colour_enabled(),
                users_step: 10,
            },
            fps: 30,
            run_length: None,
            print_summary: true,
        })
    }
}

/// Where the events come from.
pub trait Feed {
    /// Applies what arrived since the last call; `wall` is the time since then. Returns how
    /// many events were applied.
    fn pump(&mut self, state: &mut MonitorState, wall: Duration) -> usize;
    /// A replay key. Live feeds ignore them.
    fn control(&mut self, _ctl: ReplayCtl, _state: &mut MonitorState) -> Result<(), String> {
        Ok(())
    }
    /// The status-bar mode text for a replay; `None` when live.
    fn status(&self) -> Option<String> {
        None
    }
    /// For a live feed, the wall-clock "now" in µs since the run's start: the loop moves the
    /// state's time to it every frame (see [`MonitorState::tick`]). `None` (a replay) keeps
    /// event time.
    fn now_us(&self) -> Option<u64> {
        None
    }
}

impl Feed for LiveFeed {
    fn pump(&mut self, state: &mut MonitorState, _wall: Duration) -> usize {
        self.drain_into(state)
    }
    fn now_us(&self) -> Option<u64> {
        Some(LiveFeed::now_us(self))
    }
}

/// What a finished loop leaves behind.
#[derive(Debug)]
pub struct LoopOutcome {
    /// The state as last drawn.
    pub state: MonitorState,
    /// Frames drawn.
    pub frames: u64,
    /// Ticks on which the feed was drained (one drain per frame tick).
    pub drains: u64,
}

/// The loop: runs until a quit key (or the end of `keys`).
pub async fn run_loop<B, K>(
    terminal: &mut Terminal<B>,
    app: &mut App,
    feed: &mut dyn Feed,
    mut keys: K,
    fps: u32,
) -> Result<LoopOutcome, TuiError>
where
    B: Backend,
    K: Stream<Item = std::io::Result<Event>> + Unpin,
{
    let mut state = MonitorState::new();
    let frame = Duration::from_secs(1) / fps.clamp(1, 240);
    let data_frame = Duration::from_secs(1) / DATA_FPS.min(fps.clamp(1, 240));
    let mut ticker = interval(frame);
    ticker.set_missed_tick_behavior(MissedTickBehavior::Skip);
    let mut last_pump = Instant::now();
    let mut last_draw: Option<Instant> = None;
    let mut dirty = true;
    // New events not drawn yet.
    let mut data_dirty = false;
    let (mut frames, mut drains) = (0u64, 0u64);
    loop {
        tokio::select! {
            _ = ticker.tick() => {
                let now = Instant::now();
                // Read the wall clock before draining, so no drained event is later than it.
                let wall_us = if app.finished { None } else { feed.now_us() };
                let second = state.last_t_us() / 1_000_000;
                let applied = feed.pump(&mut state, now - last_pump);
                last_pump = now;
                drains += 1;
                if let Some(t) = wall_us {
                    state.tick(t);
                }
                if applied > 0 || state.last_t_us() / 1_000_000 != second {
                    app.observe(&state);
                    data_dirty = true;
                }
                if app.poll_outcomes() {
                    app.observe(&state);
                    dirty = true;
                }
                let status = feed.status();
                if status != app.replay_status {
                    app.replay_status = status;
                    dirty = true;
                }
                let since = last_draw.map(|t| now - t);
                let stale = since.is_none_or(|d| d >= Duration::from_secs(1));
                // Half a tick of slack: ticks are not exactly `frame` apart.
                let data_due = since.is_none_or(|d| d + frame / 2 >= data_frame);
                if dirty || stale || (data_dirty && data_due) {
                    terminal
                        .draw(|f| view::draw(f, app, &state))
                        .map_err(|e| TuiError::Draw(e.to_string()))?;
                    last_draw = Some(now);
                    dirty = false;
                    data_dirty = false;
                    frames += 1;
                }
            }
            ev = keys.next() => match ev {
                Some(Ok(Event::Key(key))) => {
                    // The update decides; its effects are carried out here and never wait.
                    let effects = app.update(key, &state);
                    if let Some(ctl) = app.perform(effects) {
                        let before = state.last_t_us();
                        if let Err(e) = feed.control(ctl, &mut state) {
                            app.set_notice(e);
                        }
                        app.rates.reset();
                        if state.last_t_us() < before {
                            // Seeking back starts the story over.
                            app.journal.reset();
                        }
                        app.observe(&state);
                    }
                    dirty = true;
                }
                Some(Ok(Event::Resize(..))) => {
                    // ratatui resizes its buffers on the next draw.
                    dirty = true;
                }
                Some(Ok(_)) => {}
                Some(Err(e)) => return Err(TuiError::Terminal(e)),
                None => app.quit = true,
            }
        }
        if app.quit {
            return Ok(LoopOutcome {
                state,
                frames,
                drains,
            });
        }
    }
}

/// Runs the monitor on a live engine: events from `feed` (a [`LiveFeed`], or any [`Feed`]
/// such as an attached Amoc cluster's), commands to `sink` (through the engine [`driver`]:
/// the monitor never calls the sink itself). Takes over the terminal and restores it on every
/// exit. Sends [`OperatorCommand::Quit`] when the user quits, then prints the final summary on the
/// normal screen (unless [`TuiOptions::print_summary`] is off).
pub async fn run_live(
    mut feed: impl Feed,
    sink: Arc<dyn CommandSink>,
    opts: TuiOptions,
) -> Result<MonitorState, TuiError> {
    let (queue, outcomes) = driver::spawn(sink.clone());
    let mut app = App::new(opts.app, Some(Arc::new(queue))).with_outcomes(outcomes);
    app.run_length_s = opts.run_length.map(|d| d.as_secs_f64());
    let result = on_terminal(&mut app, &mut feed, opts.fps).await;
    if let Err(e) = sink.send(OperatorCommand::Quit) {
        log::warn!(target: "tui", "the engine did not take the quit command: {e}");
    }
    let state = result?.state;
    if opts.print_summary {
        let headline = if app.finished {
            "run finished"
        } else {
            "run stopped from the monitor"
        };
        FinalSummary::new(&state, headline).print();
    }
    Ok(state)
}

/// Runs [`run_loop`] on the real terminal, restored however the loop ends (the guard's drop;
/// a panic's hook restores it too).
async fn on_terminal(
    app: &mut App,
    feed: &mut impl Feed,
    fps: u32,
) -> Result<LoopOutcome, TuiError> {
    if let Err(e) = logging::init(log::LevelFilter::Info) {
        eprintln!("rookery: {e}");
    }
    let mut guard = TerminalGuard::enter()?;
    let result = run_loop(guard.terminal(), app, feed, EventStream::new(), fps).await;
    drop(guard);
    result
}

/// Runs the monitor on a replay of recorded logs (open it with
/// [`eventlog::Replay::open`](crate::eventlog::Replay::open) and the `--speed` asked for).
/// Engine keys are off; replay keys pause, seek and change speed. A reading error stops the
/// replay, shows in the status bar, and is returned when the user quits.
pub async fn run_replay(replay: Replay, opts: TuiOptions) -> Result<MonitorState, TuiError> {
    let mut feed = ReplayFeed::new(replay);
    let mut app = App::new(opts.app, None);
    let result = on_terminal(&mut app, &mut feed, opts.fps).await;
    match (result, feed.error()) {
        (Ok(_), Some(e)) => Err(TuiError::Replay(e.to_owned())),
        (r, _) => {
            let state = r?.state;
            if opts.print_summary {
                let headline = if feed.finished() {
                    "replay finished"
                } else {
                    "replay stopped"
                };
                FinalSummary::new(&state, headline).print();
            }
            Ok(state)
        }
    }
}
