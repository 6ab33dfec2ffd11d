//! Table 4 of the throttle bench: precision after a rate change (issue 12 item 1). A throttle
//! saturated at one rate is turned down or ramped down; from the change on, the releases per
//! bucket against what the new rate (or the ramp's step in force) allows, the longest gap
//! between two releases, and the most releases in one interval.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use rookery::engine::events::Emitter;
use rookery::engine::throttle::{
    GradualConfig, GradualRates, RampPlan, Rate, ThrottleConfig, Throttles,
};
use rookery::telemetry::Telemetry;

use super::max_window;

/// What happens at the change.
#[derive(Clone, Copy)]
enum Turn {
    /// `change_rate` to this rate (same interval).
    To(u64),
    /// `change_rate_gradually` to `to` over `duration_ms` (steps of 100 ms).
    Ramp { to: u64, duration_ms: u64 },
}

struct ChangeCase {
    name: &'static str,
    virtual_time: bool,
    interval_ms: u64,
    from: u64,
    turn: Turn,
    users: usize,
    before: Duration,
    after: Duration,
    bucket: Duration,
}

/// Releases the new rate (or the ramp) allows in `[a, b)` after the change, as a float.
fn allowed(c: &ChangeCase, a: Duration, b: Duration) -> f64 {
    let per_ns = |rate: u64| rate as f64 / (c.interval_ms as f64 * 1e6);
    match c.turn {
        Turn::To(r) => per_ns(r) * (b - a).as_nanos() as f64,
        Turn::Ramp { to, duration_ms } => {
            let plan = GradualConfig {
                throttle: GradualRates::Rates {
                    from: c.from,
                    to,
                    interval_ms: c.interval_ms,
                },
                plan: RampPlan::Duration { duration_ms },
            }
            .plan();
            let Ok(plan) = plan else { return 0.0 };
            // Integrate the step function over [a, b) in 1 ms slices.
            let step = Duration::from_millis(plan.step_interval_ms);
            let mut sum = 0.0;
            let mut t = a;
            while t < b {
                let i = (t.as_nanos() / step.as_nanos()) as u64;
                let rate = plan.rate_at(i.min(plan.steps)).unwrap_or(to);
                sum += per_ns(rate) * 1e6;
                t += Duration::from_millis(1);
            }
            sum
        }
    }
}

/// Runs one case; returns the release offsets from the change on.
fn run_change(c: &ChangeCase) -> Vec<Duration> {
    let mut b = if c.virtual_time {
        tokio::runtime::Builder::new_current_thread()
    } else {
        tokio::runtime::Builder::new_multi_thread()
    };
    if c.virtual_time {
        b.start_paused(true);
    } else {
        b.worker_threads(2);
    }
    let rt = b.enable_all().build().expect("runtime");
    let released: Arc<Mutex<Vec<tokio::time::Instant>>> = Arc::new(Mutex::new(Vec::new()));
    let at = rt.block_on(async {
        let t = Throttles::new(Emitter::new(Telemetry::new(), "master"));
        t.start(
            "p",
            ThrottleConfig::new(Rate::Finite(c.from), c.interval_ms),
        )
        .expect("start");
        for _ in 0..c.users {
            let (t, released) = (t.clone(), released.clone());
            tokio::spawn(async move {
                while let Ok(p) = t.acquire("p").await {
                    if let Some(at) = p.released_at() {
                        released.lock().expect("stamps").push(at);
                    }
                }
            });
        }
        tokio::time::sleep(c.before).await;
        let at = tokio::time::Instant::now();
        match c.turn {
            Turn::To(r) => t
                .change_rate("p", ThrottleConfig::new(Rate::Finite(r), c.interval_ms))
                .expect("change"),
            Turn::Ramp { to, duration_ms } => {
                t.change_rate_gradually(
                    "p",
                    GradualConfig {
                        throttle: GradualRates::Rates {
                            from: c.from,
                            to,
                            interval_ms: c.interval_ms,
                        },
                        plan: RampPlan::Duration { duration_ms },
                    },
                )
                .expect("ramp");
            }
        }
        tokio::time::sleep_until(at + c.after).await;
        t.stop("p").expect("stop");
        at
    });
    drop(rt);
    let mut v: Vec<Duration> = released
        .lock()
        .expect("stamps")
        .iter()
        .filter(|r| **r >= at)
        .map(|r| r.duration_since(at))
        .collect();
    v.sort();
    v
}

pub(crate) fn change_table() {
    println!(
        "
throttle precision after a rate change (issue 12 item 1), saturated by looping users"
    );
    println!(
        "(from the change on: releases per bucket against what the new rate or the ramp's step \
         allows; the longest gap between releases; the most releases in one interval)"
    );
    println!(
        "{:<38} {:>7} {:>8} {:>12} {:>12} {:>10}  per-bucket releases (allowed)",
        "case", "clock", "bucket", "max dev", "longest gap", "max window"
    );
    let s = Duration::from_secs;
    let cases = [
        ChangeCase {
            name: "turn down 100 -> 50 /s",
            virtual_time: false,
            interval_ms: 1000,
            from: 100,
            turn: Turn::To(50),
            users: 100,
            before: s(2),
            after: s(5),
            bucket: s(1),
        },
        ChangeCase {
            name: "turn down 10 %: 1,000 -> 900 /s",
            virtual_time: false,
            interval_ms: 1000,
            from: 1000,
            turn: Turn::To(900),
            users: 500,
            before: s(2),
            after: s(5),
            bucket: s(1),
        },
        ChangeCase {
            name: "turn down 20,000 -> 10,000 /s",
            virtual_time: false,
            interval_ms: 1000,
            from: 20_000,
            turn: Turn::To(10_000),
            users: 2_000,
            before: s(2),
            after: s(5),
            bucket: s(1),
        },
        ChangeCase {
            name: "ramp down 10,000 -> 1,000 /s over 4 s",
            virtual_time: false,
            interval_ms: 1000,
            from: 10_000,
            turn: Turn::Ramp {
                to: 1000,
                duration_ms: 4000,
            },
            users: 1_000,
            before: s(2),
            after: s(6),
            bucket: s(1),
        },
        ChangeCase {
            name: "issue 12: `[` 3,000 -> 1,500 /min",
            virtual_time: true,
            interval_ms: 60_000,
            from: 3000,
            turn: Turn::To(1500),
            users: 100,
            before: s(45),
            after: s(120),
            bucket: s(3),
        },
        ChangeCase {
            name: "issue 12: `-` 3,000 -> 2,700 /min",
            virtual_time: true,
            interval_ms: 60_000,
            from: 3000,
            turn: Turn::To(2700),
            users: 100,
            before: s(61),
            after: s(120),
            bucket: s(3),
        },
        ChangeCase {
            name: "issue 12: `g` 3,000 -> 120 /min in 60 s",
            virtual_time: true,
            interval_ms: 60_000,
            from: 3000,
            turn: Turn::Ramp {
                to: 120,
                duration_ms: 60_000,
            },
            users: 100,
            before: s(61),
            after: s(120),
            bucket: s(3),
        },
    ];
    for c in &cases {
        let rel = run_change(c);
        let n = (c.after.as_nanos() / c.bucket.as_nanos()) as usize;
        let mut counts = vec![0u64; n];
        for r in &rel {
            if let Some(x) = counts.get_mut((r.as_nanos() / c.bucket.as_nanos()) as usize) {
                *x += 1;
            }
        }
        let allow: Vec<f64> = (0..n)
            .map(|i| allowed(c, c.bucket * i as u32, c.bucket * (i as u32 + 1)))
            .collect();
        let dev = counts
            .iter()
            .zip(&allow)
            .map(|(got, want)| (*got as f64 - want).abs() / want.max(1.0) * 100.0)
            .fold(0.0, f64::max);
        let gap = std::iter::once(Duration::ZERO)
            .chain(rel.iter().copied())
            .collect::<Vec<_>>()
            .windows(2)
            .map(|w| w[1] - w[0])
            .max()
            .unwrap_or(c.after);
        let window = max_window(&rel, Duration::from_millis(c.interval_ms));
        let shown: Vec<String> = counts
            .iter()
            .zip(&allow)
            .take(12)
            .map(|(g, a)| format!("{g} ({a:.0})"))
            .collect();
        println!(
            "{:<38} {:>7} {:>7}s {:>11.1}% {:>12} {:>10}  {}{}",
            c.name,
            if c.virtual_time { "virtual" } else { "real" },
            c.bucket.as_secs(),
            dev,
            format!("{:.1?}", gap),
            window,
            shown.join(" "),
            if n > 12 { " …" } else { "" }
        );
    }
}
