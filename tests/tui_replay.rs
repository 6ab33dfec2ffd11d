//! The monitor on a replay of a real Amoc log (`assets/logs/amoc-sample.jsonl`): the screen
//! after the whole log, and the replay keys (pause, seek, speed) on the replay's clock.

mod tui_support;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use rookery::eventlog::{ReadOptions, Replay, Speed};
use rookery::monitor::MonitorState;
use rookery::tui::ReplayCtl;
use rookery::tui::capture;
use rookery::tui::replay::ReplayFeed;
use tui_support::*;

fn sample() -> Vec<PathBuf> {
    vec![PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("assets/logs/amoc-sample.jsonl")]
}

fn open(speed: Speed, now: Instant) -> ReplayFeed {
    ReplayFeed::new(Replay::open(&sample(), ReadOptions::default(), speed, now).expect("open"))
}

/// The monitor's replay of `log` at full speed, its reading warnings applied as events.
fn with_warnings(log: PathBuf, now: Instant) -> ReplayFeed {
    ReplayFeed::new(
        Replay::open(&[log], ReadOptions::default(), Speed::Max, now)
            .expect("open")
            .with_warning_events(),
    )
}

#[test]
fn whole_amoc_sample_on_screen() {
    let now = Instant::now();
    let mut feed = open(Speed::Max, now);
    let mut state = MonitorState::new();
    while !feed.finished() {
        feed.pump_at(&mut state, now);
    }
    assert_eq!(state.events(), 274);
    let mut app = replay_app();
    app.replay_status = Some(feed.status());
    app.observe(&state);
    let screen = capture::text(&app, &state, W, H);
    insta::assert_snapshot!("amoc_sample_replay", screen);
    assert!(screen.contains("REPLAY end"));
    // Figures from amoc-sample.truth.json.
    let row = |name: &str| {
        screen
            .lines()
            .find(|l| l.contains(&format!(" {name} ")) && l.contains('/'))
            .unwrap_or_else(|| panic!("{name} row"))
            .to_owned()
    };
    assert!(row("login").contains("      3 /1s"), "{}", row("login"));
    assert!(row("post").contains("   2400 /1m"), "{}", row("post"));
    assert!(
        row("user_rate").contains("   6000 /1m"),
        "{}",
        row("user_rate")
    );
    assert!(
        screen.contains("running 2  added 18"),
        "users from the truth file"
    );
    assert!(screen.contains("removed 5  failed 2"));
    assert!(
        screen.contains("rooms                 18        4/4/0/2    3.6        2 stopped"),
        "coordinator adds, executes by kind, timeouts"
    );
    assert!(screen.contains("AMOC_POSTS_PER_USER"), "config warning");
}

#[test]
fn pause_seek_and_speed_keys() {
    let t0 = Instant::now();
    let mut feed = open(Speed::Factor(1.0), t0);
    let mut state = MonitorState::new();
    feed.control_at(ReplayCtl::TogglePause, &mut state, t0)
        .expect("pause");
    assert_eq!(feed.status(), "REPLAY 1x paused");
    assert_eq!(
        feed.pump_at(&mut state, t0 + Duration::from_secs(30)),
        0,
        "paused"
    );

    feed.control_at(ReplayCtl::Seek(10), &mut state, t0)
        .expect("seek forward");
    let at_10 = state.events();
    assert!(
        state.last_t_us() <= 10_000_000 && at_10 > 100,
        "{at_10} events by 10 s"
    );
    feed.control_at(ReplayCtl::Seek(-10), &mut state, t0)
        .expect("seek back");
    assert!(state.events() < at_10, "rebuilt from the start");
    assert!(state.last_t_us() <= 1_000);

    feed.control_at(ReplayCtl::SpeedUp, &mut state, t0)
        .expect("faster");
    feed.control_at(ReplayCtl::SpeedUp, &mut state, t0)
        .expect("faster");
    assert_eq!(feed.status(), "REPLAY 4x paused");
    feed.control_at(ReplayCtl::SpeedDown, &mut state, t0)
        .expect("slower");
    feed.control_at(ReplayCtl::TogglePause, &mut state, t0)
        .expect("resume");
    assert_eq!(feed.status(), "REPLAY 2x");
    // 2x for 10 s of wall time covers the 12.4 s log.
    feed.pump_at(&mut state, t0 + Duration::from_secs(10));
    feed.pump_at(&mut state, t0 + Duration::from_secs(10));
    assert!(feed.finished());
    assert_eq!(state.events(), 274);
}

#[test]
fn position_of_total_and_reading_warnings_reach_the_screen() {
    use rookery::tui::Feed;
    let now = Instant::now();
    let mut feed = open(Speed::Factor(1.0), now);
    let total = feed
        .wait_for_total()
        .expect("length known once the scan ended");
    assert!((12_000_000..13_000_000).contains(&total), "{total}");
    let mut state = MonitorState::new();
    feed.pump_at(&mut state, now + Duration::from_secs(5));
    assert_eq!(
        Feed::status(&feed).as_deref(),
        Some("REPLAY 1x 0:04/0:12"),
        "position / total"
    );

    // A log with a bad line (skipped) and a truncated tail.
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("bad.jsonl");
    std::fs::write(
        &path,
        "{\"rookery_log\":1,\"started_at\":\"2026-11-21T10:00:00Z\",\"source\":\"test\"}\n\
         {\"t_us\":1000,\"event\":[\"amoc\",\"throttle\",\"request\"],\"measurements\":{\"count\":1},\"metadata\":{\"name\":\"t\"}}\n\
         this is not json\n\
         {\"t_us\":2000,\"event\":[\"amoc\",\"throttle\",\"request\"],\"measurements\":{\"count\":1},\"metadata\":{\"name\":\"t\"}}\n\
         {\"t_us\":3000,\"event\":[\"amo",
    )
    .expect("write log");
    let replay = Replay::open(
        std::slice::from_ref(&path),
        ReadOptions {
            skip_bad_lines: true,
        },
        Speed::Max,
        now,
    )
    .expect("open")
    .with_warning_events();
    let mut feed = ReplayFeed::new(replay);
    let mut state = MonitorState::new();
    while !feed.finished() {
        feed.pump_at(&mut state, now);
    }
    let mut app = replay_app();
    app.observe(&state);
    app.log_focused = true;
    let screen = capture::text(&app, &state, W, H);
    let pane: String = screen
        .lines()
        .skip_while(|l| !l.contains("& engine log"))
        .collect::<Vec<_>>()
        .join("\n");
    assert!(
        pane.contains(":3"),
        "the bad line is named with its line number: {pane}"
    );
    assert!(
        pane.contains("truncated"),
        "the truncated tail is told: {pane}"
    );
    assert_eq!(feed.wait_for_total(), Some(2000));
}

#[test]
fn seeking_back_after_the_end_rewinds_from_the_last_event() {
    let t0 = Instant::now();
    let mut feed = open(Speed::Factor(1.0), t0);
    let mut state = MonitorState::new();
    // The 12.4 s log at 1x: over by 20 s; the key comes 40 s later, as a person would press it.
    feed.pump_at(&mut state, t0 + Duration::from_secs(20));
    feed.pump_at(&mut state, t0 + Duration::from_secs(20));
    assert!(feed.finished());
    let end = state.last_t_us();
    assert!(end > 12_000_000, "{end}");
    feed.control_at(
        ReplayCtl::Seek(-10),
        &mut state,
        t0 + Duration::from_secs(60),
    )
    .expect("seek back");
    assert!(!feed.finished(), "{}", feed.status());
    assert!(
        state.last_t_us() <= end - 10_000_000 && state.events() < 274,
        "10 s before the last event, not 10 s before the wall clock: at {} µs, {} events",
        state.last_t_us(),
        state.events()
    );
}

#[test]
fn a_reading_error_is_told_whole_in_the_log_pane() {
    let dir = tempfile::tempdir().expect("tempdir");
    let log = dir.path().join("bad.jsonl");
    std::fs::write(
        &log,
        "{\"rookery_log\":1,\"started_at\":\"2026-11-21T10:00:00Z\",\"source\":\"test\"}\n\
         {\"t_us\":5,\"node\":\"n1\",\"event\":[\"a\",\"b\"],\"measurements\":{},\"metadata\":{}}\n\
         {\"t_us\":9,\"node\":\"n1\",\"event\":[\"a\"\n\
         {\"t_us\":12,\"node\":\"n1\",\"event\":[\"a\",\"b\"],\"measurements\":{},\"metadata\":{}}\n",
    )
    .expect("write the log");
    let t0 = Instant::now();
    let mut feed = with_warnings(log, t0);
    let mut state = MonitorState::new();
    feed.pump_at(&mut state, t0);
    feed.pump_at(&mut state, t0);
    assert!(feed.error().is_some_and(|e| e.contains("bad.jsonl:3")));
    // The status bar has room for the mode only; the reason is in the log pane, whole.
    assert_eq!(feed.status(), "REPLAY error (see the log pane)");
    let mut app = replay_app();
    app.replay_status = Some(feed.status());
    app.observe(&state);
    let screen = capture::text(&app, &state, 160, 40);
    assert!(
        screen.contains("REPLAY error (see the log pane)"),
        "{screen}"
    );
    assert!(
        screen.contains("error")
            && screen.contains("the replay stopped: ")
            && screen.contains("bad.jsonl:3"),
        "{screen}"
    );
}

#[test]
fn junk_after_a_gzip_log_is_told_after_every_event_is_replayed() {
    let dir = tempfile::tempdir().expect("tempdir");
    let log = dir.path().join("junk.jsonl.gz");
    let gz = std::fs::read(
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("assets/logs/amoc-sample.jsonl.gz"),
    )
    .expect("the sample's gzip");
    std::fs::write(&log, [gz, b"not gzip\n".to_vec()].concat()).expect("write the log");
    let t0 = Instant::now();
    let mut feed = with_warnings(log, t0);
    let mut state = MonitorState::new();
    while !feed.finished() {
        feed.pump_at(&mut state, t0);
    }
    assert_eq!(state.events() - 1, 274, "every event, and the error's");
    assert!(
        feed.error()
            .is_some_and(|e| e.contains("junk.jsonl.gz: after line 275")),
        "{:?}",
        feed.error()
    );
    let told = state.warnings().back().expect("the error in the log pane");
    assert_eq!(told.level, "error");
    assert!(
        told.msg
            .starts_with("every event was replayed, then bad input: "),
        "{}",
        told.msg
    );
}
