//! `rookery attach` against a real one-node Amoc (see `amoc_support` for how it is built and
//! run): the attached summary equals the bridge's own recording replayed; a rate change sent
//! from Rookery reaches Amoc and comes back as Amoc's event; a wrong token is refused; the
//! bridge outlives its clients.

mod amoc_support;

use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use amoc_support::{Cluster, Guard, replay_summary, rookery_cmd, wait_events};
use rookery::attach::{AttachError, AttachOptions, Attachment, BridgeAddress, BridgeSink};
use rookery::monitor::MonitorState;
use rookery::tui::{CommandSink, OperatorCommand};

const WAIT: Duration = Duration::from_secs(60);

fn address(port: u16) -> BridgeAddress {
    BridgeAddress::parse(&format!("amoc://127.0.0.1:{port}")).unwrap()
}

fn with_token(token: &str) -> AttachOptions {
    AttachOptions {
        token: Some(token.into()),
        ..AttachOptions::default()
    }
}

#[test]
fn attached_summary_equals_the_recording_and_a_rate_change_reaches_amoc() {
    let cluster = Cluster::start(1, "single", &[("AMOC_ROOKERY_POSTS", "3 posts")]);
    let bridge_log = cluster.path("bridge.jsonl");
    let client_log = cluster.path("client.jsonl.gz");
    let port = cluster.start_bridge(&format!(
        "token => <<\"secret\">>, record => \"{}\"",
        bridge_log.display()
    ));
    // The headless client runs until the bridge ends the stream.
    let child = rookery_cmd()
        .args([
            "attach",
            &format!("amoc://127.0.0.1:{port}"),
            "--token",
            "secret",
        ])
        .args(["--headless", "--record"])
        .arg(&client_log)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("starting rookery attach");
    let mut attach = Guard::new(child, "rookery attach");
    cluster.wait_clients(1);

    let master = cluster.master();
    assert_eq!(
        master.eval(
            "amoc:do(rookery_test_scenario, 6, [{user_rate, 6000}, {rookery_post_rate, 600}])."
        ),
        "ok"
    );
    wait_events(&bridge_log, "amoc.scenario.start.stop", 6, WAIT);

    // A rate change through the sink the monitor's keys use.
    let (steer, _feed) = Attachment::connect(&address(port), with_token("secret")).unwrap();
    assert!(steer.commands_allowed());
    let steer = Arc::new(steer);
    let sink = BridgeSink::new(steer.clone());
    sink.send(OperatorCommand::SetRate {
        throttle: "post".into(),
        rate: 321,
        interval_ms: None,
    })
    .unwrap();
    // Amoc's own state, read back over erl_call: the rate changed, the interval stayed.
    master.wait_for(
        "#{rate := R, interval := I} = amoc_throttle_controller:get_info(post), {R, I}.",
        "{321, 60000}",
        WAIT,
    );
    // An error is Amoc's answer, not a silent no-op.
    let id = steer
        .send(
            &rookery::attach::BridgeCommand::Pause {
                name: "no_such_throttle_here".into(),
            },
            "pause",
        )
        .unwrap();
    let reply = steer.wait_reply(id, WAIT).expect("a reply");
    assert!(reply.unwrap_err().contains("no_such_throttle_here"));
    wait_events(&bridge_log, "amoc.throttle.rate", 4, WAIT);

    // Settings: listed from Amoc, changed through amoc's own verification and update.
    let rows = sink.settings().unwrap();
    let row = |name: &str| {
        rows.iter()
            .find(|r| r.name == name)
            .unwrap_or_else(|| panic!("no {name} in {rows:?}"))
            .clone()
    };
    assert_eq!(
        row("rookery_posts").value,
        "3",
        "the bad env value fell back"
    );
    assert!(!row("rookery_posts").updatable);
    assert!(row("rookery_post_rate").updatable);
    sink.send(OperatorCommand::SetSetting {
        name: "rookery_post_rate".into(),
        value: "120".into(),
    })
    .unwrap();
    master.wait_for(
        "#{rate := R} = amoc_throttle_controller:get_info(post), R.",
        "120",
        WAIT,
    );
    let e = sink
        .send(OperatorCommand::SetSetting {
            name: "rookery_posts".into(),
            value: "5".into(),
        })
        .unwrap_err();
    assert!(e.contains("readonly_parameters"), "{e}");
    wait_events(&bridge_log, "amoc.throttle.rate", 5, WAIT);
    // Add users through the bridge: they run to the end too.
    assert_eq!(
        master.eval("amoc_controller:get_status() =/= disabled."),
        "true"
    );
    sink.send(OperatorCommand::AddUsers { count: 2 }).unwrap();
    wait_events(&bridge_log, "amoc.scenario.start.stop", 8, WAIT);
    steer.close().unwrap();

    assert_eq!(master.eval("rookery_bridge:stop()."), "ok");
    let out = attach.wait_output(WAIT);
    assert!(
        out.status.success(),
        "rookery attach: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let attached: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let recorded = replay_summary(&bridge_log);
    assert_eq!(
        attached, recorded,
        "attached summary vs the bridge's recording"
    );
    assert_eq!(
        replay_summary(&client_log),
        recorded,
        "the client's recording"
    );

    // What the summary shows is Amoc's run.
    assert_eq!(attached["users"]["added"], 8);
    assert_eq!(attached["users"]["stopped"], 8);
    assert_eq!(attached["throttles"]["post"]["rate"].as_f64(), Some(120.0));
    assert_eq!(
        attached["throttles"]["login"]["rate"].as_f64(),
        Some(1200.0)
    );
    assert_eq!(attached["config"]["env"], 1, "the bad AMOC_ROOKERY_POSTS");
    assert_eq!(attached["coordinators"]["rooms"]["add"], 8);
    assert_eq!(attached["nodes"][&master.name], "up");
}

#[test]
fn a_wrong_token_is_refused_and_the_bridge_outlives_its_clients() {
    let cluster = Cluster::start(1, "token", &[]);
    let port = cluster.start_bridge("token => \"secret\"");
    let addr = address(port);

    match Attachment::connect(&addr, with_token("not-the-secret")) {
        Err(AttachError::Refused { reason, .. }) => assert_eq!(reason, "wrong token"),
        Err(e) => panic!("refused for the wrong reason: {e}"),
        Ok(_) => panic!("a wrong token was accepted"),
    }
    // The command line says so in one line, exit status 1.
    let out = rookery_cmd()
        .args([
            "attach",
            &format!("amoc://127.0.0.1:{port}"),
            "--token",
            "nope",
        ])
        .args(["--headless", "--duration", "1"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("refused the connection: wrong token"), "{err}");

    // Without a token, loopback may watch but not steer.
    let (watcher, _feed) = Attachment::connect(&addr, AttachOptions::default()).unwrap();
    assert!(!watcher.commands_allowed());
    let sink = BridgeSink::new(Arc::new(watcher));
    let e = sink
        .send(OperatorCommand::Pause {
            throttle: "user_rate".into(),
        })
        .unwrap_err();
    assert!(e.contains("commands are off"), "{e}");
    drop(sink);

    // The bridge's own JSON encoder, on awkward terms, read by serde_json.
    let master = cluster.master();
    let json_file = cluster.path("encoded.json");
    let written = master.eval(&format!(
        "file:write_file(\"{}\", rookery_bridge:encode(#{{q => <<\"a\\\"b\\\\c\\nd\\te\", 1, 0>>, \
         u => [99, 97, 102, 233], t => {{ok, [1, 2.5, -3]}}, n => undefined, b => true, \
         i => infinity, e => [], l => [a | b], bin => <<255>>, p => self()}})).",
        json_file.display()
    ));
    assert_eq!(written, "ok");
    let json = std::fs::read_to_string(&json_file).unwrap();
    let v: serde_json::Value = serde_json::from_str(&json)
        .unwrap_or_else(|e| panic!("the bridge's JSON does not parse ({e}): {json}"));
    assert_eq!(v["q"], "a\"b\\c\nd\te\u{1}\u{0}");
    assert_eq!(v["u"], "café");
    assert_eq!(v["t"], serde_json::json!(["ok", [1, 2.5, -3]]));
    assert_eq!(v["n"], serde_json::Value::Null);
    assert_eq!(v["b"], true);
    assert_eq!(v["i"], "infinity");
    assert_eq!(v["e"], serde_json::json!([]));
    assert_eq!(v["l"], "[a|b]");
    assert!(
        v["bin"].as_str().unwrap().starts_with("<<"),
        "not UTF-8: printed"
    );
    assert!(v["p"].as_str().unwrap().starts_with('<'));

    // Connect, go away, come back: the bridge still streams and takes commands.
    {
        let (first, _feed) = Attachment::connect(&addr, with_token("secret")).unwrap();
        cluster.wait_clients(1);
        first.close().unwrap();
    }
    cluster.wait_clients(0);
    let (again, feed) = Attachment::connect(&addr, with_token("secret")).unwrap();
    cluster.wait_clients(1);
    assert_eq!(
        master.eval("amoc:do(rookery_test_scenario, 2, [{user_rate, 6000}])."),
        "ok"
    );
    let id = again
        .send(
            &rookery::attach::BridgeCommand::ChangeRate {
                name: "login".into(),
                rate: 77,
                interval_ms: Some(1000),
            },
            "set login",
        )
        .unwrap();
    assert!(matches!(again.wait_reply(id, WAIT), Some(Ok(_))));
    let mut state = MonitorState::new();
    let deadline = std::time::Instant::now() + WAIT;
    loop {
        feed.drain_into(&mut state);
        let s = state.summary();
        let login = serde_json::to_value(s.throttles.get("login")).unwrap();
        if login["rate"].as_f64() == Some(77.0) && login["interval"] == 1000 {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no rate event for login: {}",
            s.to_json_pretty()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(
        master.eval("#{rate := R} = amoc_throttle_controller:get_info(login), R."),
        "77"
    );
    again.close().unwrap();
    assert_eq!(master.eval("is_pid(whereis(rookery_bridge))."), "true");

    // A bridge that may forward 1 event a second drops the rest, and says how many.
    assert_eq!(master.eval("rookery_bridge:stop()."), "ok");
    let port = cluster.start_bridge("token => \"secret\", max_rate => 1");
    let (slow, feed) = Attachment::connect(&address(port), with_token("secret")).unwrap();
    cluster.wait_clients(1);
    assert_eq!(master.eval("amoc:add(20)."), "ok");
    let mut state = MonitorState::new();
    let deadline = std::time::Instant::now() + WAIT;
    while state.recorder_dropped() == 0 {
        feed.drain_into(&mut state);
        assert!(
            std::time::Instant::now() < deadline,
            "no dropped count from the bridge"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let told = master.eval("maps:get(dropped, rookery_bridge:info()) > 0.");
    assert_eq!(told, "true");
    assert!(
        state
            .summary()
            .by_event
            .contains_key("rookery.recorder.dropped")
    );
    slow.close().unwrap();
}
