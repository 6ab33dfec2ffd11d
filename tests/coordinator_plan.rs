//! Plans and the registry's API errors (amoc_coordinator_SUITE: plan normalisation, `all`
//! ordering, dynamic names).

mod coordinator_support;

use std::time::Duration;

use coordinator_support::{Call, Recorder, add_users, setup};
use rookery::engine::coordinator::{CoordinatorError, EventKind, Plan, PlanError, PlanItem, Size};
use rookery::telemetry::Value;

fn shape(plan: Plan<Value>) -> Vec<(Size, usize)> {
    plan.normalise()
        .unwrap()
        .items()
        .iter()
        .map(|i| (i.size(), i.actions().len()))
        .collect()
}

#[test]
fn plan_normalises_successfully() {
    let r = Recorder::default();
    let a = || r.event("a");
    // Amoc: {2,[A]}, [{2,A}] and [{2,[A]}] all normalise to [{2,[A]}].
    let forms: Vec<Plan<Value>> = vec![
        Plan::from(PlanItem::new(2, vec![a()])),
        Plan::from(vec![PlanItem::new(2, a())]),
        Plan::from(vec![PlanItem::new(2, [a()])]),
        Plan::new().item(2, a()),
    ];
    for plan in forms {
        assert_eq!(shape(plan), vec![(Size::N(2), 1)]);
    }
}

#[test]
fn ordering_plan_sets_all_at_the_end() {
    let r = Recorder::default();
    let plan = Plan::new()
        .item(Size::All, [r.event("all1"), r.event("all1b")])
        .item(2, r.event("two"))
        .item(Size::All, r.event("all2"))
        .item(3..=5, r.event("range"))
        .item(7, [r.event("seven"), r.event("x"), r.event("y")]);
    assert_eq!(
        shape(plan),
        vec![
            (Size::N(2), 1),
            (Size::Range { min: 3, max: 5 }, 1),
            (Size::N(7), 3),
            (Size::All, 2),
            (Size::All, 1),
        ]
    );
}

#[test]
fn all_items_run_last_in_their_order_on_stop() {
    let (c, _events) = setup();
    let r = Recorder::default();
    let plan = Plan::new()
        .item(Size::All, r.event("all-a"))
        .item(3, r.event("three"))
        .item(Size::All, r.event("all-b"))
        .item(5, r.event("five"));
    c.start("order", plan, None).unwrap();
    add_users(&c, "order", 1, 2);
    c.stop("order").unwrap();
    let tags: Vec<_> = r.take().iter().map(Call::tag).collect();
    assert_eq!(tags, ["three", "five", "all-a", "all-b"]);
}

#[test]
fn bad_plans_are_errors_naming_the_coordinator_and_item() {
    let (c, _events) = setup();
    let r = Recorder::default();
    let cases: Vec<(Plan<Value>, PlanError)> = vec![
        (Plan::new(), PlanError::Empty),
        (
            Plan::new().item(2, r.event("a")).item(0, r.event("b")),
            PlanError::ZeroSize { item: 1 },
        ),
        (
            Plan::new().item(Size::Range { min: 5, max: 4 }, r.event("a")),
            PlanError::BadRange {
                item: 0,
                min: 5,
                max: 4,
            },
        ),
        (
            Plan::new().item(0..=4, r.event("a")),
            PlanError::BadRange {
                item: 0,
                min: 0,
                max: 4,
            },
        ),
        (
            Plan::new().item(Size::All, r.pairs("p")),
            PlanError::PairsOnAll { item: 0 },
        ),
    ];
    for (plan, reason) in cases {
        let err = c.start("bad", plan, None).unwrap_err();
        assert_eq!(
            err,
            CoordinatorError::BadPlan {
                name: "bad".into(),
                reason
            }
        );
        assert!(err.to_string().contains("\"bad\""), "{err}");
    }
    assert!(c.list().is_empty(), "a refused plan starts nothing");
}

#[test]
fn coordinator_name_can_be_dynamic_strings() {
    let (c, _events) = setup();
    let r = Recorder::default();
    let names = [
        "{tuple, 1}".to_string(),
        "[1,2,3]".to_string(),
        "binary name with spaces é".to_string(),
        format!("room-{}", 42),
        String::new(),
    ];
    for n in &names {
        c.start(n.as_str(), Plan::new().item(1, r.event("one")), None)
            .unwrap();
    }
    for n in &names {
        add_users(&c, n, 1, 1);
    }
    assert_eq!(r.take().len(), names.len(), "one batch per coordinator");
    let listed: Vec<_> = c.list().into_iter().map(|i| i.name).collect();
    let mut expected = names.to_vec();
    expected.sort();
    assert_eq!(listed, expected);
}

#[test]
fn starting_a_running_name_is_an_error_and_a_stopped_one_restarts() {
    let (c, _events) = setup();
    let r = Recorder::default();
    c.start("x", Plan::new().item(2, r.event("first")), None)
        .unwrap();
    assert_eq!(
        c.start("x", Plan::new().item(2, r.event("second")), None),
        Err(CoordinatorError::AlreadyStarted { name: "x".into() })
    );
    c.stop("x").unwrap();
    assert!(!c.info("x").unwrap().running);
    c.start("x", Plan::new().item(2, r.event("second")), None)
        .unwrap();
    add_users(&c, "x", 1, 2);
    let calls = r.take();
    assert_eq!(
        calls.last(),
        Some(&Call::Event("second", EventKind::Coordinate, 2))
    );
}

#[test]
fn unknown_and_stopped_names_are_error_values() {
    let (c, events) = setup();
    let r = Recorder::default();
    let unknown = CoordinatorError::Unknown {
        name: "nope".into(),
    };
    assert_eq!(c.add("nope", 1, Value::Null), Err(unknown.clone()));
    assert_eq!(c.reset("nope"), Err(unknown.clone()));
    assert_eq!(c.stop("nope"), Err(unknown.clone()));
    assert!(c.info("nope").is_err());
    assert!(c.handle("nope").is_err());

    c.start("s", Plan::new().item(2, r.event("a")), None)
        .unwrap();
    let handle = c.handle("s").unwrap();
    c.stop("s").unwrap();
    let stopped = CoordinatorError::Stopped { name: "s".into() };
    assert_eq!(c.add("s", 1, Value::Null), Err(stopped.clone()));
    assert_eq!(handle.add(1, Value::Null), Err(stopped.clone()));
    assert_eq!(c.reset("s"), Err(stopped.clone()));
    assert_eq!(c.stop("s"), Err(stopped));
    // Rejected calls report nothing: start and stop only.
    let names: Vec<_> = events
        .drain()
        .iter()
        .map(|e| e.name.dotted().to_string())
        .filter(|n| !n.ends_with("execute"))
        .collect();
    assert_eq!(names, ["amoc.coordinator.start", "amoc.coordinator.stop"]);
}

#[test]
fn a_timeout_needs_a_runtime_and_must_be_positive() {
    let (c, _events) = setup();
    let r = Recorder::default();
    assert_eq!(
        c.start(
            "t",
            Plan::new().item(2, r.event("a")),
            Some(Duration::from_secs(1))
        ),
        Err(CoordinatorError::NoRuntime { name: "t".into() })
    );
    assert_eq!(
        c.start("t", Plan::new().item(2, r.event("a")), Some(Duration::ZERO)),
        Err(CoordinatorError::ZeroTimeout { name: "t".into() })
    );
    // Without a timeout no runtime is needed.
    c.start("t", Plan::new().item(2, r.event("a")), None)
        .unwrap();
    assert_eq!(c.info("t").unwrap().timeout, None);
}

#[test]
fn actions_of_every_kind_compose_on_one_item() {
    let (c, _events) = setup();
    let r = Recorder::default();
    let plan = Plan::new().item(3, [r.event("e"), r.batch("b"), r.pairs("p")]);
    c.start("k", plan, None).unwrap();
    add_users(&c, "k", 1, 3);
    let co = EventKind::Coordinate;
    assert_eq!(
        r.take(),
        vec![
            Call::Event("e", co, 3),
            Call::Batch("b", co, 3, vec![1, 2, 3]),
            Call::Pair("p", co, 3, Some(1), Some(2)),
            Call::Pair("p", co, 3, Some(1), Some(3)),
            Call::Pair("p", co, 3, Some(2), Some(3)),
        ]
    );
}

#[test]
fn registries_and_handles_are_send_sync_and_clone() {
    fn check<T: Send + Sync + Clone + 'static>() {}
    check::<rookery::engine::coordinator::Coordinators>();
    check::<rookery::engine::coordinator::CoordinatorHandle>();
    check::<
        rookery::engine::coordinator::Coordinators<std::sync::Arc<dyn std::any::Any + Send + Sync>>,
    >();
    let (c, _events) = setup();
    let control: Box<dyn rookery::engine::coordinator::CoordinatorControl> = Box::new(c.clone());
    let r = Recorder::default();
    c.start("ctl", Plan::new().item(Size::All, r.event("all")), None)
        .unwrap();
    add_users(&c, "ctl", 1, 2);
    control.reset("ctl").unwrap();
    control.stop("ctl").unwrap();
    assert_eq!(control.list()[0].executes.reset.users, 2);
    assert_eq!(
        r.take(),
        vec![
            Call::Event("all", EventKind::Reset, 2),
            Call::Event("all", EventKind::Stop, 0)
        ]
    );
}
