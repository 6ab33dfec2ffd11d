//! The monitor's loop on a `TestBackend`, under virtual time: drains once per frame, redraws
//! only when something changed (new events at most 10 times a second), follows resizes, and shows a rate change once
//! the engine's rate event comes back through the feed.

mod tui_support;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use crossterm::event::{Event, KeyCode, KeyEvent, KeyModifiers};
use futures::channel::mpsc::{UnboundedSender, unbounded};
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use rookery::monitor::{LoggedEvent, MonitorState};
use rookery::telemetry::{EventName, Key, Value};
use rookery::tui::capture::buffer_text;
use rookery::tui::{App, CommandSink, Feed, OperatorCommand, run_loop};
use tokio::time::sleep;
use tui_support::*;

type Keys = UnboundedSender<std::io::Result<Event>>;

fn press(tx: &Keys, c: char) {
    let ev = Event::Key(KeyEvent::new(KeyCode::Char(c), KeyModifiers::NONE));
    tx.unbounded_send(Ok(ev)).expect("loop is listening");
}

/// A feed that applies a queue shared with a fake engine, and optionally `per_tick` synthetic
/// events on every tick (a busy engine).
#[derive(Clone, Default)]
struct QueueFeed {
    queue: Arc<Mutex<Vec<LoggedEvent>>>,
    per_tick: u64,
    t_us: Arc<Mutex<u64>>,
}

impl Feed for QueueFeed {
    fn pump(&mut self, state: &mut MonitorState, wall: Duration) -> usize {
        let mut t = self.t_us.lock().expect("lock");
        *t += wall.as_micros() as u64;
        let mut n = 0;
        for ev in self.queue.lock().expect("lock").drain(..) {
            state.apply(&ev.as_ref());
            n += 1;
        }
        let name = EventName::new(&["amoc", "throttle", "request"]).expect("name");
        let md = vec![(Key::new("name"), Value::from("busy"))];
        let m = vec![(Key::new("count"), Value::Int(1))];
        for _ in 0..self.per_tick {
            let ev = LoggedEvent {
                t_us: *t,
                node: None,
                name: name.clone(),
                measurements: m.clone(),
                metadata: md.clone(),
            };
            state.apply(&ev.as_ref());
            n += 1;
        }
        n
    }
}

/// A fake engine: confirms SetRate with the rate event a real engine emits.
struct ConfirmingSink(QueueFeed);

impl CommandSink for ConfirmingSink {
    fn send(&self, command: OperatorCommand) -> Result<(), String> {
        if let OperatorCommand::SetRate { throttle, rate, .. } = command {
            let t = *self.0.t_us.lock().expect("lock");
            self.0.queue.lock().expect("lock").push(LoggedEvent {
                t_us: t,
                node: Some(Key::new("node1")),
                name: EventName::new(&["amoc", "throttle", "rate"]).expect("name"),
                measurements: vec![
                    (Key::new("rate"), Value::from(rate)),
                    (Key::new("interval"), Value::Int(60_000)),
                ],
                metadata: vec![(Key::new("name"), Value::from(throttle))],
            });
        }
        Ok(())
    }
}

#[tokio::test(start_paused = true)]
async fn idle_screen_is_not_redrawn_every_frame() {
    let mut terminal = Terminal::new(TestBackend::new(W, H)).expect("terminal");
    let (mut app, _) = live_app();
    let mut feed = QueueFeed::default();
    let (tx, rx) = unbounded();
    let (out, ()) = tokio::join!(
        run_loop(&mut terminal, &mut app, &mut feed, rx, 30),
        async {
            sleep(Duration::from_millis(3_010)).await;
            press(&tx, 'q');
        }
    );
    let out = out.expect("loop ends on q");
    assert!(out.drains >= 90, "ticks at 30 fps: {}", out.drains);
    assert!(
        (1..=5).contains(&out.frames),
        "3 idle seconds: the first frame plus one refresh a second, got {}",
        out.frames
    );
}

#[tokio::test(start_paused = true)]
async fn busy_feed_is_drained_every_tick_and_drawn_at_data_fps() {
    let mut terminal = Terminal::new(TestBackend::new(W, H)).expect("terminal");
    let (mut app, _) = live_app();
    let mut feed = QueueFeed {
        per_tick: 1_000,
        ..QueueFeed::default()
    };
    let (tx, rx) = unbounded();
    let (out, ()) = tokio::join!(
        run_loop(&mut terminal, &mut app, &mut feed, rx, 30),
        async {
            sleep(Duration::from_millis(2_000)).await;
            press(&tx, 'q');
        }
    );
    let out = out.expect("loop ends on q");
    assert_eq!(
        out.state.events(),
        out.drains * 1_000,
        "1,000 events per drain"
    );
    assert!(
        (58..=62).contains(&out.drains),
        "a drain every tick at 30 fps for 2 s: {}",
        out.drains
    );
    // New events alone redraw at most DATA_FPS (10) times a second: a frame is the monitor's
    // main cost on a busy run (issue 17).
    assert!(
        (19..=21).contains(&out.frames),
        "10 frames a second for 2 s while events flow: {}",
        out.frames
    );
}

#[tokio::test(start_paused = true)]
async fn rate_up_through_the_loop_shows_the_confirmed_rate() {
    let mut terminal = Terminal::new(TestBackend::new(W, H)).expect("terminal");
    let mut feed = QueueFeed::default();
    // Seed the throttle as the engine would announce it.
    ConfirmingSink(feed.clone())
        .send(OperatorCommand::SetRate {
            throttle: "messages".into(),
            rate: 600,
            interval_ms: None,
        })
        .expect("seed");
    let sink = Arc::new(ConfirmingSink(feed.clone()));
    let mut app = App::new(options(), Some(sink));
    let (tx, rx) = unbounded();
    let (out, ()) = tokio::join!(
        run_loop(&mut terminal, &mut app, &mut feed, rx, 30),
        async {
            sleep(Duration::from_millis(200)).await;
            press(&tx, '+');
            sleep(Duration::from_millis(200)).await;
            press(&tx, 'q');
        }
    );
    let out = out.expect("loop ends on q");
    let text = buffer_text(terminal.backend().buffer());
    assert!(
        text.contains("▶ messages             660 /1m"),
        "confirmed rate drawn:\n{text}"
    );
    assert!(!text.contains('→'), "nothing pending once confirmed");
    assert_eq!(out.state.throttle_states()[0].rate_events, 2);
}

async fn idle_frames(resize_at: Option<Duration>) -> u64 {
    let mut terminal = Terminal::new(TestBackend::new(W, H)).expect("terminal");
    let (mut app, _) = live_app();
    let mut feed = QueueFeed::default();
    let (tx, rx) = unbounded();
    let (out, ()) = tokio::join!(
        run_loop(&mut terminal, &mut app, &mut feed, rx, 30),
        async {
            if let Some(at) = resize_at {
                sleep(at).await;
                tx.unbounded_send(Ok(Event::Resize(W, H))).expect("send");
                sleep(Duration::from_millis(2_600) - at).await;
            } else {
                sleep(Duration::from_millis(2_600)).await;
            }
            press(&tx, 'q');
        }
    );
    out.expect("loop ends on q").frames
}

#[tokio::test(start_paused = true)]
async fn a_resize_event_redraws_at_once() {
    // (The real-terminal resize, with the "too small" screen, is in tests/e2e/tmux_smoke.sh.)
    let idle = idle_frames(None).await;
    let resized = idle_frames(Some(Duration::from_millis(1_500))).await;
    assert_eq!(resized, idle + 1, "one extra frame for the resize");
}
