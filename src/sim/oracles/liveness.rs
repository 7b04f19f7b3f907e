//! The `liveness` oracle: every action finished, and nothing stalled once the faults were over.

use super::*;
use crate::trace::{Event, Record};
use std::collections::{BTreeMap, BTreeSet};

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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::ids;
    use crate::sim::oracles::testing::*;

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
}
