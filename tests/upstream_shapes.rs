//! Bodies as the upstream C++ servers write them (jsoncpp `toStyledString`: sorted keys, three
//! spaces of indent, `" : "`), with the field types of the seed's code and docs/protocol.md section 4,
//! decode into our types; and the reference servers answer with the JSON types the upstream Qt
//! client reads (`is_last` a bool, sizes strings), whatever form the request used.

use chatsim::conform::{self, ChunkKind, Conn, Upload};
use chatsim::profile::Profile;
use chatsim::protocol::body::{
    ChunkRsp, DownChunkRsp, DownInfoRsp, ImgMsgRsp, ImgUploadedNotify, LoginRsp, TextRsp,
};
use chatsim::protocol::{ids, Frame, Framing, WireSize};
use chatsim::serve::{Background, ServeConfig};
use std::time::Duration;

/// 1048 as upstream's resource server writes it: a C++ `bool` for `is_last`, sizes as strings.
const DOWN_CHUNK_LAST: &str = r#"{
   "current_size" : "40000",
   "data" : "aGVsbG8=",
   "error" : 0,
   "is_last" : true,
   "name" : "cat.png",
   "receiver_id" : 2,
   "sender_id" : 1,
   "seq" : 2,
   "total_size" : "40000"
}
"#;

const DOWN_CHUNK_MIDDLE: &str = r#"{
   "current_size" : "32768",
   "data" : "aGVsbG8=",
   "error" : 0,
   "is_last" : false,
   "name" : "cat.png",
   "receiver_id" : 2,
   "sender_id" : 1,
   "seq" : 1,
   "total_size" : "40000"
}
"#;

/// 1046: `total_size` a string.
const DOWN_INFO: &str = r#"{
   "error" : 0,
   "message_id" : 17,
   "msg_type" : 1,
   "name" : "cat.png",
   "recv_id" : 2,
   "sender_id" : 1,
   "status" : 2,
   "thread_id" : 3,
   "total_size" : "40000"
}
"#;

/// 1039: `total_size` a string.
const UPLOAD_PUSH: &str = r#"{
   "error" : 0,
   "img_name" : "cat.png",
   "message_id" : 17,
   "receiver_id" : 2,
   "sender_id" : 1,
   "thread_id" : 3,
   "total_size" : "40000"
}
"#;

/// 1042 as the seed's `callback` in `LogicWorker::RegisterCallBacks` fills it: the sizes were read
/// with `asInt()`, so they go back as numbers; `last` an int; no sender/receiver.
const FIRST_CHUNK_ACK: &str = r#"{
   "error" : 0,
   "last" : 0,
   "md5" : "5d41402abc4b2a76b9719d911017c592",
   "name" : "cat.png",
   "seq" : 1,
   "total_size" : 40000,
   "trans_size" : 32768,
   "uid" : 1
}
"#;

/// 1036 as `LogicSystem::DealChatImgMsg` fills it, plus the message id of docs/protocol.md.
const IMAGE_MESSAGE_ACK: &str = r#"{
   "chat_time" : "2025-11-14 21:16:32",
   "error" : 0,
   "fromuid" : 1,
   "md5" : "5d41402abc4b2a76b9719d911017c592",
   "message_id" : 17,
   "status" : 3,
   "thread_id" : 3,
   "touid" : 2,
   "unique_id" : "u-1",
   "unique_name" : "cat.png"
}
"#;

/// 1006 with the fields the upstream client reads.
const LOGIN_REPLY: &str = r#"{
   "apply_list" : [],
   "desc" : "",
   "error" : 0,
   "friend_list" : [],
   "icon" : ":/res/head_1.jpg",
   "name" : "alice",
   "nick" : "alice",
   "sex" : 0,
   "token" : "token-1",
   "uid" : 1
}
"#;

/// 1018 with one item.
const TEXT_ACK: &str = r#"{
   "chat_datas" : [
      {
         "chat_time" : "2025-11-14 21:16:32",
         "content" : "hello",
         "message_id" : 18,
         "status" : 0,
         "unique_id" : "u-2"
      }
   ],
   "error" : 0,
   "fromuid" : 1,
   "thread_id" : 3,
   "touid" : 2
}
"#;

#[test]
fn upstream_download_chunks_decode_with_is_last_a_bool() {
    let last: DownChunkRsp = serde_json::from_str(DOWN_CHUNK_LAST).expect("1048 decodes");
    assert!(last.is_last);
    assert_eq!(last.total_size, WireSize::string(40_000));
    assert_eq!(last.current_size, WireSize::string(40_000));
    let middle: DownChunkRsp = serde_json::from_str(DOWN_CHUNK_MIDDLE).expect("1048 decodes");
    assert!(!middle.is_last);
    // Our own servers wrote a number before; a client reading both keeps working with them.
    let old = DOWN_CHUNK_LAST.replace("\"is_last\" : true", "\"is_last\" : 1");
    assert!(serde_json::from_str::<DownChunkRsp>(&old).unwrap().is_last);
}

#[test]
fn upstream_replies_and_pushes_decode() {
    let info: DownInfoRsp = serde_json::from_str(DOWN_INFO).expect("1046 decodes");
    assert_eq!(info.total_size, WireSize::string(40_000));
    assert!(info.md5.is_empty());
    let push: ImgUploadedNotify = serde_json::from_str(UPLOAD_PUSH).expect("1039 decodes");
    assert_eq!(push.total_size.value, 40_000);
    let no_error = UPLOAD_PUSH.replace("   \"error\" : 0,\n", "");
    serde_json::from_str::<ImgUploadedNotify>(&no_error).expect("1039 without error decodes");
    let ack: ChunkRsp = serde_json::from_str(FIRST_CHUNK_ACK).expect("1042 decodes");
    assert_eq!((ack.seq, ack.name.as_str()), (1, "cat.png"));
    assert_eq!(ack.total_size, Some(WireSize::number(40_000)));
    let img: ImgMsgRsp = serde_json::from_str(IMAGE_MESSAGE_ACK).expect("1036 decodes");
    assert_eq!(img.message_id, 17);
    let login: LoginRsp = serde_json::from_str(LOGIN_REPLY).expect("1006 decodes");
    assert_eq!(login.uid, 1);
    let text: TextRsp = serde_json::from_str(TEXT_ACK).expect("1018 decodes");
    assert_eq!(text.chat_datas[0].message_id, 18);
}

#[test]
fn upstream_shaped_bodies_have_the_types_the_upstream_client_reads() {
    for (id, body) in [
        (ids::IMG_CHAT_DOWN_RSP, DOWN_CHUNK_LAST),
        (ids::IMG_CHAT_DOWN_INFO_SYNC_RSP, DOWN_INFO),
        (ids::NOTIFY_IMG_CHAT_MSG_REQ, UPLOAD_PUSH),
        (ids::FILE_INFO_SYNC_RSP, FIRST_CHUNK_ACK),
        (ids::IMG_CHAT_MSG_RSP, IMAGE_MESSAGE_ACK),
        (ids::CHAT_LOGIN_RSP, LOGIN_REPLY),
        (ids::TEXT_CHAT_MSG_RSP, TEXT_ACK),
    ] {
        let value: serde_json::Value = serde_json::from_str(body).unwrap();
        let broken = conform::types::check_reply(id, &value);
        assert!(broken.is_empty(), "{id}: {broken:?}");
    }
}

#[test]
fn our_bodies_encode_in_the_types_the_upstream_client_reads() {
    let rsp = DownChunkRsp {
        error: 0,
        data: String::new(),
        seq: 2,
        total_size: WireSize::string(5),
        current_size: WireSize::string(5),
        is_last: true,
        name: "a".into(),
        sender_id: 1,
        receiver_id: 2,
    };
    let value = serde_json::to_value(&rsp).unwrap();
    assert_eq!(value["is_last"], serde_json::Value::Bool(true));
    assert!(conform::types::check_reply(ids::IMG_CHAT_DOWN_RSP, &value).is_empty());
}

/// The reference resource server's 1048 and 1046, asked with sizes as numbers (as the 1043 form
/// is), still answer with a bool and strings.
#[test]
fn the_reference_server_answers_downloads_in_upstream_client_types() {
    let dir = std::env::temp_dir().join(format!("chatsim-shapes-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let mut config = ServeConfig::new(&dir);
    config.chat_addr = "127.0.0.1:0".into();
    config.resource_addr = "127.0.0.1:0".into();
    config.grpc_addr = "127.0.0.1:0".into();
    config.profile = Profile::reference();
    let name = format!("shapes-{}.bin", std::process::id());
    let message_id = image_message(&dir, &name);
    let servers = Background::start(config).expect("the servers start");
    let addr = servers.addrs().resource.clone();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let replies = runtime.block_on(exchange(&addr, name, message_id));
    drop(servers);
    let _ = std::fs::remove_dir_all(&dir);
    for (id, body) in &replies {
        let broken = conform::types::check_reply(*id, body);
        assert!(broken.is_empty(), "{id} {body}: {broken:?}");
    }
    let last = &replies[1].1;
    assert_eq!(last["is_last"], serde_json::Value::Bool(true), "{last}");
    assert_eq!(replies[0].1["is_last"], serde_json::Value::Bool(false));
}

/// The image message from uid 1 to uid 2 that the upload is for, stored as the chat server
/// would on a 1035 (the resource server binds each upload to its message).
fn image_message(dir: &std::path::Path, name: &str) -> i64 {
    use chatsim::protocol::codes::{msg_type, status};
    use chatsim::store::{MessageStore, NewMessage, SqliteDb};
    std::fs::create_dir_all(dir).unwrap();
    let db = SqliteDb::open(&dir.join(chatsim::serve::DB_FILE)).unwrap();
    db.messages()
        .insert(NewMessage {
            thread_id: 1,
            sender_id: 1,
            recv_id: 2,
            content: name.to_owned(),
            status: status::UN_UPLOAD,
            msg_type: msg_type::PIC,
            created_at: String::new(),
        })
        .unwrap()
}

/// Uploads a two-chunk file, then downloads it with number sizes; returns the two 1048 bodies.
async fn exchange(addr: &str, name: String, message_id: i64) -> Vec<(u16, serde_json::Value)> {
    let user = chatsim::serve::demo_users().iter().next().cloned().unwrap();
    let upload = Upload::new(
        name,
        conform::file_bytes("shapes", 40_000),
        message_id,
        &user,
        2,
    );
    let transcript = conform::Transcript::default();
    let mut conn = Conn::connect(
        addr,
        Framing::Resource,
        "shapes".into(),
        transcript,
        Duration::from_secs(3),
    )
    .await
    .expect("connected");
    for seq in 1..=2 {
        conn.send(&upload.send(seq, ChunkKind::Normal).frame)
            .await
            .unwrap();
        let ack = conn.recv("an ack").await.unwrap();
        let body: serde_json::Value = serde_json::from_slice(&ack.body).unwrap();
        assert_eq!(body["error"], 0, "{body}");
    }
    let mut replies = Vec::new();
    for seq in 1..=2u32 {
        let req = serde_json::json!({
            "name": upload.name, "seq": seq, "trans_size": 0, "total_size": 40_000,
            "token": user.token, "sender_id": 1, "receiver_id": 2, "message_id": message_id, "uid": 1,
        });
        conn.send(&Frame::new(ids::IMG_CHAT_DOWN_REQ, req.to_string()))
            .await
            .unwrap();
        let reply = conn.recv("a 1048").await.unwrap();
        replies.push((
            reply.id,
            serde_json::from_slice::<serde_json::Value>(&reply.body).unwrap(),
        ));
    }
    replies
}
