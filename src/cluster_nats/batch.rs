//! Event batches on the wire: a header line, then the events as lines of the event-log format
//! v1 (the same bytes a worker's `--record` writes, parsed by the same parser), optionally
//! gzip-compressed as a whole.
//!
//! ```text
//! {"rookery_batch":1,"node":"w1","seq":3,"first":1200,"count":2,"dropped":0}
//! {"t_us":1520,"node":"w1","event":["amoc","throttle","request"],"measurements":{},"metadata":{"name":"m"}}
//! {"t_us":1533,"node":"w1","event":["amoc","throttle","execute"],"measurements":{},"metadata":{"name":"m"}}
//! ```
//!
//! `first` is the number of events the worker sent before this batch, so the master can count
//! events lost in transit exactly (`first` beyond what it received); `dropped` is the worker's
//! running count of events its bounded queue could not hold.

use std::io::{Read, Write};

use serde::{Deserialize, Serialize};

use super::wire::PROTOCOL;
use crate::eventlog::parse_event_into;
use crate::monitor::LoggedEvent;
use crate::telemetry::{EventName, Field, Fields};

/// The first line of a batch.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct BatchHeader {
    /// The batch format version ([`PROTOCOL`]).
    pub rookery_batch: u32,
    pub node: String,
    /// 0, 1, 2 … per worker incarnation.
    pub seq: u64,
    /// Events sent before this batch.
    pub first: u64,
    /// Events in this batch.
    pub count: u64,
    /// Events dropped by the worker's queue so far.
    pub dropped: u64,
}

/// Builds one batch: the header is written by [`finish`](Self::finish) in front of the events.
#[derive(Default)]
pub struct BatchWriter {
    body: Vec<u8>,
    count: u64,
}

impl BatchWriter {
    /// Appends one event (see [`write_event`](crate::eventlog::write_event)).
    pub fn push(&mut self, t_us: u64, name: &EventName, m: &[Field], md: &[Field]) {
        crate::eventlog::write_event(&mut self.body, t_us, md.get_str("node"), name, m, md);
        self.count += 1;
    }

    /// Events so far.
    pub fn count(&self) -> u64 {
        self.count
    }

    /// Bytes of events so far.
    pub fn len(&self) -> usize {
        self.body.len()
    }

    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// The whole batch (header first), gzip-compressed when `gzip`; the writer is emptied.
    pub fn finish(&mut self, header: &BatchHeader, gzip: bool) -> Vec<u8> {
        let mut out = serde_json::to_vec(header).unwrap_or_default();
        out.push(b'\n');
        out.extend_from_slice(&self.body);
        self.body.clear();
        self.count = 0;
        if gzip {
            let mut enc = flate2::write::GzEncoder::new(
                Vec::with_capacity(out.len() / 4),
                flate2::Compression::fast(),
            );
            // Writing into a Vec cannot fail.
            let _ = enc.write_all(&out);
            enc.finish().unwrap_or_default()
        } else {
            out
        }
    }
}

/// Reads one batch: the header, then each event in order.
#[derive(Debug)]
pub struct BatchReader<'a> {
    pub header: BatchHeader,
    rest: std::borrow::Cow<'a, [u8]>,
    at: usize,
    line: usize,
}

impl<'a> BatchReader<'a> {
    /// Checks the header (version included); a gzip batch is decompressed first.
    pub fn open(payload: &'a [u8]) -> Result<BatchReader<'a>, String> {
        let data: std::borrow::Cow<'a, [u8]> = if payload.starts_with(&[0x1f, 0x8b]) {
            let mut out = Vec::with_capacity(payload.len() * 4);
            flate2::read::GzDecoder::new(payload)
                .read_to_end(&mut out)
                .map_err(|e| format!("batch: bad gzip: {e}"))?;
            out.into()
        } else {
            payload.into()
        };
        let end = data
            .iter()
            .position(|&b| b == b'\n')
            .ok_or("batch: no header line")?;
        let header: BatchHeader =
            serde_json::from_slice(&data[..end]).map_err(|e| format!("batch: bad header: {e}"))?;
        if header.rookery_batch != PROTOCOL {
            return Err(format!(
                "batch: version {} (this build reads {PROTOCOL})",
                header.rookery_batch
            ));
        }
        Ok(BatchReader {
            header,
            rest: data,
            at: end + 1,
            line: 1,
        })
    }

    /// The next event into `out`; `Ok(false)` at the end.
    pub fn next_into(&mut self, out: &mut LoggedEvent) -> Result<bool, String> {
        let data = &self.rest[self.at..];
        if data.is_empty() {
            return Ok(false);
        }
        let end = data.iter().position(|&b| b == b'\n').unwrap_or(data.len());
        self.line += 1;
        parse_event_into(&data[..end], out)
            .map_err(|e| format!("batch line {}: {e}", self.line))?;
        self.at += (end + 1).min(data.len());
        Ok(true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::telemetry::{Key, StaticName, Value};

    static EV: StaticName = StaticName::new(&["amoc", "throttle", "request"]);

    fn header(count: u64) -> BatchHeader {
        BatchHeader {
            rookery_batch: PROTOCOL,
            node: "w1".into(),
            seq: 4,
            first: 100,
            count,
            dropped: 2,
        }
    }

    #[test]
    fn batches_round_trip_plain_and_gzip() {
        for gzip in [false, true] {
            let mut w = BatchWriter::default();
            for i in 0..3 {
                w.push(
                    10 + i,
                    &EV.get(),
                    &[(Key::new_static("n"), Value::Int(i as i64))],
                    &[
                        (Key::new_static("name"), Value::from("m")),
                        (Key::new_static("node"), Value::from("w1")),
                    ],
                );
            }
            assert_eq!(w.count(), 3);
            let bytes = w.finish(&header(3), gzip);
            assert!(w.is_empty());
            let mut r = BatchReader::open(&bytes).unwrap();
            assert_eq!(r.header, header(3));
            let mut ev = LoggedEvent::placeholder();
            let mut seen = Vec::new();
            while r.next_into(&mut ev).unwrap() {
                assert_eq!(ev.node.as_deref(), Some("w1"));
                assert_eq!(ev.name, EV.get());
                seen.push((ev.t_us, ev.measurements[0].1.as_i64()));
            }
            assert_eq!(seen, vec![(10, Some(0)), (11, Some(1)), (12, Some(2))]);
        }
    }

    #[test]
    fn bad_batches_are_errors_not_panics() {
        assert!(BatchReader::open(b"").is_err());
        assert!(BatchReader::open(b"{\"rookery_batch\":1}\n").is_err());
        let v2 = br#"{"rookery_batch":2,"node":"w","seq":0,"first":0,"count":0,"dropped":0}
"#;
        assert!(BatchReader::open(v2).unwrap_err().contains("version 2"));
        assert!(BatchReader::open(&[0x1f, 0x8b, 0, 1]).is_err());
        let bad_line = br#"{"rookery_batch":1,"node":"w","seq":0,"first":0,"count":1,"dropped":0}
{"t_us":"#;
        let mut r = BatchReader::open(bad_line).unwrap();
        let mut ev = LoggedEvent::placeholder();
        assert!(r.next_into(&mut ev).unwrap_err().contains("line 2"));
    }
}
