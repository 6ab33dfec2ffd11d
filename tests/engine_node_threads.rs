//! Every in-process node has a thread of its own, named after it; the thread ends when its
//! node goes down (killed, or stopped once its users are gone) and when the engine is
//! dropped: no thread is left behind. (A test binary of its own: it counts the process's
//! threads.)

#[path = "engine_support.rs"]
mod support;

use std::time::{Duration, Instant};

use rookery::telemetry::Telemetry;
use support::{engine, run_users};

/// The names of this process's threads called `node<N>`.
fn node_threads() -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir("/proc/self/task")
        .expect("/proc/self/task lists this process's threads")
        .filter_map(|t| std::fs::read_to_string(t.ok()?.path().join("comm")).ok())
        .map(|n| n.trim().to_owned())
        .filter(|n| {
            n.strip_prefix("node")
                .is_some_and(|d| !d.is_empty() && d.bytes().all(|b| b.is_ascii_digit()))
        })
        .collect();
    names.sort();
    names
}

/// Waits (real time, 10 s at most) until the node threads are `want`.
fn threads_become(want: &[&str]) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let now = node_threads();
        if now == want {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "node threads {now:?}, expected {want:?}"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
}

#[test]
fn node_threads_end_with_their_node_and_with_the_engine() {
    assert_eq!(node_threads(), Vec::<String>::new(), "no node yet");
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a runtime");
    rt.block_on(async {
        let e = engine(&Telemetry::new(), 4);
        threads_become(&["node1", "node2", "node3", "node4"]);
        run_users(&e, 30).await;
        let late = e.add_node().unwrap();
        assert_eq!(late, "node5");
        threads_become(&["node1", "node2", "node3", "node4", "node5"]);
        e.kill_node("node3").unwrap();
        threads_become(&["node1", "node2", "node4", "node5"]);
        e.stop_node("node2").unwrap();
        e.wait_for("node2 down", Duration::from_secs(10), |h| !h.nodes()[1].up)
            .await
            .unwrap();
        threads_become(&["node1", "node4", "node5"]);
        drop(e);
        threads_become(&[]);
    });
}
