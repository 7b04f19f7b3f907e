//! The reference servers against hostile or demanding clients, over real TCP on loopback (issue 11):
//! an upload is bound to its chat message, two messages may carry the same file name, a backlog of
//! pushes or requests is delivered in full, and a client that never reads is closed after the write
//! timeout.

use base64::Engine as _;
use chatsim::chat::{ChatConfig, ChatServer};
use chatsim::clock::SystemClock;
use chatsim::net::{Network, TokioNetwork};
use chatsim::protocol::body::{
    ChunkReq, DownChunkReq, DownInfoReq, HeartbeatReq, ImgMsgReq, LoginReq, TextItem, TextReq,
};
use chatsim::protocol::{ids, ChunkPlan, Frame, FrameCodec, Framing, WireSize};
use chatsim::resource::{ResourceConfig, ResourceServer};
use chatsim::serve::{self, ServeConfig};
use chatsim::store::{RealFiles, SqliteDb};
use chatsim::trace::Tracer;
use futures::{SinkExt, StreamExt};
use md5::{Digest, Md5};
use serde_json::Value;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_util::codec::Framed;

const WAIT: Duration = Duration::from_secs(10);

fn data_dir(label: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("chatsim-harden-{label}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

async fn start(label: &str) -> (serve::Servers, String, String) {
    let mut config = ServeConfig::new(data_dir(label));
    config.chat_addr = "127.0.0.1:0".into();
    config.resource_addr = "127.0.0.1:0".into();
    config.grpc_addr = "127.0.0.1:0".into();
    let servers = serve::start(&config).await.expect("the servers start");
    let chat = serve::dialable(&servers.addrs().chat);
    let resource = serve::dialable(&servers.addrs().resource);
    (servers, chat, resource)
}

/// A framed connection to one of the servers.
struct Conn(Framed<TcpStream, FrameCodec>);

impl Conn {
    async fn open(addr: &str, framing: Framing) -> Conn {
        let stream = TcpStream::connect(addr).await.expect("connect");
        Conn(Framed::new(
            stream,
            FrameCodec::with_limit(framing, 1 << 24),
        ))
    }

    async fn send(&mut self, frame: Frame) {
        self.0.send(frame).await.expect("send a frame");
    }

    async fn recv(&mut self) -> Frame {
        chatsim::timer::timeout(WAIT, self.0.next())
            .await
            .expect("a frame in time")
            .expect("the connection is open")
            .expect("a well-formed frame")
    }

    /// Sends `frame` and returns the body of the next frame with id `reply`, skipping pushes.
    async fn ask(&mut self, frame: Frame, reply: u16) -> Value {
        self.send(frame).await;
        loop {
            let got = self.recv().await;
            if got.id == reply {
                return serde_json::from_slice(&got.body).expect("a JSON reply");
            }
        }
    }
}

async fn login(chat: &str, uid: i32) -> Conn {
    let mut conn = Conn::open(chat, Framing::Chat).await;
    let reply = conn
        .ask(
            Frame::json(
                ids::CHAT_LOGIN,
                &LoginReq {
                    uid,
                    token: format!("token-{uid}"),
                    push_ack: false,
                },
            ),
            ids::CHAT_LOGIN_RSP,
        )
        .await;
    assert_eq!(reply["error"], 0, "login of uid {uid}: {reply}");
    conn
}

/// Announces an image (1035) and returns its message id.
async fn announce(conn: &mut Conn, from: i32, to: i32, name: &str, unique_id: &str) -> i64 {
    let reply = conn
        .ask(
            Frame::json(
                ids::IMG_CHAT_MSG_REQ,
                &ImgMsgReq {
                    fromuid: from,
                    touid: to,
                    thread_id: 1,
                    md5: String::new(),
                    name: name.into(),
                    token: format!("token-{from}"),
                    unique_id: unique_id.into(),
                },
            ),
            ids::IMG_CHAT_MSG_RSP,
        )
        .await;
    assert_eq!(reply["error"], 0, "image message {name}: {reply}");
    reply["message_id"].as_i64().expect("a message id")
}

/// An upload of `data` as `name` by `uid`, claiming `message_id` and `receiver`.
struct Upload {
    name: String,
    data: Vec<u8>,
    uid: i32,
    receiver: i32,
    message_id: i64,
}

impl Upload {
    fn new(name: &str, data: Vec<u8>, uid: i32, receiver: i32, message_id: i64) -> Upload {
        Upload {
            name: name.into(),
            data,
            uid,
            receiver,
            message_id,
        }
    }

    fn md5(&self) -> String {
        hex::encode(Md5::digest(&self.data))
    }

    fn chunk(&self, seq: u32) -> Frame {
        let plan = ChunkPlan::new(self.data.len() as u64);
        let range = plan.range(seq).expect("a seq of the file");
        let req = ChunkReq {
            name: self.name.clone(),
            unique_id: None,
            seq,
            trans_size: WireSize::number(range.end),
            total_size: WireSize::number(self.data.len() as u64),
            token: Some(format!("token-{}", self.uid)),
            md5: self.md5(),
            uid: self.uid,
            data: base64::engine::general_purpose::STANDARD
                .encode(&self.data[range.start as usize..range.end as usize]),
            message_id: self.message_id,
            sender: self.uid,
            receiver: self.receiver,
            last: i32::from(plan.is_last(seq)),
            last_seq: Some(plan.max_seq()),
            thread_id: Some(1),
        };
        let id = if seq == 1 {
            ids::FILE_INFO_SYNC_REQ
        } else {
            ids::IMG_CHAT_UPLOAD_REQ
        };
        Frame::json(id, &req)
    }

    /// Sends `seqs` one at a time; returns the error code of each reply.
    async fn send(&self, resource: &str, seqs: impl IntoIterator<Item = u32>) -> Vec<i64> {
        let mut conn = Conn::open(resource, Framing::Resource).await;
        let mut errors = Vec::new();
        for seq in seqs {
            let frame = self.chunk(seq);
            let reply = ids::reply_to(frame.id).unwrap();
            let body = conn.ask(frame, reply).await;
            errors.push(body["error"].as_i64().expect("an error field"));
        }
        errors
    }

    async fn send_all(&self, resource: &str) -> Vec<i64> {
        let max = ChunkPlan::new(self.data.len() as u64).max_seq();
        self.send(resource, 1..=max).await
    }
}

fn bytes(tag: u8, len: usize) -> Vec<u8> {
    (0..len).map(|i| (i as u8).wrapping_mul(31) ^ tag).collect()
}

async fn download_info(resource: &str, message_id: i64) -> Value {
    let mut conn = Conn::open(resource, Framing::Resource).await;
    conn.ask(
        Frame::json(
            ids::IMG_CHAT_DOWN_INFO_SYNC_REQ,
            &DownInfoReq { message_id },
        ),
        ids::IMG_CHAT_DOWN_INFO_SYNC_RSP,
    )
    .await
}

/// Downloads message `message_id`'s file as `uid` with 1047 and returns its bytes.
async fn download(resource: &str, uid: i32, message_id: i64, info: &Value) -> Vec<u8> {
    let mut conn = Conn::open(resource, Framing::Resource).await;
    let total = info["total_size"]
        .as_str()
        .and_then(|s| s.parse::<u64>().ok())
        .expect("a total size in 1046");
    let mut out = Vec::new();
    for seq in 1..=ChunkPlan::new(total).max_seq() {
        let req = DownChunkReq {
            name: info["name"].as_str().unwrap().to_owned(),
            seq,
            trans_size: WireSize::string(0),
            total_size: WireSize::string(total),
            token: format!("token-{uid}"),
            sender_id: info["sender_id"].as_i64().unwrap() as i32,
            receiver_id: info["recv_id"].as_i64().unwrap() as i32,
            message_id,
            uid,
        };
        let reply = conn
            .ask(
                Frame::json(ids::IMG_CHAT_DOWN_REQ, &req),
                ids::IMG_CHAT_DOWN_RSP,
            )
            .await;
        assert_eq!(reply["error"], 0, "download seq {seq}: {reply}");
        out.extend(
            base64::engine::general_purpose::STANDARD
                .decode(reply["data"].as_str().unwrap())
                .unwrap(),
        );
    }
    out
}

/// uid 2 uploads its own bytes under uid 1's image message (what a frame-fault `rewrite` of
/// `message_id` does): the chunks must be refused and 1045 must still describe uid 1's upload.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_user_cannot_take_over_an_image_message() {
    let (servers, chat, resource) = start("hijack").await;
    let mut alice = login(&chat, 1).await;
    let message = announce(&mut alice, 1, 2, "alice.png", "1-0-1").await;
    let real = Upload::new("alice.png", bytes(1, 70_000), 1, 2, message);
    assert_eq!(real.send_all(&resource).await, [0, 0, 0]);

    // "a-evil.png" sorts before "alice.png": a lookup by message id that takes the first record
    // in name order finds it.
    let evil = Upload::new("a-evil.png", bytes(2, 40_000), 2, 1, message);
    let errors = evil.send_all(&resource).await;
    assert!(
        errors.iter().all(|&e| e == 1011),
        "uid 2's chunks for uid 1's message {message} were answered {errors:?}"
    );
    let info = download_info(&resource, message).await;
    assert_eq!(info["error"], 0, "{info}");
    assert_eq!(info["name"], "alice.png", "{info}");
    assert_eq!(info["sender_id"], 1, "{info}");
    assert_eq!(info["md5"], real.md5(), "{info}");
    assert_eq!(download(&resource, 2, message, &info).await, real.data);

    // Half an upload under a completed message must not hide its picture either.
    let half = Upload::new("a-half.png", bytes(3, 70_000), 2, 1, message);
    assert_eq!(half.send(&resource, [1]).await, [1011]);
    assert_eq!(download_info(&resource, message).await["md5"], real.md5());
    servers.shutdown().await;
}

/// Message ids are sequential: an upload for a message not yet sent is refused, so the message's
/// real sender can upload when it comes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_future_message_cannot_be_claimed() {
    let (servers, chat, resource) = start("future").await;
    let mut alice = login(&chat, 1).await;
    let first = announce(&mut alice, 1, 2, "one.png", "1-0-1").await;
    let claim = Upload::new("two.png", bytes(4, 10), 2, 1, first + 1);
    assert_eq!(
        claim.send_all(&resource).await,
        [1012],
        "an upload for message {} that does not exist yet",
        first + 1
    );
    let second = announce(&mut alice, 1, 2, "two.png", "1-0-2").await;
    assert_eq!(second, first + 1);
    let real = Upload::new("two.png", bytes(5, 10), 1, 2, second);
    assert_eq!(real.send_all(&resource).await, [0]);
    assert_eq!(download_info(&resource, second).await["md5"], real.md5());

    // The receiver and the file name are the message's.
    let mut wrong_name = Upload::new("other.png", bytes(6, 10), 1, 2, first);
    assert_eq!(wrong_name.send_all(&resource).await, [1011]);
    wrong_name.name = "one.png".into();
    wrong_name.receiver = 1;
    assert_eq!(wrong_name.send_all(&resource).await, [1011]);
    servers.shutdown().await;
}

/// Issue 11 item 5: two image messages with the same file name, from one user or from two, are
/// two uploads and two files.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_file_name_in_two_messages_is_two_uploads() {
    let (servers, chat, resource) = start("same-name").await;
    let mut alice = login(&chat, 1).await;
    let mut bob = login(&chat, 2).await;
    let m1 = announce(&mut alice, 1, 2, "same.png", "1-0-1").await;
    let m2 = announce(&mut alice, 1, 2, "same.png", "1-0-2").await;
    let m3 = announce(&mut bob, 2, 1, "same.png", "2-0-1").await;
    let uploads = [
        Upload::new("same.png", bytes(7, 50_000), 1, 2, m1),
        Upload::new("same.png", bytes(8, 50_000), 1, 2, m2),
        Upload::new("same.png", bytes(9, 20_000), 2, 1, m3),
    ];
    for upload in &uploads {
        let errors = upload.send_all(&resource).await;
        assert!(
            errors.iter().all(|&e| e == 0),
            "message {}: {errors:?}",
            upload.message_id
        );
    }
    for upload in &uploads {
        let info = download_info(&resource, upload.message_id).await;
        assert_eq!(info["error"], 0, "message {}: {info}", upload.message_id);
        assert_eq!(info["md5"], upload.md5(), "message {}", upload.message_id);
        let got = download(&resource, upload.receiver, upload.message_id, &info).await;
        assert!(
            got == upload.data,
            "message {}: downloaded other bytes",
            upload.message_id
        );
    }
    servers.shutdown().await;
}

/// Issue 11 item 2: a user with 300 texts waiting logs in and gets its 1006 and every push.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_login_with_300_pushes_waiting_gets_its_reply_and_every_push() {
    const TEXTS: usize = 300;
    let (servers, chat, _) = start("backlog").await;
    let mut alice = login(&chat, 1).await;
    for n in 1..=TEXTS {
        let text = TextReq {
            fromuid: 1,
            touid: 2,
            thread_id: 1,
            text_array: vec![TextItem {
                content: format!("text {n}"),
                unique_id: format!("1-0-{n}"),
            }],
        };
        let reply = alice
            .ask(
                Frame::json(ids::TEXT_CHAT_MSG_REQ, &text),
                ids::TEXT_CHAT_MSG_RSP,
            )
            .await;
        assert_eq!(reply["error"], 0, "{reply}");
    }
    let mut bob = Conn::open(&chat, Framing::Chat).await;
    bob.send(Frame::json(
        ids::CHAT_LOGIN,
        &LoginReq {
            uid: 2,
            token: "token-2".into(),
            push_ack: false,
        },
    ))
    .await;
    let first = bob.recv().await;
    assert_eq!(first.id, ids::CHAT_LOGIN_RSP);
    let mut contents = Vec::new();
    while contents.len() < TEXTS {
        let push = bob.recv().await;
        assert_eq!(push.id, ids::NOTIFY_TEXT_CHAT_MSG_REQ);
        let body: Value = serde_json::from_slice(&push.body).unwrap();
        for data in body["chat_datas"].as_array().unwrap() {
            contents.push(data["content"].as_str().unwrap().to_owned());
        }
    }
    let expected: Vec<String> = (1..=TEXTS).map(|n| format!("text {n}")).collect();
    assert_eq!(contents, expected);
    servers.shutdown().await;
}

/// Reads frames until `count` have arrived or nothing comes for a while; returns how many came.
async fn count_frames(conn: &mut Conn, id: u16, count: usize) -> usize {
    let mut got = 0;
    while got < count {
        match chatsim::timer::timeout(Duration::from_secs(5), conn.0.next()).await {
            Ok(Some(Ok(frame))) if frame.id == id => got += 1,
            Ok(Some(Ok(_))) => {}
            _ => break,
        }
    }
    got
}

/// 1000 requests in one write get 1000 replies, on both servers.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_requests_in_one_write_get_a_thousand_replies() {
    let (servers, chat, resource) = start("pipelined").await;
    let mut alice = login(&chat, 1).await;
    let codec = FrameCodec::with_limit(Framing::Chat, usize::MAX);
    let beat = codec
        .encode_to_vec(&Frame::json(
            ids::HEART_BEAT_REQ,
            &HeartbeatReq { fromuid: 1 },
        ))
        .unwrap();
    alice
        .0
        .get_mut()
        .write_all(&beat.repeat(1000))
        .await
        .unwrap();
    assert_eq!(
        count_frames(&mut alice, ids::HEARTBEAT_RSP, 1000).await,
        1000
    );

    let mut conn = Conn::open(&resource, Framing::Resource).await;
    let info = FrameCodec::upstream(Framing::Resource)
        .encode_to_vec(&Frame::json(
            ids::IMG_CHAT_DOWN_INFO_SYNC_REQ,
            &DownInfoReq { message_id: -1 },
        ))
        .unwrap();
    conn.0
        .get_mut()
        .write_all(&info.repeat(1000))
        .await
        .unwrap();
    assert_eq!(
        count_frames(&mut conn, ids::IMG_CHAT_DOWN_INFO_SYNC_RSP, 1000).await,
        1000
    );
    servers.shutdown().await;
}

/// How many whole frames of the resource framing `bytes` holds.
fn frames_in(bytes: &[u8]) -> usize {
    use tokio_util::codec::Decoder;
    let mut buf = bytes::BytesMut::from(bytes);
    let mut codec = FrameCodec::with_limit(Framing::Resource, 1 << 24);
    let mut count = 0;
    while let Ok(Some(_)) = codec.decode(&mut buf) {
        count += 1;
    }
    count
}

/// The reference servers on loopback with a short write timeout and idle timeout.
async fn start_quick(label: &str) -> (String, String, tokio::task::JoinSet<()>) {
    let network: Arc<dyn Network> = Arc::new(TokioNetwork);
    let db = SqliteDb::open_in_memory().unwrap();
    let users = serve::demo_users();
    let bind = |network: Arc<dyn Network>| async move {
        network.bind("127.0.0.1:0".into()).await.unwrap()
    };
    let (chat_l, grpc_l, res_l) = (
        bind(network.clone()).await,
        bind(network.clone()).await,
        bind(network.clone()).await,
    );
    let chat_addr = chat_l.local_addr().unwrap();
    let grpc_addr = grpc_l.local_addr().unwrap();
    let resource_addr = res_l.local_addr().unwrap();
    let chat = ChatServer::new(
        ChatConfig {
            write_timeout: Duration::from_secs(2),
            ..ChatConfig::default()
        },
        users.clone(),
        Arc::new(db.messages()),
        Arc::new(SystemClock),
        Tracer::logging("chat"),
    );
    let resource = ResourceServer::new(
        ResourceConfig {
            chat_grpc: grpc_addr,
            idle_timeout: Duration::from_secs(5),
            write_timeout: Duration::from_secs(2),
            ..ResourceConfig::default()
        },
        users,
        Arc::new(RealFiles::new(data_dir(label))),
        Arc::new(db.uploads()),
        Tracer::logging("resource"),
    )
    .with_messages(Arc::new(db.messages()));
    let mut tasks = tokio::task::JoinSet::new();
    tasks.spawn(async move {
        let _ = chat.run_on(chat_l, grpc_l).await;
    });
    tasks.spawn(async move {
        let _ = resource.run_on(network, res_l).await;
    });
    (chat_addr, resource_addr, tasks)
}

/// A client asks for a large download and never reads: its socket fills, fewer than 256 replies
/// wait, and the server must close it once the socket has accepted nothing for the write timeout
/// (2 s here; the old server kept it open as long as its writer was parked mid-frame).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_never_reads_is_closed_after_the_write_timeout() {
    const REQUESTS: u32 = 200;
    let (chat, resource, tasks) = start_quick("never-reads").await;
    let mut alice = login(&chat, 1).await;
    let message = announce(&mut alice, 1, 2, "big.png", "1-0-1").await;
    let big = Upload::new(
        "big.png",
        bytes(10, REQUESTS as usize * 32768),
        1,
        2,
        message,
    );
    assert!(big.send_all(&resource).await.iter().all(|&e| e == 0));
    let info = download_info(&resource, message).await;
    assert_eq!(info["error"], 0, "{info}");

    let mut conn = TcpStream::connect(&resource).await.unwrap();
    let codec = FrameCodec::upstream(Framing::Resource);
    let mut requests = Vec::new();
    for seq in 1..=REQUESTS {
        let req = DownChunkReq {
            name: "big.png".into(),
            seq,
            trans_size: WireSize::string(0),
            total_size: WireSize::string(big.data.len() as u64),
            token: "token-2".into(),
            sender_id: 1,
            receiver_id: 2,
            message_id: message,
            uid: 2,
        };
        requests.extend(
            codec
                .encode_to_vec(&Frame::json(ids::IMG_CHAT_DOWN_REQ, &req))
                .unwrap(),
        );
    }
    conn.write_all(&requests).await.unwrap();
    chatsim::timer::sleep(Duration::from_secs(5)).await;
    // Now read what the server managed to send: a server that kept the connection open sends
    // every reply as the socket drains; one that closed it stops short.
    let mut got = Vec::new();
    let read = chatsim::timer::timeout(Duration::from_secs(20), conn.read_to_end(&mut got)).await;
    let replies = frames_in(&got);
    assert!(
        read.is_ok() && replies < REQUESTS as usize,
        "the connection stayed open past the write timeout: {replies} replies of {REQUESTS} came ({read:?})"
    );
    drop(tasks);
}

/// Issue 11 item 10, what a client learns without the right credentials: 1051 answers another
/// user's upload exactly as it answers a name nobody uploads (1012), so it does not reveal that
/// the name is in use; 1045 needs no token (upstream's client sends none) and so describes a
/// completed picture to anyone who names its message id, but says nothing of an upload still in
/// progress.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn what_a_client_learns_without_credentials() {
    use chatsim::protocol::body::UploadStatusReq;
    let (servers, chat, resource) = start("metadata").await;
    let mut alice = login(&chat, 1).await;
    let done = announce(&mut alice, 1, 2, "done.png", "1-0-1").await;
    let half = announce(&mut alice, 1, 2, "half.png", "1-0-2").await;
    let complete = Upload::new("done.png", bytes(11, 10), 1, 2, done);
    assert_eq!(complete.send_all(&resource).await, [0]);
    let partial = Upload::new("half.png", bytes(12, 70_000), 1, 2, half);
    assert_eq!(partial.send(&resource, [1]).await, [0]);

    let status = |uid: i32, name: &str| {
        Frame::json(
            ids::UPLOAD_STATUS_REQ,
            &UploadStatusReq {
                name: name.into(),
                uid,
                token: format!("token-{uid}"),
            },
        )
    };
    let mut bob = Conn::open(&resource, Framing::Resource).await;
    let others = bob.ask(status(2, "half.png"), ids::UPLOAD_STATUS_RSP).await;
    let nobodys = bob
        .ask(status(2, "nobody.png"), ids::UPLOAD_STATUS_RSP)
        .await;
    assert_eq!(others["error"], 1012, "{others}");
    let mut same = nobodys.clone();
    same["name"] = "half.png".into();
    assert_eq!(others, same, "1051 tells another user's upload from none");
    let own = Conn::open(&resource, Framing::Resource)
        .await
        .ask(status(1, "half.png"), ids::UPLOAD_STATUS_RSP)
        .await;
    assert_eq!(own["error"], 0, "{own}");
    assert_eq!(own["held"], serde_json::json!([[1, 1]]));

    // 1045: a completed picture is described to anyone; an upload in progress to no one.
    let info = download_info(&resource, done).await;
    assert_eq!(info["error"], 0);
    assert_eq!(info["md5"], complete.md5());
    let info = download_info(&resource, half).await;
    assert_eq!(info["error"], 1012, "{info}");
    assert_eq!(info["md5"].as_str().unwrap_or(""), "", "{info}");
    assert_eq!(info["name"].as_str().unwrap_or(""), "", "{info}");
    assert_eq!(info["sender_id"].as_i64().unwrap_or(0), 0, "{info}");
    servers.shutdown().await;
}

/// Issue 11 item 6: an unfinished upload resumes before its TTL and is refused after it; its file
/// is deleted (by the next chunk, or by the sweep that finds it idle). Idle time is counted in
/// whole seconds, so a gap of a little over a second can already read as two: with a 2 s TTL the
/// resumed upload's gaps (0.7 s and a loaded machine's delays) stay clear of it, and the
/// abandoned ones wait well past 3 s, with the sweep (every 0.5 s) given time to run.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_abandoned_upload_expires_after_its_ttl() {
    let dir = data_dir("ttl");
    let mut config = ServeConfig::new(&dir);
    config.chat_addr = "127.0.0.1:0".into();
    config.resource_addr = "127.0.0.1:0".into();
    config.grpc_addr = "127.0.0.1:0".into();
    let servers = serve::start_with_ttl(&config, Duration::from_secs(2))
        .await
        .expect("the servers start");
    let chat = serve::dialable(&servers.addrs().chat);
    let resource = serve::dialable(&servers.addrs().resource);
    let mut alice = login(&chat, 1).await;
    let kept = announce(&mut alice, 1, 2, "kept.png", "1-0-1").await;
    let left = announce(&mut alice, 1, 2, "left.png", "1-0-2").await;
    let swept = announce(&mut alice, 1, 2, "swept.png", "1-0-3").await;
    let resumed = Upload::new("kept.png", bytes(13, 70_000), 1, 2, kept);
    let abandoned = Upload::new("left.png", bytes(14, 70_000), 1, 2, left);
    let forgotten = Upload::new("swept.png", bytes(15, 70_000), 1, 2, swept);
    for upload in [&resumed, &abandoned, &forgotten] {
        assert_eq!(upload.send(&resource, [1]).await, [0]);
    }
    // Resumed within the TTL: every chunk a little under a second after the last.
    for seq in [2, 3] {
        chatsim::timer::sleep(Duration::from_millis(700)).await;
        assert_eq!(resumed.send(&resource, [seq]).await, [0]);
    }
    assert_eq!(download_info(&resource, kept).await["md5"], resumed.md5());
    // Resumed after the TTL: refused, and the file is gone.
    chatsim::timer::sleep(Duration::from_millis(2500)).await;
    assert_eq!(abandoned.send(&resource, [2, 3]).await, [1012, 1012]);
    let files = dir.join(serve::FILES_DIR).join("1");
    for name in ["left.png", "swept.png"] {
        assert!(
            !files.join(name).exists(),
            "{name} is still on disk after its upload expired"
        );
    }
    assert!(files.join("kept.png").exists());
    servers.shutdown().await;
}
