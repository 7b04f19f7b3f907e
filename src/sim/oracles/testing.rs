//! Trace builders shared by the oracles' tests.

use crate::protocol::codes::{msg_type, status};
use crate::protocol::ids;
use crate::trace::{Dir, Event, Record};

pub fn at(t_ms: u64, host: &str, event: Event) -> Record {
    Record {
        t_ms,
        host: host.into(),
        event,
    }
}

pub fn chunk_frame(dir: Dir, id: u16, file: &str, seq: u32) -> Event {
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

pub fn upload(file: &str) -> Vec<Record> {
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

pub fn final_message(status: i32) -> Record {
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

/// User 1 sends text `u` to user 2.
pub fn text_sent(u: &str, content: &str) -> Record {
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

pub fn text_stored(u: &str) -> Record {
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

pub fn text_acked(u: &str) -> Record {
    at(
        3,
        "user1",
        Event::TextAcked {
            unique_id: u.into(),
            message_id: 1,
        },
    )
}

pub fn text_received(u: &str, content: &str) -> Record {
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

pub fn text_message(message_id: i64, kind: i32, content: &str) -> Record {
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

pub fn stored(path: &str, owner: i32, writer: Option<i32>) -> Record {
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

pub fn binding_trace(downloaded_md5: &str, pushed_from: i32) -> Vec<Record> {
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

pub fn action(finished_ms: Option<u64>, longest_stall_ms: u64) -> Record {
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

pub fn sent(file: &str, seq: u32) -> Record {
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

pub fn acked(file: &str, seq: u32, error: i32) -> Record {
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
