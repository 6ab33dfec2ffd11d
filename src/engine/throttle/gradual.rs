//! Gradual rate changes (`change_rate_gradually`): Amoc's `verify_gradual_config` and its step
//! rates `r_i = from + round((to - from) / N * i)`, `i = 0..=N`.
//!
//! The rounding is computed exactly in integers (half away from zero, like Erlang's `round/1`)
//! instead of through a float, so it stays exact for rates up to 2^63; Amoc's observed plans
//! (`100→200` in 4 steps: `[100,125,150,175,200]`; `10→0` in 3: `[10,7,3,0]`) come out the same.
//! A plan is not materialised: [`GradualPlan::rate_at`] computes any step on demand, so a plan
//! of 2^24 steps costs nothing.

use super::config::{DEFAULT_INTERVAL_MS, non_negative};
use super::error::ThrottleError;
use crate::telemetry::Field;

/// The rates a ramp goes through.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GradualRates {
    /// `#{from_rate, to_rate, interval}`: rates per `interval_ms` (Amoc's default 60000).
    Rates {
        from: u64,
        to: u64,
        interval_ms: u64,
    },
    /// `#{from_interarrival, to_interarrival}` in ms, converted with `60000 div IA`
    /// (an interarrival of 0 is an error, as in Amoc) at interval 60000.
    Interarrival { from: u64, to: u64 },
}

impl GradualRates {
    /// `from → to` per minute.
    pub const fn per_minute(from: u64, to: u64) -> GradualRates {
        GradualRates::Rates {
            from,
            to,
            interval_ms: DEFAULT_INTERVAL_MS,
        }
    }
}

/// How long a ramp takes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RampPlan {
    /// `#{step_interval, step_count}`: `step_count` steps, one every `step_interval_ms`.
    Steps {
        step_interval_ms: u64,
        step_count: u64,
    },
    /// `#{duration}`: steps of 100 ms, `duration_ms div 100` of them (must be ≥ 1).
    Duration { duration_ms: u64 },
}

impl RampPlan {
    /// A ramp over `secs` seconds (a `duration` plan), as an operator types it. A number of
    /// seconds whose milliseconds do not fit in 64 bits is an error that says so (computing
    /// `secs * 1000` unchecked wrapped around to a ramp "over 0s").
    pub fn over_seconds(secs: u64) -> Result<RampPlan, ThrottleError> {
        let duration_ms = secs.checked_mul(1000).ok_or_else(|| {
            ThrottleError::InvalidConfig(format!(
                "a ramp over {secs} s is too long: at most {} s",
                u64::MAX / 1000
            ))
        })?;
        Ok(RampPlan::Duration { duration_ms })
    }
}

/// A gradual change: `change_rate_gradually(Name, #{throttle => .., plan => ..})`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GradualConfig {
    pub throttle: GradualRates,
    pub plan: RampPlan,
}

/// A verified ramp: `steps + 1` rates from `from` to `to`, one applied every
/// `step_interval_ms`, all at `interval_ms`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GradualPlan {
    pub from: u64,
    pub to: u64,
    pub steps: u64,
    pub interval_ms: u64,
    pub step_interval_ms: u64,
}

/// Step interval of a `duration` plan, in ms.
pub const DURATION_STEP_MS: u64 = 100;

impl GradualConfig {
    /// Verifies the configuration as Amoc does and computes the plan.
    pub fn plan(&self) -> Result<GradualPlan, ThrottleError> {
        let (from, to, interval_ms) = match self.throttle {
            GradualRates::Rates {
                from,
                to,
                interval_ms,
            } => (from, to, interval_ms),
            GradualRates::Interarrival { from, to } => {
                let conv = |ia: u64| {
                    DEFAULT_INTERVAL_MS.checked_div(ia).ok_or_else(|| {
                        ThrottleError::InvalidConfig(
                            "an interarrival of 0 in a gradual change has no rate".into(),
                        )
                    })
                };
                (conv(from)?, conv(to)?, DEFAULT_INTERVAL_MS)
            }
        };
        let (step_interval_ms, steps) = match self.plan {
            RampPlan::Steps {
                step_interval_ms,
                step_count,
            } => (step_interval_ms, step_count),
            RampPlan::Duration { duration_ms } => {
                (DURATION_STEP_MS, duration_ms / DURATION_STEP_MS)
            }
        };
        if step_interval_ms == 0 || steps == 0 {
            return Err(ThrottleError::InvalidConfig(format!(
                "a gradual plan needs step_interval > 0 and at least one step \
                 (a duration of at least {DURATION_STEP_MS} ms); got {:?}",
                self.plan
            )));
        }
        if steps.checked_mul(step_interval_ms).is_none() {
            return Err(ThrottleError::InvalidConfig(format!(
                "a gradual plan of {steps} steps of {step_interval_ms} ms is too long: \
                 its length in ms does not fit in 64 bits"
            )));
        }
        if from > i64::MAX as u64 || to > i64::MAX as u64 {
            return Err(ThrottleError::InvalidConfig(format!(
                "gradual rates must be below 2^63; got {from} → {to}"
            )));
        }
        Ok(GradualPlan {
            from,
            to,
            steps,
            interval_ms,
            step_interval_ms,
        })
    }
}

/// Reads exactly the keys `keys` of an Amoc map as integers ≥ 0; `None` for a missing
/// optional key. Any other key, or a missing required one, is an error.
fn read_keys<const N: usize>(
    fields: &[Field],
    keys: [(&str, bool); N],
    what: &str,
) -> Result<[Option<u64>; N], ThrottleError> {
    let invalid = |why: String| ThrottleError::InvalidConfig(format!("{what}: {why}"));
    let mut out = [None; N];
    for (k, v) in fields {
        let i = keys
            .iter()
            .position(|(name, _)| *name == k.as_str())
            .ok_or_else(|| invalid(format!("unexpected key `{k}`")))?;
        if out[i].is_some() {
            return Err(invalid(format!("duplicate key `{k}`")));
        }
        out[i] =
            Some(non_negative(v).ok_or_else(|| invalid(format!("`{k}` must be an integer >= 0")))?);
    }
    for ((name, required), got) in keys.iter().zip(&out) {
        if *required && got.is_none() {
            return Err(invalid(format!("missing `{name}`")));
        }
    }
    Ok(out)
}

impl GradualConfig {
    /// Parses Amoc's map: `throttle => #{from_rate, to_rate[, interval]}` or
    /// `#{from_interarrival, to_interarrival}`, and `plan => #{step_interval, step_count}` or
    /// `#{duration}`. Values are checked again by [`plan`](Self::plan).
    pub fn from_fields(fields: &[Field]) -> Result<GradualConfig, ThrottleError> {
        let invalid = |why: &str| ThrottleError::InvalidConfig(format!("gradual change: {why}"));
        let (mut throttle, mut plan) = (None, None);
        for (k, v) in fields {
            let slot = match k.as_str() {
                "throttle" => &mut throttle,
                "plan" => &mut plan,
                _ => return Err(invalid(&format!("unexpected key `{k}`"))),
            };
            *slot = Some(
                v.as_map()
                    .ok_or_else(|| invalid(&format!("`{k}` must be a map")))?,
            );
        }
        let throttle = throttle.ok_or_else(|| invalid("missing `throttle`"))?;
        let plan = plan.ok_or_else(|| invalid("missing `plan`"))?;
        let has = |m: &[Field], key: &str| m.iter().any(|(k, _)| k == key);
        let throttle = if has(throttle, "from_interarrival") || has(throttle, "to_interarrival") {
            let [from, to] = read_keys(
                throttle,
                [("from_interarrival", true), ("to_interarrival", true)],
                "gradual throttle",
            )?;
            GradualRates::Interarrival {
                from: from.unwrap_or(0),
                to: to.unwrap_or(0),
            }
        } else {
            let [from, to, interval] = read_keys(
                throttle,
                [("from_rate", true), ("to_rate", true), ("interval", false)],
                "gradual throttle",
            )?;
            GradualRates::Rates {
                from: from.unwrap_or(0),
                to: to.unwrap_or(0),
                interval_ms: interval.unwrap_or(DEFAULT_INTERVAL_MS),
            }
        };
        let plan = if has(plan, "duration") {
            let [d] = read_keys(plan, [("duration", true)], "gradual plan")?;
            RampPlan::Duration {
                duration_ms: d.unwrap_or(0),
            }
        } else {
            let [si, sc] = read_keys(
                plan,
                [("step_interval", true), ("step_count", true)],
                "gradual plan",
            )?;
            RampPlan::Steps {
                step_interval_ms: si.unwrap_or(0),
                step_count: sc.unwrap_or(0),
            }
        };
        Ok(GradualConfig { throttle, plan })
    }
}

impl GradualPlan {
    /// Number of rates (`steps + 1`).
    pub fn len(&self) -> u64 {
        self.steps + 1
    }

    /// Never empty: a plan has at least two rates.
    pub fn is_empty(&self) -> bool {
        false
    }

    /// Rate `i` (`0..=steps`): `from + round((to - from) / steps * i)`; `None` past the end.
    pub fn rate_at(&self, i: u64) -> Option<u64> {
        if i > self.steps {
            return None;
        }
        let delta = i128::from(self.to) - i128::from(self.from);
        let num = delta * i128::from(i);
        let den = i128::from(self.steps);
        // Round half away from zero, exactly.
        let q = (num.abs() * 2 + den) / (den * 2);
        let r = i128::from(self.from) + if num < 0 { -q } else { q };
        u64::try_from(r).ok()
    }

    /// Every rate, in order.
    pub fn rates(&self) -> impl Iterator<Item = u64> + '_ {
        (0..=self.steps).filter_map(|i| self.rate_at(i))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rates(from: u64, to: u64, step_count: u64) -> Vec<u64> {
        GradualConfig {
            throttle: GradualRates::per_minute(from, to),
            plan: RampPlan::Steps {
                step_interval_ms: 10,
                step_count,
            },
        }
        .plan()
        .map(|p| p.rates().collect())
        .unwrap_or_default()
    }

    #[test]
    fn amoc_observed_plans() {
        assert_eq!(rates(100, 200, 4), [100, 125, 150, 175, 200]);
        assert_eq!(rates(10, 0, 3), [10, 7, 3, 0]);
        let p = GradualConfig {
            throttle: GradualRates::Interarrival { from: 100, to: 50 },
            plan: RampPlan::Duration { duration_ms: 500 },
        }
        .plan();
        let p = p.as_ref().ok();
        assert_eq!(
            p.map(|p| p.rates().collect::<Vec<_>>()),
            Some(vec![600, 720, 840, 960, 1080, 1200])
        );
        assert_eq!(
            p.map(|p| (p.step_interval_ms, p.interval_ms)),
            Some((100, 60_000))
        );
    }

    #[test]
    fn amoc_maps() {
        use crate::fields;
        use crate::telemetry::Value;
        let g = |t: &[Field], p: &[Field]| {
            GradualConfig::from_fields(&fields! {
                "throttle" => Value::map(t.to_vec()),
                "plan" => Value::map(p.to_vec())
            })
        };
        assert_eq!(
            g(
                &fields! {"from_rate" => 100, "to_rate" => 200},
                &fields! {"step_interval" => 10, "step_count" => 4}
            ),
            Ok(GradualConfig {
                throttle: GradualRates::per_minute(100, 200),
                plan: RampPlan::Steps {
                    step_interval_ms: 10,
                    step_count: 4
                },
            })
        );
        assert_eq!(
            g(
                &fields! {"from_interarrival" => 100, "to_interarrival" => 50},
                &fields! {"duration" => 500}
            ),
            Ok(GradualConfig {
                throttle: GradualRates::Interarrival { from: 100, to: 50 },
                plan: RampPlan::Duration { duration_ms: 500 },
            })
        );
        for (t, p) in [
            (
                &fields! {"from_rate" => 1}[..],
                &fields! {"duration" => 500}[..],
            ),
            (
                &fields! {"from_rate" => 1, "to_rate" => -2}[..],
                &fields! {"duration" => 500}[..],
            ),
            (
                &fields! {"from_rate" => 1, "to_interarrival" => 2}[..],
                &fields! {"duration" => 500}[..],
            ),
            (&fields! {"from_rate" => 1, "to_rate" => 2}[..], &[][..]),
            (
                &fields! {"from_rate" => 1, "to_rate" => 2}[..],
                &fields! {"duration" => 5, "step_count" => 1}[..],
            ),
        ] {
            assert!(
                matches!(g(t, p), Err(ThrottleError::InvalidConfig(_))),
                "{t:?} {p:?}"
            );
        }
        assert!(GradualConfig::from_fields(&fields! {"throttle" => 1}).is_err());
    }

    #[test]
    fn rounds_half_away_from_zero() {
        // (3 - 0) / 2 * 1 = 1.5 → 2; (0 - 3) / 2 * 1 = -1.5 → -2.
        assert_eq!(rates(0, 3, 2), [0, 2, 3]);
        assert_eq!(rates(3, 0, 2), [3, 1, 0]);
    }

    #[test]
    fn overflowing_lengths_are_errors_that_say_so() {
        // Issue 12 item 2: `g 6000 18446744073709552` was accepted as "over 0s".
        let secs = 18_446_744_073_709_552;
        let err = RampPlan::over_seconds(secs).map_err(|e| e.to_string());
        assert_eq!(
            err,
            Err(format!(
                "invalid throttle configuration: a ramp over {secs} s is too long: \
                 at most 18446744073709551 s"
            ))
        );
        assert_eq!(
            RampPlan::over_seconds(3600),
            Ok(RampPlan::Duration {
                duration_ms: 3_600_000
            })
        );
        let long = GradualConfig {
            throttle: GradualRates::per_minute(1, 2),
            plan: RampPlan::Steps {
                step_interval_ms: u64::MAX / 2,
                step_count: 3,
            },
        };
        assert!(matches!(
            long.plan(),
            Err(ThrottleError::InvalidConfig(m)) if m.contains("too long")
        ));
    }

    #[test]
    fn invalid_plans_are_errors() {
        let bad = |throttle, plan| {
            matches!(
                GradualConfig { throttle, plan }.plan(),
                Err(ThrottleError::InvalidConfig(_))
            )
        };
        let t = GradualRates::per_minute(1, 2);
        assert!(bad(t, RampPlan::Duration { duration_ms: 99 }));
        assert!(bad(
            t,
            RampPlan::Steps {
                step_interval_ms: 0,
                step_count: 3
            }
        ));
        assert!(bad(
            t,
            RampPlan::Steps {
                step_interval_ms: 3,
                step_count: 0
            }
        ));
        assert!(bad(
            GradualRates::Interarrival { from: 0, to: 10 },
            RampPlan::Duration { duration_ms: 1000 }
        ));
    }
}
