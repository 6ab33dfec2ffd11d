//! The built-in demo scenario, `demo`: a small chat service under load, exercising every part
//! of the engine so the monitor has something to show within a second.
//!
//! Each user logs in through the `logins` throttle, then until it is removed: sends a message
//! through the `messages` throttle (a `[demo, message, _]` span of the scenario's own), joins
//! the `pairs` coordinator every few messages to be matched with another user, and thinks for
//! `think_time`. Every 37th user gives up with an error after a few messages, so failures show.
//!
//! Settings (`rookery run --list-settings`): `think_time`, `message_rate`, `login_rate`,
//! `pair_every`, and the engine's `user_rate`.

use std::sync::Arc;
use std::time::Duration;

use crate::engine::config::{ConfigValue, Setting, SettingType, UpdateRule, Verdict};
use crate::engine::coordinator::{Action, Plan};
use crate::engine::throttle::{Rate, ThrottleConfig};
use crate::engine::{InitContext, Scenario, ScenarioError, UserContext, UserResult};
use crate::fields;
use crate::telemetry::{SpanStop, StaticName, Value};

/// The span prefix of one message: `[demo, message, start | stop | exception]`.
pub static MESSAGE: StaticName = StaticName::new(&["demo", "message"]);
/// Emitted by the `pairs` coordinator for every matched pair.
pub static PAIRED: StaticName = StaticName::new(&["demo", "chat", "paired"]);

/// The demo scenario.
#[derive(Debug, Default, Clone, Copy)]
pub struct Demo;

/// What `init` resolved, shared by a node's users.
#[derive(Debug)]
pub struct DemoState {
    think_time: Duration,
    pair_every: u64,
}

fn positive(v: &ConfigValue) -> Verdict {
    match v.as_i64() {
        Some(n) if n > 0 => Verdict::Accept,
        _ => Verdict::Reject("must be a positive integer".into()),
    }
}

fn per_minute(n: i64) -> ThrottleConfig {
    ThrottleConfig::new(Rate::Finite(u64::try_from(n).unwrap_or(0)), 60_000)
}

impl Scenario for Demo {
    type State = DemoState;

    fn name(&self) -> &str {
        "demo"
    }

    fn settings(&self) -> Vec<Setting> {
        vec![
            Setting::new("think_time", "Pause between a user's messages")
                .ty(SettingType::Duration)
                .default_value(ConfigValue::Duration(Duration::from_millis(500)))
                .update(UpdateRule::Accept),
            Setting::new("message_rate", "Messages per minute, cluster-wide")
                .ty(SettingType::Int)
                .default_value(ConfigValue::Int(3000))
                .verify(positive)
                .update(UpdateRule::throttle_rate("messages", 60_000)),
            Setting::new("login_rate", "Logins per minute, cluster-wide")
                .ty(SettingType::Int)
                .default_value(ConfigValue::Int(600))
                .verify(positive)
                .update(UpdateRule::throttle_rate("logins", 60_000)),
            Setting::new(
                "pair_every",
                "A user asks for a chat partner every N messages",
            )
            .ty(SettingType::Int)
            .default_value(ConfigValue::Int(3))
            .verify(positive),
        ]
    }

    fn init(&self, ctx: &InitContext<'_>) -> Result<DemoState, ScenarioError> {
        let int = |name: &str| -> Result<i64, ScenarioError> {
            ctx.setting(name)
                .map_err(|e| ScenarioError::new(e.to_string()))?
                .and_then(|v| v.as_i64())
                .ok_or_else(|| ScenarioError::new(format!("{name} has no value")))
        };
        let think_time = ctx
            .setting("think_time")
            .map_err(|e| ScenarioError::new(e.to_string()))?
            .and_then(|v| v.as_duration())
            .unwrap_or(Duration::from_millis(500));
        let throttles = ctx.throttles();
        // Every node runs `init`; only the first start creates the cluster-wide throttles and
        // coordinator, the others find them running.
        for (name, rate) in [
            ("messages", int("message_rate")?),
            ("logins", int("login_rate")?),
        ] {
            match throttles.start(name, per_minute(rate)) {
                Ok(_)
                | Err(crate::engine::throttle::ThrottleError::WrongReconfiguration { .. }) => {}
                Err(e) => return Err(ScenarioError::new(format!("throttle {name}: {e}"))),
            }
        }
        let emitter = ctx.emitter().clone();
        let plan = Plan::new().item(
            2,
            Action::pairs(move |_, a, b| {
                if let (Some(a), Some(b)) = (a, b) {
                    emitter.emit(
                        &PAIRED,
                        &fields! {"count" => 1},
                        &fields! {"users" => vec![a.user as i64, b.user as i64]},
                    );
                }
            }),
        );
        match ctx
            .coordinators()
            .start("pairs", plan, Some(Duration::from_secs(5)))
        {
            Ok(()) | Err(crate::engine::coordinator::CoordinatorError::AlreadyStarted { .. }) => {}
            Err(e) => return Err(ScenarioError::new(format!("coordinator pairs: {e}"))),
        }
        Ok(DemoState {
            think_time,
            pair_every: u64::try_from(int("pair_every")?).unwrap_or(3),
        })
    }

    async fn start(&self, user: UserContext, state: Arc<DemoState>) -> UserResult {
        let id = user.user_id();
        let err = |e: &dyn std::fmt::Display| ScenarioError::new(e.to_string());
        user.throttles().wait("logins").await.map_err(|e| err(&e))?;
        let messages = user.throttles().handle("messages").map_err(|e| err(&e))?;
        let mut sent: u64 = 0;
        while !user.removal_requested() {
            let md = fields! {"user_id" => id as i64};
            let ok = user
                .telemetry()
                .span_async(MESSAGE.get(), &user.emitter().with_node(&md), async {
                    let r = messages.wait().await;
                    (r, SpanStop::metadata(user.emitter().with_node(&md)))
                })
                .await;
            ok.map_err(|e| err(&e))?;
            sent += 1;
            if id.is_multiple_of(37) && sent == 3 {
                return Err(ScenarioError::new("connection reset by peer (simulated)"));
            }
            if sent.is_multiple_of(state.pair_every) {
                let _ = user
                    .coordinators()
                    .add("pairs", id, Value::from(user.node()));
            }
            let think_time = user
                .setting("think_time")
                .ok()
                .flatten()
                .and_then(|v| v.as_duration())
                .unwrap_or(state.think_time);
            tokio::select! {
                () = tokio::time::sleep(think_time) => {}
                () = user.removed() => break,
            }
        }
        Ok(Value::from(sent))
    }

    fn terminate(&self, _state: &DemoState) -> UserResult {
        Ok(Value::atom("ok"))
    }
}
