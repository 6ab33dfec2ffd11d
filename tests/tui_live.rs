//! A live screen under virtual time: "now" follows the wall clock (quiet throttles fall to 0,
//! the clock moves with no event), the run's end shows FINISHED with the final figures, the
//! time left of a planned run counts down, and commands go through the engine driver so a
//! command that blocks cannot freeze a frame.

mod tui_support;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc as std_mpsc;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crossterm::event::{Event, KeyCode, KeyEvent, KeyModifiers};
use futures::channel::mpsc::{UnboundedSender, unbounded};
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use rookery::monitor::MonitorState;
use rookery::telemetry::Value;
use rookery::tui::capture::buffer_text;
use rookery::tui::{
    App, CommandSink, Feed, OperatorCommand, Outcome, SettingRow, driver, run_loop,
};
use tokio::time::{Instant, sleep};
use tui_support::*;

type Keys = UnboundedSender<std::io::Result<Event>>;

fn press(tx: &Keys, c: char) {
    let ev = Event::Key(KeyEvent::new(KeyCode::Char(c), KeyModifiers::NONE));
    tx.unbounded_send(Ok(ev)).expect("loop is listening");
}

fn press_code(tx: &Keys, code: KeyCode) {
    let ev = Event::Key(KeyEvent::new(code, KeyModifiers::NONE));
    tx.unbounded_send(Ok(ev)).expect("loop is listening");
}

/// A live feed on virtual time: one busy second of `messages` at the start, then silence.
/// "Now" is the virtual time since the feed was made, as a `LiveFeed` measures it.
struct QuietFeed {
    start: Instant,
    fed: bool,
    live: bool,
}

impl QuietFeed {
    fn new(live: bool) -> QuietFeed {
        QuietFeed {
            start: Instant::now(),
            fed: false,
            live,
        }
    }
}

impl Feed for QuietFeed {
    fn pump(&mut self, state: &mut MonitorState, _wall: Duration) -> usize {
        if self.fed {
            return 0;
        }
        self.fed = true;
        rate(state, 1, "messages", 600, false);
        for i in 0..50 {
            for ev in ["request", "execute"] {
                apply(
                    state,
                    10 + i * 10,
                    "node1",
                    &["amoc", "throttle", ev],
                    &[("count", Value::Int(1))],
                    &[("name", Value::from("messages"))],
                );
            }
        }
        101
    }
    fn now_us(&self) -> Option<u64> {
        self.live.then(|| self.start.elapsed().as_micros() as u64)
    }
}

fn messages_row(text: &str) -> String {
    text.lines()
        .find(|l| l.contains(" messages "))
        .unwrap_or_else(|| panic!("no messages row:\n{text}"))
        .to_owned()
}

async fn quiet_screen(live: bool) -> String {
    let mut terminal = Terminal::new(TestBackend::new(W, H)).expect("terminal");
    let (mut app, _) = live_app();
    let mut feed = QuietFeed::new(live);
    let (tx, rx) = unbounded();
    let (out, ()) = tokio::join!(
        run_loop(&mut terminal, &mut app, &mut feed, rx, 30),
        async {
            sleep(Duration::from_millis(8_200)).await;
            press(&tx, 'q');
        }
    );
    out.expect("loop ends on q");
    buffer_text(terminal.backend().buffer())
}

#[tokio::test(start_paused = true)]
async fn a_quiet_throttle_falls_to_zero_and_the_clock_moves_on() {
    let live = quiet_screen(true).await;
    assert!(
        messages_row(&live).contains("600 /1m       0.0     0.0"),
        "8 s after its last event the rates read 0:\n{}",
        messages_row(&live)
    );
    assert!(
        live.contains(" LIVE  0:08 "),
        "the clock kept going:\n{live}"
    );

    // Without a wall clock (a replay) the screen stays at event time.
    let frozen = quiet_screen(false).await;
    assert!(frozen.contains("  0:00 "), "{frozen}");
    assert!(
        !messages_row(&frozen).contains("600 /1m       0.0     0.0"),
        "event time: the last second's figures stay:\n{}",
        messages_row(&frozen)
    );
}

/// A sink whose commands block until the test lets them go, whose run ends when told, and
/// which lists one setting.
#[derive(Default)]
struct SlowEngine {
    gate: Mutex<Option<std_mpsc::Receiver<()>>>,
    sent: Mutex<Vec<OperatorCommand>>,
    finished: AtomicBool,
}

impl CommandSink for SlowEngine {
    fn send(&self, command: OperatorCommand) -> Result<(), String> {
        if let Some(gate) = self.gate.lock().expect("gate").as_ref() {
            let _ = gate.recv();
        }
        if let OperatorCommand::SetSetting { value, .. } = &command
            && value == "0"
        {
            return Err("think_time must be positive".to_owned());
        }
        self.sent.lock().expect("sent").push(command);
        Ok(())
    }
    fn settings(&self) -> Result<Vec<SettingRow>, String> {
        Ok(vec![SettingRow {
            name: "think_time".into(),
            value: "1000".into(),
            source: "default".into(),
            updatable: true,
            description: "Pause between messages, in ms".into(),
        }])
    }
    fn run_finished(&self) -> bool {
        self.finished.load(Ordering::SeqCst)
    }
}

// Real time: under paused time tokio does not advance the clock while a blocking task runs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_command_that_blocks_never_freezes_a_frame() {
    let (release, gate) = std_mpsc::channel::<()>();
    let engine = Arc::new(SlowEngine::default());
    *engine.gate.lock().expect("gate") = Some(gate);
    let (queue, outcomes) = driver::spawn(engine.clone());
    let mut app = App::new(options(), Some(Arc::new(queue))).with_outcomes(outcomes);
    let mut terminal = Terminal::new(TestBackend::new(W, H)).expect("terminal");
    let mut feed = QuietFeed::new(true);
    let (tx, rx) = unbounded();
    let (out, ()) = tokio::join!(
        run_loop(&mut terminal, &mut app, &mut feed, rx, 30),
        async {
            sleep(Duration::from_millis(200)).await;
            // The first add blocks the engine; the queue takes 16 more, then says busy.
            for _ in 0..20 {
                press(&tx, 'a');
            }
            sleep(Duration::from_millis(3_000)).await;
            press(&tx, 'q');
        }
    );
    let out = out.expect("the loop ends on q while the engine is stuck");
    assert!(
        out.frames >= 3,
        "frames kept coming (one a second at least) while the command blocked: {}",
        out.frames
    );
    assert!(out.drains >= 30, "ticks went on: {}", out.drains);
    let text = buffer_text(terminal.backend().buffer());
    assert!(
        text.contains(" LIVE  0:03 ") || text.contains(" LIVE  0:04 "),
        "the clock moved while the engine was stuck: {text}"
    );
    let log: Vec<String> = app
        .journal
        .lines()
        .iter()
        .map(|l| l.message.clone())
        .collect();
    assert!(
        log.iter()
            .any(|l| l.starts_with("add 10 users failed: the engine is busy")),
        "a full queue is said: {log:?}"
    );
    assert!(engine.sent.lock().expect("sent").is_empty(), "still stuck");
    // Let the engine go so the runtime can end.
    drop(release);
}

#[tokio::test(start_paused = true)]
async fn settings_refusals_and_the_end_of_the_run_come_back_as_messages() {
    let engine = Arc::new(SlowEngine::default());
    let (queue, outcomes) = driver::spawn(engine.clone());
    let mut app = App::new(options(), Some(Arc::new(queue))).with_outcomes(outcomes);
    app.run_length_s = Some(30.0);
    let mut terminal = Terminal::new(TestBackend::new(W, H)).expect("terminal");
    let mut feed = QuietFeed::new(true);
    let (tx, rx) = unbounded();
    let (out, ()) = tokio::join!(
        run_loop(&mut terminal, &mut app, &mut feed, rx, 30),
        async {
            sleep(Duration::from_millis(2_100)).await;
            press(&tx, 's');
            sleep(Duration::from_millis(300)).await;
            press_code(&tx, KeyCode::Enter);
            press(&tx, '0');
            press_code(&tx, KeyCode::Enter);
            sleep(Duration::from_millis(300)).await;
            press_code(&tx, KeyCode::Esc);
            press(&tx, 's');
            sleep(Duration::from_millis(300)).await;
            press_code(&tx, KeyCode::Enter);
            for c in "250".chars() {
                press(&tx, c);
            }
            press_code(&tx, KeyCode::Enter);
            sleep(Duration::from_millis(300)).await;
            press_code(&tx, KeyCode::Esc);
            engine.finished.store(true, Ordering::SeqCst);
            sleep(Duration::from_millis(3_000)).await;
            press(&tx, 'q');
        }
    );
    let out = out.expect("loop ends on q");
    assert_eq!(
        *engine.sent.lock().expect("sent"),
        vec![OperatorCommand::SetSetting {
            name: "think_time".into(),
            value: "250".into()
        }],
        "the refused 0 never reached the store"
    );
    let log: Vec<String> = app
        .journal
        .lines()
        .iter()
        .map(|l| l.message.clone())
        .collect();
    assert!(
        log.iter()
            .any(|l| l == "set think_time = 0 failed: think_time must be positive"),
        "the refusal says why: {log:?}"
    );
    assert!(
        log.iter().any(|l| l == "setting think_time = 250"),
        "{log:?}"
    );
    let text = buffer_text(terminal.backend().buffer());
    assert!(text.contains(" FINISHED "), "{text}");
    // The clock stopped at the end: the final figures stay.
    let end = out.state.last_t_us();
    assert!(
        (3_000_000..4_000_000).contains(&end),
        "now stopped when the run ended, not at the quit: {end}"
    );
    assert!(app.finished);
    let left = app.time_left_s().expect("a planned run");
    assert!(
        (left - (30.0 - end as f64 / 1e6)).abs() < 0.1,
        "time left stops with the clock: {left}"
    );
}

/// The engine's `[amoc, throttle, rate]` for `name` at `t_ms`, with extra metadata.
fn rate_event(state: &mut MonitorState, t_ms: u64, name: &str, r: i64, extra: &[(&str, Value)]) {
    let mut md = vec![("name", Value::from(name))];
    md.extend(extra.iter().cloned());
    apply(
        state,
        t_ms,
        "node1",
        &["amoc", "throttle", "rate"],
        &[("rate", Value::Int(r)), ("interval", Value::Int(60_000))],
        &md,
    );
}

#[test]
fn ramps_show_target_and_time_left_and_rate_zero_is_closed() {
    use rookery::tui::capture;
    let mut state = scenario();
    let (mut app, sink) = live_app();
    app.observe(&state);
    let key = |c| KeyEvent::new(KeyCode::Char(c), KeyModifiers::NONE);
    app.handle_key(key('j'), &state); // messages
    app.handle_key(key('g'), &state);
    let prompt = capture::text(&app, &state, W, H);
    assert!(
        prompt.contains("Ramp messages: TARGET (per 1m) SECONDS"),
        "{prompt}"
    );
    for c in "1200 30".chars() {
        app.handle_key(key(c), &state);
    }
    app.handle_key(KeyEvent::new(KeyCode::Enter, KeyModifiers::NONE), &state);
    // The engine's first step: a rate event flagged `ramping`.
    rate_event(
        &mut state,
        10_500,
        "messages",
        620,
        &[("ramping", Value::Bool(true))],
    );
    app.observe(&state);
    let screen = capture::text(&app, &state, W, H);
    let row = messages_row(&screen);
    assert!(row.contains("ramping → 1200 0:30"), "{row}");

    // A ramp the engine reports (`ramp_target`, `ramp_ends_in_ms`) shows without the monitor
    // having started it.
    rate_event(
        &mut state,
        10_600,
        "login",
        130,
        &[
            ("ramping", Value::Bool(true)),
            ("ramp_target", Value::Int(300)),
            ("ramp_ends_in_ms", Value::Int(9_500)),
        ],
    );
    app.observe(&state);
    let screen = capture::text(&app, &state, W, H);
    let login = screen
        .lines()
        .find(|l| l.contains(" login "))
        .expect("login row");
    assert!(login.contains("ramping → 300 0:10"), "{login}");

    // A new rate replaces the ramp, and says so.
    app.handle_key(key('r'), &state);
    app.handle_key(key('0'), &state);
    app.handle_key(KeyEvent::new(KeyCode::Enter, KeyModifiers::NONE), &state);
    assert_eq!(
        app.notice(),
        Some("set messages rate to 0: replaces the running ramp")
    );
    rate_event(
        &mut state,
        11_000,
        "messages",
        0,
        &[("ramping", Value::Bool(false))],
    );
    app.observe(&state);
    let screen = capture::text(&app, &state, W, H);
    assert!(messages_row(&screen).contains(" closed "), "{screen}");

    // `c` cancels a ramp; `r infinity` lifts the limit.
    app.handle_key(key('c'), &state);
    app.handle_key(key('r'), &state);
    for c in "infinity".chars() {
        app.handle_key(key(c), &state);
    }
    app.handle_key(KeyEvent::new(KeyCode::Enter, KeyModifiers::NONE), &state);
    let sent = sink.sent();
    assert_eq!(
        sent[sent.len() - 2..],
        [
            OperatorCommand::CancelRamp {
                throttle: "messages".into()
            },
            OperatorCommand::SetUnlimited {
                throttle: "messages".into()
            },
        ]
    );
    app.on_outcome(Outcome::Finished);
    assert!(app.finished);
}

#[test]
fn the_final_summary_reads_like_a_report() {
    use rookery::tui::summary::FinalSummary;
    let state = scenario();
    let text = FinalSummary::new(&state, "run finished")
        .section("thresholds", vec!["p99 < 250ms: ok".into()])
        .to_string();
    let lines: Vec<&str> = text.lines().collect();
    assert!(
        lines[0].starts_with("rookery: run finished after 0:10 — 505 events"),
        "{text}"
    );
    assert!(
        text.contains("users       30 added, 0 removed, 30 started, 1 failed, 27 still running"),
        "{text}"
    );
    assert!(text.contains("nodes       3 (0 down)"), "{text}");
    let messages = lines
        .iter()
        .find(|l| l.contains(" messages "))
        .expect("a throttle line");
    assert!(messages.contains("600/1m"), "{messages}");
    assert!(
        lines
            .iter()
            .any(|l| l.contains(" amoc.scenario.start ") && l.ends_with("   1")),
        "latency per span with its exceptions:\n{text}"
    );
    assert!(
        text.contains("warnings    1 (0 handler failures)"),
        "{text}"
    );
    assert_eq!(lines.last(), Some(&"  thresholds  p99 < 250ms: ok"));
}
