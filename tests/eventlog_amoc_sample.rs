//! A real Amoc 4.1 log (assets/logs/amoc-sample.jsonl) against the figures in its truth file.
//! The truth file's keys differ from the summary contract; the mapping is spelled out below.

use std::path::PathBuf;

use rookery::eventlog::{MergedReader, ReadOptions};
use rookery::monitor::MonitorState;
use serde_json::Value as J;

fn asset(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("assets/logs")
        .join(name)
}

fn replay(paths: &[PathBuf]) -> MonitorState {
    let mut r = MergedReader::open(paths, ReadOptions::default()).expect("opens");
    let mut state = MonitorState::new();
    while let Some(ev) = r.next().expect("reads") {
        state.apply(&ev.as_ref());
    }
    let stats = r.stats();
    assert!(stats.warnings.is_empty(), "{:?}", stats.warnings);
    state
}

#[test]
fn summary_matches_the_truth_file() {
    let truth: J = serde_json::from_str(
        &std::fs::read_to_string(asset("amoc-sample.truth.json")).expect("truth file"),
    )
    .expect("truth JSON");
    let state = replay(&[asset("amoc-sample.jsonl")]);
    let s = serde_json::to_value(state.summary()).expect("serializes");

    // total_events -> events; events_by_name -> by_event (same dotted keys).
    assert_eq!(s["events"], truth["total_events"]);
    assert_eq!(s["by_event"], truth["events_by_name"]);

    // users.add/remove -> users.added/removed; scenario_start_spans.* -> users.*.
    assert_eq!(s["users"]["added"], truth["users"]["add"]);
    assert_eq!(s["users"]["removed"], truth["users"]["remove"]);
    for k in ["started", "stopped", "exceptions", "running"] {
        assert_eq!(s["users"][k], truth["scenario_start_spans"][k], "users.{k}");
    }

    // throttles.<n>.{last_rate,last_interval,request,execute} -> {rate,interval,requests,executes}.
    let tt = truth["throttles"].as_object().expect("throttles");
    assert_eq!(s["throttles"].as_object().map(|o| o.len()), Some(tt.len()));
    for (name, t) in tt {
        let ours = &s["throttles"][name];
        assert_eq!(ours["rate"], t["last_rate"], "{name} rate");
        assert_eq!(ours["interval"], t["last_interval"], "{name} interval");
        assert_eq!(ours["requests"], t["request"], "{name} requests");
        assert_eq!(ours["executes"], t["execute"], "{name} executes");
    }

    // coordinators: same keys.
    assert_eq!(s["coordinators"], truth["coordinators"]);

    // coordinator_execute.<kind>.{events,count_sum} -> coordinator_executes.<kind>.{events,users};
    // kinds absent from the truth file must be zero in ours.
    let ce = truth["coordinator_execute"]
        .as_object()
        .expect("coordinator_execute");
    for (kind, ours) in s["coordinator_executes"].as_object().expect("ours") {
        match ce.get(kind) {
            Some(t) => {
                assert_eq!(ours["events"], t["events"], "{kind} events");
                assert_eq!(ours["users"], t["count_sum"], "{kind} users");
            }
            None => assert_eq!(ours["events"], 0, "{kind} not in the truth file"),
        }
    }

    // config_events -> config; cluster_events {} -> cluster all zero.
    assert_eq!(s["config"], truth["config_events"]);
    for k in ["connect_nodes", "nodedown", "master_node_down"] {
        assert_eq!(s["cluster"][k], 0, "cluster.{k}");
    }

    // nodes: a list of names -> a map of name -> "up".
    let nodes: Vec<&str> = truth["nodes"]
        .as_array()
        .expect("nodes")
        .iter()
        .filter_map(J::as_str)
        .collect();
    let ours = s["nodes"].as_object().expect("nodes map");
    assert_eq!(ours.len(), nodes.len());
    for n in nodes {
        assert_eq!(ours[n], "up", "node {n}");
    }

    assert_eq!(s["handler_failures"], 0);
    let d = s["duration_s"].as_f64().expect("duration");
    let td = truth["duration_s"].as_f64().expect("truth duration");
    assert!((d - td).abs() < 1e-6, "duration {d} vs {td}");
}

#[test]
fn amoc_specifics_are_understood() {
    let state = replay(&[asset("amoc-sample.jsonl")]);
    // Executes without `name` go to the only coordinator.
    let rooms = state.coordinator("rooms").expect("rooms");
    assert_eq!(rooms.executes.events(), 10);
    assert_eq!(state.unattributed_executes().events(), 0);
    let timeout = rooms
        .executes
        .iter()
        .find(|(k, _)| *k == "timeout")
        .expect("timeout")
        .1;
    assert_eq!((timeout.min_batch, timeout.max_batch), (2, 12));
    // The `post` throttle was paused and resumed (process state updates), so it ends unpaused.
    let post = state.throttle("post").expect("post");
    assert_eq!(post.paused(), Some(false));
    assert_eq!(post.backlog(), 0);
    // One config warning with its message and setting.
    let w = state.warnings().front().expect("a warning");
    assert_eq!(w.level, "error");
    assert_eq!(w.setting.as_deref(), Some("AMOC_POSTS_PER_USER"));
    assert!(w.msg.contains("cannot parse"));
    // The node that emits throttle rate events is the master.
    assert_eq!(
        state.master().map(|n| n.name.as_str()),
        Some("amoc_sample@vm")
    );
    assert_eq!(state.scenario(), Some("sample_chat"));
}

/// Stop durations of `prefix ++ [stop]` read straight from the log file, µs rounded up, sorted.
fn stop_durations_us(prefix: &[&str]) -> Vec<u64> {
    let text = std::fs::read_to_string(asset("amoc-sample.jsonl")).expect("log");
    let mut want: Vec<J> = prefix.iter().map(|s| J::from(*s)).collect();
    want.push(J::from("stop"));
    let mut v: Vec<u64> = text
        .lines()
        .filter_map(|l| serde_json::from_str::<J>(l).ok())
        .filter(|e| e["event"].as_array() == Some(&want))
        .map(|e| {
            e["measurements"]["duration"]
                .as_u64()
                .expect("duration")
                .div_ceil(1_000)
        })
        .collect();
    v.sort_unstable();
    v
}

#[test]
fn span_latencies_come_from_the_stop_durations() {
    let truth: J = serde_json::from_str(
        &std::fs::read_to_string(asset("amoc-sample.truth.json")).expect("truth file"),
    )
    .expect("truth JSON");
    let state = replay(&[asset("amoc-sample.jsonl")]);
    let s = serde_json::to_value(state.summary()).expect("serializes");
    let spans = s["spans"].as_object().expect("spans");
    // Only real spans: `amoc.coordinator.stop` has no duration, so `amoc.coordinator` is absent.
    let keys: Vec<&str> = spans.keys().map(String::as_str).collect();
    assert_eq!(
        keys,
        [
            "amoc.scenario.init",
            "amoc.scenario.start",
            "amoc.scenario.terminate"
        ]
    );
    let user = &spans["amoc.scenario.start"];
    assert_eq!(user["count"], 14);
    assert_eq!(user["count"], truth["scenario_start_spans"]["stopped"]);
    assert_eq!(
        user["exceptions"],
        truth["scenario_start_spans"]["exceptions"]
    );

    let d = stop_durations_us(&["amoc", "scenario", "start"]);
    assert_eq!(d.len(), 14);
    assert_eq!(user["max_us"], *d.last().expect("some"));
    for (key, q) in [("p50_us", 0.5), ("p90_us", 0.9), ("p99_us", 0.99)] {
        // Nearest rank, as HDR histograms count it; they report the bucket's highest value,
        // which is at most 0.1 % above (3 significant digits).
        let exact = d[((q * d.len() as f64).ceil() as usize).max(1) - 1];
        let ours = user[key].as_u64().expect("integer");
        assert!(
            ours >= exact && ours as f64 <= exact as f64 * 1.001,
            "{key}: {ours} vs exact {exact}"
        );
    }
    let init = stop_durations_us(&["amoc", "scenario", "init"]);
    assert_eq!(spans["amoc.scenario.init"]["count"], init.len() as u64);
    assert_eq!(spans["amoc.scenario.init"]["max_us"], init[0]);
}
