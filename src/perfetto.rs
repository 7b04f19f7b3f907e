//! The trace in the Chrome Trace Event format, which Perfetto UI (ui.perfetto.dev) and
//! `chrome://tracing` open: zoom, search and selection come for free, where the HTML timeline is a
//! quick look. Pure over the records: nothing here knows the simulation.
//!
//! Layout: one process per host; on it one thread per connection (the peer the host sees) carrying
//! the frames as instants, one async slice per chunk from its send to its ack (a retransmission
//! stays in the slice it renews), counters for each client's window and each file's progress, and
//! global instants for faults, panics and the oracles' violations.

use crate::trace::{Dir, Event, Record};
use serde_json::{json, Value};
use std::collections::BTreeMap;

/// A violation to mark on the trace: when, where, and what was broken.
pub struct Marker<'a> {
    pub t_ms: u64,
    pub host: &'a str,
    pub label: String,
}

/// The Chrome Trace Event JSON of `records`, with `violations` as global instants.
pub fn chrome_trace(records: &[Record], title: &str, violations: &[Marker<'_>]) -> String {
    let mut writer = Writer::default();
    for record in records {
        writer.record(record);
    }
    for marker in violations {
        let pid = writer.pid(marker.host);
        writer.push(json!({
            "name": marker.label, "cat": "violation", "ph": "i", "s": "g",
            "ts": micros(marker.t_ms), "pid": pid, "tid": 0,
        }));
    }
    writer.close_open_chunks(records.last().map_or(0, |r| r.t_ms));
    let doc = json!({
        "displayTimeUnit": "ms",
        "otherData": { "title": title, "clock": "simulated" },
        "traceEvents": writer.events,
    });
    serde_json::to_string(&doc).expect("a JSON value always serialises")
}

fn micros(t_ms: u64) -> u64 {
    t_ms * 1000
}

/// Turns records into trace events, naming processes and threads as they first appear.
#[derive(Default)]
struct Writer {
    events: Vec<Value>,
    pids: BTreeMap<String, u32>,
    tids: BTreeMap<(u32, String), u32>,
    /// Chunks in flight by (host, file, seq): the async slice's id and when it began.
    open_chunks: BTreeMap<(String, String, u32), (u64, u64)>,
    next_chunk_id: u64,
}

impl Writer {
    fn push(&mut self, event: Value) {
        self.events.push(event);
    }

    fn pid(&mut self, host: &str) -> u32 {
        if let Some(pid) = self.pids.get(host) {
            return *pid;
        }
        let pid = self.pids.len() as u32 + 1;
        self.pids.insert(host.to_owned(), pid);
        self.push(
            json!({"name": "process_name", "ph": "M", "pid": pid, "tid": 0,
                         "args": {"name": host}}),
        );
        pid
    }

    /// The thread of `host`'s connection to `peer`; thread 0 is the host's own events.
    fn tid(&mut self, pid: u32, peer: &str) -> u32 {
        let key = (pid, peer.to_owned());
        if let Some(tid) = self.tids.get(&key) {
            return *tid;
        }
        let tid = self.tids.len() as u32 + 1;
        self.tids.insert(key, tid);
        self.push(
            json!({"name": "thread_name", "ph": "M", "pid": pid, "tid": tid,
                         "args": {"name": format!("conn {peer}")}}),
        );
        tid
    }

    fn record(&mut self, record: &Record) {
        let pid = self.pid(&record.host);
        let ts = micros(record.t_ms);
        match &record.event {
            Event::Frame {
                dir,
                peer,
                id,
                name,
                ..
            } => {
                let tid = self.tid(pid, peer);
                let arrow = if *dir == Dir::Tx { "->" } else { "<-" };
                self.push(
                    json!({"name": format!("{arrow} {id} {name}"), "cat": "frame", "ph": "i",
                                 "s": "t", "ts": ts, "pid": pid, "tid": tid,
                                 "args": event_args(record)}),
                );
            }
            Event::ChunkSent {
                file,
                seq,
                in_flight,
                ..
            } => {
                self.chunk_sent(record, pid, file, *seq);
                self.counter(
                    pid,
                    ts,
                    &format!("window {}", record.host),
                    *in_flight as u64,
                );
            }
            Event::ChunkAcked {
                file,
                seq,
                in_flight,
                ..
            } => {
                self.chunk_answered(record, pid, file, *seq);
                self.counter(
                    pid,
                    ts,
                    &format!("window {}", record.host),
                    *in_flight as u64,
                );
            }
            Event::Progress { file, percent } => {
                self.counter(pid, ts, &format!("progress {file}"), u64::from(*percent));
            }
            Event::Fault { .. } | Event::Panicked { .. } | Event::HostFailed { .. } => {
                self.push(
                    json!({"name": label(record), "cat": "fault", "ph": "i", "s": "g",
                                 "ts": ts, "pid": pid, "tid": 0, "args": event_args(record)}),
                );
            }
            _ => {
                self.push(
                    json!({"name": label(record), "cat": "event", "ph": "i", "s": "t",
                                 "ts": ts, "pid": pid, "tid": 0, "args": event_args(record)}),
                );
            }
        }
    }

    fn counter(&mut self, pid: u32, ts: u64, name: &str, value: u64) {
        self.push(json!({"name": name, "ph": "C", "ts": ts, "pid": pid,
                         "args": {"value": value}}));
    }

    fn chunk_sent(&mut self, record: &Record, pid: u32, file: &str, seq: u32) {
        let key = (record.host.clone(), file.to_owned(), seq);
        if self.open_chunks.contains_key(&key) {
            // A retransmission: the chunk's slice goes on until an answer comes.
            return;
        }
        self.next_chunk_id += 1;
        let id = self.next_chunk_id;
        self.open_chunks.insert(key, (id, record.t_ms));
        self.push(
            json!({"name": format!("{file} #{seq}"), "cat": "chunk", "ph": "b",
                         "id": id, "ts": micros(record.t_ms), "pid": pid, "tid": 0,
                         "args": event_args(record)}),
        );
    }

    fn chunk_answered(&mut self, record: &Record, pid: u32, file: &str, seq: u32) {
        let key = (record.host.clone(), file.to_owned(), seq);
        if let Some((id, _)) = self.open_chunks.remove(&key) {
            self.push(
                json!({"name": format!("{file} #{seq}"), "cat": "chunk", "ph": "e",
                             "id": id, "ts": micros(record.t_ms), "pid": pid, "tid": 0,
                             "args": event_args(record)}),
            );
        }
    }

    /// Chunks never answered end with the trace, marked so.
    fn close_open_chunks(&mut self, last_ms: u64) {
        for ((host, file, seq), (id, _)) in std::mem::take(&mut self.open_chunks) {
            let pid = self.pid(&host);
            self.push(
                json!({"name": format!("{file} #{seq}"), "cat": "chunk", "ph": "e",
                             "id": id, "ts": micros(last_ms), "pid": pid, "tid": 0,
                             "args": {"unanswered": true}}),
            );
        }
    }
}

/// The event's tag, as the JSON trace names it (`upload_committed`).
fn label(record: &Record) -> String {
    serde_json::to_value(&record.event)
        .ok()
        .and_then(|v| v.get("event").and_then(Value::as_str).map(str::to_owned))
        .unwrap_or_default()
}

/// The event's fields, for the selection panel.
fn event_args(record: &Record) -> Value {
    let mut value = serde_json::to_value(&record.event).unwrap_or(Value::Null);
    if let Some(map) = value.as_object_mut() {
        map.remove("event");
    }
    value
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(t_ms: u64, host: &str, event: Event) -> Record {
        Record {
            t_ms,
            host: host.to_owned(),
            event,
        }
    }

    fn sent(seq: u32) -> Event {
        Event::ChunkSent {
            file: "a.png".into(),
            seq,
            id: 1037,
            in_flight: 1,
            retransmit: false,
        }
    }

    fn events(json: &str) -> Vec<Value> {
        let doc: Value = serde_json::from_str(json).unwrap();
        doc["traceEvents"].as_array().unwrap().clone()
    }

    #[test]
    fn a_chunk_is_one_slice_from_send_to_ack_whatever_was_sent_between() {
        let acked = Event::ChunkAcked {
            file: "a.png".into(),
            seq: 2,
            error: 0,
            in_flight: 0,
        };
        let records = [
            at(10, "user1", sent(2)),
            at(5010, "user1", sent(2)),
            at(5020, "user1", acked),
        ];
        let all = events(&chrome_trace(&records, "t", &[]));
        let phases: Vec<(&str, u64)> = all
            .iter()
            .filter(|e| e["cat"] == "chunk")
            .map(|e| (e["ph"].as_str().unwrap(), e["ts"].as_u64().unwrap()))
            .collect();
        assert_eq!(phases, [("b", 10_000), ("e", 5_020_000)]);
    }

    #[test]
    fn an_unanswered_chunk_ends_with_the_trace_and_says_so() {
        let records = [
            at(10, "user1", sent(1)),
            at(90, "world", Event::HostFailed { error: "x".into() }),
        ];
        let all = events(&chrome_trace(&records, "t", &[]));
        let end = all
            .iter()
            .find(|e| e["cat"] == "chunk" && e["ph"] == "e")
            .unwrap();
        assert_eq!(end["ts"], 90_000);
        assert_eq!(end["args"]["unanswered"], true);
    }

    #[test]
    fn hosts_are_processes_and_connections_their_threads() {
        let frame = |peer: &str| Event::Frame {
            dir: Dir::Tx,
            peer: peer.into(),
            id: 1005,
            name: "login",
            len: 40,
            file: None,
            seq: None,
        };
        let records = [
            at(1, "user1", frame("chat:8090")),
            at(2, "user1", frame("resource:8091")),
            at(3, "chat", frame("192.168.0.3:49152")),
        ];
        let all = events(&chrome_trace(&records, "t", &[]));
        let names: Vec<&str> = all
            .iter()
            .filter(|e| e["ph"] == "M")
            .map(|e| e["args"]["name"].as_str().unwrap())
            .collect();
        assert_eq!(
            names,
            [
                "user1",
                "conn chat:8090",
                "conn resource:8091",
                "chat",
                "conn 192.168.0.3:49152"
            ]
        );
    }

    #[test]
    fn violations_are_global_instants() {
        let records = [at(1, "user1", sent(1))];
        let marker = Marker {
            t_ms: 7,
            host: "chat",
            label: "notify: told twice".into(),
        };
        let all = events(&chrome_trace(&records, "t", &[marker]));
        let violation = all.iter().find(|e| e["cat"] == "violation").unwrap();
        assert_eq!(violation["s"], "g");
        assert_eq!(violation["ts"], 7_000);
    }
}
