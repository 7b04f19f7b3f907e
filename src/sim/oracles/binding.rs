//! The `binding` oracle: a picture told of and downloaded is the one its sender uploaded for that message.

use super::*;
use crate::trace::{Event, Record};
use std::collections::BTreeMap;

/// Every picture a receiver is told of and downloads is the file its sender uploaded for that very
/// message: the 1039 push and the download of message `m` go to `m`'s receiver, name `m`'s file
/// and sender, and the bytes downloaded are that file's source (not another upload that claimed
/// the message id).
pub fn binding(records: &[Record]) -> Option<Violation> {
    judge(records, &mut Vec::new())
}

/// [`binding`], noting in `unjudged` each download it could not check.
pub(super) fn judge(records: &[Record], unjudged: &mut Vec<String>) -> Option<Violation> {
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
                    unjudged.push(format!(
                        "the download of {file} as message {message_id}: no image message \
                         {message_id} was stored"
                    ));
                    continue;
                };
                let Some(&want) = sources.get(name) else {
                    unjudged.push(format!(
                        "the download of message {message_id}: no user sent a file named {name}"
                    ));
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sim::oracles::testing::*;

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

    /// A download it cannot compare with a source is said, not passed in silence.
    #[test]
    fn binding_says_which_downloads_it_could_not_judge() {
        let mut trace = binding_trace("aaaa", 1);
        trace.retain(|r| !matches!(&r.event, Event::SourceFile { file, .. } if file == "cat.png"));
        let mut unjudged = Vec::new();
        assert_eq!(judge(&trace, &mut unjudged), None);
        assert_eq!(
            unjudged,
            ["the download of message 7: no user sent a file named cat.png"]
        );
        let mut unjudged = Vec::new();
        assert_eq!(judge(&binding_trace("aaaa", 1), &mut unjudged), None);
        assert!(unjudged.is_empty(), "{unjudged:?}");
    }
}
