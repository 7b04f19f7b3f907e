//! Error codes carried in the `error` field of replies (docs/protocol.md section 4).

use serde::{Deserialize, Serialize};

/// Error codes of the resource server, shared with the chat server where the numbers agree.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(into = "i32", try_from = "i32")]
pub enum ErrorCode {
    Success = 0,
    ErrorJson = 1001,
    RpcFailed = 1002,
    TokenInvalid = 1010,
    UidInvalid = 1011,
    FileNotExists = 1012,
    FileSaveRedisFailed = 1013,
    CreateFilePathFailed = 1014,
    FileWritePermissionFailed = 1015,
    FileReadPermissionFailed = 1016,
    FileSeqInvalid = 1017,
    FileOffsetInvalid = 1018,
    FileReadFailed = 1019,
    RedisReadErr = 1020,
    ServerIpErr = 1021,
    MsgIdErr = 1022,
    /// Extension: all chunks are stored but the md5 of the stored bytes differs from the declared
    /// one. Upstream has no code for this because it never checks (docs/protocol.md section 9, bug 2).
    Md5Mismatch = 1023,
}

impl ErrorCode {
    pub fn code(self) -> i32 {
        self as i32
    }

    pub fn from_code(code: i32) -> Option<Self> {
        use ErrorCode::*;
        Some(match code {
            0 => Success,
            1001 => ErrorJson,
            1002 => RpcFailed,
            1010 => TokenInvalid,
            1011 => UidInvalid,
            1012 => FileNotExists,
            1013 => FileSaveRedisFailed,
            1014 => CreateFilePathFailed,
            1015 => FileWritePermissionFailed,
            1016 => FileReadPermissionFailed,
            1017 => FileSeqInvalid,
            1018 => FileOffsetInvalid,
            1019 => FileReadFailed,
            1020 => RedisReadErr,
            1021 => ServerIpErr,
            1022 => MsgIdErr,
            1023 => Md5Mismatch,
            _ => return None,
        })
    }
}

impl From<ErrorCode> for i32 {
    fn from(code: ErrorCode) -> i32 {
        code.code()
    }
}

impl TryFrom<i32> for ErrorCode {
    type Error = String;
    fn try_from(code: i32) -> Result<Self, String> {
        ErrorCode::from_code(code).ok_or_else(|| format!("unknown error code {code}"))
    }
}

/// Message status values of the chat message table.
pub mod status {
    pub const UN_READ: i32 = 0;
    pub const SEND_FAILED: i32 = 1;
    /// Upstream marks a finished upload with this value.
    pub const READED: i32 = 2;
    pub const UN_UPLOAD: i32 = 3;
}

/// Message types of the chat message table.
pub mod msg_type {
    pub const TEXT: i32 = 0;
    pub const PIC: i32 = 1;
    pub const VIDEO: i32 = 2;
    pub const FILE: i32 = 3;
}
