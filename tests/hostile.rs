//! Hostile clients against the real servers on loopback: they are cut off, and the servers go on.

use chatsim::protocol::body::DownInfoReq;
use chatsim::protocol::{ids, Frame, FrameCodec, Framing};
use chatsim::serve::{self, ServeConfig};
use chatsim::store::{MessageStore, SqliteDb};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

fn data_dir_of(label: &str) -> std::path::PathBuf {
    std::env::temp_dir().join(format!("chatsim-hostile-{label}-{}", std::process::id()))
}

fn data_dir(label: &str) -> std::path::PathBuf {
    let dir = data_dir_of(label);
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

async fn start(label: &str) -> (serve::Servers, String) {
    let mut config = ServeConfig::new(data_dir(label));
    config.chat_addr = "127.0.0.1:0".into();
    config.resource_addr = "127.0.0.1:0".into();
    config.grpc_addr = "127.0.0.1:0".into();
    let servers = serve::start(&config).await.expect("the servers start");
    let resource = serve::dialable(&servers.addrs().resource);
    (servers, resource)
}

fn frame_bytes(frame: Frame) -> Vec<u8> {
    FrameCodec::upstream(Framing::Resource)
        .encode_to_vec(&frame)
        .expect("a small frame")
}

/// A download-info request for a message that does not exist: a small request, a small error reply.
fn info_request() -> Vec<u8> {
    frame_bytes(Frame::json(
        ids::IMG_CHAT_DOWN_INFO_SYNC_REQ,
        &DownInfoReq { message_id: -1 },
    ))
}

/// True when the server still answers a request on a fresh connection.
async fn still_serving(addr: &str) -> bool {
    let Ok(mut conn) = TcpStream::connect(addr).await else {
        return false;
    };
    if conn.write_all(&info_request()).await.is_err() {
        return false;
    }
    let mut header = [0u8; 6];
    let read = chatsim::timer::timeout(Duration::from_secs(5), conn.read_exact(&mut header)).await;
    matches!(read, Ok(Ok(_)))
        && u16::from_be_bytes([header[0], header[1]]) == ids::IMG_CHAT_DOWN_INFO_SYNC_RSP
}

/// A client that sends without ever reading its replies: once a few replies wait, the server stops
/// reading its requests (backpressure reaches the client's socket, so the client's writes block)
/// instead of queueing replies in memory; the server goes on serving others. The close after the
/// write timeout is checked in tests/hardening.rs with a short timeout.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_never_reads_its_replies_is_held_back_and_the_server_goes_on() {
    let (servers, addr) = start("no-read").await;
    let mut conn = TcpStream::connect(&addr).await.unwrap();
    let batch: Vec<u8> = info_request().repeat(1000);
    let started = Instant::now();
    let mut held_back = false;
    while started.elapsed() < Duration::from_secs(20) {
        match chatsim::timer::timeout(Duration::from_secs(2), conn.write_all(&batch)).await {
            Ok(Ok(())) => continue,
            Ok(Err(_)) => break,
            // Blocked: the server stopped reading this client.
            Err(_) => {
                held_back = true;
                break;
            }
        }
    }
    assert!(
        held_back,
        "the server kept reading requests from a client that never reads its replies"
    );
    assert!(still_serving(&addr).await, "the server stopped serving");
    servers.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unknown_message_id_gets_a_clean_close_and_the_server_goes_on() {
    let (servers, addr) = start("unknown-id").await;
    let mut conn = TcpStream::connect(&addr).await.unwrap();
    conn.write_all(&frame_bytes(Frame::new(1099, "{}")))
        .await
        .unwrap();
    let mut rest = Vec::new();
    let read = chatsim::timer::timeout(Duration::from_secs(5), conn.read_to_end(&mut rest)).await;
    assert!(
        matches!(read, Ok(Ok(0))),
        "expected the server to close the connection without a reply, got {read:?} and {} bytes",
        rest.len()
    );
    assert!(still_serving(&addr).await, "the server stopped serving");
    servers.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_text_to_an_unknown_user_is_refused_not_stored() {
    use chatsim::protocol::body::{LoginReq, TextItem, TextReq};
    let (servers, _) = start("unknown-receiver").await;
    let dir = data_dir_of("unknown-receiver");
    let chat = serve::dialable(&servers.addrs().chat);
    let codec = FrameCodec::with_limit(Framing::Chat, usize::MAX);
    let mut conn = TcpStream::connect(&chat).await.unwrap();
    let login = LoginReq {
        uid: 1,
        token: "token-1".into(),
        push_ack: false,
    };
    let text = TextReq {
        fromuid: 1,
        touid: 999,
        thread_id: 1,
        text_array: vec![TextItem {
            content: "hello?".into(),
            unique_id: "1-0-1".into(),
        }],
    };
    for frame in [
        Frame::json(ids::CHAT_LOGIN, &login),
        Frame::json(ids::TEXT_CHAT_MSG_REQ, &text),
    ] {
        conn.write_all(&codec.encode_to_vec(&frame).unwrap())
            .await
            .unwrap();
    }
    // The login reply, then the text reply.
    let mut replies = Vec::new();
    for _ in 0..2 {
        let mut header = [0u8; 4];
        chatsim::timer::timeout(Duration::from_secs(5), conn.read_exact(&mut header))
            .await
            .expect("a reply in time")
            .unwrap();
        let mut body = vec![0u8; u16::from_be_bytes([header[2], header[3]]) as usize];
        conn.read_exact(&mut body).await.unwrap();
        replies.push((u16::from_be_bytes([header[0], header[1]]), body));
    }
    let (id, body) = &replies[1];
    assert_eq!(*id, ids::TEXT_CHAT_MSG_RSP);
    let reply: serde_json::Value = serde_json::from_slice(body).unwrap();
    assert_eq!(
        reply["error"], 1011,
        "a text to uid 999 was answered {reply}"
    );
    // An error reply lists nothing as stored (`chat_datas` absent or empty); the store is
    // checked below, since a reply can say anything.
    let listed = reply.get("chat_datas").map(|d| d.as_array().map(Vec::len));
    assert!(
        matches!(listed, None | Some(Some(0))),
        "the refused text was answered as stored: {reply}"
    );
    servers.shutdown().await;
    // And nothing was stored or kept for uid 999.
    let db = SqliteDb::open(&dir.join(serve::DB_FILE)).unwrap();
    let messages = db.messages();
    let stored = messages.all().unwrap();
    assert!(
        stored.iter().all(|m| m.message.recv_id != 999),
        "a text to uid 999 was stored: {stored:?}"
    );
    assert!(messages.pending_pushes(999).unwrap().is_empty());
}
