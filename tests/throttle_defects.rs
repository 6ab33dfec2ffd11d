//! One test per Amoc throttle defect fixed (reference §2.7, Q1–Q6), under virtual time.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use rookery::engine::events::{Emitter, THROTTLE_EXECUTE, THROTTLE_RATE};
use rookery::engine::throttle::{
    GradualConfig, GradualRates, RampPlan, Rate, StartOutcome, ThrottleConfig, ThrottleError,
    Throttles,
};
use rookery::telemetry::testing::EventCollector;
use rookery::telemetry::{Fields, Telemetry};
use tokio::time::{Instant, sleep, timeout};

fn throttles() -> (Throttles, Telemetry) {
    let tel = Telemetry::new();
    (Throttles::new(Emitter::new(tel.clone(), "master")), tel)
}

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn cfg(rate: u64, interval_ms: u64) -> ThrottleConfig {
    ThrottleConfig::new(Rate::Finite(rate), interval_ms)
}

/// Spawns `n` waiters and returns a counter of those released.
fn waiters(t: &Throttles, name: &'static str, n: usize) -> Arc<AtomicUsize> {
    let done = Arc::new(AtomicUsize::new(0));
    for _ in 0..n {
        let (t, done) = (t.clone(), done.clone());
        tokio::spawn(async move {
            if t.wait(name).await.is_ok() {
                done.fetch_add(1, Ordering::SeqCst);
            }
        });
    }
    done
}

/// Q1: interval 0 must limit parallelism to `rate` and keep releasing (Amoc released 1 in total).
#[tokio::test(start_paused = true)]
async fn q1_interval_zero_limits_parallelism_and_keeps_going() {
    let (t, _) = throttles();
    t.start("par", cfg(5, 0)).expect("start");
    let running = Arc::new(AtomicUsize::new(0));
    let peak = Arc::new(AtomicUsize::new(0));
    let t0 = Instant::now();
    let mut jobs = Vec::new();
    for _ in 0..20 {
        let (running, peak) = (running.clone(), peak.clone());
        jobs.push(
            t.spawn("par", async move {
                let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                peak.fetch_max(now, Ordering::SeqCst);
                sleep(ms(100)).await;
                running.fetch_sub(1, Ordering::SeqCst);
            })
            .expect("queued"),
        );
    }
    for j in jobs {
        assert_eq!(j.await.ok(), Some(Ok(())));
    }
    assert_eq!(
        peak.load(Ordering::SeqCst),
        5,
        "never more than rate at once"
    );
    // Four waves of five, back to back.
    assert_eq!(t0.elapsed(), ms(400));
    assert_eq!(t.info("par").expect("info").in_flight, 0);
}

/// Q1, the guard form: a place is held until the permit drops, and its drop releases the next.
#[tokio::test(start_paused = true)]
async fn q1_guard_holds_a_place_until_dropped() {
    let (t, _) = throttles();
    t.start("g", cfg(2, 0)).expect("start");
    let a = t.acquire("g").await.expect("first");
    let b = t.acquire("g").await.expect("second");
    assert!(a.is_counted() && b.is_counted());
    assert_eq!(t.info("g").expect("info").in_flight, 2);
    assert!(timeout(ms(1000), t.acquire("g")).await.is_err(), "full");
    let t2 = t.clone();
    let third = tokio::spawn(async move { t2.acquire("g").await.map(drop) });
    sleep(ms(1)).await;
    assert_eq!(t.info("g").expect("info").backlog, 1);
    drop(a);
    assert_eq!(
        timeout(ms(1), third).await.ok().and_then(|r| r.ok()),
        Some(Ok(()))
    );
    drop(b);
    assert_eq!(t.info("g").expect("info").in_flight, 0);
}

/// Changing a paced throttle to interval 0 counts the runs already holding permits.
#[tokio::test(start_paused = true)]
async fn change_to_interval_zero_counts_running_permits() {
    let (t, _) = throttles();
    t.start("cz", ThrottleConfig::per_minute(Rate::Infinity))
        .expect("start");
    let held = t.acquire("cz").await.expect("open");
    t.change_rate("cz", cfg(1, 0)).expect("to parallelism 1");
    assert!(
        timeout(ms(50), t.wait("cz")).await.is_err(),
        "the one place is taken"
    );
    drop(held);
    assert_eq!(timeout(ms(1), t.wait("cz")).await, Ok(Ok(())));
}

/// Q2/Q4: the first release comes at once, and a raised rate applies at once.
#[tokio::test(start_paused = true)]
async fn q2_a_raised_rate_takes_effect_at_once() {
    let (t, _) = throttles();
    t.start("up", cfg(60, 6000)).expect("start");
    let t0 = Instant::now();
    t.wait("up").await.expect("first");
    assert_eq!(
        t0.elapsed(),
        Duration::ZERO,
        "Amoc's first wait took ≈402 ms"
    );

    t.change_rate("up", cfg(10, 1000)).expect("10/s");
    let done = waiters(&t, "up", 200);
    sleep(ms(500)).await;
    let slow = done.load(Ordering::SeqCst);
    assert!((4..=6).contains(&slow), "10/s for 0.5 s: {slow}");
    t.change_rate("up", cfg(1000, 1000)).expect("1000/s");
    // The remaining ~195 go at 1000/s: done within 200 ms (Amoc: 47 of 200 in 2 s).
    sleep(ms(200)).await;
    assert_eq!(done.load(Ordering::SeqCst), 200);
}

/// Q2: lowering and raising never bursts above the new rate.
#[tokio::test(start_paused = true)]
async fn a_change_never_bursts() {
    let (t, tel) = throttles();
    let ev = EventCollector::attach(&tel, &[THROTTLE_EXECUTE.get()]);
    t.start("nb", cfg(1, 60_000)).expect("start");
    let done = waiters(&t, "nb", 50);
    sleep(ms(10)).await;
    assert_eq!(done.load(Ordering::SeqCst), 1);
    ev.drain();
    // Raised to 10/s at 10 ms: the last release (at 0) is younger than the new period, so the
    // next comes at 100 ms, then one per 100 ms.
    t.change_rate("nb", cfg(10, 1000)).expect("raise");
    sleep(ms(85)).await;
    assert_eq!(
        done.load(Ordering::SeqCst),
        1,
        "not before last + new period (100 ms)"
    );
    sleep(ms(1000)).await;
    assert_eq!(done.load(Ordering::SeqCst), 11);
}

/// Q3: a gradual ramp releases during the ramp, even when its steps are shorter than the
/// period between releases (Amoc released nothing then).
#[tokio::test(start_paused = true)]
async fn q3_a_ramp_releases_during_the_ramp() {
    let (t, _) = throttles();
    t.start("ramp", cfg(1, 1000)).expect("start");
    t.wait("ramp").await.expect("first");
    let done = waiters(&t, "ramp", 100);
    // From 3/s to 4/s (periods 333 ms → 250 ms) in steps of 100 ms over 1.5 s.
    let g = GradualConfig {
        throttle: GradualRates::Rates {
            from: 3,
            to: 4,
            interval_ms: 1000,
        },
        plan: RampPlan::Steps {
            step_interval_ms: 100,
            step_count: 15,
        },
    };
    t.change_rate_gradually("ramp", g).expect("ramp");
    sleep(ms(1499)).await;
    assert!(t.info("ramp").expect("info").ramping());
    let during = done.load(Ordering::SeqCst);
    // ≈ 1.5 s at 3–4 per second.
    assert!(
        (4..=6).contains(&during),
        "released during the ramp: {during}"
    );
}

/// Q5: pausing twice, resuming a running throttle, stopping during a ramp and asking about an
/// unknown name are clean no-ops or errors, and the registry keeps working.
#[tokio::test(start_paused = true)]
async fn q5_no_crash_on_double_pause_resume_or_stop_during_ramp() {
    let (t, tel) = throttles();
    let rates = EventCollector::attach(&tel, &[THROTTLE_RATE.get()]);
    t.start("q5", cfg(100, 1000)).expect("start");
    assert_eq!(t.resume("q5"), Ok(false), "resume while running: no-op");
    assert_eq!(t.pause("q5"), Ok(true));
    assert_eq!(t.pause("q5"), Ok(false), "pause twice: no-op");
    assert_eq!(t.resume("q5"), Ok(true));
    assert_eq!(
        t.info("nobody"),
        Err(ThrottleError::NoThrottle("nobody".into()))
    );

    let g = GradualConfig {
        throttle: GradualRates::Rates {
            from: 100,
            to: 1000,
            interval_ms: 1000,
        },
        plan: RampPlan::Steps {
            step_interval_ms: 10,
            step_count: 100,
        },
    };
    t.change_rate_gradually("q5", g).expect("ramp");
    sleep(ms(55)).await;
    assert_eq!(t.stop("q5"), Ok(()));
    rates.drain();
    // The ramp's next ticks find nothing and emit nothing.
    sleep(ms(2000)).await;
    assert!(
        rates.drain().is_empty(),
        "a stopped ramp emits no more steps"
    );
    assert_eq!(t.start("q5", cfg(7, 1000)), Ok(StartOutcome::Started));
    sleep(ms(2000)).await;
    assert_eq!(t.info("q5").expect("restarted").rate, Rate::Finite(7));
    assert_eq!(
        t.pause("gone"),
        Err(ThrottleError::NoThrottle("gone".into()))
    );
}

/// Q6: `change_rate` while paused stores the rate and reports it, but stays paused; resume
/// applies it. A ramp keeps stepping while paused and releases nothing.
#[tokio::test(start_paused = true)]
async fn q6_change_rate_while_paused_stays_paused() {
    let (t, tel) = throttles();
    let rates = EventCollector::attach(&tel, &[THROTTLE_RATE.get()]);
    t.start("q6", cfg(10, 1000)).expect("start");
    t.pause("q6").expect("pause");
    let done = waiters(&t, "q6", 50);
    t.change_rate("q6", cfg(1000, 1000))
        .expect("change while paused");
    sleep(ms(500)).await;
    let info = t.info("q6").expect("info");
    assert_eq!((info.rate, info.paused), (Rate::Finite(1000), true));
    assert_eq!(done.load(Ordering::SeqCst), 0, "still paused");
    let seen: Vec<_> = rates
        .drain()
        .iter()
        .map(|e| {
            (
                e.measurements.get_i64("rate"),
                match e.metadata.lookup("paused") {
                    Some(rookery::telemetry::Value::Bool(b)) => Some(*b),
                    _ => None,
                },
            )
        })
        .collect();
    // The start, the pause (issue 13: a monitor reads `paused` from the event) and the change.
    assert_eq!(
        seen,
        [
            (Some(10), Some(false)),
            (Some(10), Some(true)),
            (Some(1000), Some(true))
        ]
    );

    let g = GradualConfig {
        throttle: GradualRates::Rates {
            from: 1,
            to: 5,
            interval_ms: 1000,
        },
        plan: RampPlan::Steps {
            step_interval_ms: 100,
            step_count: 4,
        },
    };
    t.change_rate_gradually("q6", g).expect("ramp while paused");
    sleep(ms(450)).await;
    let info = t.info("q6").expect("info");
    assert_eq!(
        (info.rate, info.paused, info.ramping()),
        (Rate::Finite(5), true, false)
    );
    assert_eq!(done.load(Ordering::SeqCst), 0, "a ramp does not unpause");

    t.resume("q6").expect("resume");
    sleep(ms(1001)).await;
    // 5/s from the resume: at 0, 200, …, 1000 ms.
    assert_eq!(done.load(Ordering::SeqCst), 6);
}

/// Rate 0 holds until the rate changes; infinity releases every held request at once.
#[tokio::test(start_paused = true)]
async fn rate_zero_holds_and_infinity_releases_all() {
    let (t, _) = throttles();
    t.start("z", ThrottleConfig::per_minute(Rate::Finite(0)))
        .expect("start");
    let done = waiters(&t, "z", 1000);
    sleep(ms(60_000)).await;
    assert_eq!(done.load(Ordering::SeqCst), 0);
    assert_eq!(t.info("z").expect("info").backlog, 1000);
    t.unlock("z").expect("unlock");
    sleep(ms(1)).await;
    assert_eq!(done.load(Ordering::SeqCst), 1000);
    assert_eq!(
        t.info("z").expect("info").config(),
        ThrottleConfig::unlocked()
    );
}

/// Q1 under real concurrency: two worker threads, permits returned from both, never more
/// than `rate` at once and nobody left behind.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn q1_parallelism_holds_across_threads() {
    let (t, _) = throttles();
    t.start("mt", cfg(3, 0)).expect("start");
    let running = Arc::new(AtomicUsize::new(0));
    let peak = Arc::new(AtomicUsize::new(0));
    let mut jobs = Vec::new();
    for _ in 0..2000 {
        let (running, peak) = (running.clone(), peak.clone());
        jobs.push(
            t.spawn("mt", async move {
                let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                peak.fetch_max(now, Ordering::SeqCst);
                tokio::task::yield_now().await;
                running.fetch_sub(1, Ordering::SeqCst);
            })
            .expect("queued"),
        );
    }
    for j in jobs {
        let r = timeout(Duration::from_secs(30), j).await;
        assert_eq!(r.ok().and_then(|r| r.ok()), Some(Ok(())));
    }
    assert!(peak.load(Ordering::SeqCst) <= 3);
    let info = t.info("mt").expect("info");
    assert_eq!((info.in_flight, info.backlog, info.executes), (0, 0, 2000));
}
