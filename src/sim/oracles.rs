//! Oracles: named, stable checks computed from the trace alone (DESIGN.md, "Oracles"). Each
//! returns the first event that breaks it, so a report can say when and where.

use crate::protocol::codes::{msg_type, status};
use crate::protocol::{ids, MAX_CWND};
use crate::trace::{Event, Record};
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Component, Path};

/// Every oracle this build knows, in report order.
pub const ORACLES: &[&str] = &[
    "window",
    "purge",
    "integrity",
    "notify",
    "messages",
    "liveness",
    "progress",
    "no_panic",
    "durable_ack",
    "confinement",
    "binding",
];

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Violation {
    pub t_ms: u64,
    pub host: String,
    /// The offending trace line, as JSON.
    pub event: String,
    pub detail: String,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Verdict {
    pub oracle: &'static str,
    pub violation: Option<Violation>,
}

fn violation(record: &Record, detail: String) -> Violation {
    Violation {
        t_ms: record.t_ms,
        host: record.host.clone(),
        event: serde_json::to_string(record).unwrap_or_default(),
        detail,
    }
}

/// Runs every oracle. `settled` says whether the world saw every transfer finish in time.
pub fn judge(records: &[Record], settled: bool) -> Vec<Verdict> {
    ORACLES
        .iter()
        .map(|&oracle| Verdict {
            oracle,
            violation: check(oracle, records, settled),
        })
        .collect()
}

/// Runs one oracle by id.
pub fn check(oracle: &str, records: &[Record], settled: bool) -> Option<Violation> {
    match oracle {
        "window" => window(records),
        "purge" => purge(records),
        "durable_ack" => durable_ack(records),
        "integrity" => integrity(records),
        "notify" => notify(records),
        "messages" => messages(records),
        "liveness" => liveness(records, settled),
        "progress" => progress(records),
        "no_panic" => no_panic(records),
        "confinement" => confinement(records),
        "binding" => binding(records),
        other => panic!("unknown oracle {other}"),
    }
}

/// One client's chunk requests on the wire: the peer they go to and the (file, seq) unanswered.
type WireWindow<'a> = (Option<&'a str>, BTreeSet<(&'a str, u32)>);

/// At most `MAX_CWND` chunks in flight per client: by the client's own books (`chunk_sent`) and by
/// the frames it put on the wire minus the replies it took off.
pub fn window(records: &[Record]) -> Option<Violation> {
    let mut wire: BTreeMap<&str, WireWindow> = BTreeMap::new();
    for record in records {
        match &record.event {
            Event::ChunkSent { in_flight, .. } if *in_flight > MAX_CWND => {
                return Some(violation(
                    record,
                    format!("{in_flight} chunks in flight by the client's books, over {MAX_CWND}"),
                ));
            }
            Event::Frame {
                dir,
                peer,
                id,
                file: Some(file),
                seq: Some(seq),
                ..
            } => {
                let (chunk_peer, outstanding) = wire.entry(&record.host).or_default();
                let is_request = matches!(
                    *id,
                    ids::FILE_INFO_SYNC_REQ
                        | ids::IMG_CHAT_UPLOAD_REQ
                        | ids::IMG_CHAT_CONTINUE_UPLOAD_REQ
                );
                let is_reply = matches!(
                    *id,
                    ids::FILE_INFO_SYNC_RSP
                        | ids::IMG_CHAT_UPLOAD_RSP
                        | ids::IMG_CHAT_CONTINUE_UPLOAD_RSP
                );
                if *dir == "tx" && is_request {
                    *chunk_peer = Some(peer);
                    outstanding.insert((file, *seq));
                    if outstanding.len() > MAX_CWND {
                        return Some(violation(
                            record,
                            format!(
                                "{} chunks on the wire without a reply, over {MAX_CWND}",
                                outstanding.len()
                            ),
                        ));
                    }
                } else if *dir == "rx" && is_reply {
                    outstanding.remove(&(file.as_str(), *seq));
                }
            }
            Event::ConnClosed { peer, .. } => {
                // Requests on a dead connection will never be answered; they leave the window.
                if let Some((Some(chunk_peer), outstanding)) = wire.get_mut(record.host.as_str()) {
                    if chunk_peer == peer {
                        outstanding.clear();
                    }
                }
            }
            _ => {}
        }
    }
    None
}

/// After an error reply for file A, no chunk of A is sent until A is retried or resumed, and every
/// other file of the same client that was still under way keeps moving.
pub fn purge(records: &[Record]) -> Option<Violation> {
    // (host, file) -> is it blocked by an unhandled error?
    let mut blocked: BTreeMap<(&str, &str), bool> = BTreeMap::new();
    let mut finished: BTreeSet<(&str, &str)> = BTreeSet::new();
    // Files that must move after an error on another file: (host, file, index of the error).
    let mut must_move: Vec<(&str, &str, usize)> = Vec::new();
    for (index, record) in records.iter().enumerate() {
        let host = record.host.as_str();
        match &record.event {
            Event::ChunkSent { file, seq, .. } => {
                if blocked.get(&(host, file.as_str())) == Some(&true) {
                    return Some(violation(
                        record,
                        format!("seq {seq} of {file} sent after an error and before any retry or resume"),
                    ));
                }
                blocked.entry((host, file)).or_insert(false);
            }
            Event::ChunkAcked { file, error, .. } if *error != 0 => {
                blocked.insert((host, file), true);
                for (&(h, other), _) in blocked.iter() {
                    if h == host && other != file && !finished.contains(&(h, other)) {
                        must_move.push((h, other, index));
                    }
                }
            }
            Event::UploadRetry { file, .. } | Event::UploadResumed { file } => {
                blocked.insert((host, file), false);
            }
            Event::UploadAcked { file }
            | Event::UploadFailed { file, .. }
            | Event::UploadCancelled { file } => {
                finished.insert((host, file));
            }
            _ => {}
        }
    }
    for (host, file, index) in must_move {
        let moved = records[index + 1..].iter().any(|r| {
            r.host == host
                && matches!(&r.event,
                    Event::ChunkSent { file: f, .. } | Event::ChunkAcked { file: f, .. } | Event::UploadAcked { file: f }
                    if f == file)
        });
        if !moved {
            return Some(violation(
                &records[index],
                format!("{file} stopped moving after another file's error"),
            ));
        }
    }
    None
}

/// Every chunk acked to a client is, at the end, listed as stored and holds the source's bytes.
/// Only a file the server rejected on purpose (`upload_rejected`, e.g. an md5 mismatch that
/// discards it) may have lost its record, and a chunk acked before its upload expired
/// (`upload_expired`, idle past the TTL); any other acked upload the server no longer holds fails.
pub fn durable_ack(records: &[Record]) -> Option<Violation> {
    let sources = source_chunk_hashes(records);
    let expired: BTreeMap<&str, u64> = records
        .iter()
        .filter_map(|r| match &r.event {
            Event::UploadExpired { file, .. } => Some((file.as_str(), r.t_ms)),
            _ => None,
        })
        .collect();
    let rejected: BTreeSet<&str> = records
        .iter()
        .filter_map(|r| match &r.event {
            Event::UploadRejected { file, .. } => Some(file.as_str()),
            _ => None,
        })
        .collect();
    let finals: BTreeMap<&str, (&Vec<u32>, &Vec<String>)> = records
        .iter()
        .filter_map(|r| match &r.event {
            Event::FinalFile {
                file,
                received,
                chunk_hashes,
                ..
            } => Some((file.as_str(), (received, chunk_hashes))),
            _ => None,
        })
        .collect();
    for record in records {
        let Event::ChunkAcked {
            file,
            seq,
            error: 0,
            ..
        } = &record.event
        else {
            continue;
        };
        if rejected.contains(file.as_str())
            || expired
                .get(file.as_str())
                .is_some_and(|&at| record.t_ms <= at)
        {
            continue;
        }
        let Some(source) = sources.get(file.as_str()) else {
            continue;
        };
        let Some((received, stored)) = finals.get(file.as_str()) else {
            return Some(violation(
                record,
                format!("seq {seq} of {file} was acked but the server holds no upload of {file}"),
            ));
        };
        let index = (*seq as usize).saturating_sub(1);
        if !received.contains(seq) {
            return Some(violation(
                record,
                format!("seq {seq} of {file} was acked but is not in the upload state"),
            ));
        }
        if stored.get(index) != source.get(index) {
            return Some(violation(
                record,
                format!(
                    "seq {seq} of {file} was acked but the bytes on disk differ from the source"
                ),
            ));
        }
    }
    None
}

/// Each source file's chunk hashes, by file.
fn source_chunk_hashes(records: &[Record]) -> BTreeMap<&str, &Vec<String>> {
    records
        .iter()
        .filter_map(|r| match &r.event {
            Event::SourceFile {
                file, chunk_hashes, ..
            } => Some((file.as_str(), chunk_hashes)),
            _ => None,
        })
        .collect()
}

/// Every stored (complete) and every downloaded file is byte-identical to its source.
pub fn integrity(records: &[Record]) -> Option<Violation> {
    let sources: BTreeMap<&str, (u64, &str)> = records
        .iter()
        .filter_map(|r| match &r.event {
            Event::SourceFile {
                file, size, md5, ..
            } => Some((file.as_str(), (*size, md5.as_str()))),
            _ => None,
        })
        .collect();
    let source_chunks = source_chunk_hashes(records);
    for record in records {
        let (what, file, size, md5, chunks) = match &record.event {
            Event::DownloadDone {
                file, size, md5, ..
            } => ("downloaded", file, size, md5, None),
            Event::FinalFile {
                file,
                size,
                md5,
                complete: true,
                chunk_hashes,
                ..
            } => ("stored", file, size, md5, Some(chunk_hashes)),
            _ => continue,
        };
        match sources.get(file.as_str()) {
            None => {
                return Some(violation(
                    record,
                    format!("{what} file {file} has no source"),
                ))
            }
            Some((source_size, source_md5))
                if (source_size, *source_md5) != (size, md5.as_str()) =>
            {
                let which = match (chunks, source_chunks.get(file.as_str())) {
                    (Some(stored), Some(source)) => format!(" ({})", chunk_diff(source, stored)),
                    _ => String::new(),
                };
                return Some(violation(
                    record,
                    format!(
                        "{what} {file}: {size} bytes md5 {md5}, source has {source_size} bytes md5 {source_md5}{which}"
                    ),
                ));
            }
            Some(_) => {}
        }
    }
    None
}

/// Which stored chunks differ from the source, and whose bytes they hold when they are another
/// chunk's (chunks written in the wrong place).
fn chunk_diff(source: &[String], stored: &[String]) -> String {
    let mut notes: Vec<String> = Vec::new();
    for (index, hash) in stored.iter().enumerate() {
        if source.get(index) == Some(hash) {
            continue;
        }
        let seq = index + 1;
        notes.push(match source.iter().position(|s| s == hash) {
            Some(other) => format!("seq {seq} holds the bytes of source seq {}", other + 1),
            None => format!("seq {seq} differs from the source"),
        });
    }
    if stored.len() < source.len() {
        notes.push(format!(
            "seqs {}..={} are missing",
            stored.len() + 1,
            source.len()
        ));
    }
    const SHOWN: usize = 4;
    let more = notes.len().saturating_sub(SHOWN);
    notes.truncate(SHOWN);
    if more > 0 {
        notes.push(format!("{more} more"));
    }
    notes.join(", ")
}

/// Each committed upload tells the sender and the receiver exactly once, and its message ends as
/// an uploaded PIC; nobody is told of an upload the server never committed.
pub fn notify(records: &[Record]) -> Option<Violation> {
    // file -> (sender host, receiver host)
    let mut parties: BTreeMap<&str, (String, String)> = BTreeMap::new();
    let mut committed: BTreeSet<&str> = BTreeSet::new();
    let mut message_of: BTreeMap<&str, i64> = BTreeMap::new();
    let mut told: BTreeMap<(&str, &str, &str), usize> = BTreeMap::new();
    for record in records {
        match &record.event {
            Event::ImageQueued { file, to, .. } => {
                parties.insert(file, (record.host.clone(), crate::sim::user_host(*to)));
            }
            Event::ImageAnnounced { file, message_id } => {
                message_of.insert(file, *message_id);
            }
            Event::UploadCommitted { file, .. } => {
                committed.insert(file);
            }
            Event::UploadNotified { file, .. } | Event::ImagePushReceived { file, .. } => {
                if !committed.contains(file.as_str()) {
                    return Some(violation(
                        record,
                        format!("told of {file}, which the server never committed"),
                    ));
                }
                // The sender's notice and the receiver's push are counted apart, so a file sent
                // to oneself is told once of each.
                let role = match record.event {
                    Event::UploadNotified { .. } => "sender",
                    _ => "receiver",
                };
                let count = told.entry((file, &record.host, role)).or_default();
                *count += 1;
                if *count > 1 {
                    return Some(violation(
                        record,
                        format!("{} told of {file} {count} times as {role}", record.host),
                    ));
                }
            }
            _ => {}
        }
    }
    let last = records.last()?;
    for file in &committed {
        let Some((sender, receiver)) = parties.get(file) else {
            continue;
        };
        for (party, role) in [(sender, "sender"), (receiver, "receiver")] {
            if !told.contains_key(&(*file, party.as_str(), role)) {
                // The commit that should have been told of, rather than whatever came last.
                let commit = records
                    .iter()
                    .find(|r| matches!(&r.event, Event::UploadCommitted { file: f, .. } if f == *file))
                    .unwrap_or(last);
                return Some(violation(
                    commit,
                    format!("{party} was never told that {file} was uploaded"),
                ));
            }
        }
        let Some(message_id) = message_of.get(file) else {
            continue;
        };
        let final_message = records.iter().find_map(|r| match &r.event {
            Event::FinalMessage {
                message_id: id,
                status,
                msg_type,
                ..
            } if id == message_id => Some((r, *status, *msg_type)),
            _ => None,
        });
        match final_message {
            None => {
                return Some(violation(
                    last,
                    format!("message {message_id} of {file} is not stored"),
                ))
            }
            Some((r, s, t)) if s != status::READED || t != msg_type::PIC => {
                return Some(violation(
                    r,
                    format!(
                        "message {message_id} of {file} ends with status {s} and type {t}, expected {} and {}",
                        status::READED,
                        msg_type::PIC
                    ),
                ));
            }
            Some(_) => {}
        }
    }
    None
}

/// Every text the user sent is acknowledged; every acknowledged text is stored once and delivered
/// once, unchanged and in order; and every message stored as a text is a non-empty text that its
/// sender sent.
pub fn messages(records: &[Record]) -> Option<Violation> {
    let mut sent: BTreeMap<&str, (&str, i32, i32)> = BTreeMap::new();
    let mut order: BTreeMap<(i32, i32), Vec<&str>> = BTreeMap::new();
    let mut stored: BTreeMap<&str, usize> = BTreeMap::new();
    let mut received: BTreeMap<&str, usize> = BTreeMap::new();
    let mut acked: Vec<(&Record, &str)> = Vec::new();
    let mut delivered: BTreeMap<(i32, i32), Vec<&str>> = BTreeMap::new();
    for record in records {
        match &record.event {
            Event::TextSent {
                from,
                to,
                unique_id,
                content,
            } => {
                sent.insert(unique_id, (content, *from, *to));
                order.entry((*from, *to)).or_default().push(unique_id);
            }
            Event::TextStored { unique_id, .. } => {
                let n = stored.entry(unique_id).or_default();
                *n += 1;
                if *n > 1 {
                    return Some(violation(
                        record,
                        format!("text {unique_id} stored {n} times"),
                    ));
                }
            }
            Event::TextAcked { unique_id, .. } => acked.push((record, unique_id)),
            Event::TextReceived {
                from,
                to,
                unique_id,
                content,
                ..
            } => {
                let n = received.entry(unique_id).or_default();
                *n += 1;
                if *n > 1 {
                    return Some(violation(
                        record,
                        format!("text {unique_id} delivered {n} times"),
                    ));
                }
                match sent.get(unique_id.as_str()) {
                    Some((original, ..)) if *original != content => {
                        return Some(violation(
                            record,
                            format!("text {unique_id} arrived changed"),
                        ));
                    }
                    None => {
                        return Some(violation(
                            record,
                            format!("text {unique_id} was never sent"),
                        ))
                    }
                    Some(_) => {}
                }
                delivered.entry((*from, *to)).or_default().push(unique_id);
            }
            _ => {}
        }
    }
    for &(record, unique_id) in &acked {
        if stored.get(unique_id) != Some(&1) {
            return Some(violation(
                record,
                format!("text {unique_id} acked but not stored once"),
            ));
        }
        if received.get(unique_id) != Some(&1) {
            return Some(violation(
                record,
                format!("text {unique_id} acked but never delivered"),
            ));
        }
    }
    for (pair, got) in &delivered {
        let expected: Vec<&str> = order
            .get(pair)
            .map(|all| all.iter().copied().filter(|u| got.contains(u)).collect())
            .unwrap_or_default();
        if &expected != got {
            let last = records.last()?;
            return Some(violation(
                last,
                format!(
                    "texts from {} to {} arrived in the order {got:?}, sent as {expected:?}",
                    pair.0, pair.1
                ),
            ));
        }
    }
    let acked: BTreeSet<&str> = acked.iter().map(|(_, u)| *u).collect();
    for record in records {
        if let Event::TextSent {
            unique_id, content, ..
        } = &record.event
        {
            if !acked.contains(unique_id.as_str()) {
                return Some(violation(
                    record,
                    format!(
                        "text {unique_id} ({} characters) was sent but never acknowledged",
                        content.chars().count()
                    ),
                ));
            }
        }
    }
    stored_texts(records)
}

/// Every message the chat server ends with as a TEXT is non-empty and is a text its sender sent
/// to its receiver (so an image message stored as a text is caught too).
fn stored_texts(records: &[Record]) -> Option<Violation> {
    let mut texts: BTreeSet<(i32, i32, &str)> = BTreeSet::new();
    let mut images: BTreeSet<(i32, i32, &str)> = BTreeSet::new();
    for record in records {
        match &record.event {
            Event::TextSent {
                from, to, content, ..
            } => {
                texts.insert((*from, *to, content));
            }
            Event::ImageQueued { file, from, to, .. } => {
                images.insert((*from, *to, file));
            }
            _ => {}
        }
    }
    records.iter().find_map(|record| {
        let Event::FinalMessage {
            message_id,
            from,
            to,
            msg_type: msg_type::TEXT,
            content,
            ..
        } = &record.event
        else {
            return None;
        };
        let key = (*from, *to, content.as_str());
        let detail = if content.is_empty() {
            format!("message {message_id} from {from} to {to} is stored as an empty text")
        } else if texts.contains(&key) {
            return None;
        } else if images.contains(&key) {
            format!(
                "message {message_id} is the image {content} from {from} to {to}, stored as a text \
                 (msg_type {}), not a picture ({})",
                msg_type::TEXT,
                msg_type::PIC
            )
        } else {
            format!("message {message_id} from {from} to {to} is a text that was never sent")
        };
        Some(violation(record, detail))
    })
}

/// Every picture a receiver is told of and downloads is the file its sender uploaded for that very
/// message: the 1039 push and the download of message `m` go to `m`'s receiver, name `m`'s file
/// and sender, and the bytes downloaded are that file's source (not another upload that claimed
/// the message id).
pub fn binding(records: &[Record]) -> Option<Violation> {
    let sources: BTreeMap<&str, &str> = records
        .iter()
        .filter_map(|r| match &r.event {
            Event::SourceFile { file, md5, .. } => Some((file.as_str(), md5.as_str())),
            _ => None,
        })
        .collect();
    let mut messages: BTreeMap<i64, (i32, i32, &str)> = BTreeMap::new();
    for record in records {
        match &record.event {
            Event::ImageMessageStored {
                message_id,
                from,
                to,
                file,
                ..
            } => {
                messages.insert(*message_id, (*from, *to, file.as_str()));
            }
            Event::ImagePushReceived {
                file,
                message_id,
                from,
                ..
            } => {
                let Some(&(sender, receiver, name)) = messages.get(message_id) else {
                    continue;
                };
                let host_uid = record
                    .host
                    .strip_prefix("user")
                    .and_then(|u| u.parse().ok());
                if (*from, file.as_str(), host_uid) != (sender, name, Some(receiver)) {
                    return Some(violation(
                        record,
                        format!(
                            "user {} was told of {file} from {from} as message {message_id}, \
                             which is {name} from {sender} to {receiver}",
                            record.host
                        ),
                    ));
                }
            }
            Event::DownloadDone {
                file,
                message_id,
                md5,
                ..
            } => {
                let Some(&(sender, _, name)) = messages.get(message_id) else {
                    continue;
                };
                let Some(&want) = sources.get(name) else {
                    continue;
                };
                if md5 != want {
                    let whose = sources
                        .iter()
                        .find(|(_, m)| **m == md5.as_str())
                        .map_or("no source file".to_owned(), |(f, _)| {
                            format!("the bytes of {f}")
                        });
                    return Some(violation(
                        record,
                        format!(
                            "the download of message {message_id} ({name} from {sender}, \
                             fetched as {file}) got {whose}"
                        ),
                    ));
                }
            }
            _ => {}
        }
    }
    None
}

/// Every chunk is stored inside its owner's folder (`<owner>/...` under the store's root) and by
/// its owner: the uid whose token the writing connection presented.
pub fn confinement(records: &[Record]) -> Option<Violation> {
    records.iter().find_map(|record| {
        let Event::ChunkStored {
            file,
            seq,
            owner,
            path,
            writer,
        } = &record.event
        else {
            return None;
        };
        if !inside_folder(path, *owner) {
            return Some(violation(
                record,
                format!(
                    "seq {seq} of {file} was written to {path:?}, outside uid {owner}'s folder"
                ),
            ));
        }
        match writer {
            Some(w) if w == owner => None,
            Some(w) => Some(violation(
                record,
                format!("uid {w} wrote seq {seq} of {file} into the upload of uid {owner}"),
            )),
            None => Some(violation(
                record,
                format!(
                    "seq {seq} of {file} was written into the upload of uid {owner} by a \
                     connection that presented no valid token"
                ),
            )),
        }
    })
}

/// Whether `path` (relative to the store's root), resolved lexically, names something under the
/// folder `<owner>/`.
fn inside_folder(path: &str, owner: i32) -> bool {
    let mut parts: Vec<&std::ffi::OsStr> = Vec::new();
    for component in Path::new(path).components() {
        match component {
            Component::Normal(part) => parts.push(part),
            Component::CurDir => {}
            Component::ParentDir => {
                if parts.pop().is_none() {
                    return false;
                }
            }
            Component::RootDir | Component::Prefix(_) => return false,
        }
    }
    parts.len() >= 2 && parts[0] == owner.to_string().as_str()
}

/// Every action of the scenario was carried out and reached a final outcome, never going more
/// than the liveness bound without progress once the last fault had ended (the world's
/// `ActionOutcome` and `LivenessBound` records), and no download was given up. A bound on
/// progress rather than on the whole action: a 10 MiB image on a 200 ms round trip takes over a
/// minute through a window of five chunks and is not stalled, while a transfer that sits still
/// for `liveness_s` is, however long the scenario's time limit. A trace without the world's account (a run cut short) falls back
/// to "settled before the time limit".
pub fn liveness(records: &[Record], settled: bool) -> Option<Violation> {
    if let Some(violation) = download_given_up(records) {
        return Some(violation);
    }
    let bound = records.iter().find_map(|r| match r.event {
        Event::LivenessBound {
            last_heal_ms,
            liveness_ms,
        } => Some((last_heal_ms, liveness_ms)),
        _ => None,
    });
    let mut accounted = false;
    for record in records {
        let Event::ActionOutcome {
            action,
            at_ms,
            performed_ms,
            finished_ms,
            outcome,
            stall_from_ms,
            longest_stall_ms,
            ..
        } = &record.event
        else {
            continue;
        };
        accounted = true;
        let Some(finished) = finished_ms else {
            let since = match performed_ms {
                Some(t) => format!("carried out at {t} ms"),
                None => format!("due at {at_ms} ms"),
            };
            let mut detail = format!("{action} ({since}) never finished: {outcome}");
            append_unfinished(&mut detail, records, action);
            return Some(violation(record, detail));
        };
        if let Some((last_heal_ms, liveness_ms)) = bound {
            if *longest_stall_ms > liveness_ms {
                return Some(violation(
                    record,
                    format!(
                        "{action} made no progress for {longest_stall_ms} ms from {stall_from_ms} ms \
                         (more than {liveness_ms} ms, after the last fault ended at \
                         {last_heal_ms} ms); it finished at {finished} ms"
                    ),
                ));
            }
        }
    }
    if settled || accounted {
        return None;
    }
    let last = records.last()?;
    let mut detail = "the run reached its time limit with transfers or texts unfinished".to_owned();
    let what = unfinished(records);
    if !what.is_empty() {
        detail.push_str(": ");
        detail.push_str(&what.join("; "));
    }
    Some(violation(last, detail))
}

/// A receiver that gave up has not finished the transfer, even if the run came to rest.
fn download_given_up(records: &[Record]) -> Option<Violation> {
    records.iter().find_map(|record| match &record.event {
        Event::DownloadFailed {
            file,
            error,
            reason,
            ..
        } => Some(violation(
            record,
            format!("the download of {file} was given up (error {error}: {reason})"),
        )),
        _ => None,
    })
}

/// Adds what the trace says is unfinished about the file an image action names.
fn append_unfinished(detail: &mut String, records: &[Record], action: &str) {
    let notes = unfinished(records);
    let about: Vec<&String> = notes
        .iter()
        .filter(|note| {
            note.split_whitespace()
                .next()
                .is_some_and(|file| action.contains(file))
        })
        .collect();
    if !about.is_empty() {
        let about: Vec<&str> = about.iter().map(|s| s.as_str()).collect();
        detail.push_str(" (");
        detail.push_str(&about.join("; "));
        detail.push(')');
    }
}

/// What is still unfinished at the end of a run, first things first, for the liveness report.
fn unfinished(records: &[Record]) -> Vec<String> {
    let mut images: Vec<&str> = Vec::new();
    // file or text unique id -> what happened to it
    let mut done: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
    // (file) -> seqs sent and not answered, by the sender's books.
    let mut unanswered: BTreeMap<&str, BTreeSet<u32>> = BTreeMap::new();
    let mut texts: Vec<&str> = Vec::new();
    for record in records {
        match &record.event {
            Event::ImageQueued { file, .. } => images.push(file),
            Event::ChunkSent { file, seq, .. } => {
                unanswered.entry(file).or_default().insert(*seq);
            }
            Event::ChunkAcked { file, seq, .. } => {
                unanswered.entry(file).or_default().remove(seq);
            }
            Event::UploadAcked { file } => {
                done.entry(file).or_default().insert("acked");
            }
            Event::UploadFailed { file, .. } | Event::UploadCancelled { file } => {
                done.entry(file).or_default().insert("failed");
            }
            Event::UploadNotified { file, .. } => {
                done.entry(file).or_default().insert("notified");
            }
            Event::DownloadDone { file, .. } | Event::DownloadFailed { file, .. } => {
                done.entry(file).or_default().insert("fetched");
            }
            Event::TextSent { unique_id, .. } => texts.push(unique_id),
            Event::TextAcked { unique_id, .. } => {
                done.entry(unique_id).or_default().insert("acked");
            }
            Event::TextReceived { unique_id, .. } => {
                done.entry(unique_id).or_default().insert("received");
            }
            _ => {}
        }
    }
    let empty = BTreeSet::new();
    let mut notes = Vec::new();
    for file in images {
        let state = done.get(file).unwrap_or(&empty);
        if state.contains("failed") {
            continue;
        }
        let note = if !state.contains("acked") {
            match unanswered.get(file).filter(|s| !s.is_empty()) {
                Some(seqs) => {
                    let seqs: Vec<String> = seqs.iter().map(u32::to_string).collect();
                    format!(
                        "{file} never finished uploading: seq {} sent and never answered",
                        seqs.join(", ")
                    )
                }
                None => format!("{file} never finished uploading"),
            }
        } else if !state.contains("notified") {
            format!("{file} was uploaded but its sender was never told")
        } else if !state.contains("fetched") {
            format!("{file} was never downloaded")
        } else {
            continue;
        };
        notes.push(note);
    }
    for unique_id in texts {
        let state = done.get(unique_id).unwrap_or(&empty);
        if !state.contains("acked") {
            notes.push(format!("text {unique_id} was never acknowledged"));
        } else if !state.contains("received") {
            notes.push(format!("text {unique_id} was never delivered"));
        }
    }
    notes
}

/// Reported upload progress never goes down within one attempt, and a fully acked upload ends at
/// 100%.
pub fn progress(records: &[Record]) -> Option<Violation> {
    let mut last: BTreeMap<(&str, &str), u32> = BTreeMap::new();
    for record in records {
        match &record.event {
            Event::Progress { file, percent } => {
                let key = (record.host.as_str(), file.as_str());
                if let Some(previous) = last.get(&key) {
                    if percent < previous {
                        return Some(violation(
                            record,
                            format!("{file} went from {previous}% to {percent}%"),
                        ));
                    }
                }
                last.insert(key, *percent);
            }
            // A file that starts over after an md5 mismatch is a new attempt with its own progress.
            Event::UploadRetry {
                file,
                scope: "file",
                ..
            } => {
                last.remove(&(record.host.as_str(), file.as_str()));
            }
            Event::UploadAcked { file } => {
                let reached = last.get(&(record.host.as_str(), file.as_str())).copied();
                if reached != Some(100) {
                    return Some(violation(
                        record,
                        format!("{file} fully acked but progress ended at {reached:?}"),
                    ));
                }
            }
            _ => {}
        }
    }
    None
}

/// No party panicked and no host failed.
pub fn no_panic(records: &[Record]) -> Option<Violation> {
    records.iter().find_map(|record| match &record.event {
        Event::Panicked { message } => Some(violation(record, format!("panic: {message}"))),
        Event::HostFailed { error } => Some(violation(record, format!("host failed: {error}"))),
        _ => None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(t_ms: u64, host: &str, event: Event) -> Record {
        Record {
            t_ms,
            host: host.into(),
            event,
        }
    }

    fn chunk_frame(dir: &'static str, id: u16, file: &str, seq: u32) -> Event {
        Event::Frame {
            dir,
            peer: "resource:8091".into(),
            id,
            name: ids::name(id),
            len: 0,
            file: Some(file.into()),
            seq: Some(seq),
        }
    }

    #[test]
    fn window_catches_six_in_flight_by_the_books_and_on_the_wire() {
        let books = [at(
            5,
            "user1",
            Event::ChunkSent {
                file: "a".into(),
                seq: 7,
                id: ids::IMG_CHAT_UPLOAD_REQ,
                in_flight: 6,
                retransmit: false,
            },
        )];
        assert_eq!(window(&books).unwrap().t_ms, 5);
        let mut wire: Vec<Record> = (1..=6)
            .map(|seq| {
                at(
                    u64::from(seq),
                    "user1",
                    chunk_frame("tx", ids::IMG_CHAT_UPLOAD_REQ, "a", seq),
                )
            })
            .collect();
        assert_eq!(window(&wire).unwrap().t_ms, 6);
        // With a reply in between, the same six sends stay within the window.
        wire.insert(
            5,
            at(
                5,
                "user1",
                chunk_frame("rx", ids::IMG_CHAT_UPLOAD_RSP, "a", 1),
            ),
        );
        assert_eq!(window(&wire), None);
    }

    #[test]
    fn integrity_catches_a_download_that_differs_from_its_source() {
        let trace = [
            at(
                0,
                "user1",
                Event::SourceFile {
                    file: "a".into(),
                    size: 3,
                    md5: "m1".into(),
                    chunk_hashes: vec![],
                },
            ),
            at(
                9,
                "user2",
                Event::DownloadDone {
                    file: "a".into(),
                    message_id: 1,
                    size: 3,
                    md5: "m2".into(),
                },
            ),
        ];
        let v = integrity(&trace).unwrap();
        assert_eq!((v.t_ms, v.host.as_str()), (9, "user2"));
    }

    fn upload(file: &str) -> Vec<Record> {
        vec![
            at(
                0,
                "user1",
                Event::ImageQueued {
                    file: file.into(),
                    from: 1,
                    to: 2,
                    size: 1,
                    md5: "m".into(),
                },
            ),
            at(
                1,
                "user1",
                Event::ImageAnnounced {
                    file: file.into(),
                    message_id: 4,
                },
            ),
            at(
                2,
                "resource",
                Event::UploadCommitted {
                    file: file.into(),
                    owner: 1,
                    size: 1,
                    md5: "m".into(),
                },
            ),
        ]
    }

    fn final_message(status: i32) -> Record {
        at(
            9,
            "chat",
            Event::FinalMessage {
                message_id: 4,
                from: 1,
                to: 2,
                msg_type: msg_type::PIC,
                status,
                content: "a".into(),
            },
        )
    }

    #[test]
    fn notify_catches_a_double_notice_a_missing_one_and_a_message_left_unuploaded() {
        let told_sender = at(
            3,
            "user1",
            Event::UploadNotified {
                file: "a".into(),
                message_id: 4,
            },
        );
        let told_receiver = at(
            3,
            "user2",
            Event::ImagePushReceived {
                file: "a".into(),
                message_id: 4,
                from: 1,
                size: 1,
            },
        );

        let mut good = upload("a");
        good.extend([
            told_sender.clone(),
            told_receiver.clone(),
            final_message(status::READED),
        ]);
        assert_eq!(notify(&good), None);

        let mut twice = good.clone();
        twice.insert(4, told_receiver.clone());
        assert!(notify(&twice).unwrap().detail.contains("2 times"));

        let mut receiver_never_told = upload("a");
        receiver_never_told.extend([told_sender.clone(), final_message(status::READED)]);
        assert!(notify(&receiver_never_told)
            .unwrap()
            .detail
            .contains("user2 was never told"));

        let mut still_uploading = upload("a");
        still_uploading.extend([told_sender, told_receiver, final_message(status::UN_UPLOAD)]);
        assert!(notify(&still_uploading)
            .unwrap()
            .detail
            .contains("ends with status 3"));
    }

    /// User 1 sends text `u` to user 2.
    fn text_sent(u: &str, content: &str) -> Record {
        at(
            1,
            "user1",
            Event::TextSent {
                from: 1,
                to: 2,
                unique_id: u.into(),
                content: content.into(),
            },
        )
    }

    fn text_stored(u: &str) -> Record {
        at(
            2,
            "chat",
            Event::TextStored {
                message_id: 1,
                from: 1,
                to: 2,
                unique_id: u.into(),
            },
        )
    }

    fn text_acked(u: &str) -> Record {
        at(
            3,
            "user1",
            Event::TextAcked {
                unique_id: u.into(),
                message_id: 1,
            },
        )
    }

    fn text_received(u: &str, content: &str) -> Record {
        at(
            4,
            "user2",
            Event::TextReceived {
                from: 1,
                to: 2,
                message_id: 1,
                unique_id: u.into(),
                content: content.into(),
            },
        )
    }

    #[test]
    fn messages_catches_loss_duplicates_and_reordering() {
        let sent = |u: &str| text_sent(u, u);
        let stored = text_stored;
        let acked = text_acked;
        let got = |u: &str| text_received(u, u);
        let lost = [sent("x"), stored("x"), acked("x")];
        assert!(messages(&lost).unwrap().detail.contains("never delivered"));
        let delivered = [sent("x"), stored("x"), acked("x"), got("x")];
        assert_eq!(messages(&delivered), None);
        // A text the client never got acknowledged (the seed drops long ones without a word).
        let never_acked = [sent("x"), stored("x"), acked("x"), got("x"), sent("y")];
        let v = messages(&never_acked).unwrap();
        assert!(v
            .detail
            .contains("text y (1 characters) was sent but never acknowledged"));
        assert_eq!(v.event, serde_json::to_string(&never_acked[4]).unwrap());
        let twice = [sent("x"), stored("x"), acked("x"), got("x"), got("x")];
        assert!(messages(&twice)
            .unwrap()
            .detail
            .contains("delivered 2 times"));
        let reordered = [
            sent("x"),
            sent("y"),
            stored("x"),
            stored("y"),
            got("y"),
            got("x"),
        ];
        assert!(messages(&reordered)
            .unwrap()
            .detail
            .contains("in the order"));
    }

    fn text_message(message_id: i64, kind: i32, content: &str) -> Record {
        at(
            9,
            "chat",
            Event::FinalMessage {
                message_id,
                from: 1,
                to: 2,
                msg_type: kind,
                status: status::UN_READ,
                content: content.into(),
            },
        )
    }

    #[test]
    fn messages_catches_an_empty_text_and_an_image_stored_as_a_text() {
        let done = |u: &str, content: &str| {
            vec![
                text_sent(u, content),
                text_stored(u),
                text_acked(u),
                text_received(u, content),
            ]
        };
        let mut good = done("a", "hello");
        good.push(text_message(1, msg_type::TEXT, "hello"));
        assert_eq!(messages(&good), None);

        let mut empty = done("a", "");
        empty.push(text_message(1, msg_type::TEXT, ""));
        let v = messages(&empty).unwrap();
        assert!(v.detail.contains("stored as an empty text"), "{}", v.detail);
        assert_eq!(v.host, "chat");

        let mut image = upload("a.png");
        image.push(text_message(4, msg_type::TEXT, "a.png"));
        let v = messages(&image).unwrap();
        assert!(v.detail.contains("image a.png"), "{}", v.detail);
        // The same image message stored as a picture is not a text at all.
        let mut picture = upload("a.png");
        picture.push(text_message(4, msg_type::PIC, "a.png"));
        assert_eq!(messages(&picture), None);

        let forged = [text_message(7, msg_type::TEXT, "never typed")];
        assert!(messages(&forged).unwrap().detail.contains("never sent"));
    }

    fn stored(path: &str, owner: i32, writer: Option<i32>) -> Record {
        at(
            5,
            "resource",
            Event::ChunkStored {
                file: "a.png".into(),
                seq: 1,
                owner,
                path: path.into(),
                writer,
            },
        )
    }

    fn binding_trace(downloaded_md5: &str, pushed_from: i32) -> Vec<Record> {
        let source = |file: &str, md5: &str| Event::SourceFile {
            file: file.into(),
            size: 10,
            md5: md5.into(),
            chunk_hashes: vec![],
        };
        vec![
            at(0, "user1", source("cat.png", "aaaa")),
            at(0, "user2", source("mine.png", "bbbb")),
            at(
                10,
                "chat",
                Event::ImageMessageStored {
                    message_id: 7,
                    from: 1,
                    to: 3,
                    file: "cat.png".into(),
                    msg_type: 1,
                    status: 3,
                },
            ),
            at(
                50,
                "user3",
                Event::ImagePushReceived {
                    file: "cat.png".into(),
                    message_id: 7,
                    from: pushed_from,
                    size: 10,
                },
            ),
            at(
                60,
                "user3",
                Event::DownloadDone {
                    file: "cat.png".into(),
                    message_id: 7,
                    size: 10,
                    md5: downloaded_md5.into(),
                },
            ),
        ]
    }

    #[test]
    fn binding_catches_a_picture_swapped_by_another_upload_and_a_push_from_the_wrong_sender() {
        assert_eq!(binding(&binding_trace("aaaa", 1)), None);
        let swapped = binding(&binding_trace("bbbb", 1)).expect("a swapped picture");
        assert!(
            swapped.detail.contains("got the bytes of mine.png"),
            "{}",
            swapped.detail
        );
        let forged = binding(&binding_trace("aaaa", 2)).expect("a push naming another sender");
        assert!(
            forged.detail.contains("from 2 as message 7"),
            "{}",
            forged.detail
        );
    }

    #[test]
    fn confinement_catches_an_escape_from_the_folder_and_a_write_by_another_user() {
        assert_eq!(confinement(&[stored("1/a.png", 1, Some(1))]), None);
        let v = confinement(&[
            stored("1/a.png", 1, Some(1)),
            stored("1/../escape.png", 1, Some(1)),
        ])
        .unwrap();
        assert!(v.detail.contains("outside uid 1's folder"), "{}", v.detail);
        assert_eq!(v.host, "resource");
        for escaped in ["/etc/passwd", "../x", "1/../../x", "2/a.png", "1", "1/.."] {
            assert!(
                confinement(&[stored(escaped, 1, Some(1))]).is_some(),
                "{escaped} must count as outside"
            );
        }
        // Inside the folder, even through `.` or a subfolder.
        assert_eq!(confinement(&[stored("1/./sub/../a.png", 1, Some(1))]), None);
        let v = confinement(&[stored("1/a.png", 1, Some(2))]).unwrap();
        assert!(
            v.detail
                .contains("uid 2 wrote seq 1 of a.png into the upload of uid 1"),
            "{}",
            v.detail
        );
        assert!(confinement(&[stored("1/a.png", 1, None)])
            .unwrap()
            .detail
            .contains("no valid token"));
    }

    #[test]
    fn progress_catches_a_step_back_and_an_end_short_of_100() {
        let p = |percent| {
            at(
                1,
                "user1",
                Event::Progress {
                    file: "a".into(),
                    percent,
                },
            )
        };
        assert!(progress(&[p(50), p(40)]).is_some());
        let short = [
            p(80),
            at(2, "user1", Event::UploadAcked { file: "a".into() }),
        ];
        assert!(progress(&short).unwrap().detail.contains("Some(80)"));
        assert_eq!(
            progress(&[
                p(80),
                p(100),
                at(2, "user1", Event::UploadAcked { file: "a".into() })
            ]),
            None
        );
    }

    fn action(finished_ms: Option<u64>, longest_stall_ms: u64) -> Record {
        at(
            90_000,
            "user1",
            Event::ActionOutcome {
                user: 1,
                action: "image big.png (10485760 bytes) to 2".into(),
                at_ms: 100,
                performed_ms: Some(100),
                finished_ms,
                outcome: "waiting for the receiver's download".into(),
                stall_from_ms: 5_000,
                longest_stall_ms,
            },
        )
    }

    #[test]
    fn liveness_judges_the_worlds_account_of_each_action() {
        let bound = at(
            90_000,
            "world",
            Event::LivenessBound {
                last_heal_ms: 2_000,
                liveness_ms: 60_000,
            },
        );
        // A long transfer that kept moving holds, even past the bound after its start.
        assert_eq!(
            liveness(&[action(Some(78_000), 900), bound.clone()], true),
            None
        );
        // A 100 s stall inside a 120 s limit does not.
        let stall = liveness(&[action(Some(110_000), 100_000), bound.clone()], true).unwrap();
        assert!(
            stall.detail.contains("no progress for 100000 ms"),
            "{}",
            stall.detail
        );
        // An action never finished names itself and what it waited for, whatever `settled` says.
        let open = liveness(&[action(None, 0), bound], true).unwrap();
        assert!(open.detail.contains("big.png"), "{}", open.detail);
        assert!(open.detail.contains("waiting for the receiver's download"));
    }

    #[test]
    fn liveness_and_no_panic_fail_when_they_should() {
        let trace = [at(
            7,
            "sim",
            Event::Panicked {
                message: "boom".into(),
            },
        )];
        assert!(no_panic(&trace).unwrap().detail.contains("boom"));
        assert!(liveness(&trace, false).is_some());
        assert_eq!(liveness(&trace, true), None);
        let gave_up = [at(
            9,
            "user2",
            Event::DownloadFailed {
                file: "a".into(),
                message_id: 1,
                error: 1012,
                reason: "download info refused".into(),
            },
        )];
        assert!(liveness(&gave_up, true)
            .unwrap()
            .detail
            .contains("download of a was given up"));
    }

    #[test]
    fn liveness_says_what_is_unfinished() {
        let mut trace = upload("a.png");
        for seq in [1, 2, 3] {
            trace.push(at(
                3,
                "user1",
                Event::ChunkSent {
                    file: "a.png".into(),
                    seq,
                    id: ids::IMG_CHAT_UPLOAD_REQ,
                    in_flight: 1,
                    retransmit: false,
                },
            ));
        }
        for seq in [1, 3] {
            trace.push(at(
                4,
                "user1",
                Event::ChunkAcked {
                    file: "a.png".into(),
                    seq,
                    error: 0,
                    in_flight: 0,
                },
            ));
        }
        let v = liveness(&trace, false).unwrap();
        assert!(
            v.detail
                .ends_with("a.png never finished uploading: seq 2 sent and never answered"),
            "{}",
            v.detail
        );
        trace.push(at(
            5,
            "user1",
            Event::UploadAcked {
                file: "a.png".into(),
            },
        ));
        let v = liveness(&trace, false).unwrap();
        assert!(v
            .detail
            .contains("a.png was uploaded but its sender was never told"));
    }

    #[test]
    fn integrity_names_the_chunks_of_a_stored_file_that_differ() {
        let hashes = |h: &[&str]| h.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let trace = [
            at(
                0,
                "user1",
                Event::SourceFile {
                    file: "a".into(),
                    size: 4,
                    md5: "m1".into(),
                    chunk_hashes: hashes(&["h1", "h2", "h3", "h4"]),
                },
            ),
            at(
                9,
                "resource",
                Event::FinalFile {
                    file: "a".into(),
                    owner: 1,
                    size: 3,
                    md5: "m2".into(),
                    complete: true,
                    received: vec![1, 2, 3, 4],
                    chunk_hashes: hashes(&["h1", "h3", "x"]),
                },
            ),
        ];
        let v = integrity(&trace).unwrap();
        assert!(
            v.detail.ends_with(
                "(seq 2 holds the bytes of source seq 3, seq 3 differs from the source, seqs 4..=4 are missing)"
            ),
            "{}",
            v.detail
        );
    }

    fn sent(file: &str, seq: u32) -> Record {
        at(
            u64::from(seq),
            "user1",
            Event::ChunkSent {
                file: file.into(),
                seq,
                id: ids::IMG_CHAT_UPLOAD_REQ,
                in_flight: 1,
                retransmit: false,
            },
        )
    }

    fn acked(file: &str, seq: u32, error: i32) -> Record {
        at(
            10,
            "user1",
            Event::ChunkAcked {
                file: file.into(),
                seq,
                error,
                in_flight: 0,
            },
        )
    }

    #[test]
    fn purge_catches_a_chunk_sent_after_an_error_and_a_file_that_stops_with_it() {
        let resent = [
            sent("a", 1),
            sent("b", 1),
            acked("a", 1, 1018),
            sent("a", 2),
            sent("b", 2),
        ];
        assert!(purge(&resent)
            .unwrap()
            .detail
            .contains("seq 2 of a sent after an error"));
        let stalled = [sent("a", 1), sent("b", 1), acked("a", 1, 1018)];
        assert!(purge(&stalled).unwrap().detail.contains("b stopped moving"));
        let retried = [
            sent("a", 1),
            sent("b", 1),
            acked("a", 1, 1015),
            at(
                11,
                "user1",
                Event::UploadRetry {
                    file: "a".into(),
                    seq: 1,
                    error: 1015,
                    scope: "chunk",
                },
            ),
            sent("a", 1),
            acked("b", 1, 0),
        ];
        assert_eq!(purge(&retried), None);
    }

    #[test]
    fn durable_ack_catches_a_whole_acked_upload_that_vanished_unless_rejected() {
        let source = at(
            0,
            "user1",
            Event::SourceFile {
                file: "a".into(),
                size: 10,
                md5: "m".into(),
                chunk_hashes: vec!["h1".into()],
            },
        );
        let vanished = [source.clone(), acked("a", 1, 0)];
        let v = durable_ack(&vanished).expect("an acked upload with no record at the end");
        assert!(v.detail.contains("holds no upload of a"), "{}", v.detail);
        let rejected = at(
            50,
            "resource",
            Event::UploadRejected {
                file: "a".into(),
                reason: "md5 mismatch".into(),
            },
        );
        assert_eq!(durable_ack(&[source, acked("a", 1, 0), rejected]), None);
    }

    #[test]
    fn durable_ack_forgives_a_chunk_acked_before_its_upload_expired_and_no_other() {
        let source = at(
            0,
            "user1",
            Event::SourceFile {
                file: "a".into(),
                size: 10,
                md5: "m".into(),
                chunk_hashes: vec!["h1".into()],
            },
        );
        let expired = |t_ms| {
            at(
                t_ms,
                "resource",
                Event::UploadExpired {
                    message_id: 1,
                    file: "a".into(),
                    idle_s: 6,
                },
            )
        };
        // The ack is at 10 ms.
        assert_eq!(
            durable_ack(&[source.clone(), acked("a", 1, 0), expired(50)]),
            None
        );
        let before = durable_ack(&[source, expired(5), acked("a", 1, 0)]);
        assert!(before.is_some(), "an ack after the expiry must still hold");
    }

    #[test]
    fn durable_ack_catches_an_acked_chunk_missing_or_different_at_the_end() {
        let trace = |received: Vec<u32>, stored: [&str; 2]| {
            vec![
                at(
                    0,
                    "user1",
                    Event::SourceFile {
                        file: "a".into(),
                        size: 40_000,
                        md5: "m".into(),
                        chunk_hashes: vec!["h1".into(), "h2".into()],
                    },
                ),
                acked("a", 2, 0),
                at(
                    99,
                    "resource",
                    Event::FinalFile {
                        file: "a".into(),
                        owner: 1,
                        size: 40_000,
                        md5: "m".into(),
                        complete: false,
                        received,
                        chunk_hashes: stored.iter().map(|h| h.to_string()).collect(),
                    },
                ),
            ]
        };
        let lost = durable_ack(&trace(vec![1], ["h1", "h2"])).unwrap();
        assert!(
            lost.detail.contains("not in the upload state"),
            "{}",
            lost.detail
        );
        let changed = durable_ack(&trace(vec![1, 2], ["h1", "xx"])).unwrap();
        assert!(
            changed.detail.contains("differ from the source"),
            "{}",
            changed.detail
        );
        assert_eq!(durable_ack(&trace(vec![1, 2], ["h1", "h2"])), None);
    }
}
