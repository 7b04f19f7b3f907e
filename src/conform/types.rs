//! The JSON types the upstream Qt client reads from each reply (docs/protocol.md section 4, "What the
//! upstream Qt client reads"). Qt converts silently: `toInt()` reads a string as 0, `toString()`
//! reads a number as "", `toBool()` reads a number as false. So a field of the wrong JSON type is
//! a wrong value in the real client, with no error anywhere: the checks here name it.

use crate::protocol::ids;
use serde_json::Value;

/// A JSON type as Qt's accessors need it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// `toInt()`: a JSON number.
    Num,
    /// `toString()`: a JSON string.
    Str,
    /// `toBool()`: a JSON bool.
    Bool,
    /// `toArray()`: a JSON array.
    Arr,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::Num => "a number (toInt)",
            Kind::Str => "a string (toString)",
            Kind::Bool => "a bool (toBool)",
            Kind::Arr => "an array (toArray)",
        }
    }

    fn holds(self, value: &Value) -> bool {
        match self {
            Kind::Num => value.is_number(),
            Kind::Str => value.is_string(),
            Kind::Bool => value.is_boolean(),
            Kind::Arr => value.is_array(),
        }
    }
}

/// One field the client reads. `needed`: the client's flow depends on it (a missing one breaks
/// the flow as surely as a wrong type); the others only fill in what a person sees.
#[derive(Debug, Clone, Copy)]
pub struct Field {
    pub key: &'static str,
    pub kind: Kind,
    pub needed: bool,
}

const fn need(key: &'static str, kind: Kind) -> Field {
    Field {
        key,
        kind,
        needed: true,
    }
}

const fn show(key: &'static str, kind: Kind) -> Field {
    Field {
        key,
        kind,
        needed: false,
    }
}

use Kind::{Arr, Bool, Num, Str};

const LOGIN: &[Field] = &[
    need("error", Num),
    need("uid", Num),
    show("name", Str),
    show("nick", Str),
    show("icon", Str),
    show("desc", Str),
    show("sex", Num),
    need("token", Str),
    show("friend_list", Arr),
    show("apply_list", Arr),
];
const TEXT: &[Field] = &[
    need("error", Num),
    need("fromuid", Num),
    need("thread_id", Num),
    need("chat_datas", Arr),
];
/// Each item of `chat_datas` in 1018/1019.
pub const CHAT_DATA: &[Field] = &[
    need("message_id", Num),
    need("unique_id", Str),
    need("content", Str),
    show("status", Num),
    show("chat_time", Str),
];
const HEARTBEAT: &[Field] = &[need("error", Num)];
const IMAGE_MESSAGE: &[Field] = &[
    need("error", Num),
    show("fromuid", Num),
    show("touid", Num),
    need("thread_id", Num),
    need("message_id", Num),
    show("status", Num),
    need("unique_id", Str),
    need("unique_name", Str),
    show("text_or_url", Str),
    show("chat_time", Str),
];
const UPLOAD_PUSH: &[Field] = &[
    need("message_id", Num),
    need("sender_id", Num),
    need("receiver_id", Num),
    need("thread_id", Num),
    need("img_name", Str),
    need("total_size", Str),
];
const CHUNK_ACK: &[Field] = &[
    need("error", Num),
    need("seq", Num),
    need("name", Str),
    show("sender", Num),
    show("receiver", Num),
];
const RESUME_ACK: &[Field] = &[need("error", Num), need("seq", Num), need("name", Str)];
const DOWN_INFO: &[Field] = &[
    need("error", Num),
    need("message_id", Num),
    show("thread_id", Num),
    need("sender_id", Num),
    need("recv_id", Num),
    need("name", Str),
    show("msg_type", Num),
    show("status", Num),
    need("total_size", Str),
];
const DOWN_CHUNK: &[Field] = &[
    need("error", Num),
    need("data", Str),
    need("seq", Num),
    need("is_last", Bool),
    need("total_size", Str),
    need("current_size", Str),
    need("name", Str),
];

/// The fields the upstream client reads from a reply with this id (1039 and our 1049 alike).
pub fn client_reads(reply_id: u16) -> &'static [Field] {
    match reply_id {
        ids::CHAT_LOGIN_RSP => LOGIN,
        ids::TEXT_CHAT_MSG_RSP | ids::NOTIFY_TEXT_CHAT_MSG_REQ => TEXT,
        ids::HEARTBEAT_RSP => HEARTBEAT,
        ids::IMG_CHAT_MSG_RSP => IMAGE_MESSAGE,
        ids::NOTIFY_IMG_CHAT_MSG_REQ | ids::NOTIFY_IMG_UPLOADED => UPLOAD_PUSH,
        ids::FILE_INFO_SYNC_RSP | ids::IMG_CHAT_UPLOAD_RSP => CHUNK_ACK,
        ids::IMG_CHAT_CONTINUE_UPLOAD_RSP => RESUME_ACK,
        ids::IMG_CHAT_DOWN_INFO_SYNC_RSP => DOWN_INFO,
        ids::IMG_CHAT_DOWN_RSP => DOWN_CHUNK,
        _ => &[],
    }
}

/// Checks `body` against `fields` and says, for each field of the wrong JSON type or needed and
/// missing, what the real client reads instead. A missing field the flow does not need is not a
/// finding: Qt reads it as the same 0 or "" an empty value gives. A reply with a nonzero `error`
/// is checked for `error` alone: the client returns as soon as it sees an error.
pub fn check(what: &str, fields: &[Field], body: &Value) -> Vec<String> {
    let failed = matches!(body.get("error"), Some(e) if e.is_number() && e.as_i64() != Some(0));
    let mut broken = Vec::new();
    for field in fields {
        if failed && field.key != "error" {
            continue;
        }
        match body.get(field.key) {
            Some(value) if field.kind.holds(value) => {}
            Some(value) => broken.push(format!(
                "{what} sends {} as {} ({}); the upstream client reads {} and gets {}",
                field.key,
                json_kind(value),
                short(value),
                field.kind.name(),
                misread(field.kind)
            )),
            None if field.needed => broken.push(format!(
                "{what} has no {}; the upstream client reads {} and gets {}",
                field.key,
                field.kind.name(),
                misread(field.kind)
            )),
            None => {}
        }
    }
    broken
}

/// Checks a reply of `reply_id`, and each `chat_datas` item of a 1018/1019.
pub fn check_reply(reply_id: u16, body: &Value) -> Vec<String> {
    let what = format!("{reply_id} ({})", ids::name(reply_id));
    let mut broken = check(&what, client_reads(reply_id), body);
    if matches!(
        reply_id,
        ids::TEXT_CHAT_MSG_RSP | ids::NOTIFY_TEXT_CHAT_MSG_REQ
    ) {
        let items = body.get("chat_datas").and_then(Value::as_array);
        for (i, item) in items.into_iter().flatten().enumerate() {
            broken.extend(check(&format!("{what} chat_datas[{i}]"), CHAT_DATA, item));
        }
    }
    broken
}

/// A value for a message, cut short (a `data` field can be 40 KB).
fn short(value: &Value) -> String {
    let text = value.to_string();
    match text.char_indices().nth(40) {
        Some((at, _)) => format!("{}...", &text[..at]),
        None => text,
    }
}

fn json_kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a bool",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// What Qt's accessor gives for a value of another type (or none).
fn misread(kind: Kind) -> &'static str {
    match kind {
        Kind::Num => "0",
        Kind::Str => "\"\"",
        Kind::Bool => "false",
        Kind::Arr => "an empty list",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_number_where_the_client_reads_a_bool_is_broken() {
        let body = json!({"error": 0, "data": "", "seq": 2, "is_last": 1,
            "total_size": "5", "current_size": "5", "name": "a"});
        let broken = check_reply(ids::IMG_CHAT_DOWN_RSP, &body);
        assert_eq!(broken.len(), 1, "{broken:?}");
        assert!(broken[0].contains("is_last"));
        let good = json!({"error": 0, "data": "", "seq": 2, "is_last": true,
            "total_size": "5", "current_size": "5", "name": "a"});
        assert!(check_reply(ids::IMG_CHAT_DOWN_RSP, &good).is_empty());
    }

    #[test]
    fn an_error_reply_is_checked_for_its_error_alone() {
        let body = json!({"error": 1017});
        assert!(check_reply(ids::IMG_CHAT_DOWN_RSP, &body).is_empty());
        // A string error reads as 0 (success) in Qt, so the client goes on to read the rest.
        let body = json!({"error": "1017"});
        let broken = check_reply(ids::IMG_CHAT_DOWN_RSP, &body);
        assert!(
            broken[0].contains("error") && broken.len() > 1,
            "{broken:?}"
        );
    }

    #[test]
    fn missing_display_fields_pass_and_items_are_checked() {
        let body = json!({"error": 0, "uid": 1, "token": "t"});
        assert!(check_reply(ids::CHAT_LOGIN_RSP, &body).is_empty());
        let body = json!({"error": 0, "uid": "1", "token": "t"});
        assert_eq!(check_reply(ids::CHAT_LOGIN_RSP, &body).len(), 1);
        let items = json!({"error": 0, "fromuid": 1, "thread_id": 1,
            "chat_datas": [{"message_id": "7", "unique_id": "u", "content": "c"}]});
        let broken = check_reply(ids::TEXT_CHAT_MSG_RSP, &items);
        assert!(broken[0].contains("chat_datas[0]"), "{broken:?}");
    }
}
