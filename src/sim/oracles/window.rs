//! The `window` oracle: at most `MAX_CWND` chunks in flight per client.

use super::*;
use crate::protocol::{ids, MAX_CWND};
use crate::trace::{Event, Record};
use std::collections::{BTreeMap, BTreeSet};

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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sim::oracles::testing::*;

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
}
