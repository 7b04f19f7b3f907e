//! The trace's vocabulary as a scenario trigger sees it: every event tag, its fields and the JSON
//! type of each. A trigger (`after = { event = "chunk_stored", seq = 3 }`) is checked against this
//! table when the scenario loads, so a misspelt tag or field is an error instead of a fault that
//! never fires. A unit test below keeps the table equal to `crate::trace::Event`.

/// The JSON type of an event field, as a trigger value must have it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum FieldType {
    Str,
    Num,
    Bool,
    List,
}

impl FieldType {
    pub fn name(self) -> &'static str {
        match self {
            FieldType::Str => "a string",
            FieldType::Num => "an integer",
            FieldType::Bool => "a boolean",
            FieldType::List => "an array",
        }
    }
}

use crate::trace::{Dir, ProbeOutcome, RetryScope, TraceWord};
use FieldType::{Bool, List, Num, Str};

/// Every event tag of the trace with its fields, in `Event`'s order.
pub const EVENTS: &[(&str, &[(&str, FieldType)])] = &[
    ("conn_opened", &[("peer", Str)]),
    ("conn_closed", &[("peer", Str), ("reason", Str)]),
    (
        "frame",
        &[
            ("dir", Str),
            ("peer", Str),
            ("id", Num),
            ("name", Str),
            ("len", Num),
            ("file", Str),
            ("seq", Num),
        ],
    ),
    ("bad_input", &[("peer", Str), ("id", Num), ("error", Str)]),
    ("logged_in", &[("uid", Num)]),
    ("logged_out", &[("uid", Num)]),
    ("login_failed", &[("uid", Num), ("error", Num)]),
    (
        "text_sent",
        &[
            ("from", Num),
            ("to", Num),
            ("unique_id", Str),
            ("content", Str),
        ],
    ),
    ("text_acked", &[("unique_id", Str), ("message_id", Num)]),
    (
        "text_received",
        &[
            ("from", Num),
            ("to", Num),
            ("message_id", Num),
            ("unique_id", Str),
            ("content", Str),
        ],
    ),
    (
        "image_queued",
        &[
            ("file", Str),
            ("from", Num),
            ("to", Num),
            ("size", Num),
            ("md5", Str),
        ],
    ),
    ("image_announced", &[("file", Str), ("message_id", Num)]),
    (
        "chunk_sent",
        &[
            ("file", Str),
            ("seq", Num),
            ("id", Num),
            ("in_flight", Num),
            ("retransmit", Bool),
        ],
    ),
    (
        "chunk_acked",
        &[
            ("file", Str),
            ("seq", Num),
            ("error", Num),
            ("in_flight", Num),
        ],
    ),
    ("window_changed", &[("window", Num), ("reason", Str)]),
    ("progress", &[("file", Str), ("percent", Num)]),
    ("upload_acked", &[("file", Str)]),
    (
        "upload_failed",
        &[("file", Str), ("error", Num), ("reason", Str)],
    ),
    (
        "upload_retry",
        &[("file", Str), ("seq", Num), ("error", Num), ("scope", Str)],
    ),
    ("upload_paused", &[("file", Str)]),
    ("upload_resumed", &[("file", Str)]),
    ("upload_cancelled", &[("file", Str)]),
    (
        "upload_status",
        &[("file", Str), ("held", Num), ("of", Num), ("error", Num)],
    ),
    ("upload_notified", &[("file", Str), ("message_id", Num)]),
    (
        "image_push_received",
        &[
            ("file", Str),
            ("message_id", Num),
            ("from", Num),
            ("size", Num),
        ],
    ),
    (
        "download_done",
        &[
            ("file", Str),
            ("message_id", Num),
            ("size", Num),
            ("md5", Str),
        ],
    ),
    (
        "download_failed",
        &[
            ("file", Str),
            ("message_id", Num),
            ("error", Num),
            ("reason", Str),
        ],
    ),
    ("session_started", &[("uid", Num)]),
    ("session_ended", &[("uid", Num), ("reason", Str)]),
    (
        "text_stored",
        &[
            ("message_id", Num),
            ("from", Num),
            ("to", Num),
            ("unique_id", Str),
        ],
    ),
    (
        "image_message_stored",
        &[
            ("message_id", Num),
            ("from", Num),
            ("to", Num),
            ("file", Str),
            ("msg_type", Num),
            ("status", Num),
        ],
    ),
    (
        "notify_received",
        &[("message_id", Num), ("file", Str), ("first", Bool)],
    ),
    (
        "pushed",
        &[
            ("to", Num),
            ("id", Num),
            ("message_id", Num),
            ("queued", Bool),
        ],
    ),
    (
        "chunk_stored",
        &[
            ("file", Str),
            ("seq", Num),
            ("owner", Num),
            ("path", Str),
            ("writer", Num),
        ],
    ),
    (
        "chunk_refused",
        &[("file", Str), ("seq", Num), ("error", Num), ("reason", Str)],
    ),
    ("chunks_committed", &[("chunks", Num), ("files", Num)]),
    (
        "upload_committed",
        &[("file", Str), ("owner", Num), ("size", Num), ("md5", Str)],
    ),
    ("upload_rejected", &[("file", Str), ("reason", Str)]),
    (
        "notify_attempt",
        &[
            ("file", Str),
            ("message_id", Num),
            ("attempt", Num),
            ("ok", Bool),
            ("detail", Str),
        ],
    ),
    (
        "forward",
        &[
            ("method", Str),
            ("uid", Num),
            ("server", Str),
            ("attempt", Num),
            ("ok", Bool),
            ("detail", Str),
        ],
    ),
    ("kicked", &[("uid", Num)]),
    ("download_served", &[("file", Str), ("seq", Num)]),
    ("fault", &[("kind", Str), ("detail", Str)]),
    ("panicked", &[("message", Str)]),
    ("host_failed", &[("error", Str)]),
    ("server_died", &[("input", Str), ("reason", Str)]),
    (
        "action_outcome",
        &[
            ("user", Num),
            ("action", Str),
            ("at_ms", Num),
            ("performed_ms", Num),
            ("finished_ms", Num),
            ("outcome", Str),
            ("stall_from_ms", Num),
            ("longest_stall_ms", Num),
        ],
    ),
    (
        "liveness_bound",
        &[("last_heal_ms", Num), ("liveness_ms", Num)],
    ),
    (
        "fault_outcome",
        &[
            ("fault", Str),
            ("optional", Bool),
            ("fired", Num),
            ("times_ms", List),
        ],
    ),
    (
        "upload_bound",
        &[
            ("message_id", Num),
            ("file", Str),
            ("owner", Num),
            ("receiver", Num),
            ("path", Str),
            ("checked", Bool),
        ],
    ),
    (
        "download_info_served",
        &[
            ("message_id", Num),
            ("file", Str),
            ("sender", Num),
            ("receiver", Num),
            ("size", Num),
            ("md5", Str),
        ],
    ),
    (
        "upload_expired",
        &[("message_id", Num), ("file", Str), ("idle_s", Num)],
    ),
    (
        "probe_sent",
        &[
            ("probe", Num),
            ("server", Str),
            ("conn", Num),
            ("id", Num),
            ("raw", Bool),
            ("body", Str),
            ("deadline_ms", Num),
            ("expect_reply", Num),
            ("expect_error", Num),
            ("expect_closed", Bool),
        ],
    ),
    (
        "probe_result",
        &[
            ("probe", Num),
            ("outcome", Str),
            ("waited_ms", Num),
            ("id", Num),
            ("error", Num),
            ("body", Str),
            ("detail", Str),
        ],
    ),
    (
        "final_message",
        &[
            ("message_id", Num),
            ("from", Num),
            ("to", Num),
            ("msg_type", Num),
            ("status", Num),
            ("content", Str),
        ],
    ),
    (
        "final_file",
        &[
            ("file", Str),
            ("owner", Num),
            ("size", Num),
            ("md5", Str),
            ("complete", Bool),
            ("received", List),
            ("chunk_hashes", List),
        ],
    ),
    (
        "source_file",
        &[
            ("file", Str),
            ("size", Num),
            ("md5", Str),
            ("chunk_hashes", List),
        ],
    ),
];

/// The keys of a trigger that are not event fields.
pub const TRIGGER_KEYS: [&str; 3] = ["event", "host", "nth"];

/// The fields of the event with this tag, or `None` when no event has it.
pub fn fields(tag: &str) -> Option<&'static [(&'static str, FieldType)]> {
    EVENTS.iter().find(|(t, _)| *t == tag).map(|(_, f)| *f)
}

/// The values a string field can take where the trace writes a closed set, so that a trigger on
/// any other value (`dir = "up"`, as a frame fault would say) is an error, not a trigger that
/// never fires.
pub fn closed_values(tag: &str, field: &str) -> Option<Vec<&'static str>> {
    match (tag, field) {
        ("frame", "dir") => Some(Dir::words()),
        ("frame", "name") => {
            let mut names: Vec<&str> = (0..=u16::MAX).map(crate::protocol::ids::name).collect();
            names.retain(|name| *name != "unknown");
            names.dedup();
            Some(names)
        }
        ("upload_retry", "scope") => Some(RetryScope::words()),
        ("probe_result", "outcome") => Some(ProbeOutcome::words()),
        _ => None,
    }
}

/// Integer fields that hold a user's uid: a trigger may only name a declared user.
pub const UID_FIELDS: [&str; 5] = ["uid", "from", "to", "owner", "writer"];

/// Every event tag, in `Event`'s order.
pub fn tags() -> impl Iterator<Item = &'static str> {
    EVENTS.iter().map(|(tag, _)| *tag)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::trace::Event;
    use serde_json::Value;
    use std::collections::BTreeSet;

    /// The tag of every variant. The match is exhaustive, so a new variant stops the build here
    /// until it has an arm; give it a sample in `samples` and a row in `EVENTS` too.
    fn tag(event: &Event) -> &'static str {
        match event {
            Event::ConnOpened { .. } => "conn_opened",
            Event::ConnClosed { .. } => "conn_closed",
            Event::Frame { .. } => "frame",
            Event::BadInput { .. } => "bad_input",
            Event::LoggedIn { .. } => "logged_in",
            Event::LoggedOut { .. } => "logged_out",
            Event::LoginFailed { .. } => "login_failed",
            Event::TextSent { .. } => "text_sent",
            Event::TextAcked { .. } => "text_acked",
            Event::TextReceived { .. } => "text_received",
            Event::ImageQueued { .. } => "image_queued",
            Event::ImageAnnounced { .. } => "image_announced",
            Event::ChunkSent { .. } => "chunk_sent",
            Event::ChunkAcked { .. } => "chunk_acked",
            Event::WindowChanged { .. } => "window_changed",
            Event::Progress { .. } => "progress",
            Event::UploadAcked { .. } => "upload_acked",
            Event::UploadFailed { .. } => "upload_failed",
            Event::UploadRetry { .. } => "upload_retry",
            Event::UploadPaused { .. } => "upload_paused",
            Event::UploadResumed { .. } => "upload_resumed",
            Event::UploadCancelled { .. } => "upload_cancelled",
            Event::UploadStatus { .. } => "upload_status",
            Event::UploadNotified { .. } => "upload_notified",
            Event::ImagePushReceived { .. } => "image_push_received",
            Event::DownloadDone { .. } => "download_done",
            Event::DownloadFailed { .. } => "download_failed",
            Event::SessionStarted { .. } => "session_started",
            Event::SessionEnded { .. } => "session_ended",
            Event::TextStored { .. } => "text_stored",
            Event::ImageMessageStored { .. } => "image_message_stored",
            Event::NotifyReceived { .. } => "notify_received",
            Event::Pushed { .. } => "pushed",
            Event::ChunkStored { .. } => "chunk_stored",
            Event::ChunkRefused { .. } => "chunk_refused",
            Event::ChunksCommitted { .. } => "chunks_committed",
            Event::UploadCommitted { .. } => "upload_committed",
            Event::UploadRejected { .. } => "upload_rejected",
            Event::NotifyAttempt { .. } => "notify_attempt",
            Event::Forward { .. } => "forward",
            Event::Kicked { .. } => "kicked",
            Event::DownloadServed { .. } => "download_served",
            Event::Fault { .. } => "fault",
            Event::Panicked { .. } => "panicked",
            Event::HostFailed { .. } => "host_failed",
            Event::ServerDied { .. } => "server_died",
            Event::ActionOutcome { .. } => "action_outcome",
            Event::LivenessBound { .. } => "liveness_bound",
            Event::FaultOutcome { .. } => "fault_outcome",
            Event::UploadBound { .. } => "upload_bound",
            Event::DownloadInfoServed { .. } => "download_info_served",
            Event::UploadExpired { .. } => "upload_expired",
            Event::ProbeSent { .. } => "probe_sent",
            Event::ProbeResult { .. } => "probe_result",
            Event::FinalMessage { .. } => "final_message",
            Event::FinalFile { .. } => "final_file",
            Event::SourceFile { .. } => "source_file",
        }
    }

    /// One value of every variant, every optional field set so that it shows.
    fn samples() -> Vec<Event> {
        let s = || "x".to_owned();
        vec![
            Event::ConnOpened { peer: s() },
            Event::ConnClosed {
                peer: s(),
                reason: s(),
            },
            Event::Frame {
                dir: Dir::Tx,
                peer: s(),
                id: 1,
                name: "n",
                len: 1,
                file: Some(s()),
                seq: Some(1),
            },
            Event::BadInput {
                peer: s(),
                id: 1,
                error: s(),
            },
            Event::LoggedIn { uid: 1 },
            Event::LoggedOut { uid: 1 },
            Event::LoginFailed { uid: 1, error: 1 },
            Event::TextSent {
                from: 1,
                to: 1,
                unique_id: s(),
                content: s(),
            },
            Event::TextAcked {
                unique_id: s(),
                message_id: 1,
            },
            Event::TextReceived {
                from: 1,
                to: 1,
                message_id: 1,
                unique_id: s(),
                content: s(),
            },
            Event::ImageQueued {
                file: s(),
                from: 1,
                to: 1,
                size: 1,
                md5: s(),
            },
            Event::ImageAnnounced {
                file: s(),
                message_id: 1,
            },
            Event::ChunkSent {
                file: s(),
                seq: 1,
                id: 1,
                in_flight: 1,
                retransmit: true,
            },
            Event::ChunkAcked {
                file: s(),
                seq: 1,
                error: 0,
                in_flight: 1,
            },
            Event::WindowChanged {
                window: 1,
                reason: "start",
            },
            Event::Progress {
                file: s(),
                percent: 1,
            },
            Event::UploadAcked { file: s() },
            Event::UploadFailed {
                file: s(),
                error: 1,
                reason: s(),
            },
            Event::UploadRetry {
                file: s(),
                seq: 1,
                error: 1,
                scope: RetryScope::Chunk,
            },
            Event::UploadPaused { file: s() },
            Event::UploadResumed { file: s() },
            Event::UploadCancelled { file: s() },
            Event::UploadStatus {
                file: s(),
                held: 1,
                of: 1,
                error: 0,
            },
            Event::UploadNotified {
                file: s(),
                message_id: 1,
            },
            Event::ImagePushReceived {
                file: s(),
                message_id: 1,
                from: 1,
                size: 1,
            },
            Event::DownloadDone {
                file: s(),
                message_id: 1,
                size: 1,
                md5: s(),
            },
            Event::DownloadFailed {
                file: s(),
                message_id: 1,
                error: 1,
                reason: s(),
            },
            Event::SessionStarted { uid: 1 },
            Event::SessionEnded {
                uid: 1,
                reason: s(),
            },
            Event::TextStored {
                message_id: 1,
                from: 1,
                to: 1,
                unique_id: s(),
            },
            Event::ImageMessageStored {
                message_id: 1,
                from: 1,
                to: 1,
                file: s(),
                msg_type: 1,
                status: 1,
            },
            Event::NotifyReceived {
                message_id: 1,
                file: s(),
                first: true,
            },
            Event::Pushed {
                to: 1,
                id: 1,
                message_id: 1,
                queued: true,
            },
            Event::ChunkStored {
                file: s(),
                seq: 1,
                owner: 1,
                path: s(),
                writer: Some(1),
            },
            Event::ChunkRefused {
                file: s(),
                seq: 1,
                error: 1,
                reason: s(),
            },
            Event::ChunksCommitted {
                chunks: 2,
                files: 1,
            },
            Event::UploadCommitted {
                file: s(),
                owner: 1,
                size: 1,
                md5: s(),
            },
            Event::UploadRejected {
                file: s(),
                reason: s(),
            },
            Event::NotifyAttempt {
                file: s(),
                message_id: 1,
                attempt: 1,
                ok: true,
                detail: s(),
            },
            Event::Forward {
                method: s(),
                uid: 1,
                server: s(),
                attempt: 1,
                ok: true,
                detail: s(),
            },
            Event::Kicked { uid: 1 },
            Event::DownloadServed { file: s(), seq: 1 },
            Event::Fault {
                kind: s(),
                detail: s(),
            },
            Event::Panicked { message: s() },
            Event::HostFailed { error: s() },
            Event::ServerDied {
                input: s(),
                reason: s(),
            },
            Event::ActionOutcome {
                user: 1,
                action: s(),
                at_ms: 1,
                performed_ms: Some(1),
                finished_ms: Some(1),
                outcome: s(),
                stall_from_ms: 1,
                longest_stall_ms: 1,
            },
            Event::LivenessBound {
                last_heal_ms: 1,
                liveness_ms: 1,
            },
            Event::FaultOutcome {
                fault: s(),
                optional: true,
                fired: 1,
                times_ms: vec![1],
            },
            Event::UploadBound {
                message_id: 1,
                file: s(),
                owner: 1,
                receiver: 1,
                path: s(),
                checked: true,
            },
            Event::DownloadInfoServed {
                message_id: 1,
                file: s(),
                sender: 1,
                receiver: 1,
                size: 1,
                md5: s(),
            },
            Event::UploadExpired {
                message_id: 1,
                file: s(),
                idle_s: 1,
            },
            Event::ProbeSent {
                probe: 1,
                server: s(),
                conn: 1,
                id: 1,
                raw: true,
                body: s(),
                deadline_ms: 1,
                expect_reply: Some(1),
                expect_error: Some(1),
                expect_closed: true,
            },
            Event::ProbeResult {
                probe: 1,
                outcome: ProbeOutcome::Reply,
                waited_ms: 1,
                id: Some(1),
                error: Some(1),
                body: Some(s()),
                detail: s(),
            },
            Event::FinalMessage {
                message_id: 1,
                from: 1,
                to: 1,
                msg_type: 1,
                status: 1,
                content: s(),
            },
            Event::FinalFile {
                file: s(),
                owner: 1,
                size: 1,
                md5: s(),
                complete: true,
                received: vec![1],
                chunk_hashes: vec![s()],
            },
            Event::SourceFile {
                file: s(),
                size: 1,
                md5: s(),
                chunk_hashes: vec![s()],
            },
        ]
    }

    fn type_of(value: &Value) -> FieldType {
        match value {
            Value::String(_) => Str,
            Value::Number(n) if n.is_i64() || n.is_u64() => Num,
            Value::Bool(_) => Bool,
            Value::Array(_) => List,
            other => panic!("a trace field a trigger cannot match: {other}"),
        }
    }

    #[test]
    fn the_table_matches_every_variant_of_the_trace_event() {
        let samples = samples();
        let sampled: BTreeSet<&str> = samples.iter().map(tag).collect();
        assert_eq!(sampled.len(), samples.len(), "one sample per variant");
        assert_eq!(
            sampled,
            tags().collect::<BTreeSet<_>>(),
            "EVENTS lists exactly the sampled variants"
        );
        for event in &samples {
            let Value::Object(json) = serde_json::to_value(event).unwrap() else {
                panic!("an event serialises to an object");
            };
            assert_eq!(json["event"], tag(event), "the serde tag");
            let serialised: Vec<(&str, FieldType)> = json
                .iter()
                .filter(|(key, _)| *key != "event")
                .map(|(key, value)| (key.as_str(), type_of(value)))
                .collect();
            let mut table = fields(tag(event)).unwrap().to_vec();
            let mut serialised = serialised;
            table.sort();
            serialised.sort();
            assert_eq!(table, serialised, "fields of {}", tag(event));
        }
    }

    #[test]
    fn no_event_field_is_taken_by_a_trigger_key() {
        for (tag, fields) in EVENTS {
            for (field, _) in *fields {
                assert!(!TRIGGER_KEYS.contains(field), "{tag}.{field}");
            }
        }
    }
}
