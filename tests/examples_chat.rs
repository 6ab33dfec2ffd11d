//! The `chat` example's scenario against its server, in-process and headless: users are
//! paired, and what the server received is what the summary says was sent.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use rookery::engine::boxed;
use rookery::engine::config::ExplicitSettings;
use rookery::telemetry::testing::EventCollector;
use rookery::telemetry::{EventName, Fields, Telemetry};

#[allow(dead_code)]
#[path = "../examples/common/chat_load.rs"]
mod chat_load;
mod examples_support;

use chat_load::{COORDINATOR, ChatLoad, ChatServer, THROTTLE};
use examples_support::run_headless;

/// Waits (up to 5 s) until the server has read every connection to its end.
async fn all_closed(server: &ChatServer) -> bool {
    let deadline = Instant::now() + Duration::from_secs(5);
    while server.open() > 0 {
        if Instant::now() > deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    true
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn paired_users_exchange_messages_and_the_server_counts_every_one() {
    let server = ChatServer::start().await.unwrap();
    let t = Telemetry::new();
    let settings = ExplicitSettings::new()
        .set("user_rate", "infinity")
        .set("message_rate", "infinity")
        .set("rounds", "5");
    let run = run_headless(
        &t,
        boxed(ChatLoad::new(server.addr())),
        &settings,
        10,
        Duration::from_secs(2),
    )
    .await;
    assert!(all_closed(&server).await, "every connection ends");

    let received = server.received();
    assert!(received > 100, "messages flowed: {received}");
    assert_eq!(
        run.count("chat.message.stop"),
        received,
        "one span stop per message"
    );
    assert_eq!(
        run.executes(THROTTLE),
        received,
        "one throttle execute per message"
    );
    assert_eq!(run.count("chat.message.exception"), 0);
    assert_eq!(server.connections(), 10, "one connection per user");
    // Every message reaches its partner, but for at most one per user at the very end (sent
    // to a partner that had already left).
    assert!(
        server.relayed() + 10 >= received,
        "relayed {}",
        server.relayed()
    );
    let summary = run.state.summary();
    let pairs = &summary.coordinators[COORDINATOR];
    // Each pairing is one execute of the `coordinate` kind; every 5 rounds a user joins again.
    assert!(
        pairs.add >= received / 5,
        "adds {} for {received}",
        pairs.add
    );
    assert!(summary.coordinator_executes["coordinate"].events > 0);
    assert_eq!((summary.users.stopped, summary.users.exceptions), (10, 0));
    assert_eq!(run.state.dropped(), 0, "the feed kept every event");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_an_odd_number_of_users_every_user_gets_partners_in_turn() {
    let server = ChatServer::start().await.unwrap();
    let t = Telemetry::new();
    let stops =
        EventCollector::attach(&t, &[EventName::new(&["chat", "message", "stop"]).unwrap()]);
    // Three users and one round per partner: two pair at once, the third waits for the next
    // pairing (or the 1 s timeout hands it back alone and it joins again).
    let settings = ExplicitSettings::new()
        .set("user_rate", "infinity")
        .set("message_rate", "infinity")
        .set("rounds", "1");
    let run = run_headless(
        &t,
        boxed(ChatLoad::new(server.addr())),
        &settings,
        3,
        Duration::from_secs(3),
    )
    .await;
    assert!(all_closed(&server).await);
    let received = server.received();
    assert!(received > 10, "messages flowed: {received}");
    assert_eq!(run.count("chat.message.stop"), received);
    let senders: BTreeSet<i64> = stops
        .drain()
        .iter()
        .filter_map(|e| e.metadata.get_i64("user_id"))
        .collect();
    assert_eq!(senders.len(), 3, "every user had partners: {senders:?}");
    let summary = run.state.summary();
    assert_eq!((summary.users.stopped, summary.users.exceptions), (3, 0));
}
