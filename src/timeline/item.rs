//! The records, read through their JSON form (the trace's stable vocabulary) and their `event`
//! tag rather than through the `Event` enum, so event kinds added later still show up.

use crate::trace::{Dir, Record};
use serde::Deserialize;
use serde_json::Value;

/// The event tags the timeline draws in a particular way; any other tag is `Other` (a dot on its
/// host's lane).
#[derive(Clone, Copy, PartialEq, Eq, Debug, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Tag {
    Frame,
    ChunkSent,
    ChunkAcked,
    Progress,
    UploadCommitted,
    UploadNotified,
    DownloadDone,
    UploadFailed,
    Fault,
    Panicked,
    HostFailed,
    ServerDied,
    ConnClosed,
    ChunkRefused,
    UploadRejected,
    BadInput,
    LoginFailed,
    DownloadFailed,
    ProbeSent,
    ProbeResult,
    WindowChanged,
    #[serde(other)]
    Other,
}

impl Tag {
    fn of(tag: &str) -> Tag {
        Tag::deserialize(serde_json::Value::from(tag)).unwrap_or(Tag::Other)
    }

    /// Drawn as a vertical line across all panels.
    pub fn is_marker(self) -> bool {
        use Tag::*;
        matches!(
            self,
            Fault
                | Panicked
                | HostFailed
                | ServerDied
                | ConnClosed
                | UploadFailed
                | ChunkRefused
                | UploadRejected
                | ProbeSent
                | ProbeResult
        )
    }

    /// Has its own panel (lanes' ticks, the window, progress), so it is not repeated as a dot.
    pub fn has_panel(self) -> bool {
        matches!(
            self,
            Tag::Frame | Tag::ChunkSent | Tag::ChunkAcked | Tag::Progress | Tag::WindowChanged
        )
    }

    /// A milestone on its file's progress line.
    pub fn is_milestone(self) -> bool {
        matches!(
            self,
            Tag::UploadCommitted | Tag::UploadNotified | Tag::DownloadDone | Tag::UploadFailed
        )
    }

    /// A problem whatever its fields say.
    fn is_always_problem(self) -> bool {
        self.is_marker() || matches!(self, Tag::BadInput | Tag::LoginFailed | Tag::DownloadFailed)
    }
}

/// One record, read through its JSON form.
pub struct Item {
    pub t: u64,
    pub host: String,
    /// The `event` tag as written.
    pub name: String,
    pub tag: Tag,
    /// The record as compact JSON, fields in declaration order: the tooltip.
    pub json: String,
    pub value: Value,
}

impl Item {
    /// Reads a record's JSON form; `json` is its compact text, fields in declaration order.
    pub fn from_value(value: Value, json: String) -> Item {
        let name = value.get("event").and_then(Value::as_str).unwrap_or("?");
        Item {
            t: value.get("t_ms").and_then(Value::as_u64).unwrap_or(0),
            host: value
                .get("host")
                .and_then(Value::as_str)
                .unwrap_or("?")
                .to_owned(),
            tag: Tag::of(name),
            name: name.to_owned(),
            json,
            value,
        }
    }

    pub fn str_field(&self, name: &str) -> Option<&str> {
        self.value.get(name).and_then(Value::as_str)
    }

    /// A frame's direction; `None` for other events (or a trace written by a later version).
    pub fn dir(&self) -> Option<Dir> {
        Dir::deserialize(self.value.get("dir")?).ok()
    }

    pub fn num_field(&self, name: &str) -> Option<f64> {
        self.value.get(name).and_then(Value::as_f64)
    }

    /// A fault, an error or a failure: listed in the HTML table and drawn in red.
    pub fn is_problem(&self) -> bool {
        if self.tag == Tag::Frame {
            return false;
        }
        let error = match self.value.get("error") {
            Some(Value::Number(n)) => n.as_f64() != Some(0.0),
            Some(Value::String(s)) => !s.is_empty(),
            _ => false,
        };
        self.tag.is_always_problem() || error || self.value.get("ok") == Some(&Value::Bool(false))
    }
}

/// Reads the records, ordered by time (stable, so records at the same time keep trace order).
pub fn items(records: &[Record]) -> Vec<Item> {
    let mut items: Vec<Item> = records
        .iter()
        .map(|r| {
            Item::from_value(
                serde_json::to_value(r).unwrap_or(Value::Null),
                serde_json::to_string(r).unwrap_or_default(),
            )
        })
        .collect();
    items.sort_by_key(|i| i.t);
    items
}

/// Lane order: chat (or chat1, chat2), resource, the users by uid, then anything else by name.
pub fn host_key(host: &str) -> (u8, u64, String) {
    match host {
        "chat" => (0, 0, String::new()),
        "chat1" | "chat2" => (0, 0, host.to_owned()),
        "resource" => (1, 0, String::new()),
        _ => match host
            .strip_prefix("user")
            .and_then(|n| n.parse::<u64>().ok())
        {
            Some(uid) => (2, uid, host.to_owned()),
            None => (3, 0, host.to_owned()),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_typed_tag_is_an_event_the_trace_writes() {
        // A renamed event would otherwise fall back to `Other` without a word: every variant but
        // `Other` must be reached from the event table (21 of them; update with the enum).
        let typed: std::collections::BTreeSet<String> = crate::scenario::events::tags()
            .map(Tag::of)
            .filter(|t| *t != Tag::Other)
            .map(|t| format!("{t:?}"))
            .collect();
        assert_eq!(typed.len(), 21, "{typed:?}");
        assert_eq!(Tag::of("some_new_thing"), Tag::Other);
    }
}
