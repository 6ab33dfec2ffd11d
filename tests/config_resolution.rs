//! Ports of amoc_config_verification_SUITE and amoc_config_env_SUITE, plus the settings file,
//! `--set`, `--list-settings` and the `user_rate` update hook.

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rookery::engine::config::{
    CONTROLLER, Config, ConfigError, ConfigErrors, ConfigValue, Declarations, ExplicitSettings,
    Setting, SettingType, Source, UpdateRule, Verdict, env_var_name, format_settings,
    list_settings, user_rate_setting,
};
use rookery::engine::events::Emitter;
use rookery::telemetry::testing::EventCollector;
use rookery::telemetry::{Fields, Telemetry, Value};

fn env_map(pairs: &[(&str, &str)]) -> HashMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn resolve_with(
    decls: Declarations,
    explicit: &ExplicitSettings,
    env: &HashMap<String, String>,
) -> (Result<Config, ConfigErrors>, EventCollector) {
    let t = Telemetry::new();
    let events = EventCollector::attach_prefix(&t, &["amoc", "config"]);
    let c = Config::resolve(
        decls,
        explicit,
        &|v| env.get(v).cloned(),
        Emitter::new(t, "master"),
    );
    (c, events)
}

/// Amoc's verification suite: `some_int`, `some_atom`, `wrong_param` (verify fails with a
/// reason), `replaced` (verify replaces the value).
fn decls() -> Declarations {
    let mut d = Declarations::new();
    d.declare_all(
        "verification",
        [
            Setting::new("some_int", "an integer")
                .ty(SettingType::Int)
                .default_value(ConfigValue::Int(1))
                .verify(|v| (v.as_i64().is_some_and(|i| i > 0)).into()),
            Setting::new("some_atom", "a word").default_value("some_value"),
            Setting::new("wrong_param", "refuses anything but good")
                .default_value("good")
                .verify(|v| {
                    if v.as_str() == Some("good") {
                        Verdict::Accept
                    } else {
                        Verdict::Reject("some_reason".into())
                    }
                }),
            Setting::new("replaced", "preprocessed")
                .default_value("another")
                .verify(|v| Verdict::Replace(format!("{}_atom", v.as_str().unwrap_or("")).into())),
        ],
    )
    .unwrap();
    d
}

#[test]
fn defaults_are_used() {
    let (c, events) = resolve_with(decls(), &ExplicitSettings::new(), &HashMap::new());
    let c = c.unwrap();
    assert_eq!(c.get("some_int").unwrap(), Some(ConfigValue::Int(1)));
    assert_eq!(c.get("some_atom").unwrap(), Some("some_value".into()));
    assert_eq!(c.get("replaced").unwrap(), Some("another_atom".into()));
    assert_eq!(c.source("some_int"), Some(Source::Default));
    assert!(events.drain().is_empty());
}

#[test]
fn env_overrides_default_and_settings_override_env() {
    let env = env_map(&[("ROOKERY_SOME_INT", "7"), ("ROOKERY_SOME_ATOM", "from_env")]);
    let explicit = ExplicitSettings::new().set("some_int", "9");
    let (c, _) = resolve_with(decls(), &explicit, &env);
    let c = c.unwrap();
    assert_eq!(c.get("some_int").unwrap(), Some(ConfigValue::Int(9)));
    assert_eq!(c.source("some_int"), Some(Source::Explicit));
    assert_eq!(c.get("some_atom").unwrap(), Some("from_env".into()));
    assert_eq!(
        c.source("some_atom"),
        Some(Source::Env("ROOKERY_SOME_ATOM".into()))
    );
}

#[test]
fn empty_env_values_use_the_default_quietly() {
    let env = env_map(&[("ROOKERY_SOME_INT", "")]);
    let (c, events) = resolve_with(decls(), &ExplicitSettings::new(), &env);
    assert_eq!(
        c.unwrap().get("some_int").unwrap(),
        Some(ConfigValue::Int(1))
    );
    assert!(events.drain().is_empty());
}

#[test]
fn an_unreadable_env_value_uses_the_default_and_emits_env() {
    let env = env_map(&[("ROOKERY_SOME_INT", "twelve")]);
    let (c, events) = resolve_with(decls(), &ExplicitSettings::new(), &env);
    let c = c.unwrap();
    assert_eq!(c.get("some_int").unwrap(), Some(ConfigValue::Int(1)));
    assert_eq!(c.source("some_int"), Some(Source::Default));
    let got = events.drain();
    assert_eq!(got.len(), 1);
    let e = &got[0];
    assert_eq!(e.name.dotted(), "amoc.config.env");
    assert_eq!(e.measurements.get_i64("error"), Some(1));
    let md = &e.metadata;
    assert_eq!(md.get_str("setting"), Some("some_int"));
    assert_eq!(md.get_str("variable_name"), Some("ROOKERY_SOME_INT"));
    assert_eq!(md.get_str("variable_value"), Some("twelve"));
    assert_eq!(md.lookup("default_value"), Some(&Value::Int(1)));
    assert!(md.get_str("error").unwrap().contains("not an integer"));
    assert_eq!(md.get_str("log_level"), Some("error"));
    assert!(md.has("msg") && md.has("monotonic_time") && md.has("node"));
}

#[test]
fn verification_errors_come_in_config_order_with_value_and_reason() {
    let explicit = ExplicitSettings::new()
        .set("wrong_param", "any_value")
        .set("some_int", "-4");
    let (c, _) = resolve_with(decls(), &explicit, &HashMap::new());
    let err = c.unwrap_err();
    assert_eq!(
        err,
        ConfigErrors(vec![
            ConfigError::VerificationFailed {
                name: "some_int".into(),
                value: "-4".into(),
                origin: Source::Explicit,
                reason: "verification failed".into()
            },
            ConfigError::VerificationFailed {
                name: "wrong_param".into(),
                value: "\"any_value\"".into(),
                origin: Source::Explicit,
                reason: "some_reason".into()
            },
        ])
    );
}

#[test]
fn a_value_from_env_that_fails_verification_names_the_variable() {
    let env = env_map(&[("ROOKERY_WRONG_PARAM", "bad")]);
    let (c, _) = resolve_with(decls(), &ExplicitSettings::new(), &env);
    let err = c.unwrap_err();
    let text = err.to_string();
    assert!(
        text.contains("wrong_param") && text.contains("ROOKERY_WRONG_PARAM"),
        "{text}"
    );
}

#[test]
fn env_var_names_are_upper_case_with_underscores() {
    assert_eq!(env_var_name("user_rate"), "ROOKERY_USER_RATE");
    assert_eq!(env_var_name("think-time.ms"), "ROOKERY_THINK_TIME_MS");
}

fn write_file(dir: &Path, text: &str) -> std::path::PathBuf {
    let p = dir.join("settings.toml");
    std::fs::write(&p, text).unwrap();
    p
}

#[test]
fn the_settings_file_is_read_by_type_and_set_wins_over_it() {
    let dir = tempfile::tempdir().unwrap();
    let path = write_file(
        dir.path(),
        "some_int = 3\nsome_atom = \"from_file\"\nwrong_param = \"good\"\n",
    );
    let explicit = ExplicitSettings::from_cli(&["some_int=4"], Some(&path)).unwrap();
    let (c, _) = resolve_with(decls(), &explicit, &HashMap::new());
    let c = c.unwrap();
    assert_eq!(c.get("some_int").unwrap(), Some(ConfigValue::Int(4)));
    assert_eq!(c.get("some_atom").unwrap(), Some("from_file".into()));
    assert_eq!(c.source("some_atom"), Some(Source::File(path)));
}

#[test]
fn settings_file_problems_name_the_file_and_the_setting() {
    let dir = tempfile::tempdir().unwrap();
    let path = write_file(
        dir.path(),
        "some_int = \"x\"\nnot_declared = 1\n[table]\na = 1\n",
    );
    let explicit = ExplicitSettings::from_cli(&[] as &[&str], Some(&path));
    // A table is refused when the file is read.
    let err = explicit.unwrap_err();
    assert_eq!(err.0.len(), 1);
    assert_eq!(err.0[0].setting(), Some("table"));
    assert!(err.to_string().contains(&path.display().to_string()));

    let path = write_file(dir.path(), "some_int = \"x\"\nnot_declared = 1\n");
    let explicit = ExplicitSettings::from_cli(&[] as &[&str], Some(&path)).unwrap();
    let (c, _) = resolve_with(decls(), &explicit, &HashMap::new());
    let err = c.unwrap_err();
    let shown = path.display().to_string();
    assert_eq!(err.0.len(), 2);
    for (e, name) in err.iter().zip(["not_declared", "some_int"]) {
        assert_eq!(e.setting(), Some(name));
        assert!(e.to_string().contains(&shown), "{e}");
    }

    let missing = dir.path().join("missing.toml");
    let err = ExplicitSettings::from_cli(&[] as &[&str], Some(&missing)).unwrap_err();
    assert!(err.to_string().contains("missing.toml"), "{err}");
    let broken = write_file(dir.path(), "some_int = = 3");
    let err = ExplicitSettings::from_cli(&[] as &[&str], Some(&broken)).unwrap_err();
    assert!(err.to_string().contains("settings.toml"), "{err}");
}

#[test]
fn malformed_set_arguments_are_all_reported() {
    let err = ExplicitSettings::from_cli(&["novalue", "=3", "ok=1"], None).unwrap_err();
    assert_eq!(
        err,
        ConfigErrors(vec![
            ConfigError::BadSetArgument {
                arg: "novalue".into()
            },
            ConfigError::BadSetArgument { arg: "=3".into() },
        ])
    );
    let ok = ExplicitSettings::from_cli(&["url=http://h/?a=b", "x=1", "x=2"], None).unwrap();
    assert_eq!(
        ok.get("url").map(|e| e.raw.to_string()),
        Some("http://h/?a=b".into())
    );
    assert_eq!(ok.get("x").map(|e| e.raw.to_string()), Some("2".into()));
}

#[test]
fn bad_declarations_name_the_setting_and_declarer() {
    let mut d = Declarations::new();
    let err = d
        .declare(
            "scn",
            Setting::new("rate", "")
                .ty(SettingType::Rate)
                .default_value(-1i64),
        )
        .unwrap_err();
    assert!(
        matches!(&err, ConfigError::BadDeclaration { name, declarer, .. } if name == "rate" && declarer == "scn")
    );
    let err = d
        .declare(
            "scn",
            Setting::new("n", "")
                .ty(SettingType::Int)
                .one_of([ConfigValue::Int(1), "x".into()]),
        )
        .unwrap_err();
    assert_eq!(err.setting(), Some("n"));
    assert!(d.is_empty());
}

#[test]
fn list_settings_shows_value_and_source_without_events() {
    let mut d = decls();
    d.declare(CONTROLLER, user_rate_setting(UpdateRule::Accept))
        .unwrap();
    let env = env_map(&[
        ("ROOKERY_SOME_ATOM", "env_atom"),
        ("ROOKERY_SOME_INT", "nope"),
    ]);
    let explicit = ExplicitSettings::new()
        .set("user_rate", "infinity")
        .set("wrong_param", "bad");
    let list = list_settings(&d, &explicit, &|v| env.get(v).cloned());
    let by: HashMap<_, _> = list.iter().map(|s| (s.name.as_str(), s)).collect();
    assert_eq!(list.len(), 5);
    assert_eq!(by["user_rate"].value, Ok(Some(ConfigValue::Infinity)));
    assert_eq!(by["user_rate"].source, Source::Explicit);
    assert_eq!(by["user_rate"].default, Some(ConfigValue::Int(1200)));
    assert_eq!(by["user_rate"].declarer, "controller");
    assert_eq!(by["some_atom"].value, Ok(Some("env_atom".into())));
    assert_eq!(by["some_int"].value, Ok(Some(ConfigValue::Int(1))));
    assert_eq!(by["some_int"].source, Source::Default);
    assert!(
        by["some_int"]
            .note
            .as_deref()
            .unwrap()
            .contains("ROOKERY_SOME_INT")
    );
    assert!(
        by["wrong_param"]
            .value
            .as_ref()
            .unwrap_err()
            .contains("some_reason")
    );
    let text = format_settings(&list);
    for s in &list {
        assert!(text.contains(&s.name));
        assert!(text.contains(&s.description));
    }
    assert!(text.contains("infinity  (from --set)"), "{text}");
    assert!(text.contains("REFUSED"), "{text}");
}

#[test]
fn a_command_default_is_under_set_file_and_env_and_over_the_declared_default() {
    let mut d = decls();
    d.declare(CONTROLLER, user_rate_setting(UpdateRule::Accept))
        .unwrap();
    let http = |e: ExplicitSettings| e.fallback_to("user_rate", "infinity", "rookery http");
    let listed = |explicit: &ExplicitSettings, env: &[(&str, &str)]| {
        let env = env_map(env);
        let list = list_settings(&d, explicit, &|v| env.get(v).cloned());
        let rate = list.into_iter().find(|s| s.name == "user_rate").unwrap();
        (rate.value.unwrap(), rate.source, rate.note)
    };
    assert_eq!(
        listed(&http(ExplicitSettings::new()), &[]),
        (
            Some(ConfigValue::Infinity),
            Source::CommandDefault("rookery http".into()),
            None
        )
    );
    assert_eq!(
        listed(&http(ExplicitSettings::new().set("user_rate", "60")), &[]).1,
        Source::Explicit
    );
    let file = ExplicitSettings::from_toml_str("user_rate = 90\n", Path::new("run.toml")).unwrap();
    assert_eq!(
        listed(&http(file), &[]),
        (
            Some(ConfigValue::Int(90)),
            Source::File("run.toml".into()),
            None
        )
    );
    let env = [("ROOKERY_USER_RATE", "30")];
    assert_eq!(
        listed(&http(ExplicitSettings::new()), &env).1,
        Source::Env("ROOKERY_USER_RATE".into())
    );
    // An unreadable variable falls back to the command's default, and says so.
    let (value, source, note) = listed(
        &http(ExplicitSettings::new()),
        &[("ROOKERY_USER_RATE", "fast")],
    );
    assert_eq!(value, Some(ConfigValue::Infinity));
    assert_eq!(source, Source::CommandDefault("rookery http".into()));
    assert!(note.unwrap().contains("ROOKERY_USER_RATE"));
    // The text names the command.
    let list = list_settings(&d, &http(ExplicitSettings::new()), &|_| None);
    let text = format_settings(&list);
    assert!(
        text.contains("infinity  (from rookery http default)"),
        "{text}"
    );
}

#[test]
fn user_rate_is_an_integer_or_infinity_defaulting_to_1200() {
    let d = || rookery::engine::config::engine_declarations(UpdateRule::Accept);
    let (c, _) = resolve_with(d(), &ExplicitSettings::new(), &HashMap::new());
    assert_eq!(
        c.unwrap()
            .get("user_rate")
            .unwrap()
            .and_then(|v| v.as_rate()),
        Some(Some(1200))
    );
    let env = env_map(&[("ROOKERY_USER_RATE", "infinity")]);
    let (c, _) = resolve_with(d(), &ExplicitSettings::new(), &env);
    assert_eq!(
        c.unwrap()
            .get("user_rate")
            .unwrap()
            .and_then(|v| v.as_rate()),
        Some(None)
    );
    for bad in ["-1", "1.5", "fast"] {
        let (c, _) = resolve_with(
            d(),
            &ExplicitSettings::new().set("user_rate", bad),
            &HashMap::new(),
        );
        let err = c.unwrap_err();
        assert_eq!(err.0[0].setting(), Some("user_rate"), "{bad}");
        assert!(err.to_string().contains(bad), "{err}");
    }
}

#[tokio::test(start_paused = true)]
async fn updating_user_rate_calls_the_throttle_hook() {
    // Stands in for `throttles.change_rate("user_rate", ..)`, plugged by the integrator.
    let rates: Arc<Mutex<Vec<Option<u64>>>> = Arc::default();
    let r = rates.clone();
    let hook = UpdateRule::call_async(move |_name, v| {
        let r = r.clone();
        async move {
            tokio::time::sleep(Duration::from_millis(10)).await;
            r.lock().unwrap().push(v.as_rate().unwrap());
        }
    });
    let mut d = Declarations::new();
    d.declare(CONTROLLER, user_rate_setting(hook)).unwrap();
    let (c, _) = resolve_with(d, &ExplicitSettings::new(), &HashMap::new());
    let c = c.unwrap();
    c.update(&ExplicitSettings::new().set("user_rate", "600"))
        .unwrap();
    c.update(&ExplicitSettings::new().set_value("user_rate", ConfigValue::Infinity))
        .unwrap();
    assert!(
        rates.lock().unwrap().is_empty(),
        "hooks run in the background"
    );
    tokio::time::sleep(Duration::from_millis(50)).await;
    let mut got = rates.lock().unwrap().clone();
    got.sort();
    assert_eq!(got, [None, Some(600)]);
    assert_eq!(c.get("user_rate").unwrap(), Some(ConfigValue::Infinity));
    // A bad rate is refused, naming the setting.
    let err = c
        .update(&ExplicitSettings::new().set("user_rate", "-3"))
        .unwrap_err();
    assert_eq!(err.0[0].setting(), Some("user_rate"));
}
