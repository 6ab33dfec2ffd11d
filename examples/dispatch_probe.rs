//! Instruction-count probe for the dispatch hot path: `valgrind --tool=callgrind`.
use rookery::fields;
use rookery::telemetry::{EventName, Field, Telemetry, Value};
use std::hint::black_box;

fn noop(e: EventName, m: &[Field], md: &[Field], c: &Value) {
    black_box((e, m, md, c));
}

fn main() {
    let handlers: usize = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(1);
    let persist = std::env::args().nth(2).is_some_and(|s| s == "persist");
    let t = Telemetry::new();
    let event = EventName::new(&["amoc", "throttle", "request"]).unwrap();
    for i in 0..handlers {
        t.attach(format!("h{i}"), event, noop, Value::Null).unwrap();
    }
    if persist {
        t.persist();
    }
    let m = fields! {"count" => 1};
    let md = fields! {"name" => "user_rate"};
    for _ in 0..1_000_000 {
        t.execute(black_box(event), black_box(&m), black_box(&md));
    }
}
