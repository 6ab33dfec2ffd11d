//! Ports of amoc_config_scenario_SUITE: resolution at start, reads, live updates, read-only
//! and invalid values, undefined keys, duplicate declarations, a crashing verification.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rookery::engine::config::{
    CONTROLLER, Config, ConfigError, ConfigErrors, ConfigValue, Declarations, ExplicitSettings,
    Setting, Source, UpdateRule, Verdict, user_rate_setting,
};
use rookery::engine::events::Emitter;
use rookery::telemetry::testing::{EventCollector, Received};
use rookery::telemetry::{Fields, Telemetry};

const SCENARIO: &str = "config_scenario";

/// Records verification and update calls, like Amoc's mocks.
#[derive(Clone, Default)]
struct Calls(Arc<Mutex<Vec<String>>>);

impl Calls {
    fn push(&self, s: String) {
        self.0.lock().unwrap().push(s);
    }
    fn take(&self) -> Vec<String> {
        std::mem::take(&mut *self.0.lock().unwrap())
    }
    fn verify(&self, tag: &'static str) -> impl Fn(&ConfigValue) -> Verdict + Send + Sync + use<> {
        let c = self.clone();
        move |v| {
            c.push(format!("{tag}({v})"));
            Verdict::Accept
        }
    }
    fn update(&self, tag: &'static str) -> UpdateRule {
        let c = self.clone();
        UpdateRule::call(move |name, v| c.push(format!("{tag}({name},{v})")))
    }
}

fn s(v: &str) -> ConfigValue {
    ConfigValue::from(v)
}

/// The suite's declarations (after Amoc's overrides): var0 (no default), var1 (val1,
/// verify_fun), var2 (val2, one of [new_val2, val2], update_mfa), var3 (val3, verify_mfa,
/// update_fun); plus the controller's `user_rate`.
fn declarations(calls: &Calls) -> Declarations {
    let mut d = Declarations::new();
    d.declare(CONTROLLER, user_rate_setting(UpdateRule::Accept))
        .unwrap();
    d.declare_all(
        SCENARIO,
        [
            Setting::new("config_scenario_var0", "no default"),
            Setting::new("config_scenario_var1", "verified")
                .default_value("val1")
                .verify(calls.verify("verify_fun")),
            Setting::new("config_scenario_var2", "one of")
                .default_value("val2")
                .one_of(["new_val2", "val2"])
                .update(calls.update("update_mfa")),
            Setting::new("config_scenario_var3", "verified and updatable")
                .default_value("val3")
                .verify(calls.verify("verify_mfa"))
                .update(calls.update("update_fun")),
        ],
    )
    .unwrap();
    d
}

fn no_env(_: &str) -> Option<String> {
    None
}

struct Fixture {
    calls: Calls,
    config: Config,
    events: EventCollector,
}

fn started() -> Fixture {
    let calls = Calls::default();
    let t = Telemetry::new();
    let events = EventCollector::attach_prefix(&t, &["amoc", "config"]);
    let explicit = ExplicitSettings::new()
        .set("user_rate", "500")
        .set("config_scenario_var1", "def1");
    let config = Config::resolve(
        declarations(&calls),
        &explicit,
        &no_env,
        Emitter::new(t, "master"),
    )
    .unwrap();
    Fixture {
        calls,
        config,
        events,
    }
}

fn values(c: &Config) -> Vec<Option<ConfigValue>> {
    (0..4)
        .map(|i| c.get(&format!("config_scenario_var{i}")).unwrap())
        .collect()
}

/// Lets the spawned update functions run (virtual time: no real waiting).
async fn settle() {
    tokio::time::sleep(Duration::from_millis(500)).await;
}

#[test]
fn parse_scenario_settings() {
    let f = started();
    assert_eq!(
        f.calls.take(),
        ["verify_fun(\"def1\")", "verify_mfa(\"val3\")"]
    );
    assert_eq!(
        values(&f.config),
        [None, Some(s("def1")), Some(s("val2")), Some(s("val3"))]
    );
    assert_eq!(
        f.config
            .get_or("config_scenario_var0", "some_value")
            .unwrap(),
        s("some_value")
    );
    assert_eq!(
        f.config.get("user_rate").unwrap(),
        Some(ConfigValue::Int(500))
    );
    assert_eq!(f.config.source("user_rate"), Some(Source::Explicit));
    assert_eq!(
        f.config.source("config_scenario_var2"),
        Some(Source::Default)
    );
    assert!(f.events.drain().is_empty());

    // Reading an undeclared setting is an error and a `get` event.
    assert_eq!(
        f.config.get("undefined_var"),
        Err(ConfigError::Undeclared {
            name: "undefined_var".into()
        })
    );
    let ev = f.events.drain();
    assert_eq!(ev.len(), 1);
    assert_eq!(ev[0].name.dotted(), "amoc.config.get");
    assert_eq!(ev[0].measurements.get_i64("error"), Some(1));
    assert_eq!(ev[0].metadata.get_str("setting"), Some("undefined_var"));
    assert_eq!(ev[0].metadata.get_str("log_level"), Some("error"));
    assert_eq!(ev[0].metadata.get_str("msg"), Some("no scenario setting"));
}

#[tokio::test(start_paused = true)]
async fn update_settings() {
    let f = started();
    f.calls.take();
    let changed = f
        .config
        .update(
            &ExplicitSettings::new()
                .set("config_scenario_var3", "new_val3")
                .set("config_scenario_var2", "new_val2"),
        )
        .unwrap();
    assert_eq!(changed, ["config_scenario_var3", "config_scenario_var2"]);
    // Verification is synchronous, updates run in the background.
    assert_eq!(f.calls.take(), ["verify_mfa(\"new_val3\")"]);
    settle().await;
    let mut updates = f.calls.take();
    updates.sort();
    assert_eq!(
        updates,
        [
            "update_fun(config_scenario_var3,\"new_val3\")",
            "update_mfa(config_scenario_var2,\"new_val2\")"
        ]
    );
    assert_eq!(
        values(&f.config),
        [
            None,
            Some(s("def1")),
            Some(s("new_val2")),
            Some(s("new_val3"))
        ]
    );
    assert_eq!(
        f.config.source("config_scenario_var3"),
        Some(Source::Explicit)
    );
}

#[tokio::test(start_paused = true)]
async fn unchanged_values_and_empty_updates_do_nothing() {
    let f = started();
    f.calls.take();
    let same = ExplicitSettings::new()
        .set("config_scenario_var3", "val3")
        .set("config_scenario_var2", "val2");
    assert_eq!(f.config.update(&same).unwrap(), Vec::<String>::new());
    assert_eq!(
        f.config.update(&ExplicitSettings::new()).unwrap(),
        Vec::<String>::new()
    );
    settle().await;
    assert!(f.calls.take().is_empty());

    // Only the changed one is verified and updated.
    let one = ExplicitSettings::new()
        .set("config_scenario_var3", "new_val3")
        .set("config_scenario_var2", "val2");
    assert_eq!(f.config.update(&one).unwrap(), ["config_scenario_var3"]);
    settle().await;
    assert_eq!(
        f.calls.take(),
        [
            "verify_mfa(\"new_val3\")",
            "update_fun(config_scenario_var3,\"new_val3\")"
        ]
    );
}

#[tokio::test(start_paused = true)]
async fn read_only_settings_are_refused_even_unchanged() {
    let f = started();
    f.calls.take();
    let before = values(&f.config);
    let err = f
        .config
        .update(
            &ExplicitSettings::new()
                .set("config_scenario_var0", "val0")
                .set("config_scenario_var1", "def1") // unchanged, still refused
                .set("config_scenario_var3", "val3"),
        )
        .unwrap_err();
    assert_eq!(
        err,
        ConfigErrors(vec![
            ConfigError::ReadOnly {
                name: "config_scenario_var0".into(),
                declarer: SCENARIO.into()
            },
            ConfigError::ReadOnly {
                name: "config_scenario_var1".into(),
                declarer: SCENARIO.into()
            },
        ])
    );
    settle().await;
    assert_eq!(values(&f.config), before);
    assert!(f.calls.take().is_empty());
}

#[tokio::test(start_paused = true)]
async fn invalid_values_are_refused_and_nothing_changes() {
    let f = started();
    f.calls.take();
    let before = values(&f.config);
    let err = f
        .config
        .update(
            &ExplicitSettings::new()
                .set("config_scenario_var3", "new_val3")
                .set("config_scenario_var2", "invalid_val2"),
        )
        .unwrap_err();
    assert_eq!(
        err,
        ConfigErrors(vec![ConfigError::VerificationFailed {
            name: "config_scenario_var2".into(),
            value: "\"invalid_val2\"".into(),
            origin: Source::Explicit,
            reason: "not one of [\"new_val2\", \"val2\"]".into(),
        }])
    );
    settle().await;
    assert_eq!(values(&f.config), before, "var3 is not stored either");
    assert_eq!(
        f.calls.take(),
        ["verify_mfa(\"new_val3\")"],
        "no update ran"
    );
}

#[tokio::test(start_paused = true)]
async fn undefined_keys_are_refused_on_update() {
    let f = started();
    let err = f
        .config
        .update(&ExplicitSettings::new().set("invalid_var2", "x"))
        .unwrap_err();
    assert_eq!(
        err,
        ConfigErrors(vec![ConfigError::Undefined {
            name: "invalid_var2".into(),
            origin: Source::Explicit
        }])
    );
}

#[test]
fn duplicate_declarations_name_both_declarers() {
    let calls = Calls::default();
    let mut d = declarations(&calls);
    let err = d
        .declare(
            "helper_module",
            Setting::new("config_scenario_var0", "again"),
        )
        .unwrap_err();
    assert_eq!(
        err,
        ConfigError::DuplicateDeclaration {
            name: "config_scenario_var0".into(),
            first: SCENARIO.into(),
            second: "helper_module".into()
        }
    );
    let text = err.to_string();
    assert!(
        text.contains(SCENARIO) && text.contains("helper_module"),
        "{text}"
    );
    // The engine's own setting too.
    let err = d
        .declare(SCENARIO, Setting::new("user_rate", "mine"))
        .unwrap_err();
    assert!(err.to_string().contains("controller"), "{err}");
}

#[test]
fn every_start_error_is_reported_together() {
    let calls = Calls::default();
    let explicit = ExplicitSettings::new()
        .set("invalid_var2", "a")
        .set("config_scenario_var2", "invalid_val2")
        .set("invalid_var1", "b")
        .set("user_rate", "-5");
    let err = Config::resolve(
        declarations(&calls),
        &explicit,
        &no_env,
        Emitter::new(Telemetry::new(), "master"),
    )
    .unwrap_err();
    let names: Vec<_> = err
        .iter()
        .map(|e| e.setting().unwrap().to_owned())
        .collect();
    assert_eq!(
        names,
        [
            "invalid_var2",
            "invalid_var1",
            "user_rate",
            "config_scenario_var2"
        ]
    );
    assert!(matches!(err.0[2], ConfigError::InvalidValue { .. }));
    assert!(matches!(err.0[3], ConfigError::VerificationFailed { .. }));
    let text = err.to_string();
    for n in names {
        assert!(text.contains(&n), "{text}");
    }
}

fn verify_events(events: &[Received]) -> Vec<&Received> {
    events
        .iter()
        .filter(|e| e.name.dotted() == "amoc.config.verify")
        .collect()
}

#[test]
fn a_crashing_verification_is_an_error_and_an_event() {
    rookery::telemetry::guard::install_panic_hook();
    let t = Telemetry::new();
    let events = EventCollector::attach_prefix(&t, &["amoc", "config"]);
    let mut d = Declarations::new();
    d.declare(
        SCENARIO,
        Setting::new("crashy", "verification panics")
            .default_value("x")
            .verify(|_| panic!("some_exception")),
    )
    .unwrap();
    let err =
        Config::resolve(d, &ExplicitSettings::new(), &no_env, Emitter::new(t, "n")).unwrap_err();
    assert_eq!(
        err,
        ConfigErrors(vec![ConfigError::VerificationPanicked {
            name: "crashy".into(),
            value: "\"x\"".into(),
            origin: Source::Default,
            message: "some_exception".into()
        }])
    );
    let got = events.drain();
    let ev = verify_events(&got);
    assert_eq!(ev.len(), 1);
    let md = &ev[0].metadata;
    assert_eq!(md.get_str("setting"), Some("crashy"));
    assert_eq!(md.get_str("kind"), Some("panic"));
    assert_eq!(md.get_str("reason"), Some("some_exception"));
    assert!(md.has("stacktrace"));
    assert_eq!(md.get_str("log_level"), Some("error"));
    assert_eq!(ev[0].measurements.get_i64("error"), Some(1));
}

#[test]
fn a_verification_returning_the_wrong_type_is_an_error_and_an_event() {
    let t = Telemetry::new();
    let events = EventCollector::attach_prefix(&t, &["amoc", "config"]);
    let mut d = Declarations::new();
    d.declare(
        SCENARIO,
        Setting::new("count", "an integer")
            .ty(rookery::engine::config::SettingType::Int)
            .default_value(ConfigValue::Int(1))
            .verify(|_| Verdict::Replace(ConfigValue::from("not a number"))),
    )
    .unwrap();
    let err =
        Config::resolve(d, &ExplicitSettings::new(), &no_env, Emitter::new(t, "n")).unwrap_err();
    assert!(
        matches!(&err.0[..], [ConfigError::InvalidVerificationReturn { name, .. }] if name == "count"),
        "{err:?}"
    );
    let got = events.drain();
    let ev = verify_events(&got);
    assert_eq!(ev.len(), 1);
    assert_eq!(ev[0].metadata.get_str("setting"), Some("count"));
    assert_eq!(
        ev[0].metadata.get_str("msg"),
        Some("invalid verification return value")
    );
    assert!(ev[0].metadata.has("verification_return"));
}

#[test]
fn an_update_function_needs_a_runtime_and_nothing_is_stored_without_one() {
    let f = started();
    let err = f
        .config
        .update(&ExplicitSettings::new().set("config_scenario_var3", "new_val3"))
        .unwrap_err();
    assert_eq!(
        err,
        ConfigErrors(vec![ConfigError::NoRuntime {
            name: "config_scenario_var3".into()
        }])
    );
    assert_eq!(
        f.config.get("config_scenario_var3").unwrap(),
        Some(s("val3"))
    );
}

#[tokio::test(start_paused = true)]
async fn a_panicking_update_function_does_not_stop_the_others() {
    rookery::telemetry::guard::install_panic_hook();
    let calls = Calls::default();
    let mut d = Declarations::new();
    d.declare_all(
        SCENARIO,
        [
            Setting::new("a", "panics on update")
                .default_value("a0")
                .update(UpdateRule::call(|_, _| panic!("update failed"))),
            Setting::new("b", "records")
                .default_value("b0")
                .update(calls.update("upd")),
        ],
    )
    .unwrap();
    let env: HashMap<String, String> = HashMap::new();
    let config = Config::resolve(
        d,
        &ExplicitSettings::new(),
        &|v| env.get(v).cloned(),
        Emitter::new(Telemetry::new(), "n"),
    )
    .unwrap();
    config
        .update(&ExplicitSettings::new().set("a", "a1").set("b", "b1"))
        .unwrap();
    settle().await;
    assert_eq!(calls.take(), ["upd(b,\"b1\")"]);
    assert_eq!(config.get("a").unwrap(), Some(s("a1")));
}
