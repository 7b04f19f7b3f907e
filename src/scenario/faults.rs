//! The faults a scenario can inject: host and link faults applied by the world at a time or when
//! a trace event matches, and frame faults applied by the fault proxy.

use serde::Deserialize;
use std::collections::BTreeMap;

/// A host or link fault, at a time (`at_ms`) or triggered by an event (`after`), optionally
/// `delay_ms` later.
#[derive(Debug, Clone, Deserialize)]
pub struct FaultSpec {
    #[serde(default)]
    pub at_ms: Option<u64>,
    #[serde(default)]
    pub after: Option<Trigger>,
    /// Wait this long after the time or the trigger.
    #[serde(default)]
    pub delay_ms: u64,
    /// The fault may legitimately never fire (otherwise a fault that never fired fails the run).
    #[serde(default)]
    pub optional: bool,
    #[serde(flatten)]
    pub kind: FaultKind,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum FaultKind {
    /// Drop everything between hosts `a` and `b` (only `a` to `b` when `oneway`).
    Partition {
        a: String,
        b: String,
        #[serde(default)]
        oneway: bool,
    },
    /// Undo a partition.
    Heal {
        a: String,
        b: String,
        #[serde(default)]
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
    /// The next `count` writes on the resource server's disk fail.
    DiskError {
        #[serde(default = "one")]
        count: u32,
    },
    /// Every write on the resource server's disk fails as "no space" until `disk_ok`.
    DiskFull,
    DiskOk,
}

fn one() -> u32 {
    1
}

/// Fires on the `nth` trace record whose `event` tag is `event` and whose fields equal every
/// field given in `fields` (compared as JSON values, e.g. `file = "a.png"`, `seq = 3`).
#[derive(Debug, Clone, Deserialize)]
pub struct Trigger {
    pub event: String,
    #[serde(default)]
    pub host: Option<String>,
    #[serde(default = "one")]
    pub nth: u32,
    #[serde(flatten)]
    pub fields: BTreeMap<String, toml::Value>,
}

/// Which way a frame travels through the proxy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Deserialize, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    /// Client to server.
    Up,
    /// Server to client.
    Down,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FrameAction {
    Drop,
    Delay,
    Duplicate,
    /// Hold the frame back until the next frame in the same direction has passed.
    Reorder,
    /// Flip bits in the decoded chunk data (frames with a `data` field), keeping the frame valid.
    Corrupt,
    /// Overwrite fields of the JSON body with the values in `set`, e.g. to forge a hostile name or
    /// another user's uid on the wire.
    Rewrite,
    /// Deliver the frame in small pieces (cuts inside the header and the body), `delay_ms` apart,
    /// so the reader must put it together again.
    Slice,
}

/// A frame fault: what to do to which frames. Every matcher given must match.
#[derive(Debug, Clone, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct FrameFault {
    pub action: FrameAction,
    /// Only this user's connections; all users when absent.
    #[serde(default)]
    pub user: Option<i32>,
    #[serde(default)]
    pub direction: Option<Direction>,
    /// Message id.
    #[serde(default)]
    pub id: Option<u16>,
    #[serde(default)]
    pub file: Option<String>,
    #[serde(default)]
    pub seq: Option<u32>,
    /// Start with the nth matching frame (1-based).
    #[serde(default = "one")]
    pub nth: u32,
    /// Apply to this many matching frames from the nth on; 0 means every one.
    #[serde(default = "one")]
    pub count: u32,
    /// Only frames seen in this window of simulated time.
    #[serde(default)]
    pub from_ms: Option<u64>,
    #[serde(default)]
    pub until_ms: Option<u64>,
    /// For `delay`.
    #[serde(default)]
    pub delay_ms: u64,
    /// For `rewrite`: JSON fields of the body and their new values, e.g.
    /// `set = { name = "../escape.png" }` or `set = { uid = 1 }`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub set: BTreeMap<String, serde_json::Value>,
    /// The fault may legitimately match no frame (otherwise one that matched none fails the run).
    #[serde(default)]
    pub optional: bool,
}

impl FaultKind {
    /// The hosts this fault names, for validation.
    pub fn hosts(&self) -> Vec<&str> {
        match self {
            FaultKind::Partition { a, b, .. }
            | FaultKind::Heal { a, b, .. }
            | FaultKind::Hold { a, b }
            | FaultKind::Release { a, b } => vec![a, b],
            FaultKind::Reset { host }
            | FaultKind::Crash { host }
            | FaultKind::Bounce { host }
            | FaultKind::Restart { host, .. } => vec![host],
            FaultKind::DiskError { .. } | FaultKind::DiskFull | FaultKind::DiskOk => vec![],
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
        }
    }
}
