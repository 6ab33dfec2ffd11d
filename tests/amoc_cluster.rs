//! The bridge on a real 3-node Amoc cluster (a master and two workers; see `amoc_support`):
//! it reaches every node, also one that joins later, tags events with their node, takes
//! user commands for the whole cluster, reports a killed worker as down, and what the client
//! saw equals the bridge's recording replayed.

mod amoc_support;

use std::sync::Arc;
use std::time::{Duration, Instant};

use amoc_support::{Cluster, Node, replay_summary};
use rookery::attach::{AttachFeed, AttachOptions, Attachment, BridgeAddress, BridgeSink};
use rookery::monitor::MonitorState;
use rookery::tui::{CommandSink, OperatorCommand};

const WAIT: Duration = Duration::from_secs(60);

/// Drains `feed` into `state` until `done` holds for the summary (as JSON).
fn wait_summary(
    feed: &AttachFeed,
    state: &mut MonitorState,
    what: &str,
    done: impl Fn(&serde_json::Value) -> bool,
) {
    let deadline = Instant::now() + WAIT;
    loop {
        feed.drain_into(state);
        let summary = serde_json::to_value(state.summary()).unwrap();
        if done(&summary) {
            return;
        }
        assert!(Instant::now() < deadline, "{what}: {summary:#}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Users that ended, normally or not.
fn ended(summary: &serde_json::Value) -> u64 {
    summary["users"]["stopped"].as_u64().unwrap_or(0)
        + summary["users"]["exceptions"].as_u64().unwrap_or(0)
}

fn forwarders(master: &Node) -> String {
    master.eval(
        "[is_pid(rpc:call(N, erlang, whereis, [rookery_bridge_fwd])) || N <- lists:sort(nodes())].",
    )
}

#[test]
fn the_bridge_watches_and_steers_a_three_node_cluster() {
    let mut cluster = Cluster::start(3, "clu", &[("AMOC_ROOKERY_POSTS", "3 posts")]);
    let bridge_log = cluster.path("bridge.jsonl.gz");
    let port = cluster.start_bridge(&format!(
        "token => <<\"secret\">>, record => \"{}\"",
        bridge_log.display()
    ));
    let master_name = cluster.master().name.clone();
    let workers: Vec<String> = cluster.nodes[1..].iter().map(|n| n.name.clone()).collect();
    // start/1 returned after a forwarder runs on every node.
    assert_eq!(forwarders(cluster.master()), "[true, true]");

    let (attachment, feed) = Attachment::connect(
        &BridgeAddress::parse(&format!("amoc://127.0.0.1:{port}")).unwrap(),
        AttachOptions {
            token: Some("secret".into()),
            ..AttachOptions::default()
        },
    )
    .unwrap();
    let attachment = Arc::new(attachment);
    let sink = BridgeSink::new(attachment.clone());
    cluster.wait_clients(1);

    let master = cluster.master();
    let started = master.eval("amoc_dist:do(rookery_test_scenario, 6, [{user_rate, 6000}]).");
    assert!(
        started.starts_with("{ok,"),
        "amoc_dist:do/3 returned {started}"
    );
    let mut state = MonitorState::new();
    wait_summary(&feed, &mut state, "6 users ended", |s| ended(s) == 6);
    assert_eq!(state.summary().users.exceptions, 0, "a user crashed");
    // The users ran on the workers, and their events say so.
    for w in &workers {
        assert_eq!(state.summary().nodes.get(w.as_str()), Some(&"up"), "{w}");
    }
    let by_node = |node: &str| {
        state
            .nodes()
            .iter()
            .find(|n| n.name == node)
            .map(|n| n.name.to_string())
    };
    assert!(by_node(&master_name).is_some());

    // Users added from Rookery go to the workers (amoc_dist on the master).
    sink.send(OperatorCommand::AddUsers { count: 4 }).unwrap();
    wait_summary(&feed, &mut state, "10 users ended", |s| {
        ended(s) == 10 && s["users"]["added"] == 10
    });
    assert_eq!(state.summary().users.exceptions, 0, "a user crashed");
    assert_eq!(
        master.eval("[element(1, rpc:call(N, amoc_controller, get_status, [])) || N <- lists:sort(nodes())]."),
        "[running, running]"
    );

    // A node that joins later is reached too, even without the bridge on its code path: the
    // master sends it the module.
    let late = Node::start_with(
        &cluster.epmd,
        "clul",
        &cluster.master().cookie.clone(),
        &[],
        false,
    );
    assert_eq!(late.eval("code:which(rookery_bridge)."), "non_existing");
    let late_name = late.name.clone();
    cluster.nodes.push(late);
    cluster
        .master()
        .eval(&format!("amoc_cluster:connect_nodes(['{late_name}'])."));
    cluster.master().wait_for(
        &format!("is_pid(rpc:call('{late_name}', erlang, whereis, [rookery_bridge_fwd]))."),
        "true",
        WAIT,
    );
    assert_eq!(
        cluster.master().eval(&format!(
            "rpc:call('{late_name}', rookery_bridge, module_info, [md5]) =:= rookery_bridge:module_info(md5)."
        )),
        "true"
    );

    // A worker killed outright shows as down, from Amoc's own [amoc, cluster, nodedown].
    let victim = workers[1].clone();
    cluster.nodes[2].kill();
    wait_summary(&feed, &mut state, "the killed worker is down", |s| {
        s["nodes"][&victim] == "down" && s["cluster"]["nodedown"].as_u64() >= Some(1)
    });
    assert_eq!(state.summary().nodes.get(workers[0].as_str()), Some(&"up"));

    // The bridge's recording, replayed, is what the client saw.
    assert_eq!(cluster.master().eval("rookery_bridge:stop()."), "ok");
    let deadline = Instant::now() + WAIT;
    while !feed.finished() {
        feed.drain_into(&mut state);
        assert!(Instant::now() < deadline, "the stream did not end");
        std::thread::sleep(Duration::from_millis(20));
    }
    feed.drain_into(&mut state);
    let attached = serde_json::to_value(state.summary()).unwrap();
    assert_eq!(attached, replay_summary(&bridge_log));
    // The scenario starts on each worker (the master of a distributed run runs none).
    assert_eq!(
        attached["config"]["env"], 2,
        "one bad AMOC_ROOKERY_POSTS per worker"
    );
    drop(sink);
    attachment.close().unwrap();
}
