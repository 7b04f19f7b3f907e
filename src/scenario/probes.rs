//! Probes: a request of the scenario author's own making, sent by a user to a server on the
//! user's own socket (not through the client, nor the fault proxy), and the answer it expects.
//! `probe` sends a frame the codec encodes (`id` and a JSON `body`); `raw` writes bytes the
//! codec could never produce, such as a length header of 0xFFFFFFFF. The `replies` oracle
//! judges the answers (`src/sim/oracles/replies.rs`).

pub use crate::probe::{Expected, Probe, ProbeRequest};
use crate::protocol::{ids, Framing};
use serde::Deserialize;

/// The resource server's host (`sim::RESOURCE_HOST`); every other server is a chat host.
const RESOURCE: &str = "resource";

/// How long a probe waits for its answer unless it says otherwise.
pub const DEFAULT_DEADLINE_MS: u64 = 2000;
/// Largest `raw` payload: the simulation keeps it in memory and in the trace.
pub const MAX_RAW_BYTES: usize = 64 * 1024;

/// `probe = { server = "resource", id = 1045, body = { message_id = 1 } }`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProbeAction {
    pub server: String,
    pub id: u16,
    /// A table or an array is sent as compact JSON; a string is sent as it is (malformed JSON
    /// on purpose). Default `{}`.
    #[serde(default)]
    pub body: Option<serde_json::Value>,
    #[serde(default)]
    pub deadline_ms: Option<u64>,
    #[serde(default)]
    pub expect: Option<ProbeExpect>,
}

/// `raw = { server = "resource", hex = "0415 ffffffff" }`: bytes written to the socket as they
/// are, bypassing the codec.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawAction {
    pub server: String,
    pub hex: String,
    #[serde(default)]
    pub deadline_ms: Option<u64>,
    #[serde(default)]
    pub expect: Option<ProbeExpect>,
}

/// What the author expects of the answer, beyond the protocol's own rules.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProbeExpect {
    /// The answer's message id; defaults to the request's reply id when `error` is given.
    #[serde(default)]
    pub reply: Option<u16>,
    /// The answer's `error` field.
    #[serde(default)]
    pub error: Option<i32>,
    /// The server closes the connection without an answer.
    #[serde(default)]
    pub closed: Option<bool>,
}

/// The servers a probe may name, given the scenario's chat hosts.
pub fn servers(chat_hosts: &[String]) -> Vec<String> {
    let mut servers = chat_hosts.to_vec();
    servers.push(RESOURCE.to_owned());
    servers
}

/// Checks a `probe` table and resolves it; `here` is its field path (`actions[3].probe`).
pub fn probe(
    number: usize,
    action: &ProbeAction,
    chat_hosts: &[String],
    here: &str,
) -> Result<Probe, String> {
    let server = server(&action.server, chat_hosts, here)?;
    let body = match &action.body {
        None => "{}".to_owned(),
        Some(serde_json::Value::String(text)) => text.clone(),
        Some(value) => serde_json::to_string(value).unwrap_or_default(),
    };
    let framing = framing_of(&server);
    if body.len() > framing.field_max_body() {
        return Err(format!(
            "{here}.body: {} bytes do not fit the length field of the {} framing ({} at most); \
             use `raw` for a header that lies",
            body.len(),
            if framing == Framing::Chat {
                "chat"
            } else {
                "resource"
            },
            framing.field_max_body()
        ));
    }
    let request = ProbeRequest::Frame {
        id: action.id,
        body,
    };
    finish(
        number,
        server,
        request,
        (action.deadline_ms, &action.expect),
        here,
    )
}

/// Checks a `raw` table and resolves it.
pub fn raw(
    number: usize,
    action: &RawAction,
    chat_hosts: &[String],
    here: &str,
) -> Result<Probe, String> {
    let server = server(&action.server, chat_hosts, here)?;
    let digits: String = action
        .hex
        .chars()
        .filter(|c| !c.is_ascii_whitespace() && *c != '_')
        .collect();
    let bytes = hex::decode(&digits).map_err(|e| {
        format!(
            "{here}.hex: {:?} is not hex bytes ({e}); write two digits a byte, spaces allowed",
            action.hex
        )
    })?;
    if bytes.is_empty() {
        return Err(format!("{here}.hex: no bytes to send"));
    }
    if bytes.len() > MAX_RAW_BYTES {
        return Err(format!(
            "{here}.hex: {} bytes is over the limit of {MAX_RAW_BYTES}",
            bytes.len()
        ));
    }
    let request = ProbeRequest::Raw { bytes };
    finish(
        number,
        server,
        request,
        (action.deadline_ms, &action.expect),
        here,
    )
}

/// The framing of a server's socket.
pub fn framing_of(server: &str) -> Framing {
    if server == RESOURCE {
        Framing::Resource
    } else {
        Framing::Chat
    }
}

fn server(name: &str, chat_hosts: &[String], here: &str) -> Result<String, String> {
    let servers = servers(chat_hosts);
    if servers.iter().any(|s| s == name) {
        return Ok(name.to_owned());
    }
    let near = super::schema::suggest(name, servers.iter().map(String::as_str))
        .map(|n| format!("did you mean {n:?}? "))
        .unwrap_or_default();
    Err(format!(
        "{here}.server: unknown server {name:?}; {near}the servers are {}",
        servers.join(", ")
    ))
}

fn finish(
    number: usize,
    server: String,
    request: ProbeRequest,
    (deadline_ms, expect): (Option<u64>, &Option<ProbeExpect>),
    here: &str,
) -> Result<Probe, String> {
    let deadline_ms = deadline_ms.unwrap_or(DEFAULT_DEADLINE_MS);
    if deadline_ms == 0 {
        return Err(format!("{here}.deadline_ms: must be at least 1"));
    }
    let mut probe = Probe {
        number,
        server,
        request,
        deadline_ms,
        expect: Expected::default(),
    };
    if let Some(expect) = expect {
        probe.expect = expected(&probe, expect, &format!("{here}.expect"))?;
    }
    Ok(probe)
}

/// The expectation, checked for sense and with the reply id filled in.
fn expected(probe: &Probe, expect: &ProbeExpect, here: &str) -> Result<Expected, String> {
    match (expect.closed, expect.reply.is_some() || expect.error.is_some()) {
        (Some(false), _) => {
            return Err(format!(
                "{here}.closed: `closed = false` says nothing; leave it out, or give `reply` or `error`"
            ))
        }
        (Some(true), true) => {
            return Err(format!(
                "{here}.closed: a close has no reply; give `closed = true` alone, or `reply`/`error`"
            ))
        }
        (Some(true), false) => {
            return Ok(Expected {
                closed: true,
                ..Expected::default()
            })
        }
        (None, false) => return Err(format!("{here}: give `reply`, `error` or `closed = true`")),
        (None, true) => {}
    }
    if let Some(reply) = expect.reply.filter(|id| ids::name(*id) == "unknown") {
        return Err(format!(
            "{here}.reply: {reply} is not a message id of the protocol"
        ));
    }
    let reply = match (expect.reply, probe.request_id().and_then(ids::reply_to)) {
        (Some(reply), _) => Some(reply),
        (None, Some(reply)) => Some(reply),
        (None, None) => {
            let request = probe
                .request_id()
                .map_or("these bytes".to_owned(), |id| format!("request {id}"));
            return Err(format!(
                "{here}.error: {request} has no reply id of its own; give `reply` too"
            ));
        }
    };
    Ok(Expected {
        reply,
        error: expect.error,
        closed: false,
    })
}
