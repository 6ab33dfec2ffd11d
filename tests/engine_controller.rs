//! Ports of Amoc's `controller_SUITE` (`all_tests` group) onto one [`Controller`].

#[path = "engine_support.rs"]
mod support;

use std::sync::atomic::Ordering;
use std::time::Duration;

use rookery::engine::{ControllerError, ControllerStatus, UserRate, boxed};
use rookery::telemetry::Telemetry;
use support::{Behaviour, TestScenario, controller, running, scenario, settle};
use tokio::time::sleep;

#[tokio::test(start_paused = true)]
async fn fresh_controller_is_idle_and_disable_blocks_start() {
    let c = controller(&Telemetry::new(), UserRate::Infinity);
    assert_eq!(c.status(), ControllerStatus::Idle);
    c.disable().unwrap();
    assert_eq!(c.status(), ControllerStatus::Disabled);
    let err = c
        .start_scenario(&scenario("s", Behaviour::Quick))
        .unwrap_err();
    assert_eq!(
        err,
        ControllerError::InvalidStatus(ControllerStatus::Disabled)
    );
    assert!(c.disable().is_err(), "disable only from idle");
}

#[tokio::test(start_paused = true)]
async fn start_gives_running_with_no_users() {
    let c = controller(&Telemetry::new(), UserRate::Infinity);
    c.start_scenario(&scenario("testing_scenario", Behaviour::ObeyRemoval))
        .unwrap();
    let status = c.status();
    let info = status.running().expect("running");
    assert_eq!(info.scenario, "testing_scenario");
    assert_eq!((info.currently_running_users, info.highest_user_id), (0, 0));
    let again = c.start_scenario(&scenario("other", Behaviour::Quick));
    assert!(matches!(
        again,
        Err(ControllerError::InvalidStatus(ControllerStatus::Running(_)))
    ));
}

#[tokio::test(start_paused = true)]
async fn add_users_checks_status_and_range() {
    let c = controller(&Telemetry::new(), UserRate::Infinity);
    assert_eq!(
        c.add_users(1, 10),
        Err(ControllerError::InvalidStatus(ControllerStatus::Idle))
    );
    c.start_scenario(&scenario("s", Behaviour::ObeyRemoval))
        .unwrap();
    assert_eq!(
        c.add_users(10, 1),
        Err(ControllerError::InvalidRange {
            start: 10,
            end: 1,
            highest: 0
        })
    );
    assert!(c.add_users(0, 3).is_err(), "ids start at 1");
    c.add_users(1, 10).unwrap();
    assert!(
        matches!(
            c.add_users(10, 12),
            Err(ControllerError::InvalidRange { highest: 10, .. })
        ),
        "ids are never reused"
    );
    settle().await;
    assert_eq!(running(&c), (10, 10));
}

#[tokio::test(start_paused = true)]
async fn add_users_6_to_10_gives_5_users_highest_10() {
    let c = controller(&Telemetry::new(), UserRate::Infinity);
    c.start_scenario(&scenario("s", Behaviour::ObeyRemoval))
        .unwrap();
    c.add_users(6, 10).unwrap();
    settle().await;
    assert_eq!(running(&c), (5, 10));
}

async fn forced_removal(users: u64, remove: u64, picked: u64, left: u64) {
    let c = controller(&Telemetry::new(), UserRate::Infinity);
    c.start_scenario(&scenario("s", Behaviour::IgnoreRemoval))
        .unwrap();
    c.add_users(1, users).unwrap();
    settle().await;
    assert_eq!(c.remove_users(remove, true), Ok(picked));
    sleep(Duration::from_millis(1900)).await;
    assert_eq!(running(&c), (users, users), "still in the grace period");
    sleep(Duration::from_millis(200)).await;
    assert_eq!(running(&c), (left, users), "highest id is unchanged");
    assert_eq!(c.counts().cancelled, picked);
}

#[tokio::test(start_paused = true)]
async fn remove_with_force_table() {
    forced_removal(10, 1, 1, 9).await;
    forced_removal(10, 7, 7, 3).await;
    forced_removal(10, 999, 10, 0).await;
    forced_removal(200, 120, 120, 80).await;
}

#[tokio::test(start_paused = true)]
async fn forced_removal_of_obedient_users_ends_them_before_the_grace_period() {
    let c = controller(&Telemetry::new(), UserRate::Infinity);
    c.start_scenario(&scenario("s", Behaviour::ObeyRemoval))
        .unwrap();
    c.add_users(1, 10).unwrap();
    settle().await;
    assert_eq!(c.remove_users(7, true), Ok(7));
    settle().await;
    assert_eq!(running(&c), (3, 10));
}

#[tokio::test(start_paused = true)]
async fn soft_removal_is_only_a_signal() {
    let c = controller(&Telemetry::new(), UserRate::Infinity);
    c.start_scenario(&scenario("s", Behaviour::IgnoreRemoval))
        .unwrap();
    c.add_users(1, 2).unwrap();
    settle().await;
    assert_eq!(c.remove_users(10, false), Ok(2));
    sleep(Duration::from_millis(100)).await;
    assert_eq!(running(&c), (2, 2));
    sleep(Duration::from_secs(10)).await;
    assert_eq!(running(&c), (2, 2), "no cancel without force");
}

#[tokio::test(start_paused = true)]
async fn removal_never_picks_a_user_twice() {
    let c = controller(&Telemetry::new(), UserRate::Infinity);
    c.start_scenario(&scenario("s", Behaviour::IgnoreRemoval))
        .unwrap();
    c.add_users(1, 10).unwrap();
    settle().await;
    assert_eq!(c.remove_users(3, false), Ok(3));
    assert_eq!(c.remove_users(3, false), Ok(3));
    assert_eq!(c.remove_users(10, true), Ok(4), "only 4 not picked yet");
    sleep(Duration::from_millis(2001)).await;
    assert_eq!(running(&c), (6, 10), "the 6 soft-removed ones ignore it");
    assert_eq!(c.remove_users(1, true), Ok(0));
}

#[tokio::test(start_paused = true)]
async fn stop_needs_running() {
    let c = controller(&Telemetry::new(), UserRate::Infinity);
    assert_eq!(
        c.stop_scenario(),
        Err(ControllerError::InvalidStatus(ControllerStatus::Idle))
    );
}

#[tokio::test(start_paused = true)]
async fn stop_with_no_users_finishes_at_once() {
    let c = controller(&Telemetry::new(), UserRate::Infinity);
    c.start_scenario(&scenario("testing_scenario", Behaviour::Quick))
        .unwrap();
    c.stop_scenario().unwrap();
    assert_eq!(
        c.status(),
        ControllerStatus::Finished("testing_scenario".into())
    );
}

#[tokio::test(start_paused = true)]
async fn stop_with_users_terminates_then_finishes() {
    let c = controller(&Telemetry::new(), UserRate::Infinity);
    let s = TestScenario::new("testing_scenario", Behaviour::IgnoreRemoval);
    let terminated = s.terminated.clone();
    c.start_scenario(&boxed(s)).unwrap();
    c.add_users(1, 10).unwrap();
    settle().await;
    c.stop_scenario().unwrap();
    assert_eq!(
        c.status(),
        ControllerStatus::Terminating("testing_scenario".into())
    );
    assert_eq!(terminated.load(Ordering::SeqCst), 0);
    sleep(Duration::from_millis(2001)).await;
    assert_eq!(
        c.status(),
        ControllerStatus::Finished("testing_scenario".into())
    );
    assert_eq!(terminated.load(Ordering::SeqCst), 1, "terminate runs once");
    assert_eq!(c.counts().running, 0);
}

#[tokio::test(start_paused = true)]
async fn user_rate_zero_starts_nobody() {
    let c = controller(&Telemetry::new(), UserRate::PerMinute(0));
    c.start_scenario(&scenario("s", Behaviour::ObeyRemoval))
        .unwrap();
    c.add_users(1, 1000).unwrap();
    sleep(Duration::from_millis(100)).await;
    assert_eq!(running(&c), (0, 1000));
    assert_eq!(c.counts().waiting, 1000);
}

#[tokio::test(start_paused = true)]
async fn user_rate_infinity_starts_everybody_at_once() {
    let c = controller(&Telemetry::new(), UserRate::Infinity);
    c.start_scenario(&scenario("s", Behaviour::ObeyRemoval))
        .unwrap();
    c.add_users(1, 1000).unwrap();
    settle().await;
    assert_eq!(running(&c), (1000, 1000));
}

#[tokio::test(start_paused = true)]
async fn default_user_rate_paces_1200_per_minute() {
    let c = controller(&Telemetry::new(), UserRate::default());
    c.start_scenario(&scenario("s", Behaviour::ObeyRemoval))
        .unwrap();
    c.add_users(1, 100).unwrap();
    sleep(Duration::from_millis(1010)).await;
    // One at once, then one every 50 ms.
    assert_eq!(running(&c).0, 21);
    sleep(Duration::from_secs(5)).await;
    assert_eq!(running(&c).0, 100);
}

#[tokio::test(start_paused = true)]
async fn removal_cancels_waiting_users_and_stop_ends_them() {
    let c = controller(&Telemetry::new(), UserRate::PerMinute(0));
    c.start_scenario(&scenario("s", Behaviour::ObeyRemoval))
        .unwrap();
    c.add_users(1, 10).unwrap();
    settle().await;
    assert_eq!(c.remove_users(4, false), Ok(4));
    settle().await;
    assert_eq!(c.counts().waiting, 6);
    c.stop_scenario().unwrap();
    settle().await;
    assert_eq!(c.status(), ControllerStatus::Finished("s".into()));
    assert_eq!(c.counts().waiting, 0);
}

#[tokio::test(start_paused = true)]
async fn a_crashing_terminate_still_finishes() {
    let c = controller(&Telemetry::new(), UserRate::Infinity);
    let mut s = TestScenario::new("crashy", Behaviour::ObeyRemoval);
    s.panic_in_terminate = true;
    c.start_scenario(&boxed(s)).unwrap();
    c.add_users(1, 3).unwrap();
    settle().await;
    c.stop_scenario().unwrap();
    settle().await;
    assert_eq!(c.status(), ControllerStatus::Finished("crashy".into()));
}

#[tokio::test(start_paused = true)]
async fn failing_init_gives_error_status_and_allows_a_new_start() {
    let c = controller(&Telemetry::new(), UserRate::Infinity);
    let mut s = TestScenario::new("bad", Behaviour::Quick);
    s.fail_init = true;
    let err = c.start_scenario(&boxed(s)).unwrap_err();
    assert_eq!(
        err,
        ControllerError::InitFailed {
            scenario: "bad".into(),
            reason: "init says no".into()
        }
    );
    assert!(matches!(c.status(), ControllerStatus::Error(r) if r.contains("init says no")));
    assert!(c.add_users(1, 1).is_err());
    c.start_scenario(&scenario("good", Behaviour::Quick))
        .unwrap();
    assert_eq!(c.status().name(), "running");
}

#[tokio::test(start_paused = true)]
async fn rerun_after_finished_keeps_ids_growing() {
    let c = controller(&Telemetry::new(), UserRate::Infinity);
    c.start_scenario(&scenario("s", Behaviour::ObeyRemoval))
        .unwrap();
    c.add_users(1, 5).unwrap();
    settle().await;
    c.stop_scenario().unwrap();
    settle().await;
    assert_eq!(c.status(), ControllerStatus::Finished("s".into()));
    c.start_scenario(&scenario("s", Behaviour::ObeyRemoval))
        .unwrap();
    assert_eq!(running(&c), (0, 5));
    assert!(c.add_users(1, 5).is_err(), "ids are never reused");
    c.add_users(6, 8).unwrap();
    settle().await;
    assert_eq!(running(&c), (3, 8));
}

#[tokio::test(start_paused = true)]
async fn crashing_and_failing_users_end_and_others_go_on() {
    rookery::telemetry::guard::install_panic_hook();
    let c = controller(&Telemetry::new(), UserRate::Infinity);
    c.start_scenario(&scenario("p", Behaviour::Panic)).unwrap();
    c.add_users(1, 5).unwrap();
    settle().await;
    assert_eq!(running(&c), (0, 5));
    assert_eq!(c.counts().failed, 5, "panics are counted");
    c.stop_scenario().unwrap();
    let c2 = controller(&Telemetry::new(), UserRate::Infinity);
    c2.start_scenario(&scenario("f", Behaviour::Fail)).unwrap();
    c2.add_users(1, 5).unwrap();
    settle().await;
    assert_eq!(running(&c2), (0, 5));
    assert_eq!((c2.counts().failed, c2.counts().returned), (5, 0));
    assert_eq!(c.status(), ControllerStatus::Finished("p".into()));
}

#[tokio::test(start_paused = true)]
async fn quick_users_end_and_status_stays_running() {
    let c = controller(&Telemetry::new(), UserRate::Infinity);
    c.start_scenario(&scenario("q", Behaviour::Quick)).unwrap();
    c.add_users(1, 50).unwrap();
    settle().await;
    assert_eq!(running(&c), (0, 50), "Amoc: stays running with 0 users");
    assert_eq!(c.counts().returned, 50);
}
