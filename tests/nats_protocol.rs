//! The node protocol over NATS: the engine's `Request` envelope on a worker's command subject,
//! answered with a `Reply` of the same id; a repeated request is answered again without being
//! applied twice; a request for another node, or of a newer version, is not answered.

mod nats_support;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use nats_support::*;
use rookery::cluster_nats::{ClusterAddr, Master, MasterOptions};
use rookery::engine::protocol::{
    NodeCommand, NodeReport, Reply, Request, RequestId, RunId, decode_reply, encode,
};
use rookery::telemetry::{Fields, Telemetry, Value};

async fn ask(client: &async_nats::Client, payload: Vec<u8>) -> Option<Reply> {
    let asked = client.request("rookery.pr.cmd.w1", payload.into());
    match tokio::time::timeout(Duration::from_secs(2), asked).await {
        Ok(Ok(msg)) => Some(decode_reply(&msg.payload).expect("a protocol reply")),
        _ => None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_are_answered_by_id_and_repeats_are_applied_once() {
    let dir = tempfile::tempdir().unwrap();
    let server = NatsServer::start(dir.path());
    let url = server.url();
    let mut w1 = worker(dir.path(), &url, "w1", "pr", &[]);
    let telemetry = Telemetry::new();
    let started = Arc::new(Mutex::new(Vec::<i64>::new()));
    let s = started.clone();
    telemetry
        .attach_prefix(
            "probe",
            &["amoc", "scenario", "start", "start"],
            move |_, _, md, _| {
                if let Some(Value::Int(u)) = md.lookup("user_id") {
                    s.lock().unwrap().push(*u);
                }
            },
            Value::Null,
        )
        .unwrap();
    let master = Master::start(
        MasterOptions {
            addr: ClusterAddr {
                url: url.clone(),
                ..ClusterAddr::default()
            },
            run: "pr".into(),
            name: "master".into(),
            scenario: "demo".into(),
            settings: vec!["user_rate=infinity".into(), "think_time=60s".into()],
            heartbeat: rookery::cluster_nats::HEARTBEAT,
            timeout: rookery::cluster_nats::TIMEOUT,
        },
        telemetry.clone(),
        Instant::now(),
    )
    .await
    .unwrap();
    master.wait_nodes(1, Duration::from_secs(30)).await.unwrap();
    let client = async_nats::connect(&url).await.unwrap();
    let add = |id: u64| {
        Request::new(
            RequestId(id),
            "w1".into(),
            NodeCommand::AddUsers {
                run: RunId(1),
                first: 500,
                last: 502,
            },
        )
    };
    let first = ask(&client, encode(&add(900_001))).await.expect("answered");
    assert_eq!(first.id, Some(RequestId(900_001)));
    assert_eq!(
        first.report,
        NodeReport::Added {
            run: RunId(1),
            first: 500,
            last: 502,
            duplicate: false
        }
    );
    // The same request again (a retry): the same answer, from the node's reply cache.
    let again = ask(&client, encode(&add(900_001))).await.expect("answered");
    assert_eq!(again, first);
    // The same block under a new id: recognised by content.
    let other = ask(&client, encode(&add(900_002))).await.expect("answered");
    assert!(
        matches!(
            other.report,
            NodeReport::Added {
                duplicate: true,
                ..
            }
        ),
        "{other:?}"
    );
    // Not for this node, or from a newer protocol: no answer (the sender times out).
    let mut stray = add(900_003);
    stray.node = "w9".into();
    assert_eq!(ask(&client, encode(&stray)).await, None);
    let mut newer = serde_json::to_value(add(900_004)).unwrap();
    newer["v"] = serde_json::json!(99);
    assert_eq!(
        ask(&client, serde_json::to_vec(&newer).unwrap()).await,
        None
    );
    // Users 500..=502 started once each.
    let end = Instant::now() + Duration::from_secs(10);
    while started.lock().unwrap().len() < 3 && Instant::now() < end {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mut ids = started.lock().unwrap().clone();
    ids.sort();
    assert_eq!(ids, vec![500, 501, 502]);
    master.stop(Duration::from_secs(15)).await.unwrap();
    master.end().await;
    assert!(w1.ends_ok(Duration::from_secs(10)), "{}", w1.stderr_text());
}
