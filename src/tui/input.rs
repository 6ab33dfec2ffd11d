//! Typed input: the prompts for an exact rate and a ramp, and the rate steps of the rate keys.

use super::action::Action;
use super::command::Command;
use super::pending::Asked;

/// What an input prompt is for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum InputKind {
    Rate { throttle: String },
    Ramp { throttle: String },
}

/// A prompt being typed into.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Input {
    pub kind: InputKind,
    pub text: String,
    pub error: Option<String>,
}

/// The rate a step key asks for: ±10% (at least 1) or ×2 / ÷2, never below 1.
pub fn next_rate(base: u64, action: Action) -> u64 {
    let step = (base / 10).max(1);
    match action {
        Action::RateUp => base.saturating_add(step),
        Action::RateDown => base.saturating_sub(step).max(1),
        Action::RateUpLarge => base.saturating_mul(2).max(1),
        Action::RateDownLarge => (base / 2).max(1),
        _ => base,
    }
}

/// Parses a submitted prompt into the command to send and what to mark pending, or says
/// what is wrong with it.
pub fn parse_input(input: &Input) -> Result<(String, Command, Asked), String> {
    let words: Vec<&str> = input.text.split_whitespace().collect();
    let number = |w: &str| {
        w.parse::<u64>()
            .map_err(|_| format!("`{w}` is not a whole number"))
    };
    match &input.kind {
        InputKind::Rate { throttle } => {
            let [w] = words[..] else {
                return Err("type one number".to_owned());
            };
            let rate = number(w)?;
            Ok((
                throttle.clone(),
                Command::SetRate {
                    throttle: throttle.clone(),
                    rate,
                    interval_ms: None,
                },
                Asked::Rate(rate),
            ))
        }
        InputKind::Ramp { throttle } => {
            let [to, secs] = words[..] else {
                return Err("type TARGET SECONDS, e.g. 1200 30".to_owned());
            };
            let to = number(to)?;
            let secs = number(secs.trim_end_matches('s'))?;
            if secs == 0 {
                return Err("the ramp needs at least 1 second".to_owned());
            }
            Ok((
                throttle.clone(),
                Command::StartRamp {
                    throttle: throttle.clone(),
                    to,
                    duration_ms: secs * 1000,
                },
                Asked::Ramp(to),
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rate_steps() {
        assert_eq!(next_rate(600, Action::RateUp), 660);
        assert_eq!(next_rate(5, Action::RateUp), 6);
        assert_eq!(next_rate(1, Action::RateDown), 1);
        assert_eq!(next_rate(600, Action::RateDownLarge), 300);
        assert_eq!(next_rate(0, Action::RateUpLarge), 1);
    }

    #[test]
    fn prompts_parse_or_explain() {
        let rate = |t: &str| Input {
            kind: InputKind::Rate {
                throttle: "m".into(),
            },
            text: t.into(),
            error: None,
        };
        assert!(matches!(
            parse_input(&rate("700")),
            Ok((_, Command::SetRate { rate: 700, .. }, Asked::Rate(700)))
        ));
        assert_eq!(
            parse_input(&rate("7x")).unwrap_err(),
            "`7x` is not a whole number"
        );
        let ramp = Input {
            kind: InputKind::Ramp {
                throttle: "m".into(),
            },
            text: "1200 30s".into(),
            error: None,
        };
        assert!(matches!(
            parse_input(&ramp),
            Ok((
                _,
                Command::StartRamp {
                    to: 1200,
                    duration_ms: 30_000,
                    ..
                },
                _
            ))
        ));
    }
}
