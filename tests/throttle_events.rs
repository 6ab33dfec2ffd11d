//! The `[amoc, throttle, *]` events, shaped as in the seed catalogue.

use std::time::Duration;

use rookery::engine::events::{Emitter, THROTTLE_PROCESS, THROTTLE_RATE};
use rookery::engine::throttle::{
    GradualConfig, GradualRates, RampPlan, Rate, ThrottleConfig, ThrottleOptions, Throttles,
};
use rookery::telemetry::testing::{EventCollector, Received};
use rookery::telemetry::{Fields, Telemetry, Value};
use tokio::time::{sleep, timeout};

fn setup(opts: ThrottleOptions) -> (Throttles, EventCollector) {
    let tel = Telemetry::new();
    let ev = EventCollector::attach_prefix(&tel, &["amoc", "throttle"]);
    (
        Throttles::with_options(Emitter::new(tel, "master"), opts),
        ev,
    )
}

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn names(evs: &[Received]) -> Vec<String> {
    evs.iter().map(|e| e.name.dotted().to_string()).collect()
}

#[tokio::test(start_paused = true)]
async fn start_emits_init_then_rate_once() {
    let (t, ev) = setup(ThrottleOptions::default());
    t.start("msgs", 600.into()).expect("start");
    t.start("msgs", 600.into()).expect("already started");
    let got = ev.drain();
    assert_eq!(names(&got), ["amoc.throttle.init", "amoc.throttle.rate"]);
    assert_eq!(got[0].measurements.get_i64("count"), Some(1));
    assert_eq!(got[0].metadata.get_str("name"), Some("msgs"));
    assert_eq!(got[0].metadata.get_str("node"), Some("master"));
    assert!(got[0].metadata.has("monotonic_time"));
    assert_eq!(got[1].measurements.get_i64("rate"), Some(600));
    assert_eq!(got[1].measurements.get_i64("interval"), Some(60_000));
    assert_eq!(got[1].metadata.get_str("name"), Some("msgs"));
}

#[tokio::test(start_paused = true)]
async fn infinity_is_the_string_infinity() {
    let (t, ev) = setup(ThrottleOptions::default());
    t.start("inf", ThrottleConfig::per_minute(Rate::Infinity))
        .expect("start");
    let rate = ev.drain().pop().expect("rate event");
    assert_eq!(rate.name, THROTTLE_RATE.get());
    assert_eq!(rate.measurements.get_str("rate"), Some("infinity"));
}

#[tokio::test(start_paused = true)]
async fn request_and_execute_count_one_each() {
    let (t, ev) = setup(ThrottleOptions::default());
    t.start("open", ThrottleConfig::per_minute(Rate::Infinity))
        .expect("start");
    t.start("shut", ThrottleConfig::per_minute(Rate::Finite(0)))
        .expect("start");
    ev.drain();
    t.wait("open").await.expect("open");
    t.wait("open").await.expect("open");
    assert!(timeout(ms(10), t.wait("shut")).await.is_err());
    let got = ev.drain();
    assert_eq!(
        names(&got),
        [
            "amoc.throttle.request",
            "amoc.throttle.execute",
            "amoc.throttle.request",
            "amoc.throttle.execute",
            "amoc.throttle.request"
        ]
    );
    for e in &got {
        assert_eq!(e.measurements.get_i64("count"), Some(1));
    }
    assert_eq!(got[4].metadata.get_str("name"), Some("shut"));
}

/// Changed by issue 13: pause and resume now emit a `rate` event too (with `paused`), so a
/// monitor can show the state without reading log messages; no-ops still emit nothing.
#[tokio::test(start_paused = true)]
async fn rate_only_on_effective_changes() {
    let (t, ev) = setup(ThrottleOptions::default());
    t.start("c", 100.into()).expect("start");
    ev.drain();
    t.change_rate("c", 100.into()).expect("same");
    t.resume("c").expect("resume while running: a no-op");
    let rates = |evs: Vec<Received>| {
        evs.into_iter()
            .filter(|e| e.name == THROTTLE_RATE.get())
            .map(|e| (e.measurements.get_i64("rate"), flag(&e, "paused")))
            .collect::<Vec<_>>()
    };
    assert_eq!(rates(ev.drain()), []);
    t.pause("c").expect("pause");
    t.pause("c").expect("pause again: a no-op");
    t.resume("c").expect("resume");
    assert_eq!(
        rates(ev.drain()),
        [(Some(100), Some(true)), (Some(100), Some(false))]
    );
    t.change_rate("c", 200.into()).expect("change");
    assert_eq!(rates(ev.drain()), [(Some(200), Some(false))]);
}

fn flag(e: &Received, key: &str) -> Option<bool> {
    match e.metadata.lookup(key) {
        Some(Value::Bool(b)) => Some(*b),
        _ => None,
    }
}

/// Issue 13 item 6: `init`, `rate` and `process` events carry the throttle's state as
/// metadata (`paused`, `ramping`, `ramp_target`, `ramp_ends_in_ms`), Amoc's keys unchanged.
#[tokio::test(start_paused = true)]
async fn events_carry_the_state_as_metadata() {
    let (t, ev) = setup(ThrottleOptions::default());
    t.start("s", 600.into()).expect("start");
    let got = ev.drain();
    for e in &got {
        assert_eq!(
            (flag(e, "paused"), flag(e, "ramping")),
            (Some(false), Some(false)),
            "{e:?}"
        );
        assert!(!e.metadata.has("ramp_target"));
        assert!(!e.metadata.has("overdue"), "only catch-up throttles owe");
    }
    let g = GradualConfig {
        throttle: GradualRates::Rates {
            from: 600,
            to: 1200,
            interval_ms: 60_000,
        },
        plan: RampPlan::Steps {
            step_interval_ms: 1000,
            step_count: 6,
        },
    };
    t.change_rate_gradually("s", g).expect("ramp");
    sleep(ms(2500)).await;
    let steps: Vec<_> = ev
        .drain()
        .into_iter()
        .filter(|e| e.name == THROTTLE_RATE.get())
        .map(|e| {
            (
                e.measurements.get_i64("rate"),
                flag(&e, "ramping"),
                e.metadata.get_i64("ramp_target"),
                e.metadata.get_i64("ramp_ends_in_ms"),
            )
        })
        .collect();
    assert_eq!(
        steps,
        [
            (Some(600), Some(true), Some(1200), Some(6000)),
            (Some(700), Some(true), Some(1200), Some(5000)),
            (Some(800), Some(true), Some(1200), Some(4000)),
        ]
    );
    // Cancelling says `ramping: false` on a rate event, at the rate in force.
    assert_eq!(t.cancel_ramp("s"), Ok(true));
    let got = ev.drain();
    let rate = got
        .iter()
        .find(|e| e.name == THROTTLE_RATE.get())
        .expect("a rate event on cancel");
    assert_eq!(
        (rate.measurements.get_i64("rate"), flag(rate, "ramping")),
        (Some(800), Some(false))
    );
    let log = got
        .iter()
        .find(|e| e.name == THROTTLE_PROCESS.get())
        .expect("a process event on cancel");
    assert_eq!(
        log.metadata.get_str("msg"),
        Some("gradual rate change cancelled")
    );
    assert_eq!(log.metadata.get_i64("rate"), Some(800));
    // Pausing says so on both the rate and the process event.
    t.pause("s").expect("pause");
    let got = ev.drain();
    assert_eq!(got.len(), 2);
    assert!(got.iter().all(|e| flag(e, "paused") == Some(true)));
}

/// Issue 12 item 2: a new rate replaces a running ramp, and the log says so.
#[tokio::test(start_paused = true)]
async fn a_replaced_ramp_is_reported() {
    let (t, ev) = setup(ThrottleOptions::default());
    t.start("r", 100.into()).expect("start");
    let g = GradualConfig {
        throttle: GradualRates::per_minute(100, 200),
        plan: RampPlan::Duration {
            duration_ms: 60_000,
        },
    };
    t.change_rate_gradually("r", g).expect("ramp");
    ev.drain();
    t.change_rate("r", 50.into()).expect("replaces the ramp");
    let got = ev.drain();
    let msgs: Vec<_> = got
        .iter()
        .filter_map(|e| e.metadata.get_str("msg"))
        .collect();
    assert_eq!(msgs, ["gradual rate change replaced by a new rate"]);
    let rate = got.last().expect("rate");
    assert_eq!(
        (rate.measurements.get_i64("rate"), flag(rate, "ramping")),
        (Some(50), Some(false))
    );
    sleep(ms(1000)).await;
    assert!(
        ev.drain().iter().all(|e| e.name != THROTTLE_RATE.get()),
        "no step of the old ramp follows"
    );
}

#[tokio::test(start_paused = true)]
async fn every_ramp_step_and_the_end_are_reported() {
    let (t, ev) = setup(ThrottleOptions::default());
    t.start("r", 100.into()).expect("start");
    ev.drain();
    let g = GradualConfig {
        throttle: GradualRates::Rates {
            from: 100,
            to: 200,
            interval_ms: 1000,
        },
        plan: RampPlan::Steps {
            step_interval_ms: 100,
            step_count: 4,
        },
    };
    t.change_rate_gradually("r", g).expect("ramp");
    sleep(ms(450)).await;
    let got = ev.drain();
    let rates: Vec<_> = got
        .iter()
        .filter(|e| e.name == THROTTLE_RATE.get())
        .map(|e| {
            (
                e.measurements.get_i64("rate"),
                e.measurements.get_i64("interval"),
            )
        })
        .collect();
    let want: Vec<_> = [100, 125, 150, 175, 200]
        .into_iter()
        .map(|r| (Some(r), Some(1000)))
        .collect();
    assert_eq!(rates, want);
    let end = got.last().expect("ramp end");
    assert_eq!(end.name, THROTTLE_PROCESS.get());
    assert_eq!(end.measurements.get_i64("info"), Some(1));
    assert_eq!(end.metadata.get_str("log_level"), Some("info"));
    assert_eq!(
        end.metadata.get_str("msg"),
        Some("gradual rate change finished")
    );
    assert_eq!(end.metadata.get_i64("rate"), Some(200));
}

#[tokio::test(start_paused = true)]
async fn a_growing_queue_warns_at_the_threshold_and_each_doubling() {
    let opts = ThrottleOptions {
        backlog_warning: 10,
        ..ThrottleOptions::default()
    };
    let (t, ev) = setup(opts);
    t.start("q", ThrottleConfig::per_minute(Rate::Finite(0)))
        .expect("start");
    let mut tickets = Vec::new();
    for _ in 0..45 {
        tickets.push(t.ticket("q", false).expect("queued"));
    }
    let warnings: Vec<_> = ev
        .drain()
        .into_iter()
        .filter(|e| e.name == THROTTLE_PROCESS.get())
        .collect();
    let backlogs: Vec<_> = warnings
        .iter()
        .map(|e| e.metadata.get_i64("backlog"))
        .collect();
    assert_eq!(backlogs, [Some(10), Some(20), Some(40)]);
    let w = &warnings[0];
    assert_eq!(w.measurements.get_i64("warning"), Some(1));
    assert_eq!(w.metadata.get_str("log_level"), Some("warning"));
    assert_eq!(w.metadata.get_i64("rate"), Some(0));
    assert_eq!(w.metadata.get_i64("interval"), Some(60_000));
    assert_eq!(w.metadata.get_str("name"), Some("q"));
}

#[tokio::test(start_paused = true)]
async fn an_idle_throttle_says_so_once() {
    let opts = ThrottleOptions {
        idle_after: Duration::from_secs(1),
        ..ThrottleOptions::default()
    };
    let (t, ev) = setup(opts);
    t.start("idle", 10.into()).expect("start");
    t.wait("idle").await.expect("one request");
    sleep(ms(1500)).await;
    let idle = |evs: Vec<Received>| {
        evs.into_iter()
            .filter(|e| e.metadata.get_str("msg") == Some("throttle is idle"))
            .count()
    };
    assert_eq!(
        idle(ev.drain()),
        0,
        "a request came within the first second"
    );
    sleep(ms(1000)).await;
    assert_eq!(idle(ev.drain()), 1);
    sleep(ms(5000)).await;
    assert_eq!(idle(ev.drain()), 0, "once per idle stretch");
    t.wait("idle").await.expect("activity");
    sleep(ms(3000)).await;
    assert_eq!(idle(ev.drain()), 1, "idle again after new activity");
}
