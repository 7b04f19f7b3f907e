//! The `durable_ack` oracle: every acked chunk is durable.

use super::*;
use crate::trace::{Event, Record};
use std::collections::{BTreeMap, BTreeSet};

/// Every chunk acked to a client is, at the end, listed as stored and holds the source's bytes.
/// Only a file the server rejected on purpose (`upload_rejected`, e.g. an md5 mismatch that
/// discards it) may have lost its record, and a chunk acked before its upload expired
/// (`upload_expired`, idle past the TTL); any other acked upload the server no longer holds fails.
/// A chunk the proxy corrupted on its way up must be held, but may hold the corrupted bytes: the
/// server stores what it received and only the md5 at completion can tell (explore seed 3737: the
/// upload failed on a full disk before it completed).
pub fn durable_ack(records: &[Record]) -> Option<Violation> {
    judge(records, &mut Vec::new())
}

/// [`durable_ack`], noting in `unjudged` each acked file whose bytes it could not compare.
pub(super) fn judge(records: &[Record], unjudged: &mut Vec<String>) -> Option<Violation> {
    let sources = source_chunk_hashes(records);
    let corrupted = corrupted_on_the_way_up(records);
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
            let note = format!("acked chunks of {file}: no user sent a file of that name");
            if !unjudged.contains(&note) {
                unjudged.push(note);
            }
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
        let corrupted = corrupted.contains(&(file.to_lowercase(), *seq));
        if stored.get(index) != source.get(index) && !corrupted {
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

/// The (file, seq) of chunk requests the proxy corrupted on their way to the server, from its
/// `frame_corrupt` faults ("up <id> <file> seq <n>", lowercased by the proxy's `describe`).
fn corrupted_on_the_way_up(records: &[Record]) -> BTreeSet<(String, u32)> {
    records
        .iter()
        .filter_map(|r| match &r.event {
            Event::Fault { kind, detail } if kind == "frame_corrupt" => {
                let (_id, rest) = detail.strip_prefix("up ")?.split_once(' ')?;
                let (file, seq) = rest.rsplit_once(" seq ")?;
                Some((file.to_owned(), seq.parse().ok()?))
            }
            _ => None,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sim::oracles::testing::*;

    #[test]
    fn durable_ack_catches_a_whole_acked_upload_that_vanished_unless_rejected() {
        let source = one_chunk_source("a");
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
        let source = one_chunk_source("a");
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
        // Corrupted on the wire: held with the corrupted bytes is what a server can do; not held
        // is still a violation. Corrupting another seq, or a download, excuses nothing.
        let corrupt = |detail: &str| {
            at(
                5,
                "user1",
                Event::Fault {
                    kind: "frame_corrupt".into(),
                    detail: detail.into(),
                },
            )
        };
        let with = |fault: Record, received: Vec<u32>, stored| {
            let mut t = trace(received, stored);
            t.insert(1, fault);
            durable_ack(&t)
        };
        assert_eq!(
            with(corrupt("up 1037 a seq 2"), vec![1, 2], ["h1", "xx"]),
            None
        );
        assert!(with(corrupt("up 1037 a seq 2"), vec![1], ["h1", "h2"]).is_some());
        assert!(with(corrupt("up 1037 a seq 1"), vec![1, 2], ["h1", "xx"]).is_some());
        assert!(with(corrupt("down 1048 a seq 2"), vec![1, 2], ["h1", "xx"]).is_some());
    }

    /// The source of a one-chunk file `file`, as the world records it.
    fn one_chunk_source(file: &str) -> Record {
        at(
            0,
            "user1",
            Event::SourceFile {
                file: file.into(),
                size: 10,
                md5: "m".into(),
                chunk_hashes: vec!["h1".into()],
            },
        )
    }

    /// Acked chunks of a name no user sent have nothing to be compared with: said, not passed.
    #[test]
    fn durable_ack_says_which_acked_files_it_could_not_judge() {
        let mut unjudged = Vec::new();
        let trace = [acked("../x.png", 1, 0), acked("../x.png", 2, 0)];
        assert_eq!(judge(&trace, &mut unjudged), None);
        assert_eq!(
            unjudged,
            ["acked chunks of ../x.png: no user sent a file of that name"]
        );
    }
}
