//! Gradual plans: Amoc's `change_rate_gradually_verify_descriptions` table and its property
//! (reference §6.1).

use proptest::prelude::*;
use rookery::engine::throttle::{
    GradualConfig, GradualPlan, GradualRates, RampPlan, ThrottleError,
};

const MINUTE: u64 = 60_000;

fn plan(throttle: GradualRates, plan: RampPlan) -> GradualPlan {
    GradualConfig { throttle, plan }
        .plan()
        .expect("a valid plan")
}

fn steps(step_interval_ms: u64, step_count: u64) -> RampPlan {
    RampPlan::Steps {
        step_interval_ms,
        step_count,
    }
}

#[derive(Debug, PartialEq)]
enum Dir {
    Up,
    Down,
}

/// Length, ends, and direction, checked over every rate.
fn check(p: &GradualPlan, len: u64, dir: Dir) {
    let rates: Vec<u64> = p.rates().collect();
    assert_eq!(rates.len() as u64, len);
    assert_eq!(p.len(), len);
    assert_eq!((rates[0], rates[rates.len() - 1]), (p.from, p.to));
    let ok = match dir {
        Dir::Up => rates.windows(2).all(|w| w[0] <= w[1]),
        Dir::Down => rates.windows(2).all(|w| w[0] >= w[1]),
    };
    assert!(ok, "{dir:?}");
}

#[test]
fn verify_descriptions_table() {
    let rates = |from, to, interval_ms| GradualRates::Rates {
        from,
        to,
        interval_ms,
    };
    let per_min = GradualRates::per_minute;
    let ia = |from, to| GradualRates::Interarrival { from, to };

    let p = plan(rates(80, 5000, 15_000), steps(50, 984));
    check(&p, 985, Dir::Up);
    let p = plan(rates(5000, 80, 1000), steps(10, 4920));
    check(&p, 4921, Dir::Down);
    let p = plan(per_min(1200, 4000), steps(10, 100));
    check(&p, 101, Dir::Up);
    assert_eq!(p.interval_ms, MINUTE);
    let p = plan(per_min(4000, 1200), steps(10, 100));
    check(&p, 101, Dir::Down);
    assert_eq!(p.interval_ms, MINUTE);
    let p = plan(ia(1000, 100), steps(10, 100));
    check(&p, 101, Dir::Up);
    assert_eq!(p.interval_ms, MINUTE);
    let p = plan(ia(100, 1000), steps(10, 100));
    check(&p, 101, Dir::Down);

    let ten_min = RampPlan::Duration {
        duration_ms: 10 * MINUTE,
    };
    for (g, dir) in [
        (rates(80, 5000, 15_000), Dir::Up),
        (rates(5000, 80, 1000), Dir::Down),
        (per_min(4000, 1200), Dir::Down),
        (ia(1000, 100), Dir::Up),
        (ia(100, 1000), Dir::Down),
    ] {
        let p = plan(g, ten_min);
        assert_eq!(p.step_interval_ms, 100);
        check(&p, 6001, dir);
    }
    let p = plan(
        per_min(1200, 4000),
        RampPlan::Duration {
            duration_ms: 30 * MINUTE,
        },
    );
    assert_eq!(p.step_interval_ms, 100);
    check(&p, 18_001, Dir::Up);

    // Amoc's `plan => #{}`: no steps at all.
    for bad in [
        steps(10, 0),
        steps(0, 10),
        RampPlan::Duration { duration_ms: 0 },
    ] {
        assert!(matches!(
            GradualConfig {
                throttle: per_min(1, 2),
                plan: bad
            }
            .plan(),
            Err(ThrottleError::InvalidConfig(_))
        ));
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2048))]

    /// Amoc's property (From, To ∈ [1, 2^61], Interval ∈ [1, 2^24], StepInterval ∈ [1, 2^8],
    /// StepCount ∈ [1, 2^24]): length StepCount + 1, first From, last To, monotonic. Every rate
    /// of a plan is computed on demand, so the sample checks the ends, the neighbours of each
    /// end, and 64 consecutive pairs at a random place, instead of 2^24 rates per case.
    #[test]
    fn plans_have_the_right_length_ends_and_direction(
        from in 1u64..=(1 << 61),
        to in 1u64..=(1 << 61),
        interval_ms in 1u64..=(1 << 24),
        step_interval_ms in 1u64..=(1 << 8),
        step_count in 1u64..=(1 << 24),
        at in any::<u64>(),
    ) {
        let p = plan(GradualRates::Rates { from, to, interval_ms }, steps(step_interval_ms, step_count));
        prop_assert_eq!(p.len(), step_count + 1);
        prop_assert_eq!(p.rate_at(0), Some(from));
        prop_assert_eq!(p.rate_at(step_count), Some(to));
        prop_assert_eq!(p.rate_at(step_count + 1), None);
        prop_assert_eq!((p.interval_ms, p.step_interval_ms), (interval_ms, step_interval_ms));
        let start = at % step_count;
        let mut idx: Vec<u64> = (start..(start + 64).min(step_count)).collect();
        idx.extend([0, step_count - 1]);
        for i in idx {
            let (a, b) = (p.rate_at(i).unwrap_or(0), p.rate_at(i + 1).unwrap_or(0));
            if from <= to {
                prop_assert!(a <= b, "step {} {} > {}", i, a, b);
            } else {
                prop_assert!(a >= b, "step {} {} < {}", i, a, b);
            }
        }
    }

    /// For small plans, every rate is checked.
    #[test]
    fn small_plans_are_fully_monotonic(from in 0u64..10_000, to in 0u64..10_000, n in 1u64..2000) {
        let p = plan(GradualRates::per_minute(from, to), steps(10, n));
        let rates: Vec<u64> = p.rates().collect();
        prop_assert_eq!(rates.len() as u64, n + 1);
        prop_assert_eq!((rates[0], rates[n as usize]), (from, to));
        if from <= to {
            prop_assert!(rates.windows(2).all(|w| w[0] <= w[1]));
        } else {
            prop_assert!(rates.windows(2).all(|w| w[0] >= w[1]));
        }
    }
}
