//! What a case works with: the servers' addresses, the users, unique names and message ids, the
//! transcript, and the notes that make a passing case non-strict.
//!
//! Cases reach servers only through [`Ctx::resource`] and [`Ctx::chat`], or across the
//! frame-aware fault proxy (the simulation's own, over tokio's TCP) with [`Ctx::resource_proxy`]
//! and [`Ctx::resource_via`].

use super::notify::NotifyListener;
use super::verdict::{could_not_run, fail, Finding};
use super::wire::{Conn, FaultLog, Transcript};
use crate::clock::SinceStart;
use crate::hash::stable_hash;
use crate::net::{Network, TokioNetwork};
use crate::protocol::body::{ChunkReq, ImgMsgReq, LoginReq};
use crate::protocol::{ids, ChunkPlan, Frame, Framing, WireSize};
use crate::proxy::{FaultProxy, FrameFault, RuleSet};
use crate::trace::Tracer;
use crate::users::User;
use base64::Engine as _;
use md5::{Digest, Md5};
use rand::{RngCore, SeedableRng};
use serde_json::Value;
use std::sync::Arc;
use std::time::Duration;

/// Message ids of uploads made without the chat server start here, far above the ids a chat
/// server hands out, and stay below `i32::MAX` because the gRPC notify carries them as int32.
const SYNTHETIC_MESSAGE_IDS: i64 = 1_000_000_000;

pub struct Ctx {
    resource: String,
    chat: Option<String>,
    users: Vec<User>,
    timeout: Duration,
    pub transcript: Transcript,
    notes: Vec<String>,
    notify: Option<Arc<NotifyListener>>,
    /// Unique per run: file names and ids built from it do not collide with earlier runs against
    /// the same server.
    tag: String,
    counter: u32,
    message_base: i64,
    conns: u32,
    /// What the case saw the server choose where the protocol allows a choice; reported with
    /// any verdict.
    observations: Vec<String>,
    /// Whether the case uploaded with a message id conform made up (no chat message behind it).
    invented: bool,
    /// The sender's chat connection that announces uploads (with `--chat`), kept across cases.
    announcer: Option<Conn>,
    /// A second chat server of the same system (`--chat2`), for the two-server cases.
    chat2: Option<String>,
}

impl Ctx {
    pub fn new(
        resource: String,
        chat: Option<String>,
        users: Vec<User>,
        timeout: Duration,
        notify: Option<Arc<NotifyListener>>,
    ) -> Self {
        let tag = run_tag();
        let message_base =
            SYNTHETIC_MESSAGE_IDS + (stable_hash(tag.as_bytes()) % 1_000_000) as i64 * 1000;
        Ctx {
            resource,
            chat,
            users,
            timeout,
            transcript: Transcript::default(),
            notes: Vec::new(),
            notify,
            tag,
            counter: 0,
            message_base,
            conns: 0,
            observations: Vec::new(),
            invented: false,
            announcer: None,
            chat2: None,
        }
    }

    /// Gives the cases a second chat server of the same system (`--chat2`).
    pub fn with_chat2(mut self, chat2: Option<String>) -> Self {
        self.chat2 = chat2;
        self
    }

    /// A connection to the second chat server (`--chat2`); without it, the case could not run.
    pub async fn chat2(&mut self) -> Result<Conn, Finding> {
        let addr = self.chat2.clone().ok_or_else(|| {
            could_not_run("needs --chat2 ADDR (a second chat server of the same system)")
        })?;
        self.connect(&addr, Framing::Chat, "chat2")
            .await
            .map_err(could_not_run)
    }

    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// How long to watch for something that must *not* happen (a second notify, a push).
    pub fn quiet_period(&self) -> Duration {
        (self.timeout / 4).clamp(Duration::from_millis(100), Duration::from_millis(600))
    }

    pub fn tag(&self) -> &str {
        &self.tag
    }

    /// Records a tolerated deviation: the case still works but ends non-strict.
    pub fn non_strict(&mut self, note: impl Into<String>) {
        let note = note.into();
        self.transcript.push(format!("!! non-strict: {note}"));
        self.notes.push(note);
    }

    /// Records which behaviour the server chose where either is allowed; it does not change the
    /// verdict.
    pub fn observe(&mut self, what: impl Into<String>) {
        let what = what.into();
        self.transcript.push(format!("!! observed: {what}"));
        self.observations.push(what);
    }

    /// The observations of the case that just ran; empties them.
    pub fn take_observations(&mut self) -> Vec<String> {
        std::mem::take(&mut self.observations)
    }

    /// Whether the case that just ran uploaded under an invented message id; resets it.
    pub fn take_invented(&mut self) -> bool {
        std::mem::take(&mut self.invented)
    }

    /// The notes of the case that just ran; empties them.
    pub fn take_notes(&mut self) -> Vec<String> {
        std::mem::take(&mut self.notes)
    }

    pub fn notify(&self) -> Result<Arc<NotifyListener>, Finding> {
        self.notify.clone().ok_or_else(|| {
            could_not_run(
                "needs --notify-listen ADDR, with the resource server configured to notify ADDR",
            )
        })
    }

    /// A unique file name: `<tag>-<n>-<slug>.bin`.
    pub fn unique_name(&mut self, slug: &str) -> String {
        self.counter += 1;
        format!("{}-{:02}-{slug}.bin", self.tag, self.counter)
    }

    /// A unique message id for an upload that has no chat message.
    pub fn next_message_id(&mut self) -> i64 {
        self.counter += 1;
        self.message_base + i64::from(self.counter)
    }

    /// The uploading user: the first user.
    pub fn sender(&self) -> &User {
        // `run` refuses to start without a user, so there is always one.
        &self.users[0]
    }

    /// The receiving user: the second user, needed by cases about two parties.
    pub fn receiver(&self) -> Result<&User, Finding> {
        self.users
            .get(1)
            .ok_or_else(|| could_not_run("needs a second user (--users with two [[users]])"))
    }

    /// A connection to the resource server; failing to connect means the case could not run.
    pub async fn resource(&mut self) -> Result<Conn, Finding> {
        self.connect_resource().await.map_err(could_not_run)
    }

    /// A connection to the resource server after the case did something bad to it: failing to
    /// connect now means the server stopped serving, which fails the case.
    pub async fn resource_again(&mut self) -> Result<Conn, Finding> {
        self.connect_resource()
            .await
            .map_err(no_longer_accepts("the server"))
    }

    /// A connection to the chat server (`--chat`).
    pub async fn chat(&mut self) -> Result<Conn, Finding> {
        let addr = self.chat_addr()?;
        self.connect(&addr, Framing::Chat, "chat")
            .await
            .map_err(could_not_run)
    }

    /// [`Ctx::chat`] after the case did something bad to the chat server: failing to connect now
    /// fails the case.
    pub async fn chat_again(&mut self) -> Result<Conn, Finding> {
        let addr = self.chat_addr()?;
        self.connect(&addr, Framing::Chat, "chat")
            .await
            .map_err(no_longer_accepts("the chat server"))
    }

    /// A fault proxy in front of the resource server that applies `faults` to the frames of every
    /// connection made through it ([`Ctx::resource_via`]) and paces them to `bandwidth_bps` each
    /// way. Each fault it applies goes to the transcript and to the returned log.
    pub fn resource_proxy(
        &self,
        faults: Vec<FrameFault>,
        bandwidth_bps: Option<u64>,
    ) -> (Arc<FaultProxy>, Arc<FaultLog>) {
        let log = Arc::new(FaultLog::new(self.transcript.clone()));
        let framings = [(self.resource.clone(), Framing::Resource)]
            .into_iter()
            .collect();
        let proxy = FaultProxy::new(
            framings,
            RuleSet::new(faults),
            Arc::new(SinceStart::now()),
            bandwidth_bps,
            Tracer::new("proxy", log.clone()),
        );
        (proxy, log)
    }

    /// A connection to the resource server through `proxy`; failing to connect means the case
    /// could not run.
    pub async fn resource_via(&mut self, proxy: &Arc<FaultProxy>) -> Result<Conn, Finding> {
        self.connect_via(proxy).await.map_err(could_not_run)
    }

    /// [`Ctx::resource_via`] after the case did something to the server (a reset): failing to
    /// connect now fails the case.
    pub async fn resource_via_again(&mut self, proxy: &Arc<FaultProxy>) -> Result<Conn, Finding> {
        self.connect_via(proxy)
            .await
            .map_err(no_longer_accepts("the server"))
    }

    async fn connect_via(&mut self, proxy: &Arc<FaultProxy>) -> Result<Conn, String> {
        self.conns += 1;
        let label = format!("res~proxy#{}", self.conns);
        let network: Arc<dyn Network> = proxy.network(Arc::new(TokioNetwork));
        Conn::connect_via(
            &network,
            &self.resource,
            Framing::Resource,
            label,
            self.transcript.clone(),
            self.timeout,
        )
        .await
    }

    async fn connect_resource(&mut self) -> Result<Conn, String> {
        let addr = self.resource.clone();
        self.connect(&addr, Framing::Resource, "res").await
    }

    /// The chat server's address, when `--chat` was given.
    pub fn chat_given(&self) -> Option<&str> {
        self.chat.as_deref()
    }

    /// Without `--chat` there is no chat server, and a case that needs one could not run.
    fn chat_addr(&self) -> Result<String, Finding> {
        self.chat
            .clone()
            .ok_or_else(|| could_not_run("needs --chat ADDR"))
    }

    async fn connect(&mut self, addr: &str, framing: Framing, kind: &str) -> Result<Conn, String> {
        self.conns += 1;
        let label = format!("{kind}#{}", self.conns);
        Conn::connect(addr, framing, label, self.transcript.clone(), self.timeout).await
    }

    /// A file of `size` pseudo-random bytes from the sender to the receiver (or to the sender
    /// when there is one user), with a unique name. With `--chat` it is announced as a client
    /// does (1035) and carries the chat server's message id; without, its id is invented and the
    /// case is reported as resting on one.
    pub async fn upload(&mut self, slug: &str, size: usize) -> Result<Upload, Finding> {
        let upload = self.unreported_upload(slug, size);
        self.announced(upload).await
    }

    /// [`Ctx::upload`] under exactly `name` (a hostile one, say), announced under that name so
    /// that a server binding uploads to their messages lets it reach the rule under test.
    pub async fn upload_named(&mut self, name: String, size: usize) -> Result<Upload, Finding> {
        let mut upload = self.unreported_upload("named", size);
        upload.name = name;
        self.announced(upload).await
    }

    async fn announced(&mut self, mut upload: Upload) -> Result<Upload, Finding> {
        if self.chat.is_some() {
            upload.message_id = self.announce(&upload).await?;
        } else {
            self.invented = true;
        }
        Ok(upload)
    }

    /// Announces `upload` (1035) on the sender's chat connection, logging in first when there is
    /// none or the old one stopped answering (a chat server drops a session idle for 20 s).
    async fn announce(&mut self, upload: &Upload) -> Result<i64, Finding> {
        let mut last = String::new();
        for _ in 0..2 {
            let mut conn = match self.announcer.take() {
                Some(conn) => conn,
                None => match self.chat_login().await {
                    Ok(conn) => conn,
                    Err(why) => {
                        last = why;
                        continue;
                    }
                },
            };
            match announce_on(&mut conn, upload).await {
                Ok(id) => {
                    self.announcer = Some(conn);
                    return Ok(id);
                }
                Err(why) => last = why,
            }
        }
        Err(could_not_run(format!(
            "announcing the image with 1035 on --chat failed, so it has no message id: {last}"
        )))
    }

    /// A chat connection on which the sender is logged in.
    async fn chat_login(&mut self) -> Result<Conn, String> {
        let addr = self.chat.clone().unwrap_or_default();
        let user = self.sender().clone();
        let mut conn = self.connect(&addr, Framing::Chat, "chat").await?;
        let login = LoginReq {
            uid: user.uid,
            token: user.token.clone(),
            push_ack: false,
        };
        conn.send(&Frame::json(ids::CHAT_LOGIN, &login))
            .await
            .map_err(|f| f.reason)?;
        let body = conn
            .recv_matching(ids::CHAT_LOGIN_RSP, "the 1006 login reply", |_| true)
            .await
            .map_err(|f| f.reason)?;
        match int(&body, "error") {
            Some(0) => Ok(conn),
            other => Err(format!(
                "login of uid {} answered error {other:?}",
                user.uid
            )),
        }
    }

    /// [`Ctx::upload`] for a file whose chunks never complete an upload (the probe, an image
    /// message that is only announced): its message id is never looked up.
    pub fn unreported_upload(&mut self, slug: &str, size: usize) -> Upload {
        let name = self.unique_name(slug);
        let message_id = self.next_message_id();
        let sender = self.sender().clone();
        let receiver = self.users.get(1).unwrap_or(&sender).uid;
        Upload::new(name, file_bytes(slug, size), message_id, &sender, receiver)
    }
}

/// Sends 1035 for `upload` and returns the message id of the 1036 that names it.
async fn announce_on(conn: &mut Conn, upload: &Upload) -> Result<i64, String> {
    let req = ImgMsgReq {
        fromuid: upload.uid,
        touid: upload.receiver,
        thread_id: upload.thread_id,
        md5: upload.md5.clone(),
        name: upload.name.clone(),
        token: upload.token.clone(),
        // The md5 too: two messages may carry the same name (3.8).
        unique_id: format!(
            "{}-{}-msg",
            upload.name,
            upload.md5.get(..8).unwrap_or_default()
        ),
    };
    conn.send(&Frame::json(ids::IMG_CHAT_MSG_REQ, &req))
        .await
        .map_err(|f| f.reason)?;
    let name = upload.name.clone();
    let ack = conn
        .recv_matching(ids::IMG_CHAT_MSG_RSP, "the 1036 image message ack", |b| {
            text(b, "unique_name") == Some(name.as_str())
        })
        .await
        .map_err(|f| f.reason)?;
    match (int(&ack, "error"), int(&ack, "message_id")) {
        (Some(0), Some(id)) if id > 0 => Ok(id),
        (error, id) => Err(format!("1036 says error {error:?}, message_id {id:?}")),
    }
}

/// A failure to connect to `server` after the case did something to it: it stopped serving.
fn no_longer_accepts(server: &str) -> impl FnOnce(String) -> Finding + '_ {
    move |e| fail(format!("{server} no longer accepts connections: {e}"))
}

/// `cf<time in base 36>p<pid>`: differs between runs, even two in the same second from
/// different processes.
fn run_tag() -> String {
    let millis = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or_default();
    format!("cf{}p{}", base36(millis), std::process::id())
}

fn base36(mut n: u64) -> String {
    const DIGITS: &[u8] = b"0123456789abcdefghijklmnopqrstuvwxyz";
    let mut out = Vec::new();
    loop {
        out.push(DIGITS[(n % 36) as usize]);
        n /= 36;
        if n == 0 {
            break;
        }
    }
    out.reverse();
    String::from_utf8(out).unwrap_or_default()
}

/// Pseudo-random bytes that depend only on the slug, so a failing case sends the same file again.
pub fn file_bytes(slug: &str, size: usize) -> Vec<u8> {
    let mut rng = rand::rngs::SmallRng::seed_from_u64(stable_hash(slug.as_bytes()));
    let mut data = vec![0u8; size];
    rng.fill_bytes(&mut data);
    data
}

pub fn md5_hex(bytes: &[u8]) -> String {
    hex::encode(Md5::digest(bytes))
}

/// One file to upload, and how to build each of its chunk requests the way upstream does.
#[derive(Debug, Clone)]
pub struct Upload {
    pub name: String,
    pub data: Vec<u8>,
    /// The md5 declared in the requests (a case may make it wrong on purpose).
    pub md5: String,
    pub message_id: i64,
    pub uid: i32,
    pub token: String,
    pub receiver: i32,
    pub thread_id: i32,
}

/// Which request carries a chunk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChunkKind {
    /// 1041 for seq 1, 1037 after: the first attempt on a connection.
    Normal,
    /// 1043 with sizes as numbers and the token: sending after a reconnect.
    Resume,
}

/// A chunk request ready to send, with what its ack must name.
#[derive(Debug, Clone)]
pub struct ChunkSend {
    pub frame: Frame,
    pub name: String,
    pub seq: u32,
}

impl ChunkSend {
    pub fn reply_id(&self) -> u16 {
        ids::reply_to(self.frame.id).unwrap_or(ids::FILE_INFO_SYNC_RSP)
    }
}

impl Upload {
    pub fn new(name: String, data: Vec<u8>, message_id: i64, sender: &User, receiver: i32) -> Self {
        Upload {
            md5: md5_hex(&data),
            name,
            data,
            message_id,
            uid: sender.uid,
            token: sender.token.clone(),
            receiver,
            thread_id: 1,
        }
    }

    pub fn plan(&self) -> ChunkPlan {
        ChunkPlan::new(self.data.len() as u64)
    }

    pub fn max_seq(&self) -> u32 {
        self.plan().max_seq()
    }

    pub fn bytes_of(&self, seq: u32) -> &[u8] {
        match self.plan().range(seq) {
            Some(range) => &self.data[range.start as usize..range.end as usize],
            None => &[],
        }
    }

    /// The request for `seq` with the fields upstream sends: 1041 carries `token` and
    /// `unique_id`, 1037 carries `last_seq`, sizes are strings; 1043 has numbers and (our
    /// addition, needed on a fresh connection) the token.
    pub fn request(&self, seq: u32, kind: ChunkKind) -> ChunkReq {
        let plan = self.plan();
        let first = seq == 1 && kind == ChunkKind::Normal;
        let size = |v: u64| match kind {
            ChunkKind::Normal => WireSize::string(v),
            ChunkKind::Resume => WireSize::number(v),
        };
        ChunkReq {
            name: self.name.clone(),
            unique_id: first.then(|| format!("{}-u", self.name)),
            seq,
            trans_size: size(plan.trans_size(seq)),
            total_size: size(plan.total),
            token: (first || kind == ChunkKind::Resume).then(|| self.token.clone()),
            md5: self.md5.clone(),
            uid: self.uid,
            data: base64::engine::general_purpose::STANDARD.encode(self.bytes_of(seq)),
            message_id: self.message_id,
            sender: self.uid,
            receiver: self.receiver,
            last: i32::from(plan.is_last(seq)),
            last_seq: (!first).then_some(plan.max_seq()),
            thread_id: Some(self.thread_id),
        }
    }

    pub fn request_id(seq: u32, kind: ChunkKind) -> u16 {
        match kind {
            ChunkKind::Normal if seq == 1 => ids::FILE_INFO_SYNC_REQ,
            ChunkKind::Normal => ids::IMG_CHAT_UPLOAD_REQ,
            ChunkKind::Resume => ids::IMG_CHAT_CONTINUE_UPLOAD_REQ,
        }
    }

    pub fn send(&self, seq: u32, kind: ChunkKind) -> ChunkSend {
        self.send_req(Self::request_id(seq, kind), &self.request(seq, kind))
    }

    /// A send of a request a case altered.
    pub fn send_req(&self, id: u16, req: &ChunkReq) -> ChunkSend {
        ChunkSend {
            frame: Frame::json(id, req),
            name: req.name.clone(),
            seq: req.seq,
        }
    }

    /// The sends of `seqs`, in that order, each as `kind`.
    pub fn sends(&self, seqs: impl IntoIterator<Item = u32>, kind: ChunkKind) -> Vec<ChunkSend> {
        seqs.into_iter().map(|seq| self.send(seq, kind)).collect()
    }

    /// Every seq after the first, as normal sends.
    pub fn rest(&self) -> Vec<ChunkSend> {
        self.sends(2..=self.max_seq(), ChunkKind::Normal)
    }
}

/// An integer field, as a JSON number or a string of digits.
pub fn int(body: &Value, key: &str) -> Option<i64> {
    match body.get(key)? {
        Value::Number(n) => n.as_i64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// A flag: a JSON bool, or a number where 0 is false. Reading both lets the byte checks work
/// whatever the server writes; the JSON type the upstream client needs is judged apart
/// ([`crate::conform::types`]).
pub fn flag(body: &Value, key: &str) -> Option<bool> {
    match body.get(key)? {
        Value::Bool(b) => Some(*b),
        Value::Number(n) => n.as_i64().map(|v| v != 0),
        Value::String(s) => s.trim().parse::<i64>().ok().map(|v| v != 0),
        _ => None,
    }
}

pub fn text<'a>(body: &'a Value, key: &str) -> Option<&'a str> {
    body.get(key)?.as_str()
}

/// A size field and whether it travelled as a string.
pub fn size(body: &Value, key: &str) -> Option<(u64, bool)> {
    match body.get(key)? {
        Value::Number(n) => n.as_u64().map(|v| (v, false)),
        Value::String(s) => s.trim().parse().ok().map(|v| (v, true)),
        _ => None,
    }
}

/// The `error` field; a reply without one is a failure, since every reply carries it.
pub fn error_code(body: &Value, what: &str) -> Result<i64, Finding> {
    int(body, "error").ok_or_else(|| fail(format!("{what} has no numeric \"error\" field")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_and_names_are_unique_and_plain() {
        assert_eq!(base36(0), "0");
        assert_eq!(base36(35), "z");
        assert_eq!(base36(36), "10");
        let mut ctx = Ctx::new(
            "127.0.0.1:1".into(),
            None,
            crate::users::demo_users().iter().cloned().collect(),
            Duration::from_millis(100),
            None,
        );
        let a = ctx.unique_name("x");
        let b = ctx.unique_name("x");
        assert_ne!(a, b);
        assert!(crate::resource::check_file_name(&a).is_ok());
        let id = ctx.next_message_id();
        assert!(id > SYNTHETIC_MESSAGE_IDS && id < i64::from(i32::MAX));
    }

    #[test]
    fn requests_follow_upstream_field_sets() {
        let user = User {
            uid: 1,
            token: "t".into(),
            name: "a".into(),
        };
        let upload = Upload::new("f.bin".into(), file_bytes("f", 70_000), 5, &user, 2);
        assert_eq!(upload.max_seq(), 3);
        let first = upload.request(1, ChunkKind::Normal);
        assert_eq!(first.token.as_deref(), Some("t"));
        assert_eq!(first.last_seq, None);
        assert_eq!(first.trans_size, WireSize::string(32768));
        let last = upload.request(3, ChunkKind::Normal);
        assert_eq!((last.token, last.last, last.last_seq), (None, 1, Some(3)));
        let resume = upload.request(2, ChunkKind::Resume);
        assert_eq!(resume.total_size, WireSize::number(70_000));
        assert_eq!(
            Upload::request_id(1, ChunkKind::Normal),
            ids::FILE_INFO_SYNC_REQ
        );
        assert_eq!(
            Upload::request_id(1, ChunkKind::Resume),
            ids::IMG_CHAT_CONTINUE_UPLOAD_REQ
        );
        assert_eq!(upload.bytes_of(3).len(), 70_000 - 65536);
    }
}
