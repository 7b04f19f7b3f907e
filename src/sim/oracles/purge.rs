//! The `purge` oracle: an error reply purges only its own file.

use super::*;
use crate::trace::{Event, Record};
use std::collections::{BTreeMap, BTreeSet};

/// After an error reply for file A, no chunk of A is sent until A is retried or resumed, and every
/// other file of the same client that was still under way keeps moving, unless its user cancels it.
/// A file its sender was told is uploaded (1049) is no longer under way, even if a reply to one of
/// its chunks is still on the wire (explore seed 6560: a delayed 1038).
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
            | Event::UploadNotified { file, .. }
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
                    | Event::UploadCancelled { file: f } | Event::UploadNotified { file: f, .. }
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sim::oracles::testing::*;
    use crate::trace::RetryScope;

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
        // b's sender was told b is uploaded before a's error: b owes no more movement.
        let told = at(
            5,
            "user1",
            Event::UploadNotified {
                file: "b".into(),
                message_id: 2,
            },
        );
        let b_done = [sent("a", 1), sent("b", 1), told, acked("a", 1, 1018)];
        assert_eq!(purge(&b_done), None);
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
                    scope: RetryScope::Chunk,
                },
            ),
            sent("a", 1),
            acked("b", 1, 0),
        ];
        assert_eq!(purge(&retried), None);
        // Both refused (disk full), both waiting for their retry; the user cancels a before it is
        // sent again (explore seed 61): a never had to move.
        let cancelled = [
            sent("a", 1),
            sent("b", 1),
            acked("a", 1, 1015),
            acked("b", 1, 1015),
            at(20, "user1", Event::UploadCancelled { file: "a".into() }),
        ];
        assert_eq!(purge(&cancelled), None);
    }
}
