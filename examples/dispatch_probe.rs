//! Instruction-count probe for the dispatch hot path: `valgrind --tool=callgrind`.
//!
//! `dispatch_probe H` (execute, H handlers), `dispatch_probe H persist`, `dispatch_probe 0 span`,
//! `dispatch_probe 0 count` / `dispatch_probe 0 tap` (an engine-like event to a counting handler,
//! or to an event tap drained every 4096 events: the recording overhead, issue 13.7).
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
        t.attach(format!("h{i}"), event.clone(), noop, Value::Null)
            .unwrap();
    }
    if persist {
        t.persist();
    }
    if std::env::args().nth(2).is_some_and(|s| s == "span") {
        let prefix = EventName::new(&["amoc", "scenario", "start"]).unwrap();
        let names = [prefix.join("start").unwrap(), prefix.join("stop").unwrap()];
        t.attach_many("span", &names, noop, Value::Null).unwrap();
        let md = fields! {"user_id" => 1};
        for _ in 0..100_000 {
            t.span(black_box(prefix.clone()), black_box(&md), || {
                (1, rookery::telemetry::SpanStop::default())
            });
        }
        return;
    }
    let mode = std::env::args().nth(2).unwrap_or_default();
    if mode == "count" || mode == "tap" {
        let n = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
        let feed = if mode == "tap" {
            Some(rookery::monitor::LiveFeed::attach_default(&t).unwrap())
        } else {
            let n = n.clone();
            t.attach(
                "count",
                event.clone(),
                move |_, _, _, _| {
                    n.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                },
                Value::Null,
            )
            .unwrap();
            None
        };
        let mut state = rookery::monitor::MonitorState::new();
        for i in 0..1_000_000i64 {
            // As the engine's `Emitter` builds it: the caller's fields, `node`, the time.
            let md = fields! {"name" => "login", "i" => i, "node" => "node1",
            "monotonic_time" => rookery::telemetry::monotonic_time()};
            t.execute(
                black_box(event.clone()),
                &fields! {"count" => 1},
                black_box(&md),
            );
            if i % 4096 == 0
                && let Some(f) = &feed
            {
                f.drain_into(&mut state);
            }
        }
        black_box(state.events());
        return;
    }
    let m = fields! {"count" => 1};
    let md = fields! {"name" => "user_rate"};
    for _ in 0..1_000_000 {
        t.execute(black_box(event.clone()), black_box(&m), black_box(&md));
    }
}
