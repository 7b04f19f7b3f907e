//! Cases judge one thing each: against a resource server that never answers 1045 (the reference
//! behind a relay that swallows every 1045, as upstream does for a message it does not know),
//! only the cases about 1045 deviate; every byte check, refusal and "not offered" check still
//! runs and passes.

use chatsim::conform::{self, Options, Verdict};
use chatsim::profile::Profile;
use chatsim::serve::{Background, ServeConfig};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// Listens on a free port and relays each connection to `upstream`, dropping client frames with
/// id 1045 (resource framing: u16 id, u32 length).
async fn relay_without_1045(upstream: String) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    tokio::spawn(async move {
        while let Ok((client, _)) = listener.accept().await {
            let Ok(server) = TcpStream::connect(&upstream).await else {
                continue;
            };
            tokio::spawn(relay(client, server));
        }
    });
    addr
}

async fn relay(client: TcpStream, server: TcpStream) {
    let (mut client_read, mut client_write) = client.into_split();
    let (mut server_read, mut server_write) = server.into_split();
    let down = tokio::spawn(async move {
        let _ = tokio::io::copy(&mut server_read, &mut client_write).await;
    });
    loop {
        let mut header = [0u8; 6];
        if client_read.read_exact(&mut header).await.is_err() {
            break;
        }
        let id = u16::from_be_bytes([header[0], header[1]]);
        let len = u32::from_be_bytes([header[2], header[3], header[4], header[5]]) as usize;
        if len > 1 << 20 {
            // The oversize-frame cases: pass the header on and let the server judge the rest.
            if server_write.write_all(&header).await.is_err() {
                break;
            }
            let _ = tokio::io::copy(&mut client_read, &mut server_write).await;
            break;
        }
        let mut body = vec![0u8; len];
        if client_read.read_exact(&mut body).await.is_err() {
            // Half a frame: hand over what came, then the close.
            let _ = server_write.write_all(&header).await;
            break;
        }
        if id == 1045 {
            continue;
        }
        if server_write.write_all(&header).await.is_err()
            || server_write.write_all(&body).await.is_err()
        {
            break;
        }
    }
    let _ = server_write.shutdown().await;
    let _ = down.await;
}

#[test]
fn only_the_1045_cases_notice_a_server_without_1045() {
    let dir = std::env::temp_dir().join(format!("chatsim-no1045-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let mut config = ServeConfig::new(&dir);
    config.chat_addr = "127.0.0.1:0".into();
    config.resource_addr = "127.0.0.1:0".into();
    config.grpc_addr = "127.0.0.1:0".into();
    config.profile = Profile::reference();
    let servers = Background::start(config).expect("the servers start");
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let addr = runtime.block_on(relay_without_1045(servers.addrs().resource.clone()));
    let mut options = Options::new(addr);
    // Uploads are bound to their chat messages: announce each one on the chat server.
    options.chat = Some(servers.addrs().chat.clone());
    // The proxy, notify and two-server cases add nothing here; the rest covers every 1045 user.
    options.skip = vec![
        "proxy/*".into(),
        "notify/*".into(),
        "chat/*".into(),
        "two-chat/*".into(),
    ];
    // Every unanswered 1045 waits this long; shorter made correct answers late on a loaded machine.
    options.timeout = Duration::from_millis(2000);
    let report = runtime
        .block_on(conform::run(&options, |_| {}))
        .expect("the run starts");
    drop(servers);
    let _ = std::fs::remove_dir_all(&dir);
    for case in &report.cases {
        let number = case.id.split_once(' ').map_or(case.id, |(n, _)| n);
        let expected = match number {
            // 1045 itself, and the field types of its reply, are judged here: a server without
            // it fails both.
            "10.1" | "13.2" => Verdict::Fail,
            // Silence for an unknown message is upstream's answer.
            "10.6" => Verdict::NonStrict,
            _ => Verdict::Pass,
        };
        assert_eq!(
            case.verdict,
            expected,
            "{}: {:?}\n{}",
            case.id,
            case.reason,
            case.frames.join("\n")
        );
    }
}
