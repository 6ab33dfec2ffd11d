//! Typed input: the prompts for an exact rate and a ramp, and the rate steps of the rate keys.

use super::action::KeyAction;
use super::command::OperatorCommand;
use super::pending::Asked;

/// What an input prompt is for. `unit` is how the throttle counts (`per 1m`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum InputKind {
    Rate {
        throttle: String,
        unit: String,
    },
    Ramp {
        throttle: String,
        unit: String,
    },
    /// A new value for a setting of the running scenario.
    Setting {
        name: String,
        current: String,
    },
}

impl InputKind {
    /// The prompt's label, unit included.
    pub fn label(&self) -> String {
        match self {
            InputKind::Rate { throttle, unit } => {
                format!("Rate for {throttle} ({unit}; a whole number or infinity)")
            }
            InputKind::Ramp { throttle, unit } => {
                format!("Ramp {throttle}: TARGET ({unit}) SECONDS")
            }
            InputKind::Setting { name, current } => format!("New value for {name} (now {current})"),
        }
    }
}

/// A prompt being typed into.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Input {
    pub kind: InputKind,
    pub text: String,
    pub error: Option<String>,
}

/// The largest finite rate the engine takes (its events carry rates as signed 64-bit numbers).
pub const MAX_RATE: u64 = i64::MAX as u64;
/// The longest ramp, in seconds (its length in milliseconds must fit in 64 bits).
pub const MAX_RAMP_S: u64 = u64::MAX / 1000;

/// The rate a step key asks for: ±10% (at least 1) or ×2 / ÷2, never below 1 nor above
/// [`MAX_RATE`].
pub fn next_rate(base: u64, action: KeyAction) -> u64 {
    let step = (base / 10).max(1);
    let r = match action {
        KeyAction::RateUp => base.saturating_add(step),
        KeyAction::RateDown => base.saturating_sub(step).max(1),
        KeyAction::RateUpLarge => base.saturating_mul(2).max(1),
        KeyAction::RateDownLarge => (base / 2).max(1),
        _ => base,
    };
    r.min(MAX_RATE)
}

fn is_infinity(w: &str) -> bool {
    matches!(
        w.to_ascii_lowercase().as_str(),
        "infinity" | "inf" | "unlimited" | "∞"
    )
}

/// A whole number from `w` at most `max`, or what is wrong with it (too big is said so).
fn whole(w: &str, max: u64, what: &str) -> Result<u64, String> {
    if !w.is_empty() && w.chars().all(|c| c.is_ascii_digit()) {
        return match w.parse::<u64>() {
            Ok(n) if n <= max => Ok(n),
            _ => Err(format!("`{w}` is too big: the largest {what} is {max}")),
        };
    }
    if w.starts_with('-') && w[1..].chars().all(|c| c.is_ascii_digit()) && w.len() > 1 {
        return Err(format!("`{w}` is negative: a {what} is 0 or more"));
    }
    Err(format!("`{w}` is not a whole number"))
}

/// Parses a submitted prompt into the command to send and what to mark pending, or says
/// what is wrong with it.
pub fn parse_input(input: &Input) -> Result<(String, OperatorCommand, Asked), String> {
    let words: Vec<&str> = input.text.split_whitespace().collect();
    match &input.kind {
        InputKind::Rate { throttle, .. } => {
            let [w] = words[..] else {
                return Err("type one number, or infinity".to_owned());
            };
            if is_infinity(w) {
                return Ok((
                    throttle.clone(),
                    OperatorCommand::SetUnlimited {
                        throttle: throttle.clone(),
                    },
                    Asked::Unlimited,
                ));
            }
            let rate = whole(w, MAX_RATE, "rate").map_err(|e| format!("{e} (or type infinity)"))?;
            Ok((
                throttle.clone(),
                OperatorCommand::SetRate {
                    throttle: throttle.clone(),
                    rate,
                    interval_ms: None,
                },
                Asked::Rate(rate),
            ))
        }
        InputKind::Ramp { throttle, .. } => {
            let [to, secs] = words[..] else {
                return Err("type TARGET SECONDS, e.g. 1200 30".to_owned());
            };
            if is_infinity(to) {
                return Err(
                    "a ramp needs a number to ramp to; set infinity with the rate key".to_owned(),
                );
            }
            let to = whole(to, MAX_RATE, "rate")?;
            let secs = whole(
                secs.trim_end_matches('s'),
                MAX_RAMP_S,
                "ramp length in seconds",
            )?;
            if secs == 0 {
                return Err("the ramp needs at least 1 second".to_owned());
            }
            Ok((
                throttle.clone(),
                OperatorCommand::StartRamp {
                    throttle: throttle.clone(),
                    to,
                    duration_ms: secs * 1000,
                },
                Asked::Ramp(to),
            ))
        }
        InputKind::Setting { .. } => Err("a setting is sent as typed".to_owned()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rate_steps() {
        assert_eq!(next_rate(600, KeyAction::RateUp), 660);
        assert_eq!(next_rate(5, KeyAction::RateUp), 6);
        assert_eq!(next_rate(1, KeyAction::RateDown), 1);
        assert_eq!(next_rate(600, KeyAction::RateDownLarge), 300);
        assert_eq!(next_rate(0, KeyAction::RateUpLarge), 1);
    }

    #[test]
    fn prompts_parse_or_explain() {
        let rate = |t: &str| Input {
            kind: InputKind::Rate {
                throttle: "m".into(),
                unit: "per 1m".into(),
            },
            text: t.into(),
            error: None,
        };
        assert!(matches!(
            parse_input(&rate("700")),
            Ok((
                _,
                OperatorCommand::SetRate { rate: 700, .. },
                Asked::Rate(700)
            ))
        ));
        assert_eq!(
            parse_input(&rate("7x")).unwrap_err(),
            "`7x` is not a whole number (or type infinity)"
        );
        let ramp = |t: &str| Input {
            kind: InputKind::Ramp {
                throttle: "m".into(),
                unit: "per 1m".into(),
            },
            text: t.into(),
            error: None,
        };
        assert!(matches!(
            parse_input(&rate("infinity")),
            Ok((_, OperatorCommand::SetUnlimited { .. }, Asked::Unlimited))
        ));
        assert_eq!(
            parse_input(&rate("99999999999999999999")).unwrap_err(),
            "`99999999999999999999` is too big: the largest rate is 9223372036854775807 \
             (or type infinity)"
        );
        assert_eq!(
            parse_input(&rate("-5")).unwrap_err(),
            "`-5` is negative: a rate is 0 or more (or type infinity)"
        );
        assert_eq!(
            parse_input(&ramp("6000 18446744073709552")).unwrap_err(),
            "`18446744073709552` is too big: the largest ramp length in seconds is \
             18446744073709551"
        );
        assert!(parse_input(&ramp("infinity 30")).is_err());
        assert!(matches!(
            parse_input(&ramp("1200 30s")),
            Ok((
                _,
                OperatorCommand::StartRamp {
                    to: 1200,
                    duration_ms: 30_000,
                    ..
                },
                _
            ))
        ));
    }
}
