//! Typed JSON bodies of every message the parties use (docs/protocol.md section 4).
//!
//! Upstream is loose about types: sizes travel as strings on 1041/1037 and as numbers on 1043.
//! [`WireSize`] reads both and remembers which form it saw, so a reply can answer in kind.
//! Unknown fields are ignored, as jsoncpp does; missing required fields are errors.

use serde::de::{self, Deserializer, Visitor};
use serde::{Deserialize, Serialize, Serializer};
use std::fmt;

/// A size as upstream sends it: a JSON string of digits or a JSON number.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WireSize {
    pub value: u64,
    pub as_string: bool,
}

impl WireSize {
    pub fn string(value: u64) -> Self {
        WireSize {
            value,
            as_string: true,
        }
    }

    pub fn number(value: u64) -> Self {
        WireSize {
            value,
            as_string: false,
        }
    }

    /// The same value, in the form `like` used.
    pub fn like(value: u64, like: WireSize) -> Self {
        WireSize {
            value,
            as_string: like.as_string,
        }
    }
}

impl Serialize for WireSize {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        if self.as_string {
            s.serialize_str(&self.value.to_string())
        } else {
            s.serialize_u64(self.value)
        }
    }
}

impl<'de> Deserialize<'de> for WireSize {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct SizeVisitor;
        impl Visitor<'_> for SizeVisitor {
            type Value = WireSize;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a non-negative size as a number or a string of digits")
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<WireSize, E> {
                Ok(WireSize::number(v))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<WireSize, E> {
                u64::try_from(v)
                    .map(WireSize::number)
                    .map_err(|_| E::custom(format!("size {v} is negative")))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<WireSize, E> {
                // jsoncpp may write large integers as doubles; accept whole, in-range values only.
                if v >= 0.0 && v.fract() == 0.0 && v <= 9.007_199_254_740_992e15 {
                    Ok(WireSize::number(v as u64))
                } else {
                    Err(E::custom(format!(
                        "size {v} is not a whole non-negative number"
                    )))
                }
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<WireSize, E> {
                v.trim()
                    .parse::<u64>()
                    .map(WireSize::string)
                    .map_err(|_| E::custom(format!("size {v:?} is not a string of digits")))
            }
        }
        d.deserialize_any(SizeVisitor)
    }
}

/// 1005.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LoginReq {
    pub uid: i32,
    pub token: String,
    /// Extension: the client acknowledges pushes with 1053, so the server may keep a push until
    /// acknowledged and send it again. Absent (false) for upstream clients.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub push_ack: bool,
}

/// Extension 1053: the client has a push (`id` 1019, 1039 or 1049; `message_id` the push's first
/// message id).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PushAck {
    pub id: u16,
    pub message_id: i64,
}

/// 1006.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LoginRsp {
    pub error: i32,
    pub uid: i32,
    #[serde(default)]
    pub token: String,
    #[serde(default)]
    pub name: String,
}

/// 1023.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HeartbeatReq {
    pub fromuid: i32,
}

/// 1024, and the generic shape of any reply that only carries an error.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ErrorRsp {
    pub error: i32,
}

/// One item of a 1017 request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TextItem {
    pub content: String,
    pub unique_id: String,
}

/// 1017.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TextReq {
    pub fromuid: i32,
    pub touid: i32,
    pub thread_id: i32,
    pub text_array: Vec<TextItem>,
}

/// One stored text message in a 1018 reply or 1019 push.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChatData {
    pub message_id: i64,
    pub unique_id: String,
    pub content: String,
    pub status: i32,
    pub chat_time: String,
}

/// 1018, and the same body pushed to the receiver as 1019.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TextRsp {
    pub error: i32,
    pub fromuid: i32,
    pub touid: i32,
    pub thread_id: i32,
    #[serde(default)]
    pub chat_datas: Vec<ChatData>,
}

/// 1035.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ImgMsgReq {
    pub fromuid: i32,
    pub touid: i32,
    pub thread_id: i32,
    pub md5: String,
    pub name: String,
    pub token: String,
    pub unique_id: String,
}

/// 1036.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ImgMsgRsp {
    pub error: i32,
    pub fromuid: i32,
    pub touid: i32,
    pub thread_id: i32,
    pub md5: String,
    pub unique_name: String,
    pub unique_id: String,
    pub chat_time: String,
    pub status: i32,
    pub message_id: i64,
}

/// 1041 (seq 1, with `token` and `unique_id`), 1037 (seq >= 2, with `last_seq`) and 1043 (resume,
/// sizes as numbers): upstream sends the same fields, so one type reads all three.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChunkReq {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unique_id: Option<String>,
    pub seq: u32,
    pub trans_size: WireSize,
    pub total_size: WireSize,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token: Option<String>,
    pub md5: String,
    pub uid: i32,
    pub data: String,
    pub message_id: i64,
    pub sender: i32,
    pub receiver: i32,
    pub last: i32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_seq: Option<u32>,
    /// Not upstream: the thread of the chat message, so the notify can carry it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub thread_id: Option<i32>,
}

/// 1042, 1038 and 1044. Upstream's 1042 has no sizes; ours carries them on every form.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChunkRsp {
    pub error: i32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub total_size: Option<WireSize>,
    pub seq: u32,
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trans_size: Option<WireSize>,
    #[serde(default)]
    pub last: i32,
    #[serde(default)]
    pub md5: String,
    #[serde(default)]
    pub uid: i32,
    #[serde(default)]
    pub sender: i32,
    #[serde(default)]
    pub receiver: i32,
}

/// 1039 (to the receiver) and the extension 1049 (to the sender). `total_size` goes out as a
/// string: the upstream client reads it with `toString()`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ImgUploadedNotify {
    /// The upstream client never reads it; a push without one is still a push.
    #[serde(default)]
    pub error: i32,
    pub message_id: i64,
    pub sender_id: i32,
    pub receiver_id: i32,
    pub img_name: String,
    pub total_size: WireSize,
    pub thread_id: i32,
}

/// 1045.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DownInfoReq {
    pub message_id: i64,
}

/// 1046.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DownInfoRsp {
    pub error: i32,
    pub message_id: i64,
    #[serde(default)]
    pub thread_id: i32,
    #[serde(default)]
    pub sender_id: i32,
    #[serde(default)]
    pub recv_id: i32,
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub msg_type: i32,
    #[serde(default)]
    pub status: i32,
    #[serde(default = "zero_size_string")]
    pub total_size: WireSize,
    /// Not upstream: the md5 the server verified at completion, so the receiver can check what
    /// it downloaded. Absent from upstream servers.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub md5: String,
}

fn zero_size_string() -> WireSize {
    WireSize::string(0)
}

/// A flag written as a JSON bool, read as a bool or as a number (0 is false). Our servers before
/// this change wrote 1048's `is_last` as a number; reading both keeps a client working with
/// either, while every writer here writes the bool upstream's client needs.
fn bool_or_int<'de, D: Deserializer<'de>>(d: D) -> Result<bool, D::Error> {
    struct FlagVisitor;
    impl Visitor<'_> for FlagVisitor {
        type Value = bool;
        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("a bool, or a number where 0 is false")
        }
        fn visit_bool<E: de::Error>(self, v: bool) -> Result<bool, E> {
            Ok(v)
        }
        fn visit_u64<E: de::Error>(self, v: u64) -> Result<bool, E> {
            Ok(v != 0)
        }
        fn visit_i64<E: de::Error>(self, v: i64) -> Result<bool, E> {
            Ok(v != 0)
        }
    }
    d.deserialize_any(FlagVisitor)
}

/// 1047.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DownChunkReq {
    pub name: String,
    pub seq: u32,
    pub trans_size: WireSize,
    pub total_size: WireSize,
    #[serde(default)]
    pub token: String,
    pub sender_id: i32,
    pub receiver_id: i32,
    pub message_id: i64,
    pub uid: i32,
}

/// 1048.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DownChunkRsp {
    pub error: i32,
    #[serde(default)]
    pub data: String,
    pub seq: u32,
    #[serde(default = "zero_size_string")]
    pub total_size: WireSize,
    #[serde(default = "zero_size_string")]
    pub current_size: WireSize,
    /// A JSON bool, as upstream writes it: the Qt client reads it with `toBool()`, which reads
    /// a number as `false`. Read leniently (a 0/1 number too), written as a bool.
    #[serde(default, deserialize_with = "bool_or_int")]
    pub is_last: bool,
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub sender_id: i32,
    #[serde(default)]
    pub receiver_id: i32,
}

/// Extension 1051: which chunks of `name` does the server hold? Authenticated like a chunk.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UploadStatusReq {
    pub name: String,
    pub uid: i32,
    pub token: String,
}

/// Extension 1052. `held` lists the stored seqs as inclusive ranges `[first, last]`, so a large
/// file's answer stays small. `error` is FileNotExists (1012) when the server has no such upload.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UploadStatusRsp {
    pub error: i32,
    pub name: String,
    #[serde(default)]
    pub total_size: u64,
    #[serde(default)]
    pub held: Vec<[u32; 2]>,
    #[serde(default)]
    pub complete: bool,
}

/// Fields that identify a chunk, pulled out of a body that failed to parse as a whole, so that an
/// error reply can still name the file and seq it answers.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ChunkHint {
    pub name: String,
    pub seq: u32,
}

impl ChunkHint {
    /// The top-level `name` (a string) and `seq` (a number that fits a u32) of `body`, each empty
    /// or 0 when missing or of another type, and both when `body` is not valid JSON. A repeated
    /// key counts its last value, as a parsed JSON object keeps it.
    pub fn from_body(body: &[u8]) -> Self {
        // Whole-body UTF-8 first: the visitor skips string contents without decoding them, and a
        // body that is not UTF-8 is not JSON.
        let Ok(text) = std::str::from_utf8(body) else {
            return ChunkHint::default();
        };
        serde_json::from_str::<HintFields>(text)
            .map(|fields| fields.0)
            .unwrap_or_default()
    }
}

/// Reads a chunk body's identifying fields and skips the rest unparsed: hints are taken for every
/// frame traced, and parsing the 43 KB `data` string into a value cost more than the frame's
/// own handling.
struct HintFields(ChunkHint);

impl<'de> Deserialize<'de> for HintFields {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_map(HintVisitor)
    }
}

struct HintVisitor;

impl<'de> Visitor<'de> for HintVisitor {
    type Value = HintFields;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: de::MapAccess<'de>>(self, mut map: A) -> Result<HintFields, A::Error> {
        let mut hint = ChunkHint::default();
        while let Some(key) = map.next_key::<String>()? {
            match key.as_str() {
                "name" => {
                    let value: serde_json::Value = map.next_value()?;
                    hint.name = value.as_str().unwrap_or_default().to_owned();
                }
                "seq" => {
                    let value: serde_json::Value = map.next_value()?;
                    hint.seq = value
                        .as_u64()
                        .and_then(|v| u32::try_from(v).ok())
                        .unwrap_or(0);
                }
                _ => {
                    map.next_value::<de::IgnoredAny>()?;
                }
            }
        }
        Ok(HintFields(hint))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_are_read_as_strings_or_numbers_and_written_back_alike() {
        let s: WireSize = serde_json::from_str("\"100000\"").unwrap();
        assert_eq!(s, WireSize::string(100_000));
        assert_eq!(serde_json::to_string(&s).unwrap(), "\"100000\"");
        let n: WireSize = serde_json::from_str("100000").unwrap();
        assert_eq!(n, WireSize::number(100_000));
        assert_eq!(serde_json::to_string(&n).unwrap(), "100000");
        assert!(serde_json::from_str::<WireSize>("\"12ab\"").is_err());
        assert!(serde_json::from_str::<WireSize>("-1").is_err());
        assert!(serde_json::from_str::<WireSize>("true").is_err());
    }

    /// The hint reads what a parsed JSON value would give, for every shape of body.
    #[test]
    fn chunk_hints_read_what_a_parsed_value_gives() {
        let by_value = |body: &[u8]| {
            let value: serde_json::Value = serde_json::from_slice(body).unwrap_or_default();
            ChunkHint {
                name: value["name"].as_str().unwrap_or_default().to_owned(),
                seq: value["seq"]
                    .as_u64()
                    .and_then(|v| u32::try_from(v).ok())
                    .unwrap_or(0),
            }
        };
        let bodies: &[&[u8]] = &[
            br#"{"data":"aGVsbG8=","name":"a.png","seq":3}"#,
            br#"{"name":"a.png","seq":3,"name":"b.png","seq":4}"#,
            br#"{"name":7,"seq":"3"}"#,
            br#"{"seq":4294967296,"name":null}"#,
            br#"{"seq":-1,"nested":{"name":"x","seq":9}}"#,
            br#"{"name":"escaped.png","seq":2.0}"#,
            br#"["name","a.png"]"#,
            br#"{"name":"a.png","seq":3"#,
            br#"{"name":"a.png","seq":3} trailing"#,
            b"{\"name\":\"a.png\",\"data\":\"\xff\xfe\",\"seq\":3}",
            b"{\"name\":\"a.png\",\"data\":\"bad \\q escape\",\"seq\":3}",
            b"",
        ];
        for body in bodies {
            assert_eq!(
                ChunkHint::from_body(body),
                by_value(body),
                "{}",
                String::from_utf8_lossy(body)
            );
        }
        assert_eq!(ChunkHint::from_body(bodies[1]).name, "b.png");
    }

    #[test]
    fn upstream_pretty_printed_chunk_parses() {
        let body = r#"{
           "data" : "aGVsbG8=",
           "last" : 1,
           "last_seq" : 1,
           "md5" : "5d41402abc4b2a76b9719d911017c592",
           "message_id" : 7,
           "name" : "a.png",
           "receiver" : 2,
           "sender" : 1,
           "seq" : 1,
           "total_size" : "5",
           "trans_size" : "5",
           "uid" : 1,
           "extra_field_from_a_newer_client" : true
        }"#;
        let req: ChunkReq = serde_json::from_str(body).unwrap();
        assert_eq!(req.total_size, WireSize::string(5));
        assert_eq!(req.seq, 1);
        assert_eq!(req.token, None);
    }

    #[test]
    fn a_hint_survives_a_body_with_wrong_types() {
        let hint = ChunkHint::from_body(br#"{"name":"x.png","seq":3,"total_size":[1]}"#);
        assert_eq!(hint.name, "x.png");
        assert_eq!(hint.seq, 3);
        assert_eq!(ChunkHint::from_body(b"not json"), ChunkHint::default());
    }
}
