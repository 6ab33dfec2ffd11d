//! The engine with its services wired in: settings resolved at start and read by users,
//! `user_rate` as a setting and as the throttle users start through, throttles and
//! coordinators started in `init` and shared by the users of every node, master loss.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use rookery::engine::config::{ConfigError, ConfigValue, ExplicitSettings, Setting, SettingType};
use rookery::engine::coordinator::{Action, Plan};
use rookery::engine::throttle::{Rate, ThrottleConfig};
use rookery::engine::{
    EngineError, EngineHandle, EngineOptions, InitContext, Scenario, ScenarioError, UserContext,
    UserRate, UserResult, boxed,
};
use rookery::telemetry::testing::EventCollector;
use rookery::telemetry::{Fields, Telemetry, Value};

/// Users read `greeting`, pass the `messages` throttle once, and meet in pairs.
struct Chatty {
    pairs: Arc<AtomicU64>,
}

impl Scenario for Chatty {
    type State = ();

    fn name(&self) -> &str {
        "chatty"
    }

    fn settings(&self) -> Vec<Setting> {
        vec![
            Setting::new("greeting", "what users say")
                .ty(SettingType::Str)
                .default_value(ConfigValue::Str("hello".into())),
            Setting::new("message_rate", "messages per second")
                .ty(SettingType::Int)
                .default_value(ConfigValue::Int(1000))
                .verify(|v| match v.as_i64() {
                    Some(n) if n > 0 => rookery::engine::config::Verdict::Accept,
                    _ => rookery::engine::config::Verdict::Reject("must be positive".into()),
                }),
        ]
    }

    fn init(&self, ctx: &InitContext<'_>) -> Result<(), ScenarioError> {
        let rate = ctx
            .setting("message_rate")
            .map_err(|e| ScenarioError::new(e.to_string()))?
            .and_then(|v| v.as_i64())
            .unwrap_or(1);
        // Every node runs init; the second one finds the throttle and coordinator started.
        let _ = ctx.throttles().start(
            "messages",
            ThrottleConfig::new(Rate::Finite(rate as u64), 1000),
        );
        let pairs = self.pairs.clone();
        let plan = Plan::new().item(
            2,
            Action::pairs(move |_, a, b| {
                if a.is_some() && b.is_some() {
                    pairs.fetch_add(1, Ordering::Relaxed);
                }
            }),
        );
        let _ = ctx.coordinators().start("pairs", plan, None);
        Ok(())
    }

    async fn start(&self, user: UserContext, _state: Arc<()>) -> UserResult {
        let greeting = user
            .setting("greeting")
            .map_err(|e| ScenarioError::new(e.to_string()))?
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_default();
        user.throttles()
            .wait("messages")
            .await
            .map_err(|e| ScenarioError::new(e.to_string()))?;
        user.coordinators()
            .add("pairs", user.user_id(), Value::from(user.node()))
            .map_err(|e| ScenarioError::new(e.to_string()))?;
        Ok(Value::from(greeting))
    }
}

fn engine(t: &Telemetry) -> (EngineHandle, Arc<AtomicU64>) {
    let e = EngineHandle::start(EngineOptions {
        telemetry: t.clone(),
        user_rate: UserRate::Infinity,
        ..EngineOptions::default()
    })
    .unwrap();
    (e, Arc::new(AtomicU64::new(0)))
}

#[tokio::test(start_paused = true)]
async fn users_read_settings_and_share_throttles_and_coordinators_across_nodes() {
    let t = Telemetry::new();
    let events = EventCollector::attach_prefix(&t, &["amoc"]);
    let (e, pairs) = engine(&t);
    let explicit = ExplicitSettings::new()
        .set("greeting", "hi")
        .set("user_rate", "infinity");
    let env = |var: &str| (var == "ROOKERY_MESSAGE_RATE").then(|| "500".to_owned());
    e.start_scenario_with(
        boxed(Chatty {
            pairs: pairs.clone(),
        }),
        &explicit,
        &env,
    )
    .unwrap();
    e.add_users(10).unwrap();
    e.wait_for("10 users done", Duration::from_secs(5), |e| {
        e.user_counts().returned == 10
    })
    .await
    .unwrap();
    // 10 users on two workers (ids 1-5 and 6-10) formed 5 pairs in one coordinator.
    assert_eq!(pairs.load(Ordering::Relaxed), 5);
    let info = e.services().throttles().info("messages").unwrap();
    assert_eq!(
        info.rate,
        Rate::Finite(500),
        "the environment set message_rate"
    );
    assert_eq!(info.executes, 10);
    let got = events.drain();
    let returns: Vec<&str> = got
        .iter()
        .filter(|r| r.name.dotted() == "amoc.scenario.start.stop")
        .filter_map(|r| r.metadata.get_str("return"))
        .collect();
    assert_eq!(returns, ["hi"; 10]);
    let user_rate_execs = got
        .iter()
        .filter(|r| r.name.dotted() == "amoc.throttle.execute")
        .filter(|r| r.metadata.get_str("name") == Some("user_rate"))
        .count();
    assert_eq!(user_rate_execs, 10, "every user started through user_rate");
}

#[tokio::test(start_paused = true)]
async fn bad_settings_are_all_reported_and_nothing_starts() {
    let t = Telemetry::new();
    let (e, pairs) = engine(&t);
    let explicit = ExplicitSettings::new()
        .set("message_rate", "-3")
        .set("user_rate", "fast")
        .set("colour", "blue");
    let err = e
        .start_scenario_with(boxed(Chatty { pairs }), &explicit, &|_| None)
        .unwrap_err();
    let EngineError::Settings(errors) = &err else {
        panic!("expected a settings error, got {err:?}");
    };
    let mut named: Vec<&str> = errors.iter().filter_map(ConfigError::setting).collect();
    named.sort_unstable();
    assert_eq!(named, ["colour", "message_rate", "user_rate"]);
    assert!(err.to_string().contains("message_rate"));
    assert!(matches!(
        e.add_users(1),
        Err(EngineError::NoNodes | EngineError::NoScenario)
    ));
}

#[tokio::test(start_paused = true)]
async fn user_rate_setting_updates_change_the_throttle() {
    let t = Telemetry::new();
    let (e, pairs) = engine(&t);
    let explicit = ExplicitSettings::new().set("user_rate", "0");
    e.start_scenario_with(boxed(Chatty { pairs }), &explicit, &|_| None)
        .unwrap();
    e.add_users(4).unwrap();
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(
        e.user_counts().running + e.user_counts().returned,
        0,
        "rate 0 holds"
    );
    let rates = EventCollector::attach(&t, &[rookery::engine::events::THROTTLE_RATE.get()]);
    let changed = e
        .update_settings(&ExplicitSettings::new().set("user_rate", "infinity"))
        .unwrap();
    assert_eq!(changed, ["user_rate"]);
    e.wait_for("users start", Duration::from_secs(5), |e| {
        e.user_counts().returned == 4
    })
    .await
    .unwrap();
    let confirmed = rates.drain();
    assert_eq!(confirmed.len(), 1);
    assert_eq!(confirmed[0].measurements.get_str("rate"), Some("infinity"));
    assert_eq!(e.user_rate(), UserRate::Infinity);
    // A read-only setting (declared without an update rule) is refused.
    assert!(matches!(
        e.update_settings(&ExplicitSettings::new().set("greeting", "yo")),
        Err(EngineError::Settings(_))
    ));
}

#[tokio::test(start_paused = true)]
async fn losing_the_master_ends_users_waiting_on_user_rate() {
    let t = Telemetry::new();
    let (e, pairs) = engine(&t);
    e.start_scenario(boxed(Chatty { pairs }), UserRate::PerMinute(0))
        .unwrap();
    e.add_users(6).unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(e.user_counts().waiting, 6);
    e.kill_node("node1").unwrap();
    assert!(e.services().throttles().is_down());
    assert!(matches!(
        e.set_user_rate(UserRate::Infinity),
        Err(EngineError::MasterDown(_))
    ));
    e.wait_for("waiters end", Duration::from_secs(5), |e| {
        e.nodes().iter().all(|n| n.users.waiting == 0)
    })
    .await
    .unwrap();
}

/// A killed node's users report their ends after its `nodedown`; the monitor must keep it down
/// (it was shown up again before), and a node added later must show up.
#[tokio::test(start_paused = true)]
async fn the_monitor_keeps_a_killed_node_down_while_its_users_report_their_end() {
    let t = Telemetry::new();
    let feed = rookery::monitor::LiveFeed::attach_default(&t).unwrap();
    let (e, pairs) = engine(&t);
    // Users start at once and then wait on a throttle of one message a second: running.
    let explicit = ExplicitSettings::new()
        .set("user_rate", "infinity")
        .set("message_rate", "1");
    e.start_scenario_with(boxed(Chatty { pairs }), &explicit, &|_| None)
        .unwrap();
    e.add_users(10).unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(e.user_counts().running >= 8);
    e.kill_node("node3").unwrap();
    let added = e.add_node().unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    let mut state = rookery::monitor::MonitorState::new();
    feed.drain_into(&mut state);
    let up = |name: &str| state.nodes().iter().find(|n| n.name == name).map(|n| n.up);
    assert_eq!(up("node3"), Some(false));
    assert_eq!(up("node2"), Some(true));
    assert_eq!(up(&added), Some(true));
    let summary = serde_json::to_value(state.summary()).unwrap();
    assert_eq!(summary["nodes"]["node3"], "down");
}

/// Throttle-rate settings apply in order (the last update wins, at once), and an update puts a
/// throttle back on its setting even after it was changed directly (from the monitor, say).
#[tokio::test(start_paused = true)]
async fn throttle_rate_settings_apply_in_order_and_survive_direct_changes() {
    let t = Telemetry::new();
    let (e, _) = engine(&t);
    e.start_scenario(boxed(rookery::demo::Demo), UserRate::Infinity)
        .unwrap();
    let rate = |e: &EngineHandle| e.services().throttles().info("messages").unwrap().rate;
    for v in 100..300 {
        e.update_settings(&ExplicitSettings::new().set("message_rate", v.to_string()))
            .unwrap();
    }
    assert_eq!(
        rate(&e),
        Rate::Finite(299),
        "the last update is in force at once"
    );

    e.services()
        .throttles()
        .change_rate("messages", ThrottleConfig::new(Rate::Finite(5), 60_000))
        .unwrap();
    let changed = e
        .update_settings(&ExplicitSettings::new().set("message_rate", "299"))
        .unwrap();
    assert!(changed.is_empty(), "the stored value did not change");
    assert_eq!(
        rate(&e),
        Rate::Finite(299),
        "but the throttle follows the setting again"
    );

    e.set_user_rate(UserRate::PerMinute(77)).unwrap();
    let config = e.services().config().unwrap();
    assert_eq!(config.get("user_rate").unwrap(), Some(ConfigValue::Int(77)));
    assert_eq!(e.user_rate(), UserRate::PerMinute(77));
}
