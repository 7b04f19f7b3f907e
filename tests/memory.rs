//! Issue 11 item 4: one connection streaming chunks without reading its replies must cost the
//! server a bounded amount of memory. Run with `--release` (see the test). The servers run in this process (the code path of
//! `chatsim serve`), so the process's resident memory is the measure. Its own test binary: no
//! other test allocates beside it.

use base64::Engine as _;
use chatsim::protocol::body::{ImgMsgReq, LoginReq};
use chatsim::protocol::{ids, ChunkPlan, Frame, FrameCodec, Framing, CHUNK_SIZE};
use chatsim::serve::{self, ServeConfig};
use futures::{SinkExt, StreamExt};
use std::time::{Duration, Instant};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tokio_util::codec::Framed;

/// Resident memory of this process, in bytes (Linux).
fn rss() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").expect("/proc/self/statm");
    let pages: u64 = statm.split_whitespace().nth(1).unwrap().parse().unwrap();
    pages * 4096
}

async fn ask(
    conn: &mut Framed<TcpStream, FrameCodec>,
    frame: Frame,
    reply: u16,
) -> serde_json::Value {
    conn.send(frame).await.unwrap();
    loop {
        let got = chatsim::timer::timeout(Duration::from_secs(10), conn.next())
            .await
            .expect("a reply in time")
            .unwrap()
            .unwrap();
        if got.id == reply {
            return serde_json::from_slice(&got.body).unwrap();
        }
    }
}

/// Only meaningful in a release build: in a debug build the server's reader (JSON and base64 of
/// 44 KB a chunk) is as slow as its disk, so even a server without backpressure keeps up and the
/// test could not fail. `cargo test --release --test memory -- --nocapture`: before backpressure
/// 6000 chunks in 4.3 s grew the server by 401.8 MiB; now 1.7 MiB.
#[cfg_attr(
    debug_assertions,
    ignore = "needs --release; see the comment on the test"
)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_streaming_chunks_without_reading_costs_a_few_mib() {
    const CHUNKS: u32 = 6000;
    const BUDGET: u64 = 16 << 20;
    let dir = std::env::temp_dir().join(format!("chatsim-memory-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let mut config = ServeConfig::new(&dir);
    config.chat_addr = "127.0.0.1:0".into();
    config.resource_addr = "127.0.0.1:0".into();
    config.grpc_addr = "127.0.0.1:0".into();
    let servers = serve::start(&config).await.expect("the servers start");
    let chat = serve::dialable(&servers.addrs().chat);
    let resource = serve::dialable(&servers.addrs().resource);

    let codec = FrameCodec::with_limit(Framing::Chat, usize::MAX);
    let mut alice = Framed::new(TcpStream::connect(&chat).await.unwrap(), codec);
    let login = LoginReq {
        uid: 1,
        token: "token-1".into(),
        push_ack: false,
    };
    let reply = ask(
        &mut alice,
        Frame::json(ids::CHAT_LOGIN, &login),
        ids::CHAT_LOGIN_RSP,
    )
    .await;
    assert_eq!(reply["error"], 0);
    let image = ImgMsgReq {
        fromuid: 1,
        touid: 2,
        thread_id: 1,
        md5: String::new(),
        name: "huge.png".into(),
        token: "token-1".into(),
        unique_id: "1-0-1".into(),
    };
    let reply = ask(
        &mut alice,
        Frame::json(ids::IMG_CHAT_MSG_REQ, &image),
        ids::IMG_CHAT_MSG_RSP,
    )
    .await;
    let message_id = reply["message_id"].as_i64().unwrap();

    let total = u64::from(CHUNKS) * CHUNK_SIZE;
    let plan = ChunkPlan::new(total);
    let data = base64::engine::general_purpose::STANDARD.encode(vec![7u8; CHUNK_SIZE as usize]);
    let md5 = "0".repeat(32);
    let encoder = FrameCodec::upstream(Framing::Resource);
    let before = rss();
    let mut conn = TcpStream::connect(&resource).await.unwrap();
    let started = Instant::now();
    let mut sent = 0u32;
    // Chunks as fast as the socket takes them, never reading a reply, for at most 20 s.
    for seq in 1..=CHUNKS {
        // Built by hand, not with serde: a debug build takes milliseconds to escape 44 KB of
        // base64, which would let the client, not the server, set the pace.
        let body = format!(
            "{{\"name\":\"huge.png\",\"seq\":{seq},\"trans_size\":{},\"total_size\":{total},\
             \"token\":\"token-1\",\"md5\":\"{md5}\",\"uid\":1,\"data\":\"{data}\",\
             \"message_id\":{message_id},\"sender\":1,\"receiver\":2,\"last\":0,\
             \"last_seq\":{CHUNKS},\"thread_id\":1}}",
            plan.range(seq).unwrap().end
        );
        let id = if seq == 1 {
            ids::FILE_INFO_SYNC_REQ
        } else {
            ids::IMG_CHAT_UPLOAD_REQ
        };
        let bytes = encoder.encode_to_vec(&Frame::new(id, body)).unwrap();
        let left = Duration::from_secs(20).saturating_sub(started.elapsed());
        match chatsim::timer::timeout(left.min(Duration::from_secs(3)), conn.write_all(&bytes))
            .await
        {
            Ok(Ok(())) => sent = seq,
            _ => break,
        }
    }
    // Give the server time to take in whatever it is going to take.
    chatsim::timer::sleep(Duration::from_secs(2)).await;
    let grown = rss().saturating_sub(before);
    println!(
        "{sent} of {CHUNKS} chunks ({} MiB) accepted by the socket in {:.1} s; resident memory grew {:.1} MiB",
        (u64::from(sent) * CHUNK_SIZE) >> 20,
        started.elapsed().as_secs_f64(),
        grown as f64 / f64::from(1 << 20)
    );
    assert!(
        grown <= BUDGET,
        "one connection that does not read grew the server by {} MiB (budget {} MiB)",
        grown >> 20,
        BUDGET >> 20
    );
    drop(conn);
    servers.shutdown().await;
    let _ = std::fs::remove_dir_all(&dir);
}
