//! Throttle configurations and Amoc's normalisation (`amoc_throttle_config:verify_config/1`).
//!
//! | Input (Amoc map) | Normalised |
//! |---|---|
//! | `#{rate => R}` | `rate R, interval 60000` |
//! | `#{rate => R, interval => I}` | as is |
//! | `#{interarrival => 0}` | `rate infinity, interval 60000` |
//! | `#{interarrival => infinity}` | `rate 0, interval 60000` |
//! | `#{interarrival => IA > 0}` | `rate 60000 div IA, interval 60000` |
//! | anything else | [`ThrottleError::InvalidConfig`] |

use std::fmt;

use crate::telemetry::{Field, Value};

use super::error::ThrottleError;

/// Amoc's default interval: rates are per minute unless told otherwise.
pub const DEFAULT_INTERVAL_MS: u64 = 60_000;

/// How many releases an interval allows.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Rate {
    /// At most this many per interval (0 holds every request).
    Finite(u64),
    /// No limit at all.
    Infinity,
}

impl Rate {
    /// The telemetry value: an integer, or the atom `infinity` (a string).
    pub fn to_value(self) -> Value {
        match self {
            Rate::Finite(n) => Value::from(n),
            Rate::Infinity => Value::atom("infinity"),
        }
    }

    /// Reads an integer ≥ 0 or the string `"infinity"`.
    pub fn from_value(v: &Value) -> Option<Rate> {
        match v {
            Value::Str(s) if s == "infinity" => Some(Rate::Infinity),
            other => non_negative(other).map(Rate::Finite),
        }
    }
}

impl From<u64> for Rate {
    fn from(n: u64) -> Rate {
        Rate::Finite(n)
    }
}

impl fmt::Display for Rate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Rate::Finite(n) => write!(f, "{n}"),
            Rate::Infinity => f.write_str("infinity"),
        }
    }
}

/// A normalised throttle configuration: `rate` releases per `interval_ms` milliseconds.
///
/// `interval_ms == 0` means *parallelism*: at most `rate` permits are out at once, each held
/// until its run or guard ends.
///
/// `catch_up` (0 by default: Amoc's model) opts a paced throttle into an *open model*: instants
/// that came due while nobody waited are owed, up to `catch_up` of them, and the next requests
/// are released at once, late, until they are caught up (see [`catch_up`](Self::catch_up)).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ThrottleConfig {
    pub rate: Rate,
    pub interval_ms: u64,
    /// Most instants owed to late requests (0: none, unused instants are lost).
    pub catch_up: u64,
}

impl ThrottleConfig {
    /// `rate` per `interval_ms`, as is (`#{rate => R, interval => I}`).
    pub const fn new(rate: Rate, interval_ms: u64) -> ThrottleConfig {
        ThrottleConfig {
            rate,
            interval_ms,
            catch_up: 0,
        }
    }

    /// The open model: slots that come due while nobody waits are not lost; up to
    /// `max_backlog` of them are owed (older ones are dropped), and a request that finds some
    /// owed is released at once, its permit's
    /// [`scheduled_at`](super::ThrottlePermit::scheduled_at) the owed (earlier) instant. How
    /// many are owed is [`Throttles::overdue`](super::Throttles::overdue), also the `overdue`
    /// key of the `rate` event. Only paced throttles (`rate > 0`, `interval > 0`) owe; `0`
    /// turns it off. A later `change_rate` without a catch-up keeps this one.
    pub const fn catch_up(mut self, max_backlog: u64) -> ThrottleConfig {
        self.catch_up = max_backlog;
        self
    }

    /// `rate` per minute (`#{rate => R}`, or Amoc's bare integer form).
    pub const fn per_minute(rate: Rate) -> ThrottleConfig {
        ThrottleConfig::new(rate, DEFAULT_INTERVAL_MS)
    }

    /// Amoc's interarrival form: one release every `ia` milliseconds, as a rate per minute.
    /// `0` is `infinity`, `infinity` is `0`, otherwise `60000 div ia`.
    pub const fn interarrival(ia: Rate) -> ThrottleConfig {
        let rate = match ia {
            Rate::Finite(0) => Rate::Infinity,
            Rate::Infinity => Rate::Finite(0),
            Rate::Finite(ms) => Rate::Finite(DEFAULT_INTERVAL_MS / ms),
        };
        ThrottleConfig::per_minute(rate)
    }

    /// What [`unlock`](super::Throttles::unlock) sets: `infinity` with interval 0.
    pub const fn unlocked() -> ThrottleConfig {
        ThrottleConfig::new(Rate::Infinity, 0)
    }

    /// Parses an Amoc configuration map with exactly Amoc's rules: the keys are `rate`
    /// (with an optional `interval`) or `interarrival` alone; values are integers ≥ 0 or
    /// `"infinity"` (`interval` must be an integer). Anything else is
    /// [`ThrottleError::InvalidConfig`].
    pub fn from_fields(fields: &[Field]) -> Result<ThrottleConfig, ThrottleError> {
        let invalid = |why: &str| ThrottleError::InvalidConfig(format!("{why} in {fields:?}"));
        let mut rate = None;
        let mut interval = None;
        let mut interarrival = None;
        for (k, v) in fields {
            let slot = match k.as_str() {
                "rate" => &mut rate,
                "interval" => &mut interval,
                "interarrival" => &mut interarrival,
                _ => return Err(invalid(&format!("unknown key `{k}`"))),
            };
            if slot.is_some() {
                return Err(invalid(&format!("duplicate key `{k}`")));
            }
            *slot = Some(v);
        }
        let rate_of = |key: &str, v: &Value| {
            Rate::from_value(v).ok_or_else(|| {
                invalid(&format!(
                    "`{key}` must be an integer >= 0 or \"infinity\", not {v:?}"
                ))
            })
        };
        match (rate, interval, interarrival) {
            (Some(r), None, None) => Ok(ThrottleConfig::per_minute(rate_of("rate", r)?)),
            (Some(r), Some(i), None) => {
                let interval_ms =
                    non_negative(i).ok_or_else(|| invalid("`interval` must be an integer >= 0"))?;
                Ok(ThrottleConfig::new(rate_of("rate", r)?, interval_ms))
            }
            (None, None, Some(ia)) => {
                Ok(ThrottleConfig::interarrival(rate_of("interarrival", ia)?))
            }
            _ => Err(invalid(
                "expected `rate` (with optional `interval`) or `interarrival` alone",
            )),
        }
    }

    /// Amoc's `start(Name, Cfg | Rate)` argument: an integer (per minute) or a config map.
    pub fn from_value(v: &Value) -> Result<ThrottleConfig, ThrottleError> {
        match v {
            Value::Map(m) => ThrottleConfig::from_fields(m),
            other => non_negative(other)
                .map(ThrottleConfig::from)
                .ok_or_else(|| {
                    ThrottleError::InvalidConfig(format!(
                        "expected an integer >= 0 or a config map, not {other:?}"
                    ))
                }),
        }
    }

    /// The scheduling mode this configuration asks for.
    pub(super) fn mode(&self) -> Mode {
        match (self.rate, self.interval_ms) {
            (Rate::Infinity, _) => Mode::Open,
            (Rate::Finite(0), _) => Mode::Closed,
            (Rate::Finite(r), 0) => Mode::Parallel(r),
            (Rate::Finite(r), i) => Mode::Paced {
                rate: r,
                interval_ns: u128::from(i) * 1_000_000,
            },
        }
    }

    /// Measurements of the `[amoc, throttle, rate]` event.
    pub(super) fn rate_measurements(&self) -> [Field; 2] {
        crate::fields! { "rate" => self.rate.to_value(), "interval" => self.interval_ms }
    }
}

/// An integer ≥ 0 (floats are refused, as Amoc's guards do).
pub(super) fn non_negative(v: &Value) -> Option<u64> {
    match v {
        Value::Int(i) => u64::try_from(*i).ok(),
        _ => None,
    }
}

impl From<u64> for ThrottleConfig {
    /// Amoc's `start(Name, Rate)` with an integer: per minute.
    fn from(rate: u64) -> ThrottleConfig {
        ThrottleConfig::per_minute(Rate::Finite(rate))
    }
}

impl fmt::Display for ThrottleConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}ms", self.rate, self.interval_ms)?;
        if self.catch_up > 0 {
            write!(f, " catching up to {}", self.catch_up)?;
        }
        Ok(())
    }
}

/// How a configuration schedules releases.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Mode {
    /// Release everything at once.
    Open,
    /// Hold everything.
    Closed,
    /// At most this many permits out at once.
    Parallel(u64),
    /// `rate` evenly spaced releases per `interval_ns`.
    Paced { rate: u64, interval_ns: u128 },
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fields;

    #[test]
    fn bare_integer_or_map() {
        assert_eq!(
            ThrottleConfig::from_value(&Value::from(100)),
            Ok(ThrottleConfig::from(100))
        );
        let m = Value::map(fields! {"rate" => 5, "interval" => 0});
        assert_eq!(
            ThrottleConfig::from_value(&m),
            Ok(ThrottleConfig::new(Rate::Finite(5), 0))
        );
        // Amoc's `start(N, infinity)` is a function_clause: only an integer or a map.
        for bad in [Value::atom("infinity"), Value::from(-3), Value::Null] {
            assert!(matches!(
                ThrottleConfig::from_value(&bad),
                Err(ThrottleError::InvalidConfig(_))
            ));
        }
    }

    #[test]
    fn normalisation_table() {
        let c = |f: &[Field]| ThrottleConfig::from_fields(f);
        assert_eq!(
            c(&fields! {"rate" => 7}),
            Ok(ThrottleConfig::new(Rate::Finite(7), 60_000))
        );
        assert_eq!(
            c(&fields! {"rate" => "infinity", "interval" => 0}),
            Ok(ThrottleConfig::unlocked())
        );
        assert_eq!(
            c(&fields! {"interarrival" => 50}),
            Ok(ThrottleConfig::new(Rate::Finite(1200), 60_000))
        );
        assert_eq!(
            c(&fields! {"interarrival" => 7}),
            Ok(ThrottleConfig::new(Rate::Finite(8571), 60_000))
        );
        assert_eq!(
            c(&fields! {"interarrival" => 0}),
            Ok(ThrottleConfig::new(Rate::Infinity, 60_000))
        );
        assert_eq!(
            c(&fields! {"interarrival" => "infinity"}),
            Ok(ThrottleConfig::new(Rate::Finite(0), 60_000))
        );
        for bad in [
            &fields! {"interval" => 10}[..],
            &fields! {"rate" => -1}[..],
            &fields! {"rate" => 1, "interval" => -5}[..],
            &fields! {"rate" => 1, "interval" => "infinity"}[..],
            &fields! {"rate" => 1, "extra" => 2}[..],
            &fields! {"rate" => 1, "interarrival" => 2}[..],
            &fields! {"rate" => "fast"}[..],
            &fields! {"rate" => 1.5}[..],
            &fields! {"rate" => 1.0}[..],
            &fields! {"rate" => 1, "rate" => 2}[..],
            &[][..],
        ] {
            assert!(
                matches!(c(bad), Err(ThrottleError::InvalidConfig(_))),
                "{bad:?} must be refused"
            );
        }
    }
}
