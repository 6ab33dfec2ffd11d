//! The local API (Amoc's `amoc_SUITE`) and the cluster cases (`amoc_dist`, integration tests).

#[path = "engine_support.rs"]
mod support;

use std::sync::atomic::Ordering;
use std::time::Duration;

use rookery::engine::{ControllerStatus, EngineError, EngineHandle, NodeShare, UserRate, boxed};
use rookery::telemetry::Telemetry;
use support::{Behaviour, TestScenario, engine, scenario, settle};
use tokio::time::sleep;

fn added(node: &str, first: u64, last: u64) -> NodeShare {
    NodeShare::Added {
        node: node.into(),
        first,
        last,
    }
}

/// `(running, highest)` over the cluster.
fn totals(e: &EngineHandle) -> (u64, u64) {
    let c = e.user_counts();
    (c.running, c.highest_user_id)
}

// ---- amoc_SUITE on a one-node cluster (the master runs the users) ----

#[tokio::test(start_paused = true)]
async fn do_with_zero_or_one_user_then_add() {
    let e = engine(&Telemetry::new(), 1);
    e.start_scenario(scenario("s", Behaviour::ObeyRemoval), UserRate::Infinity)
        .unwrap();
    settle().await;
    assert_eq!(totals(&e), (0, 0));
    assert_eq!(e.add_users(1).unwrap(), vec![added("node1", 1, 1)]);
    settle().await;
    assert_eq!(totals(&e), (1, 1));
}

#[tokio::test(start_paused = true)]
async fn removal_counts_on_the_local_api() {
    let e = engine(&Telemetry::new(), 1);
    e.start_scenario(scenario("s", Behaviour::IgnoreRemoval), UserRate::Infinity)
        .unwrap();
    assert_eq!(
        e.remove_users(10, true),
        Ok(0),
        "0 users: nothing to remove"
    );
    e.add_users(50).unwrap();
    settle().await;
    assert_eq!(e.remove_users(10, true), Ok(10));
    sleep(Duration::from_millis(2001)).await;
    assert_eq!(totals(&e), (40, 50));
    assert_eq!(e.remove_users(100, true), Ok(40));
    sleep(Duration::from_millis(2001)).await;
    assert_eq!(totals(&e), (0, 50));
}

#[tokio::test(start_paused = true)]
async fn a_second_start_while_running_is_refused_and_a_rerun_after_stop_works() {
    let e = engine(&Telemetry::new(), 1);
    e.start_scenario(scenario("s", Behaviour::ObeyRemoval), UserRate::Infinity)
        .unwrap();
    assert_eq!(
        e.start_scenario(scenario("t", Behaviour::Quick), UserRate::Infinity),
        Err(EngineError::ScenarioIsRunning("s".into()))
    );
    e.add_users(3).unwrap();
    e.stop().unwrap();
    e.wait_finished(Duration::from_secs(5)).await.unwrap();
    assert_eq!(e.stop(), Err(EngineError::NoScenario));
    e.start_scenario(scenario("s", Behaviour::ObeyRemoval), UserRate::Infinity)
        .unwrap();
    assert_eq!(e.add_users(2).unwrap(), vec![added("node1", 4, 5)]);
}

#[tokio::test(start_paused = true)]
async fn commands_before_a_start_and_on_unknown_nodes_are_errors() {
    let e = engine(&Telemetry::new(), 3);
    assert_eq!(e.add_users(5), Err(EngineError::NoScenario));
    assert_eq!(e.remove_users(5, false), Err(EngineError::NoScenario));
    assert_eq!(
        e.kill_node("node9"),
        Err(EngineError::NoSuchNode("node9".into()))
    );
    assert_eq!(
        e.start_named("nope", UserRate::Infinity),
        Err(EngineError::NoSuchScenario("nope".into()))
    );
    e.register(scenario("named", Behaviour::ObeyRemoval));
    assert_eq!(e.scenarios(), vec!["named"]);
    e.start_named("named", UserRate::Infinity).unwrap();
    assert_eq!(e.node_status("node2").unwrap().name(), "running");
}

#[tokio::test(start_paused = true)]
async fn user_rate_changes_apply_to_waiting_users() {
    let e = engine(&Telemetry::new(), 3);
    e.start_scenario(
        scenario("s", Behaviour::ObeyRemoval),
        UserRate::PerMinute(0),
    )
    .unwrap();
    e.add_users(100).unwrap();
    sleep(Duration::from_secs(1)).await;
    assert_eq!(e.user_counts().running, 0);
    assert_eq!(e.user_counts().waiting, 100);
    e.set_user_rate(UserRate::PerMinute(600)).unwrap();
    assert_eq!(e.user_rate(), UserRate::PerMinute(600));
    sleep(Duration::from_millis(1005)).await;
    assert_eq!(e.user_counts().running, 11, "cluster-wide: 10 per second");
    e.set_user_rate(UserRate::Infinity).unwrap();
    settle().await;
    assert_eq!(e.user_counts().running, 100);
}

// ---- cluster ----

#[tokio::test(start_paused = true)]
async fn three_nodes_master_and_two_workers() {
    let e = engine(&Telemetry::new(), 3);
    let nodes = e.nodes();
    let names: Vec<_> = nodes.iter().map(|n| n.name.as_str()).collect();
    assert_eq!(names, ["node1", "node2", "node3"]);
    assert!(nodes[0].master && !nodes[1].master && !nodes[2].master);
    assert!(nodes.iter().all(|n| n.up));
    assert_eq!(e.master(), "node1");
}

#[tokio::test(start_paused = true)]
async fn users_land_on_workers_in_contiguous_blocks() {
    let e = engine(&Telemetry::new(), 4);
    e.start_scenario(scenario("s", Behaviour::ObeyRemoval), UserRate::Infinity)
        .unwrap();
    assert_eq!(
        e.add_users(10).unwrap(),
        vec![
            added("node2", 1, 3),
            added("node3", 4, 6),
            added("node4", 7, 10)
        ]
    );
    assert_eq!(
        e.add_users(2).unwrap(),
        vec![
            NodeShare::Skipped {
                node: "node2".into()
            },
            added("node3", 11, 11),
            added("node4", 12, 12)
        ]
    );
    settle().await;
    let users: Vec<u64> = e.nodes().iter().map(|n| n.users.running).collect();
    assert_eq!(users, [0, 3, 4, 5], "the master runs none");
    assert_eq!(totals(&e), (12, 12));
    assert_eq!(e.add_users_to("node1", 2).unwrap(), added("node1", 13, 14));
}

#[tokio::test(start_paused = true)]
async fn a_late_node_runs_the_scenario_with_no_users_then_takes_new_ones() {
    let e = engine(&Telemetry::new(), 3);
    e.start_scenario(scenario("s", Behaviour::ObeyRemoval), UserRate::Infinity)
        .unwrap();
    e.add_users(10).unwrap();
    let late = e.add_node().unwrap();
    assert_eq!(late, "node4");
    let status = e.node_status("node4").unwrap();
    let info = status.running().expect("late node runs the scenario");
    assert_eq!((info.currently_running_users, info.highest_user_id), (0, 0));
    assert_eq!(
        e.add_users(21).unwrap(),
        vec![
            added("node2", 11, 17),
            added("node3", 18, 24),
            added("node4", 25, 31)
        ]
    );
    settle().await;
    assert_eq!(totals(&e), (31, 31));
    assert_eq!(e.remove_users(10, true), Ok(10));
    settle().await;
    assert_eq!(totals(&e), (21, 31));
}

#[tokio::test(start_paused = true)]
async fn removal_takes_the_rest_from_other_nodes() {
    let e = engine(&Telemetry::new(), 3);
    e.start_scenario(scenario("s", Behaviour::ObeyRemoval), UserRate::Infinity)
        .unwrap();
    e.add_users_to("node2", 1).unwrap();
    e.add_users_to("node3", 9).unwrap();
    settle().await;
    // Shares 4 and 4; node2 has 1, so node3 gives 7.
    assert_eq!(e.remove_users(8, false), Ok(8));
    settle().await;
    assert_eq!(totals(&e), (2, 10));
}

#[tokio::test(start_paused = true)]
async fn killing_a_worker_ends_its_users_and_others_go_on() {
    let e = engine(&Telemetry::new(), 3);
    e.start_scenario(scenario("s", Behaviour::IgnoreRemoval), UserRate::Infinity)
        .unwrap();
    e.add_users(10).unwrap();
    settle().await;
    e.kill_node("node2").unwrap();
    settle().await;
    let nodes = e.nodes();
    assert!(!nodes[1].up);
    assert_eq!(nodes[1].users.running, 0, "its users were cancelled");
    assert_eq!(e.user_counts().running, 5);
    assert_eq!(
        e.kill_node("node2"),
        Err(EngineError::NodeDown("node2".into()))
    );
    assert_eq!(e.add_users(4).unwrap(), vec![added("node3", 11, 14)]);
}

#[tokio::test(start_paused = true)]
async fn stopping_a_worker_runs_terminate_then_takes_it_down() {
    let e = engine(&Telemetry::new(), 3);
    let s = TestScenario::new("s", Behaviour::IgnoreRemoval);
    let terminated = s.terminated.clone();
    e.start_scenario(boxed(s), UserRate::Infinity).unwrap();
    e.add_users(10).unwrap();
    settle().await;
    e.stop_node("node3").unwrap();
    settle().await;
    assert!(e.nodes()[2].up, "up until its users are gone");
    assert_eq!(e.node_status("node3").unwrap().name(), "terminating");
    sleep(Duration::from_millis(2010)).await;
    assert!(!e.nodes()[2].up);
    assert_eq!(
        terminated.load(Ordering::SeqCst),
        1,
        "node3's terminate ran"
    );
    assert_eq!(e.user_counts().running, 5);
}

#[tokio::test(start_paused = true)]
async fn losing_the_master_ends_every_user() {
    let e = engine(&Telemetry::new(), 3);
    e.start_scenario(scenario("s", Behaviour::IgnoreRemoval), UserRate::Infinity)
        .unwrap();
    e.add_users(10).unwrap();
    settle().await;
    e.kill_node("node1").unwrap();
    settle().await;
    assert!(e.nodes().iter().all(|n| !n.up && n.users.running == 0));
    assert_eq!(e.add_users(1), Err(EngineError::MasterDown("node1".into())));
    assert_eq!(e.add_node(), Err(EngineError::MasterDown("node1".into())));
}

#[tokio::test(start_paused = true)]
async fn cluster_stop_finishes_every_node() {
    let e = engine(&Telemetry::new(), 3);
    e.start_scenario(scenario("s", Behaviour::IgnoreRemoval), UserRate::Infinity)
        .unwrap();
    e.add_users(6).unwrap();
    settle().await;
    e.stop().unwrap();
    assert_eq!(e.node_status("node2").unwrap().name(), "terminating");
    e.wait_finished(Duration::from_secs(5)).await.unwrap();
    for n in e.nodes() {
        assert_eq!(
            n.status,
            ControllerStatus::Finished("s".into()),
            "{}",
            n.name
        );
    }
}

#[test]
fn commands_work_from_plain_threads() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    assert_eq!(
        EngineHandle::start(rookery::engine::EngineOptions::default()).err(),
        Some(EngineError::NoRuntime)
    );
    let e = EngineHandle::on_runtime(
        rt.handle().clone(),
        rookery::engine::EngineOptions {
            telemetry: Telemetry::new(),
            user_rate: UserRate::Infinity,
            ..Default::default()
        },
    );
    let e2 = e.clone();
    std::thread::spawn(move || {
        e2.start_scenario(scenario("s", Behaviour::ObeyRemoval), UserRate::Infinity)
            .unwrap();
        e2.add_users(100).unwrap();
    })
    .join()
    .unwrap();
    rt.block_on(e.wait_for("100 users", Duration::from_secs(10), |h| {
        h.user_counts().running == 100
    }))
    .unwrap();
    e.stop().unwrap();
    rt.block_on(e.wait_finished(Duration::from_secs(10)))
        .unwrap();
}

#[test]
fn the_handle_is_send_sync_and_clone() {
    fn check<T: Send + Sync + Clone + 'static>() {}
    check::<EngineHandle>();
    check::<rookery::engine::Controller>();
}

#[test]
fn commands_after_the_runtime_is_gone_do_not_hang() {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let e = EngineHandle::on_runtime(
            rt.handle().clone(),
            rookery::engine::EngineOptions {
                telemetry: Telemetry::new(),
                user_rate: UserRate::Infinity,
                ..Default::default()
            },
        );
        e.start_scenario(scenario("s", Behaviour::IgnoreRemoval), UserRate::Infinity)
            .unwrap();
        e.add_users(10).unwrap();
        rt.block_on(settle());
        drop(rt);
        // Tasks spawned now are dropped at once; they must unregister without deadlocking.
        let added = e.add_users(10).is_ok();
        let removed = e.remove_users(5, true).is_ok();
        e.stop().unwrap();
        let _ = e.kill_node("node2");
        drop(e);
        tx.send((added, removed)).unwrap();
    });
    let got = rx
        .recv_timeout(Duration::from_secs(20))
        .expect("no deadlock");
    assert_eq!(got, (true, true));
}
