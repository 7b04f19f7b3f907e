//! Message ids (docs/protocol.md section 2) and the extensions of this project (from 1049 up).

pub const CHAT_LOGIN: u16 = 1005;
pub const CHAT_LOGIN_RSP: u16 = 1006;
pub const TEXT_CHAT_MSG_REQ: u16 = 1017;
pub const TEXT_CHAT_MSG_RSP: u16 = 1018;
pub const NOTIFY_TEXT_CHAT_MSG_REQ: u16 = 1019;
pub const HEART_BEAT_REQ: u16 = 1023;
pub const HEARTBEAT_RSP: u16 = 1024;
pub const UPLOAD_HEAD_ICON_REQ: u16 = 1031;
pub const UPLOAD_HEAD_ICON_RSP: u16 = 1032;
pub const IMG_CHAT_MSG_REQ: u16 = 1035;
pub const IMG_CHAT_MSG_RSP: u16 = 1036;
pub const IMG_CHAT_UPLOAD_REQ: u16 = 1037;
pub const IMG_CHAT_UPLOAD_RSP: u16 = 1038;
pub const NOTIFY_IMG_CHAT_MSG_REQ: u16 = 1039;
pub const FILE_INFO_SYNC_REQ: u16 = 1041;
pub const FILE_INFO_SYNC_RSP: u16 = 1042;
pub const IMG_CHAT_CONTINUE_UPLOAD_REQ: u16 = 1043;
pub const IMG_CHAT_CONTINUE_UPLOAD_RSP: u16 = 1044;
pub const IMG_CHAT_DOWN_INFO_SYNC_REQ: u16 = 1045;
pub const IMG_CHAT_DOWN_INFO_SYNC_RSP: u16 = 1046;
pub const IMG_CHAT_DOWN_REQ: u16 = 1047;
pub const IMG_CHAT_DOWN_RSP: u16 = 1048;

/// Extension: the chat server tells the *sender* that its upload finished. Upstream's design says
/// both parties are told but never names the sender's message; this project uses its own id so an
/// upstream client that does not know it simply ignores it. Body: the same as 1039.
pub const NOTIFY_IMG_UPLOADED: u16 = 1049;

/// Extension: "which chunks of this upload do you already hold?" A client sends it after a
/// reconnect and then sends only the rest. Body: [`crate::protocol::body::UploadStatusReq`].
pub const UPLOAD_STATUS_REQ: u16 = 1051;
/// Extension: the answer to 1051. Body: [`crate::protocol::body::UploadStatusRsp`].
pub const UPLOAD_STATUS_RSP: u16 = 1052;

/// Extension: the client acknowledges a push (1019, 1039, 1049). Only clients that announce
/// `push_ack` at login send it; the chat server then keeps each push until it is acknowledged,
/// sends the next only then (so pushes arrive in order), and sends it again after a reconnect or
/// a timeout. Body: [`crate::protocol::body::PushAck`].
pub const PUSH_ACK: u16 = 1053;

/// The reply id that answers a request id, where the protocol has one.
pub fn reply_to(request: u16) -> Option<u16> {
    Some(match request {
        CHAT_LOGIN => CHAT_LOGIN_RSP,
        TEXT_CHAT_MSG_REQ => TEXT_CHAT_MSG_RSP,
        HEART_BEAT_REQ => HEARTBEAT_RSP,
        UPLOAD_HEAD_ICON_REQ => UPLOAD_HEAD_ICON_RSP,
        IMG_CHAT_MSG_REQ => IMG_CHAT_MSG_RSP,
        IMG_CHAT_UPLOAD_REQ => IMG_CHAT_UPLOAD_RSP,
        FILE_INFO_SYNC_REQ => FILE_INFO_SYNC_RSP,
        IMG_CHAT_CONTINUE_UPLOAD_REQ => IMG_CHAT_CONTINUE_UPLOAD_RSP,
        IMG_CHAT_DOWN_INFO_SYNC_REQ => IMG_CHAT_DOWN_INFO_SYNC_RSP,
        IMG_CHAT_DOWN_REQ => IMG_CHAT_DOWN_RSP,
        UPLOAD_STATUS_REQ => UPLOAD_STATUS_RSP,
        _ => return None,
    })
}

/// A short readable name for traces and reports.
pub fn name(id: u16) -> &'static str {
    match id {
        CHAT_LOGIN => "login",
        CHAT_LOGIN_RSP => "login_rsp",
        TEXT_CHAT_MSG_REQ => "text",
        TEXT_CHAT_MSG_RSP => "text_rsp",
        NOTIFY_TEXT_CHAT_MSG_REQ => "text_push",
        HEART_BEAT_REQ => "heartbeat",
        HEARTBEAT_RSP => "heartbeat_rsp",
        UPLOAD_HEAD_ICON_REQ => "head_icon",
        UPLOAD_HEAD_ICON_RSP => "head_icon_rsp",
        IMG_CHAT_MSG_REQ => "img_msg",
        IMG_CHAT_MSG_RSP => "img_msg_rsp",
        IMG_CHAT_UPLOAD_REQ => "chunk",
        IMG_CHAT_UPLOAD_RSP => "chunk_rsp",
        NOTIFY_IMG_CHAT_MSG_REQ => "img_push",
        FILE_INFO_SYNC_REQ => "first_chunk",
        FILE_INFO_SYNC_RSP => "first_chunk_rsp",
        IMG_CHAT_CONTINUE_UPLOAD_REQ => "resume_chunk",
        IMG_CHAT_CONTINUE_UPLOAD_RSP => "resume_chunk_rsp",
        IMG_CHAT_DOWN_INFO_SYNC_REQ => "down_info",
        IMG_CHAT_DOWN_INFO_SYNC_RSP => "down_info_rsp",
        IMG_CHAT_DOWN_REQ => "down_chunk",
        IMG_CHAT_DOWN_RSP => "down_chunk_rsp",
        NOTIFY_IMG_UPLOADED => "img_uploaded",
        UPLOAD_STATUS_REQ => "upload_status",
        UPLOAD_STATUS_RSP => "upload_status_rsp",
        PUSH_ACK => "push_ack",
        _ => "unknown",
    }
}

/// What a message is part of: the chat server's traffic (login, texts, heartbeats, pushes), an
/// upload to the resource server (chunks, the head icon, the upload status) or a download from it.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Debug)]
pub enum Area {
    Chat,
    Upload,
    Download,
}

/// Every message id this project knows, with its area; [`name`] names exactly these.
pub const ALL: &[(u16, Area)] = &[
    (CHAT_LOGIN, Area::Chat),
    (CHAT_LOGIN_RSP, Area::Chat),
    (TEXT_CHAT_MSG_REQ, Area::Chat),
    (TEXT_CHAT_MSG_RSP, Area::Chat),
    (NOTIFY_TEXT_CHAT_MSG_REQ, Area::Chat),
    (HEART_BEAT_REQ, Area::Chat),
    (HEARTBEAT_RSP, Area::Chat),
    (UPLOAD_HEAD_ICON_REQ, Area::Upload),
    (UPLOAD_HEAD_ICON_RSP, Area::Upload),
    (IMG_CHAT_MSG_REQ, Area::Chat),
    (IMG_CHAT_MSG_RSP, Area::Chat),
    (IMG_CHAT_UPLOAD_REQ, Area::Upload),
    (IMG_CHAT_UPLOAD_RSP, Area::Upload),
    (NOTIFY_IMG_CHAT_MSG_REQ, Area::Chat),
    (FILE_INFO_SYNC_REQ, Area::Upload),
    (FILE_INFO_SYNC_RSP, Area::Upload),
    (IMG_CHAT_CONTINUE_UPLOAD_REQ, Area::Upload),
    (IMG_CHAT_CONTINUE_UPLOAD_RSP, Area::Upload),
    (IMG_CHAT_DOWN_INFO_SYNC_REQ, Area::Download),
    (IMG_CHAT_DOWN_INFO_SYNC_RSP, Area::Download),
    (IMG_CHAT_DOWN_REQ, Area::Download),
    (IMG_CHAT_DOWN_RSP, Area::Download),
    (NOTIFY_IMG_UPLOADED, Area::Chat),
    (UPLOAD_STATUS_REQ, Area::Upload),
    (UPLOAD_STATUS_RSP, Area::Upload),
    (PUSH_ACK, Area::Chat),
];

/// The area of a known id; `None` for an id this project does not know.
pub fn area(id: u16) -> Option<Area> {
    ALL.iter().find(|(known, _)| *known == id).map(|(_, a)| *a)
}

/// Whether `id` answers a request (by [`reply_to`]).
pub fn is_reply(id: u16) -> bool {
    ALL.iter()
        .any(|&(request, _)| reply_to(request) == Some(id))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_named_id_has_an_area_and_only_those() {
        for id in 0..=u16::MAX {
            assert_eq!(name(id) != "unknown", area(id).is_some(), "id {id}");
        }
    }

    #[test]
    fn requests_and_replies_share_an_area() {
        for &(request, a) in ALL {
            if let Some(reply) = reply_to(request) {
                assert_eq!(area(reply), Some(a), "{request} -> {reply}");
                assert!(is_reply(reply) && !is_reply(request));
            }
        }
    }
}
