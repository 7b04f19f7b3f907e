//! The `window` oracle: at most `MAX_CWND` chunks in flight per client.

use super::*;
use crate::protocol::{ids, MAX_CWND};
use crate::trace::{Dir, Event, Record};
use std::collections::{BTreeMap, BTreeSet};

/// One client's window as the `window` oracle follows it.
#[derive(Default)]
struct ClientWindow<'a> {
    /// The adaptive window's current size (`window_changed`); `None` keeps the fixed `MAX_CWND`.
    adaptive: Option<usize>,
    /// Chunks in flight by the client's books after its last chunk event.
    books: usize,
    /// The peer its chunk requests go to, and the (file, seq) unanswered on the wire.
    peer: Option<&'a str>,
    outstanding: BTreeSet<(&'a str, u32)>,
}

impl ClientWindow<'_> {
    /// Whether `in_flight` chunks break the window. The fixed window holds at every send; the
    /// adaptive one may shrink below what is already in flight, so it holds at every send that
    /// adds to the flight (a timeout's resend of a chunk in flight adds nothing).
    fn over(&self, in_flight: usize, adds: bool) -> Option<String> {
        match self.adaptive {
            None => (in_flight > MAX_CWND).then(|| format!("over {MAX_CWND}")),
            Some(size) => {
                (adds && in_flight > size).then(|| format!("over its adaptive window of {size}"))
            }
        }
    }
}

/// At most `MAX_CWND` chunks in flight per client, or with the adaptive window at most its current
/// size (by the client's own `window_changed`): by the client's own books (`chunk_sent`) and by
/// the frames it put on the wire minus the replies it took off.
pub fn window(records: &[Record]) -> Option<Violation> {
    let mut clients: BTreeMap<&str, ClientWindow> = BTreeMap::new();
    for record in records {
        let client = clients.entry(&record.host).or_default();
        match &record.event {
            Event::WindowChanged { window, .. } => client.adaptive = Some(*window),
            Event::ChunkAcked { in_flight, .. } => client.books = *in_flight,
            Event::ChunkSent { in_flight, .. } => {
                let adds = *in_flight > client.books;
                client.books = *in_flight;
                if let Some(over) = client.over(*in_flight, adds) {
                    return Some(violation(
                        record,
                        format!("{in_flight} chunks in flight by the client's books, {over}"),
                    ));
                }
            }
            Event::Frame {
                dir,
                peer,
                id,
                file: Some(file),
                seq: Some(seq),
                ..
            } => {
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
                if *dir == Dir::Tx && is_request {
                    client.peer = Some(peer);
                    let adds = client.outstanding.insert((file, *seq));
                    let unanswered = client.outstanding.len();
                    if let Some(over) = client.over(unanswered, adds) {
                        return Some(violation(
                            record,
                            format!("{unanswered} chunks on the wire without a reply, {over}"),
                        ));
                    }
                } else if *dir == Dir::Rx && is_reply {
                    client.outstanding.remove(&(file.as_str(), *seq));
                }
            }
            Event::ConnClosed { peer, .. } if client.peer == Some(peer.as_str()) => {
                // Requests on a dead connection will never be answered; they leave the window.
                client.outstanding.clear();
                client.books = 0;
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
    fn window_judges_an_adaptive_client_by_its_own_current_window() {
        let sent = |t: u64, seq: u32, in_flight: usize, retransmit: bool| {
            at(
                t,
                "user1",
                Event::ChunkSent {
                    file: "a".into(),
                    seq,
                    id: ids::IMG_CHAT_UPLOAD_REQ,
                    in_flight,
                    retransmit,
                },
            )
        };
        let size = |t: u64, window: usize| {
            at(
                t,
                "user1",
                Event::WindowChanged {
                    window,
                    reason: "grow",
                },
            )
        };
        // Twelve in flight is within a window grown to 12.
        let mut trace = vec![size(1, 12)];
        trace.extend((1..=12).map(|seq| sent(u64::from(seq) + 1, seq, seq as usize, false)));
        assert_eq!(window(&trace), None);
        // The window shrinks to 8: a timeout's resend of a chunk in flight adds nothing and holds,
        trace.push(size(20, 8));
        trace.push(sent(21, 3, 12, true));
        assert_eq!(window(&trace), None);
        // but a new chunk while 12 are in flight breaks it.
        trace.push(sent(22, 13, 13, false));
        let broken = window(&trace).expect("13 in flight over a window of 8");
        assert_eq!(broken.t_ms, 22);
        assert!(
            broken.detail.contains("over its adaptive window of 8"),
            "{}",
            broken.detail
        );
        // Without `window_changed` the client is judged by the fixed ceiling.
        let fixed: Vec<Record> = (1..=6)
            .map(|seq| sent(u64::from(seq), seq, seq as usize, false))
            .collect();
        assert_eq!(window(&fixed).unwrap().t_ms, 6);
        // On the wire: a window of 2 and a third request unanswered.
        let mut wire = vec![size(0, 2)];
        wire.extend((1..=3).map(|seq| {
            at(
                u64::from(seq),
                "user1",
                chunk_frame(Dir::Tx, ids::IMG_CHAT_UPLOAD_REQ, "a", seq),
            )
        }));
        let broken = window(&wire).expect("3 unanswered over a window of 2");
        assert_eq!(broken.t_ms, 3);
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
                    chunk_frame(Dir::Tx, ids::IMG_CHAT_UPLOAD_REQ, "a", seq),
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
                chunk_frame(Dir::Rx, ids::IMG_CHAT_UPLOAD_RSP, "a", 1),
            ),
        );
        assert_eq!(window(&wire), None);
    }
}
