//! The event-log line parser, the header parser and the whole reader on arbitrary bytes:
//! none may panic, and whatever parses must reduce without panicking.
#![no_main]

use std::io::Cursor;

use libfuzzer_sys::fuzz_target;
use rookery::eventlog::{LogReader, ReadOptions, parse_event, parse_header, write_event};
use rookery::monitor::MonitorState;

fuzz_target!(|data: &[u8]| {
    let _ = parse_header(data);
    let mut state = MonitorState::new();
    if let Ok(ev) = parse_event(data) {
        state.apply(&ev.as_ref());
        // What parses must write back and parse to the same event.
        let mut out = Vec::new();
        write_event(&mut out, ev.t_us, ev.node.as_deref(), &ev.name, &ev.measurements, &ev.metadata);
        let again = parse_event(&out[..out.len() - 1]).expect("a written line parses");
        assert_eq!(again.name, ev.name);
        assert_eq!(again.t_us, ev.t_us);
    }
    // As a whole file, with a valid header in front and as-is.
    for skip in [false, true] {
        let mut file = br#"{"rookery_log":1,"started_at":"2026-11-21T10:00:00Z"}"#.to_vec();
        file.push(b'\n');
        file.extend_from_slice(data);
        for input in [file, data.to_vec()] {
            if let Ok(mut r) = LogReader::from_reader(
                "fuzz.jsonl",
                Box::new(Cursor::new(input)),
                ReadOptions { skip_bad_lines: skip },
            ) {
                while let Ok(Some(ev)) = r.next() {
                    state.apply(&ev.as_ref());
                }
            }
        }
    }
    let _ = state.summary();
});
