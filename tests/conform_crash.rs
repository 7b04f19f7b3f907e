//! A server under test that dies in the middle of a run: the case after which it stopped
//! accepting connections fails with that reason, the later cases say the server is down since
//! that case; with `--restart CMD` conform starts it again (here a real `chatsim serve` process)
//! and the crash costs that one case.

use chatsim::conform::{self, CaseReport, Options, Verdict};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// The cases these tests run; the fake server dies on 7.3's unknown id 1099.
const CASES: &[&str] = &["7.3", "7.4", "7.5", "8.1", "8.6"];
const KILLER: &str = "7.3 errors/unknown-id";

/// Where the fake server is in its death: a real process that crashes stops listening and
/// resets its connections at once, so the connection that killed it is reset only once the
/// listener is gone. Otherwise conform could connect in between and find the server still up.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Life {
    Alive,
    Dying,
    Dead,
}

/// A resource server that answers every request with an error reply (the request's reply id,
/// `{"error":1001}`) and dies, listener and connections, on a frame with id 1099.
async fn fragile_server() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let (life_tx, mut life_rx) = tokio::sync::watch::channel(Life::Alive);
    tokio::spawn(async move {
        loop {
            tokio::select! {
                biased;
                _ = life_rx.wait_for(|life| *life != Life::Alive) => break,
                accepted = listener.accept() => {
                    let Ok((stream, _)) = accepted else { break };
                    tokio::spawn(serve_one(stream, life_tx.clone()));
                }
            }
        }
        drop(listener);
        let _ = life_tx.send(Life::Dead);
    });
    addr
}

async fn serve_one(mut stream: tokio::net::TcpStream, life: tokio::sync::watch::Sender<Life>) {
    let mut dying = life.subscribe();
    loop {
        let mut header = [0u8; 6];
        let read = tokio::select! {
            biased;
            _ = dying.wait_for(|life| *life != Life::Alive) => return,
            read = stream.read_exact(&mut header) => read,
        };
        if read.is_err() {
            return;
        }
        let id = u16::from_be_bytes([header[0], header[1]]);
        let len = u32::from_be_bytes([header[2], header[3], header[4], header[5]]) as usize;
        if id == 1099 {
            let _ = life.send(Life::Dying);
            // Dropping the stream resets it: not before the listener is gone.
            let _ = dying.wait_for(|life| *life == Life::Dead).await;
            return;
        }
        if len > 1 << 20 {
            return;
        }
        let mut body = vec![0u8; len];
        if stream.read_exact(&mut body).await.is_err() {
            return;
        }
        let reply = br#"{"error":1001}"#;
        let mut frame = (id + 1).to_be_bytes().to_vec();
        frame.extend((reply.len() as u32).to_be_bytes());
        frame.extend(reply);
        if stream.write_all(&frame).await.is_err() {
            return;
        }
    }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

fn options(addr: &str) -> Options {
    let mut options = Options::new(addr);
    options.cases = CASES.iter().map(|c| c.to_string()).collect();
    options.timeout = Duration::from_millis(1000);
    options
}

fn verdict_of<'a>(cases: &'a [CaseReport], id: &str) -> &'a CaseReport {
    cases.iter().find(|c| c.id == id).expect("the case ran")
}

#[test]
fn a_server_that_dies_fails_its_case_and_the_rest_cannot_run() {
    let runtime = runtime();
    let addr = runtime.block_on(fragile_server());
    let report = runtime
        .block_on(conform::run(&options(&addr), |_| {}))
        .expect("the run starts");
    let killer = verdict_of(&report.cases, KILLER);
    assert_eq!(killer.verdict, Verdict::Fail);
    let reason = killer.reason.as_deref().unwrap_or_default();
    assert!(
        reason.starts_with("the server stopped accepting connections after this case"),
        "{reason}"
    );
    let later: Vec<&CaseReport> = report
        .cases
        .iter()
        .skip_while(|c| c.id != KILLER)
        .skip(1)
        .collect();
    assert_eq!(later.len(), CASES.len() - 1);
    for case in later {
        assert_eq!(case.verdict, Verdict::CouldNotRun, "{}", case.id);
        assert_eq!(case.reason.as_deref(), Some("server down since 7.3"));
    }
}

/// The restart command brings up the real reference servers on the dead server's port: every
/// case after the crash runs against them and passes.
#[test]
fn with_restart_a_crash_costs_one_case() {
    let runtime = runtime();
    let addr = runtime.block_on(fragile_server());
    let dir = std::env::temp_dir().join(format!("chatsim-crash-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let mut options = options(&addr);
    options.restart = Some(format!(
        "exec '{}' serve --resource-addr {addr} --chat-addr 127.0.0.1:0 --grpc-addr 127.0.0.1:0 \
         --data-dir '{}'",
        env!("CARGO_BIN_EXE_chatsim"),
        dir.display()
    ));
    let report = runtime
        .block_on(conform::run(&options, |_| {}))
        .expect("the run starts");
    // The run is over: what --restart started has been stopped, so the port is free again.
    let still_there = std::net::TcpStream::connect(&addr).is_ok();
    let _ = std::fs::remove_dir_all(&dir);
    let killer = verdict_of(&report.cases, KILLER);
    assert_eq!(killer.verdict, Verdict::Fail);
    let reason = killer.reason.as_deref().unwrap_or_default();
    assert!(reason.contains("restarted with --restart"), "{reason}");
    for case in report.cases.iter().filter(|c| c.id != KILLER) {
        assert_eq!(
            case.verdict,
            Verdict::Pass,
            "{}: {:?}",
            case.id,
            case.reason
        );
    }
    assert!(!still_there, "the restarted server outlived the run");
}
