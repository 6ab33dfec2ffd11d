//! Property tests for the line parser (alongside the cargo-fuzz target in fuzz/): it never
//! panics on any bytes, and what the writer writes it reads back unchanged.

use std::io::Cursor;

use proptest::prelude::*;
use rookery::eventlog::{LogReader, ReadOptions, parse_event, parse_header, write_event};
use rookery::monitor::MonitorState;
use rookery::telemetry::{EventName, Field, Key, Value};

const SAMPLE: &str = r##"{"t_us":1530001,"node":"amoc_sample@vm","event":["amoc","throttle","process"],"measurements":{"debug":1},"metadata":{"log_level":"debug","msg":"state update","name":"post","self":"<0.147.0>","state":{"max_n":600,"n":0,"delay_between_executions":"infinity","tref":["interval","#Ref<0.1>"]}}}"##;

fn value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::Int),
        // Dyadic fractions print and parse exactly; arbitrary floats are checked at the top
        // level below, within serde_json's 1-ulp parsing accuracy.
        (-1_000_000i64..1_000_000).prop_map(|i| Value::Float(i as f64 / 4.0)),
        ".{0,30}".prop_map(Value::from),
    ];
    leaf.prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::list),
            prop::collection::vec((".{0,8}", inner), 0..4)
                .prop_map(|kv| { Value::map(kv.into_iter().map(|(k, v)| (Key::from(k), v))) }),
        ]
    })
}

fn fields() -> impl Strategy<Value = Vec<Field>> {
    let v = prop_oneof![value(), (-1e12f64..1e12).prop_map(Value::Float)];
    prop::collection::btree_map("[a-z_]{1,12}", v, 0..5)
        .prop_map(|m| m.into_iter().map(|(k, v)| (Key::from(k), v)).collect())
}

fn feed_reader(bytes: Vec<u8>, skip: bool) {
    if let Ok(mut r) = LogReader::from_reader(
        "prop.jsonl",
        Box::new(Cursor::new(bytes)),
        ReadOptions {
            skip_bad_lines: skip,
        },
    ) {
        let mut s = MonitorState::new();
        while let Ok(Some(ev)) = r.next() {
            s.apply(&ev.as_ref());
        }
        let _ = s.summary();
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 4000, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..300)) {
        let _ = parse_event(&bytes);
        let _ = parse_header(&bytes);
        let mut file = br#"{"rookery_log":1,"started_at":"2026-11-21T10:00:00Z"}"#.to_vec();
        file.push(b'\n');
        file.extend_from_slice(&bytes);
        feed_reader(file.clone(), true);
        feed_reader(file, false);
    }

    #[test]
    fn mutated_lines_never_panic(pos in 0usize..SAMPLE.len(), cut in 0usize..40, byte in any::<u8>()) {
        let mut line = SAMPLE.as_bytes().to_vec();
        line[pos] = byte;
        line.truncate(line.len().saturating_sub(cut));
        if let Ok(ev) = parse_event(&line) {
            let mut s = MonitorState::new();
            s.apply(&ev.as_ref());
        }
    }

    #[test]
    fn written_lines_read_back(
        t_us in any::<u64>(),
        node in proptest::option::of("[a-z0-9@._-]{1,20}"),
        segs in prop::collection::vec("[a-z_]{1,10}", 1..5),
        m in fields(),
        md in fields(),
    ) {
        let name = EventName::new(&segs).unwrap();
        let md: Vec<Field> = md.into_iter().filter(|(k, _)| k != "node").collect();
        let mut out = Vec::new();
        write_event(&mut out, t_us, node.as_deref(), &name, &m, &md);
        let ev = parse_event(&out[..out.len() - 1]).unwrap();
        prop_assert_eq!(ev.t_us, t_us);
        prop_assert_eq!(ev.node.as_deref(), node.as_deref());
        prop_assert_eq!(ev.name, name);
        prop_assert_eq!(ev.measurements.len(), m.len());
        for ((k1, v1), (k2, v2)) in ev.measurements.iter().zip(&m).chain(ev.metadata.iter().zip(&md)) {
            prop_assert_eq!(k1, k2);
            match (v1, v2) {
                // Floats go through text; serde_json without `float_roundtrip` may be 1 ulp off.
                (Value::Float(a), Value::Float(b)) => {
                    prop_assert!((a - b).abs() <= b.abs() * 4.0 * f64::EPSILON, "{} vs {}", a, b)
                }
                // An integral float may come back as an integer.
                (Value::Int(a), Value::Float(b)) => prop_assert_eq!(*a as f64, *b),
                _ => prop_assert_eq!(v1, v2),
            }
        }
    }
}
