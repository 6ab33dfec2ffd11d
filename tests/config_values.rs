//! Reading values by declared type: text (`--set`, environment) and TOML.

use std::time::Duration;

use rookery::engine::config::{ConfigValue, SettingType, parse_duration};

fn ms(n: u64) -> ConfigValue {
    ConfigValue::Duration(Duration::from_millis(n))
}

#[test]
fn text_is_read_by_type() {
    use ConfigValue as V;
    let list = |t| SettingType::List(Box::new(t));
    let cases: Vec<(SettingType, &str, ConfigValue)> = vec![
        (SettingType::Int, "42", V::Int(42)),
        (SettingType::Int, " -3 ", V::Int(-3)),
        (SettingType::Float, "0.25", V::Float(0.25)),
        (SettingType::Float, "3", V::Float(3.0)),
        (SettingType::Bool, "TRUE", V::Bool(true)),
        (SettingType::Bool, "false", V::Bool(false)),
        (SettingType::Str, "\"graphite\"", V::from("graphite")),
        (SettingType::Str, "plain text", V::from("plain text")),
        (SettingType::Duration, "250ms", ms(250)),
        (SettingType::Duration, "2s", ms(2000)),
        (SettingType::Duration, "1m", ms(60_000)),
        (SettingType::Duration, "1.5s", ms(1500)),
        (SettingType::Duration, "0", ms(0)),
        (SettingType::Rate, "infinity", V::Infinity),
        (SettingType::Rate, "600", V::Int(600)),
        (list(SettingType::Int), "1,2, 3", V::from(vec![1i64, 2, 3])),
        (
            list(SettingType::Str),
            "[a, \"b\"]",
            V::from(vec!["a", "b"]),
        ),
        (list(SettingType::Duration), "[]", V::List(vec![])),
    ];
    for (ty, text, expected) in cases {
        assert_eq!(ty.parse(text), Ok(expected), "{ty} {text:?}");
    }
}

#[test]
fn bad_text_says_why() {
    let list = SettingType::List(Box::new(SettingType::Int));
    let cases: Vec<(SettingType, &str, &str)> = vec![
        (SettingType::Int, "1.5", "not an integer"),
        (SettingType::Float, "x", "not a number"),
        (SettingType::Bool, "yes", "not true or false"),
        (SettingType::Duration, "250", "no unit"),
        (SettingType::Duration, "3 parsecs", "unknown unit"),
        (SettingType::Duration, "ms", "does not start with a number"),
        (SettingType::Rate, "-1", "integer >= 0 or infinity"),
        (list, "1,x", "item 1"),
    ];
    for (ty, text, why) in cases {
        let err = ty.parse(text).unwrap_err();
        assert!(err.contains(why), "{ty} {text:?}: {err}");
    }
}

#[test]
fn toml_values_are_read_by_type() {
    let t = |s: &str| -> toml::Value {
        toml::from_str::<toml::Table>(&format!("v = {s}")).unwrap()["v"].clone()
    };
    assert_eq!(SettingType::Int.read_toml(&t("5")), Ok(ConfigValue::Int(5)));
    assert_eq!(
        SettingType::Float.read_toml(&t("5")),
        Ok(ConfigValue::Float(5.0))
    );
    assert_eq!(
        SettingType::Duration.read_toml(&t("\"250ms\"")),
        Ok(ms(250))
    );
    assert_eq!(
        SettingType::Rate.read_toml(&t("\"infinity\"")),
        Ok(ConfigValue::Infinity)
    );
    assert_eq!(
        SettingType::List(Box::new(SettingType::Str)).read_toml(&t("[\"a\", \"b\"]")),
        Ok(ConfigValue::from(vec!["a", "b"]))
    );
    assert!(
        SettingType::Duration
            .read_toml(&t("250"))
            .unwrap_err()
            .contains("no unit")
    );
    assert!(SettingType::Int.read_toml(&t("true")).is_err());
    assert!(SettingType::Rate.read_toml(&t("-2")).is_err());
}

#[test]
fn values_display_as_they_are_written() {
    assert_eq!(ms(250).to_string(), "250ms");
    assert_eq!(ms(120_000).to_string(), "2m");
    assert_eq!(ConfigValue::Infinity.to_string(), "infinity");
    assert_eq!(ConfigValue::from(vec![1i64, 2]).to_string(), "[1, 2]");
    assert_eq!(parse_duration("1h"), Ok(Duration::from_secs(3600)));
}

#[test]
fn config_is_send_sync_and_clone() {
    fn check<T: Send + Sync + Clone + 'static>() {}
    check::<rookery::engine::config::Config>();
    check::<rookery::engine::config::Declarations>();
    check::<rookery::engine::config::ExplicitSettings>();
}
