//! Issue 17's throttle side: permits that carry their scheduled instant (`wait_permit`), and
//! the opt-in open model (`ThrottleConfig::catch_up`) where slots that came due while nobody
//! waited are owed to the next requests instead of lost. Under virtual time.

use std::time::Duration;

use rookery::engine::events::{Emitter, THROTTLE_RATE};
use rookery::engine::throttle::{Rate, ThrottleConfig, Throttles};
use rookery::telemetry::testing::EventCollector;
use rookery::telemetry::{Fields, Telemetry};
use tokio::time::{Instant, sleep, sleep_until};

fn throttles() -> (Throttles, Telemetry) {
    let tel = Telemetry::new();
    (Throttles::new(Emitter::new(tel.clone(), "master")), tel)
}

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn per_second(rate: u64) -> ThrottleConfig {
    ThrottleConfig::new(Rate::Finite(rate), 1000)
}

#[tokio::test(start_paused = true)]
async fn a_permit_carries_its_exact_scheduled_instant() {
    let (t, _) = throttles();
    // 7 per second: slots ⌈k · 10^9 / 7⌉ ns apart, which the millisecond timer cannot hit.
    t.start("p", per_second(7)).expect("start");
    let t0 = Instant::now();
    for k in 0..15u64 {
        let p = t.wait_permit("p").await.expect("released");
        let want = t0 + Duration::from_nanos((k * 1_000_000_000).div_ceil(7));
        assert_eq!(p.scheduled(), want, "slot {k}");
        assert!(p.released() >= p.scheduled());
        assert!(
            p.lateness() < ms(1),
            "only the timer's rounding: {:?}",
            p.lateness()
        );
    }
}

#[tokio::test(start_paused = true)]
async fn wait_permit_on_infinity_and_interval_zero_is_released_at_once() {
    let (t, _) = throttles();
    t.start("inf", ThrottleConfig::unlocked()).expect("start");
    t.start("par", ThrottleConfig::new(Rate::Finite(1), 0))
        .expect("start");
    sleep(ms(5)).await;
    let now = Instant::now();
    let p = t.wait_permit("inf").await.expect("open");
    assert_eq!((p.scheduled(), p.released()), (now, now));
    // It holds no interval-0 place: a second one passes too.
    let a = t.wait_permit("par").await.expect("first");
    let b = t.wait_permit("par").await.expect("second");
    assert_eq!(
        (a.lateness(), b.lateness()),
        (Duration::ZERO, Duration::ZERO)
    );
    let handle = t.handle("inf").expect("handle");
    assert_eq!(handle.wait_permit().await.map(|p| p.scheduled()), Ok(now));
}

#[tokio::test(start_paused = true)]
async fn by_default_unused_slots_are_lost() {
    let (t, _) = throttles();
    t.start("amoc", per_second(10)).expect("start");
    let t0 = Instant::now();
    t.wait("amoc").await.expect("first");
    sleep(ms(1000)).await;
    assert_eq!(t.overdue("amoc"), Ok(0));
    let mut at = Vec::new();
    for _ in 0..3 {
        let p = t.wait_permit("amoc").await.expect("released");
        assert_eq!(p.lateness(), Duration::ZERO);
        at.push(p.scheduled().duration_since(t0).as_millis());
    }
    assert_eq!(
        at,
        [1000, 1100, 1200],
        "Amoc's model: a quiet spell is not caught up"
    );
}

#[tokio::test(start_paused = true)]
async fn owed_slots_are_released_at_once_with_their_old_instants() {
    let (t, tel) = throttles();
    let rates = EventCollector::attach(&tel, &[THROTTLE_RATE.get()]);
    t.start("open", per_second(10).catch_up(100))
        .expect("start");
    let t0 = Instant::now();
    t.wait("open").await.expect("slot 0");
    sleep(ms(1000)).await;
    // Slots 100, 200, …, 1000 ms came due with nobody waiting.
    assert_eq!(t.overdue("open"), Ok(10));
    assert_eq!(t.info("open").expect("info").overdue, 10);
    let mut late = Vec::new();
    for _ in 0..12 {
        let p = t.wait_permit("open").await.expect("released");
        late.push((
            p.scheduled().duration_since(t0).as_millis(),
            p.released().duration_since(t0).as_millis(),
        ));
    }
    let want: Vec<_> = (1..=10)
        .map(|i| (i * 100, 1000))
        .chain([(1100, 1100), (1200, 1200)])
        .collect();
    assert_eq!(late, want, "ten late at once, then on time");
    assert_eq!(t.overdue("open"), Ok(0));
    // The rate event reports the bound and what is owed.
    let start = rates.drain().into_iter().next().expect("rate on start");
    assert_eq!(start.metadata.get_i64("catch_up"), Some(100));
    assert_eq!(start.metadata.get_i64("overdue"), Some(0));
}

#[tokio::test(start_paused = true)]
async fn at_most_the_bound_is_owed_the_newest_slots() {
    let (t, _) = throttles();
    t.start("cap", per_second(10).catch_up(3)).expect("start");
    let t0 = Instant::now();
    sleep(ms(1050)).await;
    assert_eq!(t.overdue("cap"), Ok(3));
    let mut at = Vec::new();
    for _ in 0..4 {
        let p = t.wait_permit("cap").await.expect("released");
        at.push(p.scheduled().duration_since(t0).as_millis());
    }
    assert_eq!(at, [800, 900, 1000, 1100]);
}

/// Issue 17's measurement: a fixed-rate run whose only user is blocked for 1 s (a stalled
/// server). Amoc's model sends ~100 fewer requests; the open model sends them all, late,
/// and the scheduled instants show how late.
#[tokio::test(start_paused = true)]
async fn a_blocked_user_catches_up_instead_of_losing_slots() {
    async fn run(cfg: ThrottleConfig) -> (usize, Duration) {
        let (t, _) = throttles();
        t.start("r", cfg).expect("start");
        let t0 = Instant::now();
        let (mut sent, mut worst, mut stalled) = (0, Duration::ZERO, false);
        while let Ok(p) = t.wait_permit("r").await {
            if p.released() >= t0 + ms(3000) {
                break;
            }
            sent += 1;
            worst = worst.max(p.lateness());
            if !stalled && p.released() >= t0 + ms(1000) {
                stalled = true;
                sleep_until(t0 + ms(2000)).await;
            }
        }
        (sent, worst)
    }
    let (amoc, amoc_worst) = run(per_second(100)).await;
    assert_eq!((amoc, amoc_worst), (201, Duration::ZERO));
    let (open, open_worst) = run(per_second(100).catch_up(10_000)).await;
    assert_eq!(open, 300, "every slot of 3 s is sent");
    assert_eq!(
        open_worst,
        ms(990),
        "the first after the stall was due at 1.01 s"
    );
}

#[tokio::test(start_paused = true)]
async fn a_change_keeps_what_is_owed_and_the_catch_up_setting() {
    let (t, _) = throttles();
    t.start("c", per_second(10).catch_up(50)).expect("start");
    let t0 = Instant::now();
    sleep(ms(500)).await;
    // Slots 0..=500 ms are owed (6); the new rate (without a catch-up of its own) keeps it.
    t.change_rate("c", per_second(2)).expect("change");
    let info = t.info("c").expect("info");
    assert_eq!((info.catch_up, info.overdue), (50, 6));
    sleep(ms(1000)).await;
    // At 2/s from 1 s (500 ms + the new period of 500 ms): 1000 and 1500 ms.
    assert_eq!(t.overdue("c"), Ok(8));
    let first = t.wait_permit("c").await.expect("owed");
    assert_eq!(first.scheduled(), t0);
    assert_eq!(t.overdue("c"), Ok(7));
    // Pausing owes nothing for the paused time; resuming keeps what was owed.
    t.pause("c").expect("pause");
    sleep(ms(5000)).await;
    assert_eq!(t.overdue("c"), Ok(7));
    t.resume("c").expect("resume");
    assert_eq!(
        t.overdue("c"),
        Ok(8),
        "the 7, and the slot of the resume instant"
    );
    // Rate 0 holds: what was owed is dropped.
    t.change_rate("c", per_second(0)).expect("zero");
    assert_eq!(t.overdue("c"), Ok(0));
}
