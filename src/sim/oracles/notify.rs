//! The `notify` oracle: both parties are told of a committed upload exactly once.

use super::*;
use crate::protocol::codes::{msg_type, status};
use crate::trace::{Event, Record};
use std::collections::{BTreeMap, BTreeSet};

/// Each committed upload tells the sender and the receiver exactly once, and its message ends as
/// an uploaded PIC; nobody is told of an upload the server never committed.
pub fn notify(records: &[Record]) -> Option<Violation> {
    judge(records, &mut Vec::new())
}

/// [`notify`], noting in `unjudged` each committed upload it could not follow.
pub(super) fn judge(records: &[Record], unjudged: &mut Vec<String>) -> Option<Violation> {
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
            unjudged.push(format!(
                "the commit of {file}: no user queued a file of that name, so who must be told \
                 is unknown"
            ));
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
            unjudged.push(format!(
                "the message of {file}: it was never announced, so its final status is unknown"
            ));
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sim::oracles::testing::*;

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

    /// A commit of a file no user queued cannot say who had to be told: said, not passed.
    #[test]
    fn notify_says_which_commits_it_could_not_judge() {
        let mut unjudged = Vec::new();
        let orphan: Vec<Record> = upload("a").into_iter().skip(2).collect();
        assert_eq!(judge(&orphan, &mut unjudged), None);
        assert_eq!(unjudged.len(), 1, "{unjudged:?}");
        assert!(
            unjudged[0].contains("no user queued a file"),
            "{unjudged:?}"
        );
    }
}
