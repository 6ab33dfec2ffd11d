//! Cluster-wide coordinators over NATS: the master (this test's process, the library's
//! `Master`) owns every coordinator; workers forward their users' adds, resets and stops.
//! * one user per `rookery node` worker, each adding itself once to the demo's `pairs`: one
//!   pair across two processes, one user left over and handed back on the timeout; a fourth
//!   user left over at the stop;
//! * a killed worker's user waiting in `pairs` is taken out (and counted), so the next pair is
//!   made of live users only;
//! * `reset` / `stop` called by a scenario on a worker act on the cluster-wide coordinator.

mod nats_support;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use nats_support::*;
use rookery::cluster_nats::{ClusterAddr, Master, MasterOptions, WorkerOptions, run_worker};
use rookery::engine::coordinator::{Action, CoordinatorError, Plan};
use rookery::engine::{InitContext, Scenario, ScenarioError, UserContext, UserResult, boxed};
use rookery::telemetry::{Fields, Telemetry, Value};

/// An event the master saw: name, the node it names, `event` metadata, `users` metadata.
#[derive(Clone, Debug)]
struct Seen {
    name: String,
    node: String,
    event: String,
    users: Vec<i64>,
}

fn users(v: Option<&Value>) -> Vec<i64> {
    match v {
        Some(Value::List(l)) => l.iter().filter_map(Value::as_i64).collect(),
        _ => Vec::new(),
    }
}

/// Waits (at most `limit`) until `cond` holds on what was seen.
async fn wait_for(
    seen: &Mutex<Vec<Seen>>,
    limit: Duration,
    cond: impl Fn(&[Seen]) -> bool,
) -> bool {
    eventually(limit, || cond(&seen.lock().unwrap())).await
}

fn count(seen: &[Seen], name: &str, event: &str) -> usize {
    seen.iter()
        .filter(|s| s.name == name && s.event == event)
        .count()
}

/// Records the coordinator events (and the workers' `batch_run`s, the demo's pairs and the
/// master's `coordinator_users_removed`) that `telemetry` sees.
fn probe(telemetry: &Telemetry) -> Arc<Mutex<Vec<Seen>>> {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let s = seen.clone();
    telemetry
        .attach_prefix(
            "probe",
            &[] as &[&str],
            move |name, _m, md, _| {
                let name = name.dotted().to_string();
                if !(name.starts_with("amoc.coordinator")
                    || name == "demo.chat.paired"
                    || name == "rookery.cluster.batch_run"
                    || name == "rookery.cluster.coordinator_users_removed")
                {
                    return;
                }
                s.lock().unwrap().push(Seen {
                    name,
                    node: md
                        .get_str("lost_node")
                        .or(md.get_str("node"))
                        .unwrap_or("")
                        .to_owned(),
                    event: md.get_str("event").unwrap_or("").to_owned(),
                    users: users(md.lookup("users")),
                });
            },
            Value::Null,
        )
        .unwrap();
    seen
}

fn named(seen: &Mutex<Vec<Seen>>, name: &str) -> Vec<Seen> {
    seen.lock()
        .unwrap()
        .iter()
        .filter(|e| e.name == name)
        .cloned()
        .collect()
}

/// What [`pairing_cluster`] starts, in the order the test drops it in.
type PairingCluster = (
    tempfile::TempDir,
    NatsServer,
    Vec<Proc>,
    Telemetry,
    Arc<Mutex<Vec<Seen>>>,
    Master,
);

/// A nats-server, three demo workers `w1`..`w3` of run `run`, and a master with 3 workers up
/// whose users ask for a partner at once and then think for a minute; `seen` is what the
/// master's telemetry saw.
async fn pairing_cluster(run: &str) -> PairingCluster {
    let dir = tempfile::tempdir().unwrap();
    let server = NatsServer::start(dir.path());
    let url = server.url();
    let workers: Vec<Proc> = ["w1", "w2", "w3"]
        .iter()
        .map(|w| worker(dir.path(), &url, w, run, &[]))
        .collect();
    let telemetry = Telemetry::new();
    let seen = probe(&telemetry);
    let master = demo_master(
        &url,
        run,
        &[
            "pair_every=1",
            "think_time=60s",
            "message_rate=6000000",
            "login_rate=6000000",
            "user_rate=infinity",
        ],
        &telemetry,
    )
    .await;
    master.wait_nodes(3, Duration::from_secs(30)).await.unwrap();
    (dir, server, workers, telemetry, seen, master)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_workers_waiting_user_is_taken_out_of_the_coordinator_and_counted() {
    let (_dir, _server, mut workers, _telemetry, seen, master) = pairing_cluster("co-kill").await;
    // User 1 on w1 waits in `pairs` for a partner; then w1 dies.
    let lone = master.add_users_to("w1", 1).await.unwrap();
    assert!(
        wait_for(&seen, Duration::from_secs(10), |s| count_named(
            s,
            "amoc.coordinator.add"
        ) == 1)
        .await
    );
    workers[0].kill9();
    assert!(
        wait_for(&seen, Duration::from_secs(10), |s| count_named(
            s,
            "rookery.cluster.coordinator_users_removed"
        ) == 1)
        .await,
        "the dead worker's user was not taken out: {:?}",
        seen.lock().unwrap()
    );
    let removed = named(&seen, "rookery.cluster.coordinator_users_removed");
    assert_eq!(removed[0].users, vec![lone.first as i64]);
    assert_eq!(removed[0].node, "w1");
    let info = master.coordinator_info("pairs").unwrap();
    assert_eq!(info.items[0].pending, 0, "{info:?}");
    assert_eq!(info.items[0].forgotten, 1, "{info:?}");
    // Two live users make the next pair: the dead one is not in it.
    let a = master.add_users_to("w2", 1).await.unwrap();
    let b = master.add_users_to("w3", 1).await.unwrap();
    assert!(
        wait_for(&seen, Duration::from_secs(10), |s| count_named(
            s,
            "demo.chat.paired"
        ) >= 2)
        .await,
        "no pair of live users: {:?}",
        seen.lock().unwrap()
    );
    for paired in named(&seen, "demo.chat.paired") {
        let mut users = paired.users.clone();
        users.sort();
        assert_eq!(users, vec![a.first as i64, b.first as i64]);
    }
    master.end().await;
    for w in &mut workers[1..] {
        assert!(w.ends_ok(Duration::from_secs(10)), "{}", w.stderr_text());
    }
}

fn count_named(seen: &[Seen], name: &str) -> usize {
    seen.iter().filter(|e| e.name == name).count()
}

/// A scenario whose users act on coordinator `meet` (3 a batch, no timeout) by their id:
/// 1, 2 and 5 add themselves, 3 resets it, 4 stops it; then each waits for its removal.
struct Control;

impl Scenario for Control {
    type State = ();
    fn name(&self) -> &str {
        "control"
    }
    fn init(&self, ctx: &InitContext<'_>) -> Result<(), ScenarioError> {
        let plan = Plan::new().item(3, Action::batch(|_, _| {}));
        match ctx.coordinators().start("meet", plan, None) {
            Ok(()) | Err(CoordinatorError::AlreadyStarted { .. }) => Ok(()),
            Err(e) => Err(ScenarioError::new(e.to_string())),
        }
    }
    async fn start(&self, user: UserContext, _state: Arc<()>) -> UserResult {
        let id = user.user_id();
        let c = user.coordinators();
        match id {
            3 => c.reset("meet"),
            4 => c.stop("meet"),
            _ => c.add("meet", id, Value::from(user.node())),
        }
        .map_err(|e| ScenarioError::new(e.to_string()))?;
        user.removed().await;
        Ok(Value::Null)
    }
}

/// A worker of run `run` inside this process (its own thread and runtime), running
/// [`Control`]; ends when the master ends the run.
fn control_worker(url: &str, name: &str, run: &str) -> std::thread::JoinHandle<Result<(), String>> {
    let opts = WorkerOptions {
        addr: ClusterAddr {
            url: url.to_owned(),
            ..ClusterAddr::default()
        },
        name: name.into(),
        run: run.into(),
        record: None,
        gzip: false,
        // Users on threads of their own, as `rookery node` runs them by default.
        user_threads: 2,
    };
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .map_err(|e| e.to_string())?;
        rt.block_on(async {
            let mut signals = rookery::cli::signals::Signals::new().map_err(|e| e.to_string())?;
            run_worker(&opts, &[boxed(Control)], &mut signals).await
        })
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reset_and_stop_called_on_a_worker_act_on_the_cluster_wide_coordinator() {
    let dir = tempfile::tempdir().unwrap();
    let server = NatsServer::start(dir.path());
    let url = server.url();
    let workers = [
        control_worker(&url, "w1", "co-ctl"),
        control_worker(&url, "w2", "co-ctl"),
    ];
    let telemetry = Telemetry::new();
    let seen = probe(&telemetry);
    let master = Master::start(
        MasterOptions::at(&url, "co-ctl", "control", &["user_rate=infinity"]),
        telemetry.clone(),
        std::time::Instant::now(),
    )
    .await
    .unwrap();
    master.wait_nodes(2, Duration::from_secs(30)).await.unwrap();
    // Users 1 (w1) and 2 (w2) wait in `meet` on the master.
    master.add_users_to("w1", 1).await.unwrap();
    master.add_users_to("w2", 1).await.unwrap();
    assert!(
        wait_for(&seen, Duration::from_secs(10), |s| count_named(
            s,
            "amoc.coordinator.add"
        ) == 2)
        .await
    );
    // User 3, on w2, resets it: the master hands both back to their nodes.
    master.add_users_to("w2", 1).await.unwrap();
    assert!(
        wait_for(&seen, Duration::from_secs(10), |s| count(
            s,
            "rookery.cluster.batch_run",
            "reset"
        ) == 2)
        .await,
        "the reset on w2 did not reach the cluster-wide coordinator: {:?}",
        seen.lock().unwrap()
    );
    {
        let s = seen.lock().unwrap();
        let mut ran_on: Vec<&str> = s
            .iter()
            .filter(|e| e.name == "rookery.cluster.batch_run" && e.event == "reset")
            .map(|e| {
                // Users 1 and 2 join from different workers: which add reaches the master
                // first is not ordered, so the batch is compared as a set.
                let mut users = e.users.clone();
                users.sort_unstable();
                assert_eq!(users, vec![1, 2]);
                e.node.as_str()
            })
            .collect();
        ran_on.sort();
        assert_eq!(ran_on, ["w1", "w2"]);
        assert_eq!(count_named(&s, "amoc.coordinator.reset"), 1);
        assert_eq!(count(&s, "amoc.coordinator.execute", "reset"), 1);
        assert!(
            s.iter()
                .filter(|e| e.name.starts_with("amoc.coordinator"))
                .all(|e| e.node == "master"),
            "coordinator events come from the master only: {s:?}"
        );
    }
    assert!(master.coordinator_info("meet").unwrap().running);
    // User 4, on w1, stops it: the master's coordinator stops; an add after that (user 5,
    // on w2) is refused there.
    master.add_users_to("w1", 1).await.unwrap();
    assert!(
        wait_for(&seen, Duration::from_secs(10), |s| count_named(
            s,
            "amoc.coordinator.stop"
        ) == 1)
        .await,
        "the stop on w1 did not reach the cluster-wide coordinator: {:?}",
        seen.lock().unwrap()
    );
    assert!(!master.coordinator_info("meet").unwrap().running);
    master.add_users_to("w2", 1).await.unwrap();
    master.stop(Duration::from_secs(15)).await.unwrap();
    assert_eq!(
        count_named(&seen.lock().unwrap(), "amoc.coordinator.add"),
        2,
        "an add after the stop counted"
    );
    master.end().await;
    for w in workers {
        assert_eq!(w.join().unwrap(), Ok(()));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn users_of_different_workers_meet_in_one_plan_and_leftovers_are_handed_back() {
    // Each user sends one message, asks for a partner, then thinks for a minute.
    let (_dir, _server, mut workers, _telemetry, seen, master) = pairing_cluster("co").await;
    let blocks = master.add_users(3).await.unwrap();
    let node_of = |user: i64| {
        blocks
            .iter()
            .find(|b| (b.first..=b.last).contains(&(user as u64)))
            .map(|b| b.node.clone())
            .unwrap()
    };
    assert_eq!(blocks.len(), 3, "one user per worker: {blocks:?}");

    // Two of the three meet: the master decides, and both members' nodes run the action.
    assert!(
        wait_for(&seen, Duration::from_secs(10), |s| {
            s.iter().filter(|e| e.name == "demo.chat.paired").count() >= 2
        })
        .await,
        "no pair across workers: {:?}",
        seen.lock().unwrap()
    );
    let paired: Vec<Seen> = {
        let s = seen.lock().unwrap();
        s.iter()
            .filter(|e| e.name == "demo.chat.paired")
            .cloned()
            .collect()
    };
    let pair = paired[0].users.clone();
    assert_eq!(pair.len(), 2);
    let (a, b) = (node_of(pair[0]), node_of(pair[1]));
    assert_ne!(a, b, "the pair spans two worker processes");
    let mut ran_on: Vec<String> = paired.iter().map(|e| e.node.clone()).collect();
    ran_on.sort();
    let mut expected = vec![a.clone(), b.clone()];
    expected.sort();
    assert_eq!(ran_on, expected, "each member's node ran the action once");
    assert!(paired.iter().all(|e| e.users == pair));

    // The third waits alone; the timeout (5 s after the last add) hands it back to its node.
    assert!(
        wait_for(&seen, Duration::from_secs(10), |s| count(
            s,
            "rookery.cluster.batch_run",
            "timeout"
        ) >= 1)
        .await,
        "the leftover was not handed back: {:?}",
        seen.lock().unwrap()
    );
    let alone: i64 = (1..=3).find(|u| !pair.contains(u)).unwrap();
    {
        let s = seen.lock().unwrap();
        let handed = s
            .iter()
            .find(|e| e.name == "rookery.cluster.batch_run" && e.event == "timeout")
            .unwrap();
        assert_eq!(handed.users, vec![alone]);
        assert_eq!(handed.node, node_of(alone), "handed to the leftover's node");
    }

    // A fourth user, left over when the run stops: handed back with `stop`.
    let extra = master.add_users_to(&a, 1).await.unwrap();
    assert!(
        wait_for(&seen, Duration::from_secs(10), |s| s
            .iter()
            .filter(|e| e.name == "amoc.coordinator.add")
            .count()
            >= 4)
        .await
    );
    master.stop(Duration::from_secs(15)).await.unwrap();
    {
        let s = seen.lock().unwrap();
        let handed = s
            .iter()
            .find(|e| e.name == "rookery.cluster.batch_run" && e.event == "stop")
            .unwrap_or_else(|| panic!("no stop leftover handed back: {s:?}"));
        assert_eq!(handed.users, vec![extra.first as i64]);
        assert_eq!(handed.node, a);
        // The coordinator's own events: once each, all from the master (none forwarded from a
        // worker's copy).
        let coordinator: Vec<&Seen> = s
            .iter()
            .filter(|e| e.name.starts_with("amoc.coordinator"))
            .collect();
        assert!(
            coordinator.iter().all(|e| e.node == "master"),
            "{coordinator:?}"
        );
        let named = |n: &str| coordinator.iter().filter(|e| e.name == n).count();
        assert_eq!(named("amoc.coordinator.start"), 1);
        assert_eq!(named("amoc.coordinator.add"), 4);
        assert_eq!(named("amoc.coordinator.timeout"), 1);
        assert_eq!(named("amoc.coordinator.stop"), 1);
        assert_eq!(count(&s, "amoc.coordinator.execute", "coordinate"), 1);
        assert_eq!(count(&s, "amoc.coordinator.execute", "timeout"), 1);
        assert_eq!(count(&s, "amoc.coordinator.execute", "stop"), 1);
    }
    master.end().await;
    for w in &mut workers {
        assert!(w.ends_ok(Duration::from_secs(10)), "{}", w.stderr_text());
    }
}
