//! Issue 12 item 1, as a property under virtual time: after any change of a paced throttle
//! (up, down, to 0, from 0, to and from `infinity`, pause, resume), releases follow the new
//! rate from the change on: evenly spaced (their scheduled instants exactly `interval / rate`
//! apart, up to the nanosecond of rounding), never more than the rate in a window of one
//! interval, and never a gap longer than one period plus the timer's noise (tokio's timer
//! works in whole milliseconds, also under a paused clock, and rounds a deadline between two
//! ticks up: 5 ms is allowed). Ramps are
//! covered by the same property on the pure core (`state.rs`), where their steps have exact
//! instants.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use proptest::prelude::*;
use rookery::engine::events::Emitter;
use rookery::engine::throttle::{Rate, ThrottleConfig, Throttles};
use rookery::telemetry::Telemetry;
use tokio::time::{Instant, advance, sleep, sleep_until};

const USERS: usize = 32;
/// What a user does between two requests; with 32 users, up to 6,400/s stay saturated.
const THINK: Duration = Duration::from_millis(5);
const SECOND: u128 = 1_000_000_000;

#[derive(Clone, Copy, Debug)]
enum Change {
    /// Per second.
    Rate(u64),
    Infinity,
    Pause,
    Resume,
}

fn change() -> impl Strategy<Value = Change> {
    prop_oneof![
        5 => (1u64..=400).prop_map(Change::Rate),
        1 => Just(Change::Rate(0)),
        1 => Just(Change::Infinity),
        1 => Just(Change::Pause),
        1 => Just(Change::Resume),
    ]
}

/// What a stretch between two changes must show.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Expect {
    Paced(u64),
    Nothing,
    AtOnce,
}

#[derive(Clone, Copy, Debug)]
struct Release {
    scheduled: Instant,
    released: Instant,
}

/// Runs the changes (`gap` ms apart, half a millisecond off the timer's ticks) and returns the
/// stretches and every release.
fn run(start: u64, changes: &[(Change, u64)]) -> (Vec<(Instant, Expect)>, Vec<Release>) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()
        .expect("runtime");
    rt.block_on(async {
        let t = Throttles::new(Emitter::new(Telemetry::new(), "master"));
        let per_second = |r| ThrottleConfig::new(Rate::Finite(r), 1000);
        t.start("p", per_second(start)).expect("start");
        let t0 = Instant::now();
        let seen = Arc::new(Mutex::new(Vec::new()));
        for _ in 0..USERS {
            let (t, seen) = (t.clone(), seen.clone());
            tokio::spawn(async move {
                while let Ok(p) = t.wait_permit("p").await {
                    seen.lock().expect("not poisoned").push(Release {
                        scheduled: p.scheduled(),
                        released: p.released(),
                    });
                    sleep(THINK).await;
                }
            });
        }
        let mut stretches = vec![(t0, Expect::Paced(start))];
        let (mut rate, mut paused, mut at) = (Some(start), false, 0);
        for (c, gap) in changes {
            at += gap;
            sleep_until(t0 + Duration::from_millis(at)).await;
            advance(Duration::from_micros(500)).await;
            match *c {
                Change::Rate(r) => {
                    t.change_rate("p", per_second(r)).expect("rate");
                    rate = Some(r);
                }
                Change::Infinity => {
                    t.change_rate("p", ThrottleConfig::new(Rate::Infinity, 1000))
                        .expect("infinity");
                    rate = None;
                }
                Change::Pause => paused |= t.pause("p").expect("pause"),
                Change::Resume => paused &= !t.resume("p").expect("resume"),
            }
            let expect = match (paused, rate) {
                (true, _) | (false, Some(0)) => Expect::Nothing,
                (false, None) => Expect::AtOnce,
                (false, Some(r)) => Expect::Paced(r),
            };
            // A change to what is in force is a no-op: the schedule goes on.
            if stretches.last().map(|s| s.1) != Some(expect) {
                stretches.push((Instant::now(), expect));
            }
        }
        sleep(Duration::from_millis(1500)).await;
        t.stop("p").expect("stop");
        stretches.push((Instant::now(), Expect::Nothing));
        let got = seen.lock().expect("not poisoned").clone();
        (stretches, got)
    })
}

/// Checks one stretch `[from, to)` holding `rel` (sorted by release). After an `infinity`
/// stretch every user was just released and thinks for `THINK` at once, so for that long the
/// queue may be empty: there gaps may be longer (a slot nobody waits for is not caught up),
/// never shorter.
fn check(
    from: Instant,
    to: Instant,
    expect: Expect,
    rel: &[Release],
    after_open: bool,
) -> Result<(), String> {
    let noise = Duration::from_millis(5);
    match expect {
        Expect::Nothing if !rel.is_empty() => Err(format!("{} releases", rel.len())),
        Expect::Nothing => Ok(()),
        Expect::AtOnce => match rel.iter().find(|r| r.released != r.scheduled) {
            Some(r) => Err(format!("a request waited at infinity: {r:?}")),
            None => Ok(()),
        },
        Expect::Paced(rate) => {
            let (lo, hi) = (SECOND / u128::from(rate), SECOND.div_ceil(u128::from(rate)));
            let period = Duration::from_nanos(hi as u64);
            let mut prev = from;
            for (i, r) in rel.iter().enumerate() {
                if r.scheduled < from {
                    return Err(format!("release {i} scheduled before the change"));
                }
                let lateness = r.released.duration_since(r.scheduled);
                if lateness >= noise {
                    return Err(format!("release {i} late by {lateness:?}"));
                }
                let gap = r.scheduled.duration_since(prev).as_nanos();
                let settling = after_open && r.scheduled <= from + THINK + noise;
                if i == 0 && gap > hi && !settling {
                    return Err(format!("first release {gap} ns after the change"));
                }
                if i > 0 && (gap < lo || (gap > hi && !settling)) {
                    return Err(format!("gap {gap} ns before release {i}, not {lo}..={hi}"));
                }
                prev = r.scheduled;
                let n = rel[i..]
                    .iter()
                    .take_while(|x| x.released < r.released + Duration::from_secs(1))
                    .count();
                if n as u64 > rate {
                    return Err(format!("{n} releases in the second from release {i}"));
                }
            }
            // Up to the next change, no gap longer than a period (and the timer's noise).
            if to.duration_since(prev) > period + noise {
                return Err(format!(
                    "nothing for {:?} before the next change",
                    to - prev
                ));
            }
            Ok(())
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn releases_follow_every_change_from_the_change_on(
        start in 1u64..=400,
        changes in prop::collection::vec((change(), 1u64..=1500), 1..8),
    ) {
        let (stretches, mut rel) = run(start, &changes);
        rel.sort_by_key(|r| r.released);
        // A release at the very instant of a change belongs to the side that decided it: the
        // new configuration never schedules before the change, and a release at once (on
        // time, at the change) came from `infinity` if that is what the old side was.
        let after = |r: &Release, i: usize| {
            let (c, before) = (stretches[i].0, stretches[i.saturating_sub(1)].1);
            r.released > c
                || (r.released == c
                    && r.scheduled >= c
                    && !(before == Expect::AtOnce && r.scheduled == r.released && i > 0))
        };
        for (i, w) in stretches.windows(2).enumerate() {
            let ((from, expect), (to, _)) = (w[0], w[1]);
            let inside: Vec<Release> = rel
                .iter()
                .copied()
                .filter(|r| after(r, i) && !after(r, i + 1))
                .collect();
            let after_open = i > 0 && stretches[i - 1].1 == Expect::AtOnce;
            if let Err(e) = check(from, to, expect, &inside, after_open) {
                let t0 = stretches[0].0;
                let all: Vec<_> = inside
                    .iter()
                    .map(|r| (r.scheduled.duration_since(t0), r.released.duration_since(t0)))
                    .collect();
                prop_assert!(
                    false,
                    "{expect:?} from {:?} to {:?}: {e}; releases {all:?}",
                    from.duration_since(t0),
                    to.duration_since(t0)
                );
            }
        }
    }
}
