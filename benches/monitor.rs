//! The engine with the monitor attached, against the same run headless (issue 8: within 10%).
//!
//! An emitter thread sends engine events (`Emitter::emit`, as the engine does) paced at
//! 1,000,000 per second, while a consumer thread does what each mode does with the live feed:
//! headless drains it into a `MonitorState` every 10 ms (as `rookery run --headless` does); the monitor drains it and draws the
//! whole screen (200×60) 30 times a second. The measurement is the emitter thread's own CPU
//! time per event (`CLOCK_THREAD_CPUTIME_ID`), so it shows what the monitor costs the engine
//! and not how busy the machine is. Every run checks that the feed dropped nothing.
//!
//! `cargo bench --bench monitor`

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use rookery::engine::events::{Emitter, THROTTLE_EXECUTE, THROTTLE_REQUEST};
use rookery::fields;
use rookery::monitor::{LiveFeed, MonitorState};
use rookery::telemetry::Telemetry;
use rookery::tui::theme::builtin_themes;
use rookery::tui::{App, AppOptions, Keymap, RecordingSink, view};

const RATE_PER_MS: u64 = 1_000;

#[derive(Clone, Copy, PartialEq)]
enum Mode {
    Headless,
    Monitor,
}

fn thread_cpu() -> Duration {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: a valid timespec; the clock exists on Linux.
    unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

/// The consumer: what the headless run or the monitor does with the feed until `stop`.
fn consumer(feed: Arc<LiveFeed>, mode: Mode, stop: Arc<AtomicBool>) -> thread::JoinHandle<u64> {
    thread::spawn(move || {
        let mut state = MonitorState::new();
        let mut ui = (mode == Mode::Monitor).then(|| {
            let opts = AppOptions {
                keymap: Keymap::defaults().expect("keymap"),
                themes: builtin_themes().expect("themes"),
                colour: true,
                users_step: 10,
            };
            let app = App::new(opts, Some(Arc::new(RecordingSink::default())));
            let terminal = Terminal::new(TestBackend::new(200, 60)).expect("terminal");
            (app, terminal)
        });
        let period = match mode {
            Mode::Headless => Duration::from_millis(10),
            Mode::Monitor => Duration::from_millis(33),
        };
        let mut frames = 0;
        while !stop.load(Ordering::Relaxed) {
            thread::sleep(period);
            feed.drain_into(&mut state);
            if let Some((app, terminal)) = ui.as_mut() {
                app.observe(&state);
                terminal.draw(|f| view::draw(f, app, &state)).expect("draw");
                frames += 1;
            }
        }
        feed.drain_into(&mut state);
        frames
    })
}

/// Emits `events` events paced at 1M/s; returns the emitter thread's CPU time.
fn emit_paced(emitter: &Emitter, events: u64) -> Duration {
    let cpu0 = thread_cpu();
    let start = Instant::now();
    let m = fields! {"count" => 1};
    let mut sent = 0;
    let mut ms = 0;
    while sent < events {
        let batch = RATE_PER_MS.min(events - sent);
        for i in 0..batch {
            let name = if i % 2 == 0 {
                &THROTTLE_REQUEST
            } else {
                &THROTTLE_EXECUTE
            };
            emitter.emit(name, &m, &fields! {"name" => "messages"});
        }
        sent += batch;
        ms += 1;
        // Wait for the next millisecond without burning CPU the consumer could use.
        let next = start + Duration::from_millis(ms);
        let now = Instant::now();
        if next > now {
            thread::sleep(next - now);
        }
    }
    thread_cpu() - cpu0
}

fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("engine_events_at_1M_per_s");
    g.sample_size(10);
    for (label, mode) in [
        ("headless", Mode::Headless),
        ("monitor_200x60_30fps", Mode::Monitor),
    ] {
        let telemetry = Telemetry::new();
        let feed = Arc::new(LiveFeed::attach_default(&telemetry).expect("feed"));
        let stop = Arc::new(AtomicBool::new(false));
        let handle = consumer(feed.clone(), mode, stop.clone());
        let emitter = Emitter::new(telemetry.clone(), "node1");
        g.bench_function(label, |b| {
            b.iter_custom(|iters| emit_paced(&emitter, iters))
        });
        stop.store(true, Ordering::Relaxed);
        let frames = handle.join().expect("consumer");
        assert_eq!(feed.dropped(), 0, "{label}: the feed dropped events");
        if mode == Mode::Monitor {
            assert!(frames > 0, "the monitor drew frames");
        }
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
