//! The faults a scenario can inject: host and link faults applied by the world at a time or when
//! a trace event matches, and frame faults applied by the fault proxy.

use super::events::{self, FieldType};
pub use crate::proxy::{Direction, FrameAction, FrameFault};
use serde::Deserialize;
use std::collections::BTreeMap;

/// A host or link fault, at a time (`at_ms`) or triggered by an event (`after`), optionally
/// `delay_ms` later.
#[derive(Debug, Clone, Deserialize)]
#[serde(try_from = "RawFault")]
pub struct FaultSpec {
    pub at_ms: Option<u64>,
    pub after: Option<Trigger>,
    /// Wait this long after the time or the trigger.
    pub delay_ms: u64,
    pub kind: FaultKind,
    /// The fault may legitimately never fire (its trigger may never match); without it a fault
    /// that never fired makes the run's expectation unmet.
    pub optional: bool,
}

/// Every key of every kind of fault; `TryFrom` keeps only the ones the kind takes. No `flatten`:
/// serde ignores `deny_unknown_fields` under it, which let misspelt keys through.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFault {
    kind: String,
    #[serde(default)]
    at_ms: Option<u64>,
    #[serde(default)]
    after: Option<Trigger>,
    #[serde(default)]
    delay_ms: u64,
    #[serde(default)]
    optional: bool,
    #[serde(default)]
    a: Option<String>,
    #[serde(default)]
    b: Option<String>,
    #[serde(default)]
    oneway: Option<bool>,
    #[serde(default)]
    host: Option<String>,
    #[serde(default)]
    after_ms: Option<u64>,
    #[serde(default)]
    count: Option<u32>,
    #[serde(default)]
    op: Option<String>,
    #[serde(default)]
    nth: Option<u32>,
    #[serde(default)]
    to: Option<String>,
    #[serde(default)]
    file: Option<String>,
    #[serde(default)]
    kbps: Option<u64>,
}

/// Every fault kind with the keys it takes besides the common ones (`FAULT_KEYS`).
pub const FAULT_KINDS: &[(&str, &[&str])] = &[
    ("partition", &["a", "b", "oneway"]),
    ("heal", &["a", "b", "oneway"]),
    ("hold", &["a", "b"]),
    ("release", &["a", "b"]),
    ("reset", &["host", "to"]),
    ("crash", &["host"]),
    ("bounce", &["host"]),
    ("restart", &["host", "after_ms"]),
    ("disk_error", &["count", "file"]),
    ("disk_full", &[]),
    ("disk_ok", &[]),
    ("store_crash", &["host", "op", "nth", "after_ms"]),
    ("bandwidth", &["kbps"]),
];

/// The kinds' keys that have a default; every other key of a kind is required.
pub const OPTIONAL_KIND_KEYS: &[&str] = &["oneway", "count", "nth", "to", "file"];

/// The writes of the chat server's message store at which a `store_crash` can strike, by the
/// store method's name (`chatsim::store::MessageStore`): the ones the chat server makes. Its
/// other writes (`insert`, `set_status`, ...) are steps inside these, never made alone, so a
/// crash armed on one could never strike.
pub const MESSAGE_STORE_WRITES: &[&str] = &["store_once", "change_status", "drop_push"];

/// The writes of the resource server's upload state at which a `store_crash` can strike, by the
/// store method's name (`chatsim::store::UploadStore`): the ones the resource server makes.
/// `add_chunks` is a group commit (the chunks written together, and a completion).
pub const UPLOAD_STORE_WRITES: &[&str] = &["put", "add_chunks", "save_fields", "remove"];

/// The store writes a `store_crash` on `host` can strike after, or `None` for a host without one.
pub fn store_writes(host: &str) -> Option<&'static [&'static str]> {
    match host {
        "chat" => Some(MESSAGE_STORE_WRITES),
        "resource" => Some(UPLOAD_STORE_WRITES),
        _ => None,
    }
}

/// The keys every fault takes.
pub const FAULT_KEYS: &[&str] = &["kind", "at_ms", "after", "delay_ms", "optional"];

impl TryFrom<RawFault> for FaultSpec {
    type Error = String;

    fn try_from(raw: RawFault) -> Result<Self, String> {
        let kind = raw.kind.as_str();
        let Some((_, keys)) = FAULT_KINDS.iter().find(|(k, _)| *k == kind) else {
            return Err(format!("unknown fault kind {kind:?}"));
        };
        let given = [
            ("a", raw.a.is_some()),
            ("b", raw.b.is_some()),
            ("oneway", raw.oneway.is_some()),
            ("host", raw.host.is_some()),
            ("after_ms", raw.after_ms.is_some()),
            ("count", raw.count.is_some()),
            ("op", raw.op.is_some()),
            ("nth", raw.nth.is_some()),
            ("to", raw.to.is_some()),
            ("file", raw.file.is_some()),
            ("kbps", raw.kbps.is_some()),
        ];
        if let Some((key, _)) = given.iter().find(|(k, set)| *set && !keys.contains(k)) {
            return Err(format!("kind {kind:?} takes no `{key}`"));
        }
        let need = |value: Option<String>, key: &str| {
            value.ok_or_else(|| format!("kind {kind:?} needs `{key}`"))
        };
        let oneway = raw.oneway.unwrap_or(false);
        let kind = match kind {
            "partition" => FaultKind::Partition {
                a: need(raw.a, "a")?,
                b: need(raw.b, "b")?,
                oneway,
            },
            "heal" => FaultKind::Heal {
                a: need(raw.a, "a")?,
                b: need(raw.b, "b")?,
                oneway,
            },
            "hold" => FaultKind::Hold {
                a: need(raw.a, "a")?,
                b: need(raw.b, "b")?,
            },
            "release" => FaultKind::Release {
                a: need(raw.a, "a")?,
                b: need(raw.b, "b")?,
            },
            "reset" => FaultKind::Reset {
                host: need(raw.host, "host")?,
                to: raw.to,
            },
            "crash" => FaultKind::Crash {
                host: need(raw.host, "host")?,
            },
            "bounce" => FaultKind::Bounce {
                host: need(raw.host, "host")?,
            },
            "restart" => FaultKind::Restart {
                host: need(raw.host, "host")?,
                after_ms: raw
                    .after_ms
                    .ok_or_else(|| format!("kind {kind:?} needs `after_ms`"))?,
            },
            "disk_error" => FaultKind::DiskError {
                count: raw.count.unwrap_or(1),
                file: raw.file,
            },
            "disk_full" => FaultKind::DiskFull,
            "store_crash" => store_crash(raw.host.clone(), raw.op.clone(), raw.nth, raw.after_ms)?,
            "bandwidth" => match raw.kbps {
                Some(0) => return Err("`kbps` must be at least 1".into()),
                Some(kbps) => FaultKind::Bandwidth { kbps },
                None => return Err(format!("kind {kind:?} needs `kbps`")),
            },
            _ => FaultKind::DiskOk,
        };
        Ok(FaultSpec {
            at_ms: raw.at_ms,
            after: raw.after,
            delay_ms: raw.delay_ms,
            kind,
            optional: raw.optional,
        })
    }
}

/// A crash point inside a store that lives beside its host: the chat server's message store or
/// the resource server's upload state. Checked here because each `op` is a closed set.
fn store_crash(
    host: Option<String>,
    op: Option<String>,
    nth: Option<u32>,
    after_ms: Option<u64>,
) -> Result<FaultKind, String> {
    let host = host.ok_or("kind \"store_crash\" needs `host`")?;
    let writes = store_writes(&host).ok_or_else(|| {
        format!(
            "kind \"store_crash\" strikes the chat server's message store or the resource \
             server's upload state: host must be \"chat\" or \"resource\", not {host:?}"
        )
    })?;
    let op = op.ok_or("kind \"store_crash\" needs `op`")?;
    if !writes.contains(&op.as_str()) {
        return Err(format!(
            "unknown store write {op:?} for host {host:?}; one of {}",
            writes.join(", ")
        ));
    }
    Ok(FaultKind::StoreCrash {
        host,
        op,
        nth: nth.unwrap_or(1).max(1),
        after_ms: after_ms.ok_or("kind \"store_crash\" needs `after_ms`")?,
    })
}

/// What a fault does; read from a `[[faults]]` table by `FaultSpec`, whose `kind` key names the
/// variant (`FAULT_KINDS`).
#[derive(Debug, Clone, PartialEq)]
pub enum FaultKind {
    /// Drop everything between hosts `a` and `b` (only `a` to `b` when `oneway`).
    Partition {
        a: String,
        b: String,
        oneway: bool,
    },
    /// Undo a partition.
    Heal {
        a: String,
        b: String,
        oneway: bool,
    },
    /// Queue everything between `a` and `b` until `release`.
    Hold {
        a: String,
        b: String,
    },
    Release {
        a: String,
        b: String,
    },
    /// Close connections in the fault proxies (both sides see them end): every connection of a
    /// user host, or every client's connections to a server host.
    Reset {
        host: String,
        /// Only the connection of user `host` to this server (`chat` or `resource`).
        to: Option<String>,
    },
    /// Kill a host: its tasks and sockets die, unsynced disk data is lost.
    Crash {
        host: String,
    },
    /// Restart a crashed (or running) host.
    Bounce {
        host: String,
    },
    /// Crash now and start again `after_ms` later.
    Restart {
        host: String,
        after_ms: u64,
    },
    /// The next `count` writes on the resource server's disk fail; with `file`, the next
    /// `count` writes of that file (an upload's name), whatever is written in between.
    DiskError {
        count: u32,
        file: Option<String>,
    },
    /// Every write on the resource server's disk fails as "no space" until `disk_ok`.
    DiskFull,
    DiskOk,
    /// Once armed, the host's store (the chat server's messages, the resource server's upload
    /// state) completes its `nth` `op` write, then fails every later write, and the world crashes
    /// the host at once and starts it `after_ms` later: a `kill -9` between two commits.
    StoreCrash {
        host: String,
        op: String,
        nth: u32,
        after_ms: u64,
    },
    /// Every client's link (the fault proxies' pacing) carries `kbps` kbit/s each way from now.
    Bandwidth {
        kbps: u64,
    },
}

/// Fires on the `nth` trace record whose `event` tag is `event` and whose fields equal every
/// field given in `fields` (compared as JSON values, e.g. `file = "a.png"`, `seq = 3`).
/// Reading one checks the tag, the field names and their types against `events::EVENTS`.
#[derive(Debug, Clone, Deserialize)]
#[serde(try_from = "toml::Table")]
pub struct Trigger {
    pub event: String,
    pub host: Option<String>,
    pub nth: u32,
    pub fields: BTreeMap<String, toml::Value>,
}

impl TryFrom<toml::Table> for Trigger {
    type Error = String;

    fn try_from(mut table: toml::Table) -> Result<Self, String> {
        let event = match table.remove("event") {
            Some(toml::Value::String(event)) => event,
            Some(other) => {
                return Err(format!(
                    "`event` must be a string, got {}",
                    other.type_str()
                ))
            }
            None => return Err("a trigger needs `event`, an event tag of the trace".into()),
        };
        let host = match table.remove("host") {
            Some(toml::Value::String(host)) => Some(host),
            Some(other) => {
                return Err(format!("`host` must be a string, got {}", other.type_str()))
            }
            None => None,
        };
        let nth = match table.remove("nth") {
            Some(toml::Value::Integer(n)) => {
                u32::try_from(n).map_err(|_| format!("`nth` {n} is out of range"))?
            }
            Some(other) => {
                return Err(format!(
                    "`nth` must be an integer, got {}",
                    other.type_str()
                ))
            }
            None => 1,
        };
        let known = events::fields(&event).ok_or_else(|| format!("unknown event {event:?}"))?;
        for (key, value) in &table {
            let Some((_, ty)) = known.iter().find(|(field, _)| field == key) else {
                return Err(format!("event {event:?} has no field `{key}`"));
            };
            if !fits(value, *ty) {
                return Err(format!("`{key}` of {event:?} is {}", ty.name()));
            }
        }
        Ok(Trigger {
            event,
            host,
            nth,
            fields: table.into_iter().collect(),
        })
    }
}

/// Can a trigger value of this TOML type equal a trace field of type `ty`?
fn fits(value: &toml::Value, ty: FieldType) -> bool {
    matches!(
        (value, ty),
        (toml::Value::String(_), FieldType::Str)
            | (toml::Value::Integer(_), FieldType::Num)
            | (toml::Value::Boolean(_), FieldType::Bool)
            | (toml::Value::Array(_), FieldType::List)
    )
}

/// Every key of a `[[frame_faults]]` table.
pub const FRAME_FAULT_KEYS: &[&str] = &[
    "action",
    "user",
    "direction",
    "id",
    "file",
    "seq",
    "nth",
    "count",
    "from_ms",
    "until_ms",
    "delay_ms",
    "set",
    "optional",
];

impl FaultKind {
    /// The hosts this fault names, with their keys, for validation.
    pub fn hosts(&self) -> Vec<(&'static str, &str)> {
        match self {
            FaultKind::Partition { a, b, .. }
            | FaultKind::Heal { a, b, .. }
            | FaultKind::Hold { a, b }
            | FaultKind::Release { a, b } => vec![("a", a), ("b", b)],
            FaultKind::Reset { host, to: Some(to) } => vec![("host", host), ("to", to)],
            FaultKind::Reset { host, to: None }
            | FaultKind::Crash { host }
            | FaultKind::Bounce { host }
            | FaultKind::Restart { host, .. }
            | FaultKind::StoreCrash { host, .. } => vec![("host", host)],
            FaultKind::DiskError { .. }
            | FaultKind::DiskFull
            | FaultKind::DiskOk
            | FaultKind::Bandwidth { .. } => vec![],
        }
    }

    pub fn name(&self) -> &'static str {
        match self {
            FaultKind::Partition { .. } => "partition",
            FaultKind::Heal { .. } => "heal",
            FaultKind::Hold { .. } => "hold",
            FaultKind::Release { .. } => "release",
            FaultKind::Reset { .. } => "reset",
            FaultKind::Crash { .. } => "crash",
            FaultKind::Bounce { .. } => "bounce",
            FaultKind::Restart { .. } => "restart",
            FaultKind::DiskError { .. } => "disk_error",
            FaultKind::DiskFull => "disk_full",
            FaultKind::DiskOk => "disk_ok",
            FaultKind::StoreCrash { .. } => "store_crash",
            FaultKind::Bandwidth { .. } => "bandwidth",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The types are strict on their own, not only through `scenario::parse`'s shape check.
    #[test]
    fn the_types_refuse_what_the_shape_check_refuses() {
        let fault = |text: &str| toml::from_str::<FaultSpec>(text).map_err(|e| e.to_string());
        let err = fault("kind = \"crash\"\nhots = \"chat\"\n").unwrap_err();
        assert!(err.contains("unknown field `hots`"), "{err}");
        let err = fault("kind = \"crash\"\nhost = \"chat\"\ncount = 2\n").unwrap_err();
        assert!(err.contains("kind \"crash\" takes no `count`"), "{err}");
        let err = fault("kind = \"restart\"\nhost = \"chat\"\n").unwrap_err();
        assert!(err.contains("kind \"restart\" needs `after_ms`"), "{err}");
        let trigger = |after: &str| fault(&format!("kind = \"disk_ok\"\nafter = {after}\n"));
        let err = trigger("{ event = \"chunk_stord\" }").unwrap_err();
        assert!(err.contains("unknown event \"chunk_stord\""), "{err}");
        let err = trigger("{ event = \"chunk_stored\", sq = 1 }").unwrap_err();
        assert!(err.contains("has no field `sq`"), "{err}");
        let err = trigger("{ event = \"chunk_stored\", seq = \"1\" }").unwrap_err();
        assert!(
            err.contains("`seq` of \"chunk_stored\" is an integer"),
            "{err}"
        );
        let ok = trigger("{ event = \"chunk_stored\", host = \"resource\", seq = 1 }").unwrap();
        let after = ok.after.unwrap();
        assert_eq!((after.host.as_deref(), after.nth), (Some("resource"), 1));
        assert_eq!(after.fields.keys().collect::<Vec<_>>(), ["seq"]);
    }
}
