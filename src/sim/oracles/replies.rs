//! The `replies` oracle: every probe (a request of the scenario's own making, `probe` or `raw`)
//! was answered within its deadline, the answer is what the protocol asks for, and it is what
//! the probe's author expected (`expect`). The protocol's rules it knows (PROTOCOL.md sections
//! 4 and 8):
//!
//! - a request with a reply id is answered with that id; an unknown message id with an error
//!   or a clean close; silence is never an answer, nor a close to a well-formed 1045 or 1047;
//! - 1045 for a message id that does not exist is answered 1012 (FileNotExists); a 1046 with
//!   Success offers only an upload that was complete when the request was sent, under its name
//!   and full size;
//! - 1047 for a seq that is not the next one on the connection, past the end, or for a file
//!   with no complete upload is an error with no data, never Success; a chunk served with
//!   Success holds the file's bytes.
//!
//! Where the trace cannot say (a fault struck while the probe waited, an upload completed
//! between the request and its answer, a probe that never reached its server), the oracle
//! could not judge, which is not a pass.

use super::*;
use crate::protocol::body::{DownChunkReq, DownInfoReq};
use crate::protocol::{ids, ChunkPlan};
use crate::trace::{Event, ProbeOutcome, Record, TraceWord};
use base64::Engine as _;
use std::collections::BTreeMap;

/// Why one probe's answer is wrong, or why it cannot be judged.
enum Fault {
    Wrong(String),
    Unjudged(String),
}

type Judged = Result<(), Fault>;

/// A probe as sent: its record and fields.
struct Sent<'a> {
    t_ms: u64,
    host: &'a str,
    number: usize,
    server: &'a str,
    conn: u32,
    id: u16,
    raw: bool,
    body: &'a str,
    deadline_ms: u64,
    expect_reply: Option<u16>,
    expect_error: Option<i32>,
    expect_closed: bool,
}

impl Sent<'_> {
    fn label(&self) -> String {
        let what = if self.raw {
            "raw bytes".to_owned()
        } else {
            self.id.to_string()
        };
        format!("probe {} ({what} to {})", self.number, self.server)
    }

    fn expected(&self) -> String {
        let expect = crate::scenario::Expected {
            reply: self.expect_reply,
            error: self.expect_error,
            closed: self.expect_closed,
        };
        expect.describe()
    }
}

/// A probe's result.
struct Answer<'a> {
    t_ms: u64,
    outcome: ProbeOutcome,
    id: Option<u16>,
    error: Option<i64>,
    body: Option<&'a str>,
    detail: &'a str,
}

/// What the rest of the trace says that the rules need: messages, completed uploads, faults and
/// the source files' chunks.
#[derive(Default)]
struct Facts<'a> {
    /// message id -> (stored at, sender, file) for pictures; `None` file for a text.
    messages: BTreeMap<i64, (u64, i32, Option<&'a str>)>,
    /// file -> (committed at, owner, size), every commit.
    commits: BTreeMap<&'a str, Vec<(u64, i32, u64)>>,
    /// (time, what) of every fault the world injected.
    faults: Vec<(u64, String)>,
    sources: BTreeMap<&'a str, &'a Vec<String>>,
}

impl<'a> Facts<'a> {
    fn read(records: &'a [Record]) -> Self {
        let mut facts = Facts {
            sources: source_chunk_hashes(records),
            ..Facts::default()
        };
        for r in records {
            match &r.event {
                Event::ImageMessageStored {
                    message_id,
                    from,
                    file,
                    ..
                } => {
                    let entry = (r.t_ms, *from, Some(file.as_str()));
                    facts.messages.entry(*message_id).or_insert(entry);
                }
                Event::TextStored {
                    message_id, from, ..
                } => {
                    facts
                        .messages
                        .entry(*message_id)
                        .or_insert((r.t_ms, *from, None));
                }
                Event::UploadCommitted {
                    file, owner, size, ..
                } => facts
                    .commits
                    .entry(file.as_str())
                    .or_default()
                    .push((r.t_ms, *owner, *size)),
                Event::Fault { kind, detail } if r.host == "world" => {
                    facts.faults.push((r.t_ms, format!("{kind}: {detail}")));
                }
                _ => {}
            }
        }
        facts
    }

    /// The picture of message `m` and its completed upload's size, as of the request (`sent`)
    /// and its answer (`answered`): `Ok(None)` when there is no complete upload by the answer,
    /// `Err` when it completed in between (the oracle cannot tell which the server saw).
    fn complete_upload(
        &self,
        m: i64,
        sent: u64,
        answered: u64,
    ) -> Result<Option<(&'a str, u64)>, String> {
        let Some(&(_, sender, Some(file))) = self.messages.get(&m).filter(|x| x.0 <= answered)
        else {
            return Ok(None);
        };
        let commit = self.commits.get(file).and_then(|c| {
            c.iter()
                .find(|(t, owner, _)| *t <= answered && *owner == sender)
        });
        match commit {
            None => Ok(None),
            Some((t, _, _)) if *t > sent => Err(format!(
                "the upload of {file} completed at {t} ms, after the request ({sent} ms) and \
                 before its answer ({answered} ms)"
            )),
            Some((_, _, size)) => Ok(Some((file, *size))),
        }
    }

    fn fault_between(&self, from: u64, to: u64) -> Option<&(u64, String)> {
        self.faults.iter().find(|(t, _)| *t >= from && *t <= to)
    }
}

/// Per probe connection and message, the next seq the server owes after the chunks it served.
type Downloads<'a> = BTreeMap<(&'a str, &'a str, u32, i64), u32>;

/// Every probe was answered in time, as the protocol and its author ask.
pub fn replies(records: &[Record]) -> Judgement {
    let facts = Facts::read(records);
    let mut sent: BTreeMap<usize, Sent> = BTreeMap::new();
    let mut answered: Vec<usize> = Vec::new();
    let mut downloads = Downloads::new();
    let mut unjudged = None;
    let mut any = false;
    for record in records {
        if let Some(probe) = sent_of(record) {
            any = true;
            sent.insert(probe.number, probe);
            continue;
        }
        let Some((number, answer)) = answer_of(record) else {
            continue;
        };
        any = true;
        answered.push(number);
        let judged = match sent.get(&number) {
            None => Err(Fault::Unjudged(format!(
                "probe {number} never reached its server: {}",
                answer.detail
            ))),
            Some(probe) => judge(probe, &answer, &facts, &mut downloads),
        };
        match judged {
            Ok(()) => {}
            Err(Fault::Wrong(detail)) => return Judgement::Violated(violation(record, detail)),
            Err(Fault::Unjudged(detail)) => {
                unjudged.get_or_insert_with(|| violation(record, detail));
            }
        }
    }
    if let Some(probe) = sent.values().find(|p| !answered.contains(&p.number)) {
        let record = records.last().expect("a probe was sent");
        let detail = format!("{} has no result: the run ended first", probe.label());
        unjudged.get_or_insert_with(|| violation(record, detail));
    }
    match (any, unjudged) {
        (false, _) => Judgement::NothingToJudge,
        (true, Some(v)) => Judgement::CouldNotJudge(v),
        (true, None) => Judgement::Holds,
    }
}

fn sent_of(record: &Record) -> Option<Sent<'_>> {
    let Event::ProbeSent {
        probe,
        server,
        conn,
        id,
        raw,
        body,
        deadline_ms,
        expect_reply,
        expect_error,
        expect_closed,
    } = &record.event
    else {
        return None;
    };
    Some(Sent {
        t_ms: record.t_ms,
        host: &record.host,
        number: *probe,
        server,
        conn: *conn,
        id: *id,
        raw: *raw,
        body,
        deadline_ms: *deadline_ms,
        expect_reply: *expect_reply,
        expect_error: *expect_error,
        expect_closed: *expect_closed,
    })
}

fn answer_of(record: &Record) -> Option<(usize, Answer<'_>)> {
    let Event::ProbeResult {
        probe,
        outcome,
        id,
        error,
        body,
        detail,
        ..
    } = &record.event
    else {
        return None;
    };
    let answer = Answer {
        t_ms: record.t_ms,
        outcome: *outcome,
        id: *id,
        error: *error,
        body: body.as_deref(),
        detail,
    };
    Some((*probe, answer))
}

/// One probe's answer against the author's expectation and the protocol's rules.
fn judge<'a>(
    probe: &Sent<'a>,
    answer: &Answer,
    facts: &Facts,
    downloads: &mut Downloads<'a>,
) -> Judged {
    let label = probe.label();
    if answer.outcome == ProbeOutcome::Unreachable {
        return Err(Fault::Unjudged(format!(
            "{label} never reached its server: {}",
            answer.detail
        )));
    }
    if answer.outcome != ProbeOutcome::Reply {
        if let Some((t, fault)) = facts.fault_between(probe.t_ms, answer.t_ms) {
            return Err(Fault::Unjudged(format!(
                "{label} ended {} while a fault struck ({fault} at {t} ms)",
                answer.outcome.word()
            )));
        }
    }
    // The protocol's rules first: they say what is wrong; then the author's expectation.
    let rules = match answer.outcome {
        ProbeOutcome::Reply => reply_rules(probe, answer, facts, downloads),
        ProbeOutcome::Silent => Err(Fault::Wrong(format!(
            "{label} got no answer within {} ms",
            probe.deadline_ms
        ))),
        ProbeOutcome::Garbled => Err(Fault::Wrong(format!(
            "{label} was answered with bytes that are not a frame: {}",
            answer.detail
        ))),
        ProbeOutcome::Closed if well_formed_download(probe) => Err(Fault::Wrong(format!(
            "{label}: the server closed the connection instead of answering a well-formed {}",
            probe.id
        ))),
        // An error reply or a clean close are both allowed for anything else.
        ProbeOutcome::Closed | ProbeOutcome::Unreachable => Ok(()),
    };
    rules.and_then(|()| expected(probe, answer))
}

/// The author's `expect`, if any.
fn expected(probe: &Sent, answer: &Answer) -> Judged {
    let wanted = probe.expected();
    if wanted.is_empty() {
        return Ok(());
    }
    let met = match answer.outcome {
        ProbeOutcome::Closed => probe.expect_closed,
        ProbeOutcome::Reply => {
            !probe.expect_closed
                && probe.expect_reply.is_none_or(|r| answer.id == Some(r))
                && probe
                    .expect_error
                    .is_none_or(|e| answer.error == Some(i64::from(e)))
        }
        _ => false,
    };
    if met {
        return Ok(());
    }
    Err(Fault::Wrong(format!(
        "{}: expected {wanted}, got {}",
        probe.label(),
        got(answer)
    )))
}

/// The answer in a few words: `1046 with error 0`, `a close`, `silence`.
fn got(answer: &Answer) -> String {
    match (answer.outcome, answer.id, answer.error) {
        (ProbeOutcome::Reply, Some(id), Some(error)) => format!("{id} with error {error}"),
        (ProbeOutcome::Reply, Some(id), None) => format!("{id} without an error field"),
        (ProbeOutcome::Closed, _, _) => "a close".to_owned(),
        (ProbeOutcome::Silent, _, _) => "silence".to_owned(),
        (outcome, _, _) => format!("{}: {}", outcome.word(), answer.detail),
    }
}

/// A 1045 or 1047 (not raw) whose body reads as the request: it deserves an answer.
fn well_formed_download(probe: &Sent) -> bool {
    !probe.raw
        && match probe.id {
            ids::IMG_CHAT_DOWN_INFO_SYNC_REQ => {
                serde_json::from_str::<DownInfoReq>(probe.body).is_ok()
            }
            ids::IMG_CHAT_DOWN_REQ => serde_json::from_str::<DownChunkReq>(probe.body).is_ok(),
            _ => false,
        }
}

/// A reply carries the request's reply id; an unknown request is refused; 1045 and 1047 have
/// rules of their own.
fn reply_rules<'a>(
    probe: &Sent<'a>,
    answer: &Answer,
    facts: &Facts,
    downloads: &mut Downloads<'a>,
) -> Judged {
    let label = probe.label();
    let id = answer.id.unwrap_or(0);
    match ids::reply_to(probe.id) {
        Some(want) if id != want => Err(Fault::Wrong(format!(
            "{label} was answered with {id}, not its reply id {want}"
        ))),
        None if answer.error.unwrap_or(0) == 0 => Err(Fault::Wrong(format!(
            "{label}: message id {} is not a request of the protocol, yet it was answered {id} \
             without an error",
            probe.id
        ))),
        None => Ok(()),
        Some(_) if probe.raw => Ok(()),
        Some(_) => match probe.id {
            ids::IMG_CHAT_DOWN_INFO_SYNC_REQ => download_info(probe, answer, facts),
            ids::IMG_CHAT_DOWN_REQ => download_chunk(probe, answer, facts, downloads),
            _ => Ok(()),
        },
    }
}

/// 1045: an unknown message is 1012; an offer is of a complete upload, whole.
fn download_info(probe: &Sent, answer: &Answer, facts: &Facts) -> Judged {
    let Ok(req) = serde_json::from_str::<DownInfoReq>(probe.body) else {
        return Ok(());
    };
    let (label, m) = (probe.label(), req.message_id);
    let known = facts.messages.get(&m).map(|(t, _, _)| *t);
    match known {
        Some(t) if t > probe.t_ms && t <= answer.t_ms => {
            return Err(Fault::Unjudged(format!(
                "{label}: message {m} was stored at {t} ms, while the request was on its way"
            )))
        }
        Some(t) if t <= probe.t_ms => {}
        _ if answer.error == Some(1012) => return Ok(()),
        _ => {
            return Err(Fault::Wrong(format!(
                "{label}: message {m} does not exist, so the answer must be 1046 with error \
                 1012 (FileNotExists), not {}",
                got(answer)
            )))
        }
    }
    if answer.error != Some(0) {
        return Ok(());
    }
    let body: serde_json::Value = answer
        .body
        .and_then(|b| serde_json::from_str(b).ok())
        .unwrap_or_default();
    let name = body["name"].as_str().unwrap_or_default();
    let size = body["total_size"]
        .as_u64()
        .or_else(|| body["total_size"].as_str()?.parse().ok());
    let offer = format!(
        "{name} ({} bytes)",
        size.map_or("?".into(), |s| s.to_string())
    );
    match facts
        .complete_upload(m, probe.t_ms, answer.t_ms)
        .map_err(|why| Fault::Unjudged(format!("{label}: {why}")))?
    {
        None => Err(Fault::Wrong(format!(
            "{label}: offered {offer} for message {m}, whose upload was not complete (nothing \
             committed by then)"
        ))),
        Some((file, full)) if name != file || size != Some(full) => Err(Fault::Wrong(format!(
            "{label}: offered {offer} for message {m}, whose upload is {file} ({full} bytes)"
        ))),
        Some(_) => Ok(()),
    }
}

/// 1047: a bad seq is an error with no data; a chunk served is the file's.
fn download_chunk<'a>(
    probe: &Sent<'a>,
    answer: &Answer,
    facts: &Facts,
    downloads: &mut Downloads<'a>,
) -> Judged {
    let Ok(req) = serde_json::from_str::<DownChunkReq>(probe.body) else {
        return Ok(());
    };
    let label = probe.label();
    let key = (probe.host, probe.server, probe.conn, req.message_id);
    let upload = facts
        .complete_upload(req.message_id, probe.t_ms, answer.t_ms)
        .map_err(|why| Fault::Unjudged(format!("{label}: {why}")))?;
    let seq = req.seq;
    let bad = match upload {
        None => Some(format!(
            "there is no complete upload for message {}",
            req.message_id
        )),
        Some((file, _)) if file != req.name => Some(format!(
            "message {} is {file}, not {}",
            req.message_id, req.name
        )),
        Some((_, size)) => {
            let max_seq = ChunkPlan::new(size).max_seq();
            let next = downloads.get(&key).copied();
            if seq == 0 || seq > max_seq {
                Some(format!("seq {seq} is past the end ({max_seq} chunks)"))
            } else if seq != 1 && next != Some(seq) {
                let owed = next.map_or("seq 1 first".to_owned(), |n| format!("{n} is"));
                Some(format!(
                    "seq {seq} is not the next one on this connection ({owed})"
                ))
            } else {
                None
            }
        }
    };
    let body: serde_json::Value = answer
        .body
        .and_then(|b| serde_json::from_str(b).ok())
        .unwrap_or_default();
    let data = body["data"].as_str().unwrap_or_default();
    if let Some(bad) = bad {
        if answer.error == Some(0) || !data.is_empty() {
            let what = match (answer.error, data.is_empty()) {
                (Some(0), true) => "Success with no data".to_owned(),
                (Some(0), false) => "Success with data".to_owned(),
                (error, _) => format!("error {} with data", error.unwrap_or(0)),
            };
            return Err(Fault::Wrong(format!(
                "{label}: {bad}, yet the answer was {what}"
            )));
        }
        return Ok(());
    }
    if answer.error != Some(0) {
        return Ok(());
    }
    let (file, _) = upload.expect("a good seq has an upload");
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(data)
        .unwrap_or_default();
    let hash = crate::sim::chunk_hash(&bytes);
    let want = facts
        .sources
        .get(file)
        .and_then(|hashes| hashes.get(seq as usize - 1));
    if want.is_some_and(|w| *w != hash) {
        return Err(Fault::Wrong(format!(
            "{label}: seq {seq} of {file} was served with {} bytes that are not the file's",
            bytes.len()
        )));
    }
    downloads.insert(key, seq + 1);
    Ok(())
}

#[cfg(test)]
mod tests;
