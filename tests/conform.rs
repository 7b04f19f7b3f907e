//! The conformance runner proves itself against the reference servers, started in-process on
//! loopback with the same code path as `chatsim serve`: every case passes against the reference
//! profile; nothing listening is a could-not-start error; a server that is not this protocol
//! fails cases within a bound; a restart in the middle of an upload loses nothing acknowledged.

use chatsim::conform::{self, CaseReport, ChunkKind, Conn, Incoming, Options, Upload, Verdict};
use chatsim::profile::Profile;
use chatsim::protocol::{ids, Framing};
use chatsim::serve::{Background, ServeConfig};
use std::collections::BTreeSet;
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// The cases the seed's bugs (docs/protocol.md section 9) should fail, when all quirks are on.
/// Written down from the bug list, not computed from a run:
/// - bug 1 (append instead of offset writes): out-of-order, duplicate, late chunk 1, and the
///   resend of chunks in flight after a reconnect all leave a permuted or longer file; so do
///   the proxy's doubled chunks, its swapped pairs of chunks, and a lost chunk sent again after
///   the chunks behind it (12.1, 12.2, 12.4; the other proxy cases send in order); with bug 9
///   the tokenless upstream-style 1043 of 5.4 is taken, and its chunk is appended again when
///   the resume sends it with the token;
/// - bug 2 (the `last` flag completes, no md5 check): wrong md5, corrupted chunk, and a lying
///   `last` flag are reported complete;
/// - bug 3 (chunk errors answered as 1032 without name/seq): every refused chunk request;
/// - bug 7 (no completion chain): no notify, so no 1039 push (9.3 fails through bug 2: the
///   upload it expects to be rejected is reported complete);
/// - bug 8 (unchecked path): names with `..`, separators, absolute paths are written;
/// - bug 9 (token never checked, uid from the body): impersonation, overwriting another user's
///   upload, a wrong token, a chunk without a token. Downloads are not affected: upstream checks
///   the token on 1047 seq 1 (docs/protocol.md section 4).
///
/// Bug 1 is read literally: the seed keeps no set of received seqs, so a duplicate chunk is
/// appended again and a late chunk 1 (opened with `ios::trunc`) truncates the file.
///
/// Bugs 4, 5, 6 and 12 are the client's, 10 needs a failing disk and 11 is not visible on the
/// wire, so no conformance case can see them.
const SEED_FAILS: &[&str] = &[
    // Bugs 8 and 9: uploads are keyed by name and bound to no message.
    "3.8 upload/same-name-two-messages",
    "4.1 order/out-of-order",
    "4.2 order/duplicate-chunk",
    "4.3 order/late-chunk-1",
    "5.2 resume/reconnect-with-chunks-in-flight",
    "5.4 resume/upstream-style-resume",
    "6.1 integrity/wrong-md5",
    "6.2 integrity/corrupted-chunk",
    "6.3 integrity/last-flag-is-not-completion",
    "7.1 errors/malformed-json",
    "7.10 errors/empty-body",
    "7.11 errors/body-not-an-object",
    "7.2 errors/wrong-types",
    "7.6 errors/seq-zero",
    "7.7 errors/seq-past-end",
    "7.8 errors/size-mismatch",
    "8.1 security/dot-dot-name",
    "8.2 security/separator-in-name",
    "8.3 security/absolute-path",
    "8.4 security/uid-not-matching-token",
    "8.5 security/overwrite-other-users-upload",
    "8.6 security/wrong-token",
    "8.7 security/chunk-without-token",
    "8.10 security/claim-another-users-message",
    "8.11 security/half-upload-keeps-picture",
    "9.1 notify/once-with-fields",
    "9.2 notify/retried-until-answered",
    "9.3 notify/none-for-rejected-upload",
    "9.4 notify/not-repeated-for-duplicate",
    "11.9 chat/upload-push-1039",
    "12.1 proxy/duplicated-chunks",
    "12.2 proxy/reordered-chunks",
    "12.4 proxy/dropped-chunk-resent",
    "13.7 types/upload-push-1039",
    "14.3 two-chat/upload-push-on-receivers-server",
];

/// Servers bind port 0 and report the ports they got ([`Background::addrs`]): no port is chosen
/// first and bound later, so nothing can take it in between.
const ANY_PORT: &str = "127.0.0.1:0";

/// A loopback address where nothing listens: a port the system just handed out and took back.
/// Only for the case that needs nobody there (another process taking the port in between would
/// make that test fail, never pass wrongly).
fn dead_addr() -> String {
    let listener = std::net::TcpListener::bind(ANY_PORT).expect("a free loopback port");
    listener.local_addr().expect("a bound address").to_string()
}

/// A fresh data directory under the temp dir, with the pid and a label in its name.
fn data_dir(label: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("chatsim-conform-{}-{label}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

fn config(label: &str, profile: Profile, notify_addr: Option<String>) -> ServeConfig {
    ServeConfig {
        chat_addr: ANY_PORT.into(),
        resource_addr: ANY_PORT.into(),
        grpc_addr: ANY_PORT.into(),
        notify_addr,
        data_dir: data_dir(label),
        users: chatsim::serve::demo_users(),
        profile,
        chat2: None,
        ..ServeConfig::new(std::path::PathBuf::new())
    }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a runtime")
}

fn run_conform(runtime: &tokio::runtime::Runtime, options: &Options) -> Vec<CaseReport> {
    runtime
        .block_on(conform::run(options, |_| {}))
        .expect("the run starts")
        .cases
}

/// Every case that did not pass, with its reason and frames, for the assertion message.
fn explain(cases: &[CaseReport]) -> String {
    let mut out = String::new();
    for case in cases.iter().filter(|c| c.verdict != Verdict::Pass) {
        out.push_str(&conform::case_lines(case));
        for line in &case.frames {
            out.push_str(&format!("      {line}\n"));
        }
    }
    out
}

/// Runs every case against servers of `profile`: all but the notify cases against one pair of
/// servers (whose resource server notifies its own chat server, for the 1039 push), the notify
/// cases against a second pair whose resource server notifies conform's listener.
fn run_every_case(profile: Profile, label: &str) -> Vec<CaseReport> {
    let runtime = runtime();
    let main = config(&format!("{label}-main"), profile.clone(), None);
    let servers = Background::start(main.clone()).expect("the servers start");
    let mut options = Options::new(servers.addrs().resource.clone());
    options.chat = Some(servers.addrs().chat.clone());
    options.skip = vec!["notify/*".into(), "two-chat/*".into()];
    let mut cases = run_conform(&runtime, &options);
    drop(servers);

    // The two-server cases against `serve --chat-servers 2`.
    let mut two = config(&format!("{label}-two-chat"), profile.clone(), None);
    two.chat2 = Some(chatsim::serve::SecondChat {
        chat_addr: ANY_PORT.into(),
        grpc_addr: ANY_PORT.into(),
    });
    let servers = Background::start(two.clone()).expect("the two-chat servers start");
    let mut options = Options::new(servers.addrs().resource.clone());
    options.chat = Some(servers.addrs().chat.clone());
    options.chat2 = servers.addrs().chat2.as_ref().map(|(chat, _)| chat.clone());
    options.cases = vec!["two-chat/*".into()];
    cases.extend(run_conform(&runtime, &options));
    drop(servers);
    let _ = std::fs::remove_dir_all(two.data_dir);

    // conform's notify listener first, on port 0; then servers told to notify where it listens.
    let listener = runtime
        .block_on(conform::NotifyListener::start(ANY_PORT))
        .expect("the notify listener binds");
    let listener = std::sync::Arc::new(listener);
    let notified = config(
        &format!("{label}-notify"),
        profile,
        Some(listener.addr().to_owned()),
    );
    let servers = Background::start(notified.clone()).expect("the notify servers start");
    let mut options = Options::new(servers.addrs().resource.clone());
    // The resource server binds each upload to its chat message: announce through the chat
    // server of this pair (its notify goes to conform's listener instead).
    options.chat = Some(servers.addrs().chat.clone());
    options.cases = vec!["notify/*".into()];
    let report = runtime
        .block_on(conform::run_with_notify(&options, listener, |_| {}))
        .expect("the run starts");
    cases.extend(report.cases);
    drop(servers);
    for dir in [main.data_dir, notified.data_dir] {
        let _ = std::fs::remove_dir_all(dir);
    }
    cases
}

#[test]
fn every_case_passes_against_the_reference_servers() {
    let started = Instant::now();
    let cases = run_every_case(Profile::reference(), "reference");
    let ran: BTreeSet<&str> = cases.iter().map(|c| c.id).collect();
    let all: BTreeSet<&str> = conform::case_ids().into_iter().collect();
    assert_eq!(ran, all, "every case ran exactly once");
    assert!(all.len() >= 30);
    assert!(
        cases.iter().all(|c| c.verdict == Verdict::Pass),
        "cases that did not pass against the reference servers:\n{}",
        explain(&cases)
    );
    // With --chat every upload is announced (1035) and carries the chat server's message id,
    // in the notify run too (its chat server stores the message; the notify goes to conform).
    for case in &cases {
        assert!(!case.invented_message_ids, "{}", case.id);
    }
    // The reference refuses an upstream-style (tokenless) resume, and the case says so.
    let resume = cases
        .iter()
        .find(|c| c.id == "5.4 resume/upstream-style-resume")
        .expect("5.4 ran");
    assert!(
        resume
            .observed
            .iter()
            .any(|o| o.starts_with("refuses 1043 without a token")),
        "{:?}",
        resume.observed
    );
    println!("{} cases passed in {:?}", cases.len(), started.elapsed());
}

#[test]
fn the_seed_profile_fails_exactly_the_cases_its_bugs_should_fail() {
    let cases = run_every_case(Profile::seed(), "seed");
    remove_escaped_files();
    let failed: BTreeSet<&str> = cases
        .iter()
        .filter(|c| c.verdict == Verdict::Fail)
        .map(|c| c.id)
        .collect();
    let expected: BTreeSet<&str> = SEED_FAILS.iter().copied().collect();
    assert_eq!(
        failed,
        expected,
        "the cases that failed are not those the seed's bugs explain:\n{}",
        explain(&cases)
    );
}

/// With bug 8 the seed writes case 8.3's absolute name where it points: `/tmp/chatsim-conform-*`.
fn remove_escaped_files() {
    let Ok(entries) = std::fs::read_dir("/tmp") else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with("chatsim-conform-cf") && name.ends_with("-absolute.bin") {
            let _ = std::fs::remove_file(entry.path());
        }
    }
}

#[test]
fn the_expected_seed_failures_name_real_cases() {
    let all: BTreeSet<&str> = conform::case_ids().into_iter().collect();
    for id in SEED_FAILS {
        assert!(all.contains(id), "{id} is not a case id");
    }
}

#[test]
fn nothing_listening_is_a_could_not_start_error() {
    let started = Instant::now();
    let options = Options::new(dead_addr());
    let result = runtime().block_on(conform::run(&options, |_| {}));
    match result {
        Err(err @ conform::StartError::NothingListens { .. }) => {
            assert!(err.to_string().contains("nothing listens at"), "{err}");
        }
        Err(other) => panic!("expected NothingListens, got {other}"),
        Ok(report) => panic!("the run started: {}", report.summary_line()),
    }
    assert!(started.elapsed() < Duration::from_secs(2));
}

/// A server that answers every connection with an HTTP error and closes.
async fn http_gibberish_server() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            tokio::spawn(async move {
                use tokio::io::{AsyncReadExt, AsyncWriteExt};
                let mut buf = [0u8; 512];
                let _ = stream.read(&mut buf).await;
                let _ = stream
                    .write_all(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 11\r\n\r\nBad Request")
                    .await;
            });
        }
    });
    addr
}

/// A server that accepts and never says anything.
async fn silent_server() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    tokio::spawn(async move {
        let mut open = Vec::new();
        while let Ok((stream, _)) = listener.accept().await {
            open.push(stream);
        }
    });
    addr
}

fn assert_nothing_passes(cases: &[CaseReport]) {
    assert_eq!(cases.len(), conform::case_ids().len());
    for case in cases {
        assert!(
            matches!(case.verdict, Verdict::Fail | Verdict::CouldNotRun),
            "{} is {:?} against a server that does not speak the protocol",
            case.id,
            case.verdict
        );
    }
    assert!(cases.iter().any(|c| c.verdict == Verdict::Fail));
}

#[test]
fn a_server_that_speaks_http_fails_every_case_quickly() {
    let runtime = runtime();
    let addr = runtime.block_on(http_gibberish_server());
    let mut options = Options::new(addr.clone());
    options.chat = Some(addr);
    options.timeout = Duration::from_millis(300);
    let started = Instant::now();
    let report = runtime
        .block_on(conform::run(&options, |_| {}))
        .expect("the run starts: something listens");
    assert_nothing_passes(&report.cases);
    assert!(report.failed());
    let garbage = report
        .cases
        .iter()
        .filter(|c| {
            c.reason
                .as_deref()
                .unwrap_or_default()
                .contains("not a frame")
        })
        .count();
    assert!(garbage > 0, "some case reports the HTTP answer as garbage");
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "took {:?}",
        started.elapsed()
    );
}

#[test]
fn a_silent_server_fails_every_case_within_the_timeouts() {
    let runtime = runtime();
    let addr = runtime.block_on(silent_server());
    let mut options = Options::new(addr.clone());
    options.chat = Some(addr);
    options.timeout = Duration::from_millis(100);
    let started = Instant::now();
    let report = runtime
        .block_on(conform::run(&options, |_| {}))
        .expect("the run starts");
    assert_nothing_passes(&report.cases);
    // Each case waits at most a few timeouts; far below the per-case budget of 10.
    assert!(
        started.elapsed() < Duration::from_secs(25),
        "took {:?}",
        started.elapsed()
    );
}

/// Sends chunks of `upload` and expects a success ack for each.
async fn send_acked(conn: &mut Conn, upload: &Upload, seqs: &[u32], kind: ChunkKind) {
    for &seq in seqs {
        let send = upload.send(seq, kind);
        conn.send(&send.frame).await.expect("sent");
        let reply = conn.recv("an ack").await.expect("an ack");
        assert_eq!(reply.id, send.reply_id(), "seq {seq}");
        let body: serde_json::Value = serde_json::from_slice(&reply.body).unwrap();
        assert_eq!(body["error"], 0, "seq {seq}: {body}");
    }
}

/// Stores an image message from `from` to `to` naming `name` in the servers' database.
fn image_message(config: &ServeConfig, name: &str, from: i32, to: i32) -> i64 {
    use chatsim::store::{MessageStore, NewMessage, SqliteDb};
    std::fs::create_dir_all(&config.data_dir).expect("the data directory");
    let db = SqliteDb::open(&config.data_dir.join(chatsim::serve::DB_FILE)).expect("the database");
    db.messages()
        .insert(NewMessage {
            thread_id: 1,
            sender_id: from,
            recv_id: to,
            content: name.to_owned(),
            status: chatsim::protocol::codes::status::UN_UPLOAD,
            msg_type: chatsim::protocol::codes::msg_type::PIC,
            created_at: String::new(),
        })
        .expect("the message is stored")
}

#[test]
fn a_restart_in_the_middle_of_an_upload_loses_nothing_acknowledged() {
    let runtime = runtime();
    let first = config("restart", Profile::reference(), None);
    let user = chatsim::serve::demo_users().iter().next().cloned().unwrap();
    let data = conform::file_bytes("restart", 5 * 32768 - 11);
    let name = format!("restart-{}.bin", std::process::id());
    // The resource server binds an upload to its image message: store the message first, as
    // the chat server would on a 1035.
    let message_id = image_message(&first, &name, user.uid, 2);
    let upload = Upload::new(name, data, message_id, &user, 2);
    let timeout = Duration::from_secs(3);
    let transcript = conform::Transcript::default();

    // Chunks 1 to 3 acked, then the servers stop as abruptly as a killed process.
    let servers = Background::start(first.clone()).expect("the servers start");
    runtime.block_on(async {
        let mut conn = Conn::connect(
            &servers.addrs().resource,
            Framing::Resource,
            "before".into(),
            transcript.clone(),
            timeout,
        )
        .await
        .expect("connected");
        send_acked(&mut conn, &upload, &[1, 2, 3], ChunkKind::Normal).await;
    });
    servers.stop();

    // The same data directory, new ports: the upload resumes where the acks said it was.
    let mut second = config("restart-2", Profile::reference(), None);
    second.data_dir = first.data_dir.clone();
    let servers = Background::start(second.clone()).expect("the servers start again");
    let downloaded = runtime.block_on(async {
        let mut conn = Conn::connect(
            &servers.addrs().resource,
            Framing::Resource,
            "after".into(),
            transcript.clone(),
            timeout,
        )
        .await
        .expect("connected");
        send_acked(&mut conn, &upload, &[4, 5], ChunkKind::Resume).await;
        download(&mut conn, &upload, &user).await
    });
    drop(servers);
    let _ = std::fs::remove_dir_all(&first.data_dir);
    assert_eq!(downloaded.len(), upload.data.len());
    assert!(
        downloaded == upload.data,
        "the file after the restart differs"
    );
}

/// Downloads `upload` with 1047 requests (the conform cases do the same with more checks).
async fn download(conn: &mut Conn, upload: &Upload, user: &chatsim::users::User) -> Vec<u8> {
    use base64::Engine as _;
    let mut bytes = Vec::new();
    for seq in 1..=upload.max_seq() {
        let req = serde_json::json!({
            "name": upload.name, "seq": seq, "trans_size": bytes.len().to_string(),
            "total_size": upload.data.len().to_string(), "token": user.token,
            "sender_id": upload.uid, "receiver_id": upload.receiver,
            "message_id": upload.message_id, "uid": user.uid,
        });
        conn.send(&chatsim::protocol::Frame::new(
            ids::IMG_CHAT_DOWN_REQ,
            req.to_string(),
        ))
        .await
        .expect("sent");
        let reply = match conn.next().await {
            Incoming::Frame(frame) => frame,
            other => panic!("no 1048 for seq {seq}: {other:?}"),
        };
        let body: serde_json::Value = serde_json::from_slice(&reply.body).unwrap();
        assert_eq!(body["error"], 0, "download seq {seq}: {body}");
        let data = body["data"].as_str().unwrap_or_default();
        bytes.extend(
            base64::engine::general_purpose::STANDARD
                .decode(data)
                .unwrap(),
        );
    }
    bytes
}
