//! The built-in demo scenario exercises every part of the engine (virtual time).

use std::time::Duration;

use rookery::demo::Demo;
use rookery::engine::config::ExplicitSettings;
use rookery::engine::throttle::Rate;
use rookery::engine::{EngineHandle, EngineOptions, boxed};
use rookery::telemetry::Telemetry;
use rookery::telemetry::testing::EventCollector;

#[tokio::test(start_paused = true)]
async fn the_demo_sends_messages_pairs_users_and_shows_a_failure_on_three_nodes() {
    let t = Telemetry::new();
    let events = EventCollector::attach_prefix(&t, &[]);
    let engine = EngineHandle::start(EngineOptions {
        telemetry: t.clone(),
        ..EngineOptions::default()
    })
    .unwrap();
    let explicit = ExplicitSettings::new().set("user_rate", "6000");
    engine
        .start_scenario_with(boxed(Demo), &explicit, &|_| None)
        .unwrap();
    engine.add_users(40).unwrap();
    tokio::time::sleep(Duration::from_secs(10)).await;

    let got = events.drain();
    let count = |name: &str| got.iter().filter(|r| r.name.dotted() == name).count();
    assert!(count("demo.message.stop") > 100, "messages flow");
    assert!(count("demo.chat.paired") > 10, "users are paired");
    assert_eq!(count("amoc.scenario.start.start"), 40, "every user started");
    let failed: Vec<i64> = got
        .iter()
        .filter(|r| r.name.dotted() == "amoc.scenario.start.exception")
        .filter_map(|r| rookery::telemetry::Fields::get_i64(&r.metadata, "user_id"))
        .collect();
    assert_eq!(failed, [37], "the 37th user gives up");
    let nodes: std::collections::BTreeSet<&str> = got
        .iter()
        .filter(|r| r.name.dotted() == "amoc.scenario.start.start")
        .filter_map(|r| rookery::telemetry::Fields::get_str(&r.metadata, "node"))
        .collect();
    assert_eq!(nodes.into_iter().collect::<Vec<_>>(), ["node2", "node3"]);

    // A live settings update changes the message throttle.
    engine
        .update_settings(&ExplicitSettings::new().set("message_rate", "60"))
        .unwrap();
    tokio::time::sleep(Duration::from_millis(10)).await;
    let info = engine.services().throttles().info("messages").unwrap();
    assert_eq!(info.rate, Rate::Finite(60));

    engine.stop().unwrap();
    engine.wait_finished(Duration::from_secs(5)).await.unwrap();
    assert_eq!(engine.user_counts().running, 0);
}
