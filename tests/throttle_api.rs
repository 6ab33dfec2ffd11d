//! Amoc's throttle_SUITE `api` group (reference §6.1), under virtual time.

use std::time::Duration;

use rookery::engine::events::Emitter;
use rookery::engine::throttle::{
    GradualConfig, GradualRates, RampPlan, Rate, StartOutcome, ThrottleConfig, ThrottleError,
    Throttles,
};
use rookery::fields;
use rookery::telemetry::Telemetry;
use tokio::sync::mpsc;
use tokio::time::{Instant, sleep, timeout};

fn throttles() -> Throttles {
    Throttles::new(Emitter::new(Telemetry::new(), "master"))
}

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn cfg(rate: u64, interval_ms: u64) -> ThrottleConfig {
    ThrottleConfig::new(Rate::Finite(rate), interval_ms)
}

/// Sends one message through the throttle and reports whether it arrives within `within`.
async fn send_arrives(t: &Throttles, name: &str, within: Duration) -> bool {
    let (tx, mut rx) = mpsc::channel(1);
    t.send(name, tx, ()).expect("send is accepted");
    timeout(within, rx.recv()).await.is_ok()
}

#[tokio::test(start_paused = true)]
async fn start() {
    let t = throttles();
    assert_eq!(t.start("s", 100.into()), Ok(StartOutcome::Started));
    assert_eq!(t.start("s", 100.into()), Ok(StartOutcome::AlreadyStarted));
    assert!(matches!(
        t.start("s", 101.into()),
        Err(ThrottleError::WrongReconfiguration { .. })
    ));
    assert_eq!(t.start("d", cfg(100, 5000)), Ok(StartOutcome::Started));
}

#[tokio::test(start_paused = true)]
async fn normalisation_as_seen_by_info() {
    let t = throttles();
    let cases: [(&str, ThrottleConfig, Rate, u64); 8] = [
        (
            "ia50",
            ThrottleConfig::interarrival(Rate::Finite(50)),
            Rate::Finite(1200),
            60_000,
        ),
        (
            "ia0",
            ThrottleConfig::interarrival(Rate::Finite(0)),
            Rate::Infinity,
            60_000,
        ),
        (
            "iainf",
            ThrottleConfig::interarrival(Rate::Infinity),
            Rate::Finite(0),
            60_000,
        ),
        (
            "r0",
            ThrottleConfig::per_minute(Rate::Finite(0)),
            Rate::Finite(0),
            60_000,
        ),
        (
            "rinf",
            ThrottleConfig::per_minute(Rate::Infinity),
            Rate::Infinity,
            60_000,
        ),
        ("i0", cfg(60, 0), Rate::Finite(60), 0),
        ("low_rate", cfg(2, 100), Rate::Finite(2), 100),
        ("low_interval", cfg(1, 1), Rate::Finite(1), 1),
    ];
    for (name, c, rate, interval) in cases {
        assert_eq!(t.start(name, c), Ok(StartOutcome::Started), "{name}");
        let info = t.info(name).expect("started");
        assert_eq!((info.rate, info.interval_ms), (rate, interval), "{name}");
    }
    // The same through Amoc-shaped maps.
    let m = ThrottleConfig::from_fields(&fields! {"interarrival" => 50});
    assert_eq!(m, Ok(cfg(1200, 60_000)));
    let m = ThrottleConfig::from_fields(&fields! {"interval" => 10});
    assert!(matches!(m, Err(ThrottleError::InvalidConfig(_))));
}

#[tokio::test(start_paused = true)]
async fn start_and_stop() {
    let t = throttles();
    assert_eq!(t.stop("x"), Err(ThrottleError::NoThrottle("x".into())));
    assert_eq!(t.start("x", 100.into()), Ok(StartOutcome::Started));
    assert_eq!(t.stop("x"), Ok(()));
    assert_eq!(t.info("x"), Err(ThrottleError::NoThrottle("x".into())));
    assert!(t.list().is_empty());
    assert_eq!(t.start("x", 100.into()), Ok(StartOutcome::Started));
    assert_eq!(t.list().len(), 1);
}

#[tokio::test(start_paused = true)]
async fn change_rate() {
    let t = throttles();
    assert_eq!(
        t.change_rate("c", 100.into()),
        Err(ThrottleError::NoThrottle("c".into()))
    );
    t.start("c", 100.into()).expect("start");
    assert_eq!(t.change_rate("c", 101.into()), Ok(()));
    assert_eq!(t.change_rate("c", cfg(100, 60_001)), Ok(()));
    assert_eq!(t.change_rate("c", cfg(10_000, 100)), Ok(()));
    assert!(send_arrives(&t, "c", ms(100)).await);

    t.change_rate("c", ThrottleConfig::per_minute(Rate::Finite(0)))
        .expect("rate 0");
    let (tx, mut rx) = mpsc::channel(1);
    t.send("c", tx, ()).expect("send");
    assert!(timeout(ms(200), rx.recv()).await.is_err(), "rate 0 holds");
    t.change_rate("c", ThrottleConfig::per_minute(Rate::Infinity))
        .expect("infinity");
    assert!(
        timeout(ms(100), rx.recv()).await.is_ok(),
        "infinity releases"
    );

    t.change_rate("c", ThrottleConfig::interarrival(Rate::Finite(1)))
        .expect("interarrival 1");
    assert!(send_arrives(&t, "c", ms(100)).await);
    t.change_rate("c", ThrottleConfig::interarrival(Rate::Finite(30_000)))
        .expect("interarrival 30000");
    assert!(!send_arrives(&t, "c", ms(200)).await);
}

#[tokio::test(start_paused = true)]
async fn change_rate_gradually() {
    let t = throttles();
    let g = GradualConfig {
        throttle: GradualRates::Rates {
            from: 10,
            to: 3000,
            interval_ms: 1,
        },
        plan: RampPlan::Steps {
            step_interval_ms: 100,
            step_count: 300,
        },
    };
    assert_eq!(
        t.change_rate_gradually("g", g),
        Err(ThrottleError::NoThrottle("g".into()))
    );
    t.start("g", 100.into()).expect("start");
    let plan = t.change_rate_gradually("g", g).expect("plan accepted");
    assert_eq!(plan.len(), 301);
    // Asking for the configuration in force is a no-op, as in Amoc: the ramp goes on.
    assert_eq!(
        t.set_rate("g", cfg(10, 1))
            .map(|c| (c.changed, c.replaced_ramp)),
        Ok((false, None))
    );
    assert!(t.info("g").expect("info").ramping());
    // A second ramp replaces the first (Amoc refused with `cannot_change_rate`; issue 12).
    sleep(ms(250)).await;
    let (_, replaced) = t.start_ramp("g", g).expect("replaces");
    let replaced = replaced.expect("the first ramp is returned");
    assert_eq!((replaced.step, replaced.steps), (2, 300));
    assert_eq!(replaced.ends_in_ms, 298 * 100 - 50);
    let info = t.info("g").expect("info");
    assert_eq!(info.ramp.map(|r| (r.step, r.ends_in_ms)), Some((0, 30_000)));
    // So does a new rate, which then stays.
    let change = t.set_rate("g", cfg(100, 60_001)).expect("replaces");
    assert!(change.changed);
    assert_eq!(change.replaced_ramp.map(|r| r.to), Some(3000));
    sleep(ms(1000)).await;
    let info = t.info("g").expect("info");
    assert_eq!((info.config(), info.ramping()), (cfg(100, 60_001), false));
}

#[tokio::test(start_paused = true)]
async fn change_interarrival_gradually() {
    let t = throttles();
    t.start("ia", 100.into()).expect("start");
    let g = GradualConfig {
        throttle: GradualRates::Interarrival { from: 10, to: 3000 },
        plan: RampPlan::Steps {
            step_interval_ms: 10,
            step_count: 1000,
        },
    };
    let plan = t.change_rate_gradually("ia", g).expect("accepted");
    assert_eq!((plan.from, plan.to, plan.interval_ms), (6000, 20, 60_000));
    // The ramp runs to its end (1000 × 10 ms).
    sleep(ms(10_001)).await;
    let info = t.info("ia").expect("info");
    assert!(!info.ramping());
    assert_eq!(info.rate, Rate::Finite(20));
    assert_eq!(t.change_rate("ia", cfg(5, 1000)), Ok(()));
}

#[tokio::test(start_paused = true)]
async fn cancel_ramp_keeps_current_step() {
    let t = throttles();
    t.start("r", 100.into()).expect("start");
    assert_eq!(t.cancel_ramp("r"), Ok(false));
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
    sleep(ms(250)).await;
    assert_eq!(t.cancel_ramp("r"), Ok(true));
    let info = t.info("r").expect("info");
    assert_eq!((info.rate, info.ramp), (Rate::Finite(150), None));
    sleep(ms(1000)).await;
    assert_eq!(t.info("r").expect("info").rate, Rate::Finite(150));
    assert_eq!(t.change_rate("r", 7.into()), Ok(()));
    assert_eq!(
        t.cancel_ramp("nope"),
        Err(ThrottleError::NoThrottle("nope".into()))
    );
}

#[tokio::test(start_paused = true)]
async fn just_wait() {
    let t = throttles();
    assert_eq!(
        t.wait("w").await,
        Err(ThrottleError::NoThrottle("w".into()))
    );
    t.start("w", cfg(100, 10)).expect("start");
    assert_eq!(t.wait("w").await, Ok(()));
    assert!(send_arrives(&t, "w", ms(100)).await);
    // 100 × 100 queued sends take 1000 ms at 10 per ms: a new one waits behind them.
    let (tx, _rx) = mpsc::channel(100 * 100 + 1);
    for _ in 0..100 * 100 {
        t.send("w", tx.clone(), ()).expect("send");
    }
    // All but the ones whose instant has already come are queued.
    let backlog = t.info("w").expect("info").backlog;
    assert!((100 * 100 - 10..=100 * 100).contains(&backlog), "{backlog}");
    assert!(!send_arrives(&t, "w", ms(200)).await);
}

#[tokio::test(start_paused = true)]
async fn spawned_run_that_panics_reports_and_returns_its_permit() {
    let t = throttles();
    t.start("p", cfg(1, 0)).expect("start");
    let h = t
        .spawn("p", async { panic!("user code failed") })
        .expect("queued");
    let joined = timeout(ms(100), h).await.expect("finishes at once");
    assert!(joined.is_err_and(|e| e.is_panic()));
    assert_eq!(t.info("p").expect("info").in_flight, 0);
    // The single place is free again.
    assert_eq!(timeout(ms(10), t.run("p", || 5)).await, Ok(Ok(5)));
}

#[tokio::test(start_paused = true)]
async fn stop_fails_pending_requests() {
    let t = throttles();
    t.start("s", cfg(1, 60_000)).expect("start");
    t.wait("s").await.expect("first one passes at once");
    let (tx, _rx) = mpsc::channel(1);
    let pending_send = t.send("s", tx, ()).expect("queued");
    let t2 = t.clone();
    let pending_wait = tokio::spawn(async move { t2.wait("s").await });
    sleep(ms(10)).await;
    assert_eq!(t.info("s").expect("info").backlog, 2);
    t.stop("s").expect("stop");
    let r = timeout(ms(100), pending_send).await.expect("ends at once");
    assert_eq!(r.ok(), Some(Err(ThrottleError::Stopped("s".into()))));
    let r = timeout(ms(100), pending_wait).await.expect("ends at once");
    assert_eq!(r.ok(), Some(Err(ThrottleError::Stopped("s".into()))));
}

#[tokio::test(start_paused = true)]
async fn handle_reports_stop() {
    let t = throttles();
    t.start("h", ThrottleConfig::per_minute(Rate::Infinity))
        .expect("start");
    let h = t.handle("h").expect("handle");
    assert_eq!(h.wait().await, Ok(()));
    t.stop("h").expect("stop");
    assert_eq!(h.wait().await, Err(ThrottleError::Stopped("h".into())));
}

#[tokio::test(start_paused = true)]
async fn pause_and_resume() {
    let t = throttles();
    t.start("pr", ThrottleConfig::per_minute(Rate::Finite(600_000)))
        .expect("start");
    assert_eq!(t.wait("pr").await, Ok(()));
    assert_eq!(t.pause("pr"), Ok(true));
    let (tx, mut rx) = mpsc::channel(1);
    t.send("pr", tx, ()).expect("send");
    assert!(timeout(ms(200), rx.recv()).await.is_err(), "paused holds");
    assert!(t.info("pr").expect("info").paused);
    assert_eq!(t.resume("pr"), Ok(true));
    assert!(timeout(ms(200), rx.recv()).await.is_ok(), "resume releases");
    let info = t.info("pr").expect("info");
    assert_eq!((info.rate, info.paused), (Rate::Finite(600_000), false));
}

#[tokio::test(start_paused = true)]
async fn get_state() {
    let t = throttles();
    t.start("gs", 100.into()).expect("start");
    let info = t.info("gs").expect("info");
    assert_eq!(
        (
            info.rate,
            info.interval_ms,
            info.paused,
            info.ramping(),
            info.backlog
        ),
        (Rate::Finite(100), 60_000, false, false, 0)
    );
    assert_eq!(t.info("zz"), Err(ThrottleError::NoThrottle("zz".into())));
}

#[tokio::test(start_paused = true)]
async fn master_loss_fails_every_waiter() {
    let t = throttles();
    t.start("a", ThrottleConfig::per_minute(Rate::Finite(0)))
        .expect("start");
    t.start("b", cfg(1, 0)).expect("start");
    let _held = t.acquire("b").await.expect("the one place");
    let mut waiters = Vec::new();
    for name in ["a", "a", "b"] {
        let t = t.clone();
        waiters.push(tokio::spawn(async move { t.wait(name).await }));
    }
    sleep(ms(5)).await;
    t.shutdown_all();
    for w in waiters {
        let r = timeout(ms(10), w).await.expect("ends at once");
        assert_eq!(r.ok(), Some(Err(ThrottleError::MasterDown)));
    }
    assert_eq!(t.wait("a").await, Err(ThrottleError::MasterDown));
    assert_eq!(t.start("c", 1.into()), Err(ThrottleError::MasterDown));
    assert!(t.is_down());
}

#[tokio::test(start_paused = true)]
async fn a_withdrawn_request_uses_no_release() {
    let t = throttles();
    t.start("wd", cfg(1, 1000)).expect("start");
    t.wait("wd").await.expect("first at once");
    let start = Instant::now();
    // This request gives up before its turn at 1000 ms.
    assert!(timeout(ms(500), t.wait("wd")).await.is_err());
    t.wait("wd").await.expect("next");
    assert_eq!(
        start.elapsed(),
        ms(1000),
        "the withdrawn one did not take the slot"
    );
}

#[test]
fn start_outside_a_runtime_is_an_error() {
    let t = throttles();
    assert_eq!(
        t.start("nr", 1.into()),
        Err(ThrottleError::NoRuntime("nr".into()))
    );
}

#[test]
fn the_registry_and_its_futures_are_shareable() {
    fn shareable<T: Send + Sync + Clone + 'static>() {}
    fn sendable<T: Send>(_: &T) {}
    shareable::<Throttles>();
    let t = throttles();
    // Built, not run: a `wait` future can be spawned on a multi-threaded runtime.
    sendable(&t.wait("any"));
    sendable(&t.run_async("any", async {}));
}

#[tokio::test(start_paused = true)]
async fn a_permit_tells_when_it_was_released() {
    let t = throttles();
    t.start("at", cfg(100, 1000)).expect("start");
    let t0 = Instant::now();
    let a = t.acquire("at").await.expect("first");
    let b = t.acquire("at").await.expect("second");
    assert_eq!(a.released_at(), Some(t0));
    assert_eq!(b.released_at(), Some(t0 + ms(10)));
    t.change_rate("at", ThrottleConfig::unlocked())
        .expect("unlock");
    let c = t.acquire("at").await.expect("open");
    assert_eq!(c.released_at(), None, "the lock-free path reads no clock");
}
