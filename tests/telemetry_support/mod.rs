//! Helpers shared by the telemetry tests.
#![allow(dead_code)] // each test binary uses its own part

use std::sync::{Arc, Mutex};

use rookery::telemetry::{EventName, Field, Value};

pub fn name(parts: &[&str]) -> EventName {
    EventName::new(parts).unwrap()
}

/// A handler that logs `tag:event` into `log`.
pub fn recorder(
    log: &Arc<Mutex<Vec<String>>>,
    tag: &str,
) -> impl Fn(EventName, &[Field], &[Field], &Value) + use<> {
    let log = log.clone();
    let tag = tag.to_owned();
    move |e, _, _, _| log.lock().unwrap().push(format!("{tag}:{e}"))
}
