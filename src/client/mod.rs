//! The reference client: a chat connection (login, heartbeats, texts, image messages, pushes), an
//! upload engine on the resource socket (window, per-file books, retransmit) and a downloader.
//!
//! A [`Client`] is a handle; the work happens in tasks it spawns. The application (a scenario in
//! the simulation) calls `send_texts` and `send_image`; what happens is written to the trace.

pub(crate) mod download;
pub mod text;
mod upload;
mod window;

pub use window::{WindowPolicy, ADAPTIVE_MAX};

use crate::hash::stable_hash;
use crate::net::{framed, next_frame, FrameReader, FrameSender, Network};
use crate::profile::Profile;
use crate::protocol::body::{
    HeartbeatReq, ImgMsgReq, ImgMsgRsp, ImgUploadedNotify, LoginReq, LoginRsp, PushAck, TextReq,
    TextRsp,
};
use crate::protocol::{ids, Frame, FrameCodec, Framing};
use crate::trace::{Dir, Event, Tracer};
use bytes::Bytes;
use md5::{Digest, Md5};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;
use tokio::time::Instant;

#[derive(Debug, Clone)]
pub struct ClientConfig {
    pub uid: i32,
    pub token: String,
    /// The chat server (`host:port`).
    pub chat_addr: String,
    /// The resource server (`host:port`).
    pub resource_addr: String,
    pub heartbeat_interval: Duration,
    /// A chunk without an ack for this long is sent again.
    pub chunk_timeout: Duration,
    /// How long a download waits for one reply before it starts over.
    pub download_timeout: Duration,
    /// The seed's quirks to reproduce, if any.
    pub profile: Profile,
    /// How many chunks the upload window holds: the seed's five, or adaptive.
    pub window: WindowPolicy,
    /// Which start of this client this is (any number that differs between starts, e.g. the
    /// start time in ms). It is part of every unique id, so that requests of a restarted client
    /// are never taken for repeats of the previous run's.
    pub instance: u64,
}

impl ClientConfig {
    pub fn new(uid: i32, token: &str, chat_addr: &str, resource_addr: &str) -> Self {
        ClientConfig {
            uid,
            token: token.to_owned(),
            chat_addr: chat_addr.to_owned(),
            resource_addr: resource_addr.to_owned(),
            heartbeat_interval: Duration::from_secs(10),
            chunk_timeout: Duration::from_secs(5),
            download_timeout: Duration::from_secs(10),
            profile: Profile::reference(),
            window: WindowPolicy::Fixed5,
            instance: 0,
        }
    }
}

/// A file to send: its unique name, its bytes and their MD5 (hashed once: the announce and
/// every fresh start of the upload send it).
#[derive(Debug, Clone)]
pub struct SourceFile {
    pub name: String,
    pub data: Bytes,
    md5: String,
}

impl SourceFile {
    pub fn new(name: String, data: Bytes) -> Self {
        let md5 = hex::encode(Md5::digest(&data));
        SourceFile { name, data, md5 }
    }

    /// A file whose MD5 the caller already took (the simulation hashes each image once). The
    /// client announces `md5` as it is: a wrong one is the caller's doing.
    pub fn with_md5(name: String, data: Bytes, md5: String) -> Self {
        SourceFile { name, data, md5 }
    }

    pub fn md5(&self) -> String {
        self.md5.clone()
    }
}

enum Command {
    Texts {
        to: i32,
        contents: Vec<String>,
    },
    Image {
        to: i32,
        file: SourceFile,
    },
    Logout,
    /// Log in again; at this chat server address when given.
    Login {
        chat_addr: Option<String>,
    },
}

/// A running client.
#[derive(Clone)]
pub struct Client {
    commands: mpsc::UnboundedSender<Command>,
    uploads: upload::UploadEngine,
}

impl Client {
    /// Connects to the chat server, logs in and starts the client's tasks. Returns once the login
    /// has been answered successfully; later connection losses are repaired in the background.
    pub async fn start(
        config: ClientConfig,
        network: Arc<dyn Network>,
        tracer: Tracer,
    ) -> Result<Client, ClientError> {
        let connection = login(&config, network.as_ref(), &tracer).await?;
        let uploads = upload::UploadEngine::start(config.clone(), network.clone(), tracer.clone());
        let downloads =
            download::Downloader::start(config.clone(), network.clone(), tracer.clone());
        let (commands, rx) = mpsc::unbounded_channel();
        let chat = ChatSide {
            peer: config.chat_addr.clone(),
            config,
            network,
            tracer,
            uploads: uploads.clone(),
            downloads,
            pending_images: BTreeMap::new(),
            pending_texts: Vec::new(),
            next_unique: 1,
            want_session: true,
            pushes_seen: BTreeSet::new(),
        };
        tokio::spawn(chat.run(Some(connection), rx));
        Ok(Client { commands, uploads })
    }

    /// One press of the send button with these texts.
    pub fn send_texts(&self, to: i32, contents: Vec<String>) {
        let _ = self.commands.send(Command::Texts { to, contents });
    }

    /// Announces an image message and uploads the file once the chat server answers.
    pub fn send_image(&self, to: i32, file: SourceFile) {
        let _ = self.commands.send(Command::Image { to, file });
    }

    pub fn pause(&self, file: &str) {
        self.uploads
            .command(upload::Command::Pause(file.to_owned()));
    }

    pub fn resume(&self, file: &str) {
        self.uploads
            .command(upload::Command::Resume(file.to_owned()));
    }

    pub fn cancel(&self, file: &str) {
        self.uploads
            .command(upload::Command::Cancel(file.to_owned()));
    }

    /// Ends the chat session; uploads in progress go on.
    pub fn logout(&self) {
        let _ = self.commands.send(Command::Logout);
    }

    /// Starts a chat session again after `logout`.
    pub fn login(&self) {
        let _ = self.commands.send(Command::Login { chat_addr: None });
    }

    /// Logs in on the chat server at `chat_addr` (another server of the same system). The old
    /// connection is left open, as a second device would leave it: ending the old session is the
    /// servers' job (a kick).
    pub fn login_at(&self, chat_addr: &str) {
        let _ = self.commands.send(Command::Login {
            chat_addr: Some(chat_addr.to_owned()),
        });
    }
}

/// A logged-in chat connection.
struct ChatConnection {
    reader: FrameReader,
    sender: FrameSender,
    last_heard: Instant,
}

/// Connects and logs in; the login reply must come within 10 s.
async fn login(
    config: &ClientConfig,
    network: &dyn Network,
    tracer: &Tracer,
) -> Result<ChatConnection, ClientError> {
    let peer = config.chat_addr.clone();
    let stream = crate::timer::timeout(LOGIN_TIMEOUT, network.connect(peer.clone()))
        .await
        .map_err(|_| ClientError::Login(format!("connecting to {peer} timed out")))?
        .map_err(|e| ClientError::Connect(peer.clone(), e))?;
    let (mut reader, sender) = framed(
        stream,
        FrameCodec::with_limit(Framing::Chat, usize::MAX),
        FrameCodec::upstream(Framing::Chat),
    );
    let request = Frame::json(
        ids::CHAT_LOGIN,
        &LoginReq {
            uid: config.uid,
            token: config.token.clone(),
            push_ack: true,
        },
    );
    tracer.emit(Event::frame(Dir::Tx, &peer, &request, None));
    sender.send(request);
    let reply = crate::timer::timeout(LOGIN_TIMEOUT, next_frame(&mut reader))
        .await
        .map_err(|_| ClientError::Login("no reply to login within 10 s".into()))?
        .map_err(|e| ClientError::Login(e.to_string()))?
        .ok_or_else(|| ClientError::Login("connection closed before the login reply".into()))?;
    tracer.emit(Event::frame(Dir::Rx, &peer, &reply, None));
    let rsp: LoginRsp = (reply.id == ids::CHAT_LOGIN_RSP)
        .then(|| reply.parse().ok())
        .flatten()
        .ok_or_else(|| ClientError::Login(format!("unexpected reply id {}", reply.id)))?;
    if rsp.error != 0 {
        tracer.emit(Event::LoginFailed {
            uid: config.uid,
            error: rsp.error,
        });
        return Err(ClientError::Login(format!(
            "refused with error {}",
            rsp.error
        )));
    }
    tracer.emit(Event::LoggedIn { uid: config.uid });
    Ok(ChatConnection {
        reader,
        sender,
        last_heard: Instant::now(),
    })
}

const LOGIN_TIMEOUT: Duration = Duration::from_secs(10);
/// A text or image message request without an answer for this long is sent again.
const CHAT_REQUEST_TIMEOUT: Duration = Duration::from_secs(5);
/// Missed heartbeat replies after which the chat connection is taken for dead.
const HEARTBEATS_MISSED: u32 = 3;

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("cannot connect to {0}: {1}")]
    Connect(String, std::io::Error),
    #[error("login failed: {0}")]
    Login(String),
}

/// The thread a pair of users talk in; the same for both directions.
pub fn thread_id(a: i32, b: i32) -> i32 {
    let (lo, hi) = (a.min(b), a.max(b));
    let key = format!("{lo}:{hi}");
    (stable_hash(key.as_bytes()) % i32::MAX as u64) as i32
}

struct ChatSide {
    config: ClientConfig,
    network: Arc<dyn Network>,
    tracer: Tracer,
    peer: String,
    uploads: upload::UploadEngine,
    downloads: download::Downloader,
    /// Image messages announced and waiting for their 1036, by unique id, with the request.
    pending_images: BTreeMap<String, (i32, SourceFile, Frame, Instant)>,
    /// Text requests not fully acknowledged, in the order the user sent them. Only the first
    /// for each receiver is on the wire (see [`PendingText`]).
    pending_texts: Vec<PendingText>,
    next_unique: u64,
    /// False between a logout and the next login.
    want_session: bool,
    /// Pushes already handled, by (message id of the push, its first message id): the chat
    /// server sends a push again until it is acknowledged.
    pushes_seen: BTreeSet<(u16, i64)>,
}

/// One text request and the unique ids it carries that are still unanswered. A client keeps one
/// text request per receiver in flight and sends the next when the first is fully answered: the
/// chat server stores texts in the order their requests arrive, and a request delayed, lost or
/// resent after a reconnect must not let a later one overtake it (upstream pipelines them and
/// relies on one TCP connection's order, which a reconnect does not keep).
struct PendingText {
    to: i32,
    ids: BTreeSet<String>,
    frame: Frame,
    /// When it was last sent; `None` while an earlier request to the same receiver is pending.
    sent_at: Option<Instant>,
}

/// The key that identifies a push for acknowledgement and deduplication.
fn push_key(frame: &Frame) -> Option<(u16, i64)> {
    let message_id = match frame.id {
        ids::NOTIFY_TEXT_CHAT_MSG_REQ => {
            frame
                .parse::<TextRsp>()
                .ok()?
                .chat_datas
                .first()?
                .message_id
        }
        ids::NOTIFY_IMG_CHAT_MSG_REQ | ids::NOTIFY_IMG_UPLOADED => {
            frame.parse::<ImgUploadedNotify>().ok()?.message_id
        }
        _ => return None,
    };
    Some((frame.id, message_id))
}

impl ChatSide {
    async fn run(
        mut self,
        mut conn: Option<ChatConnection>,
        mut commands: mpsc::UnboundedReceiver<Command>,
    ) {
        let mut heartbeat = crate::timer::interval(self.config.heartbeat_interval);
        let mut retry = crate::timer::interval(Duration::from_secs(1));
        heartbeat.tick().await;
        loop {
            if conn.is_none() && self.want_session {
                match login(&self.config, self.network.as_ref(), &self.tracer).await {
                    Ok(fresh) => {
                        conn = Some(fresh);
                        self.resend_pending(conn.as_ref(), Duration::ZERO);
                    }
                    Err(_) => {
                        crate::timer::sleep(Duration::from_secs(1)).await;
                        continue;
                    }
                }
            }
            let next = async {
                match conn.as_mut() {
                    Some(c) => next_frame(&mut c.reader).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                biased;
                frame = next => match frame {
                    Ok(Some(frame)) => {
                        if let Some(c) = conn.as_mut() {
                            c.last_heard = Instant::now();
                        }
                        self.on_frame(frame, conn.as_ref());
                    }
                    Ok(None) => conn = self.lost("closed by server".into()),
                    Err(err) => conn = self.lost(err.to_string()),
                },
                command = commands.recv() => match command {
                    Some(Command::Logout) => {
                        self.want_session = false;
                        if conn.take().is_some() {
                            self.tracer.emit(Event::LoggedOut { uid: self.config.uid });
                        }
                    }
                    Some(Command::Login { chat_addr }) => {
                        self.want_session = true;
                        if let Some(addr) = chat_addr.filter(|a| *a != self.peer) {
                            if let Some(old) = conn.take() {
                                self.retire(old);
                            }
                            self.peer = addr.clone();
                            self.config.chat_addr = addr;
                        }
                    }
                    Some(command) => self.on_command(command, conn.as_ref()),
                    // The application dropped its handle; keep serving pushes.
                    None => std::future::pending::<()>().await,
                },
                _ = retry.tick() => self.resend_pending(conn.as_ref(), CHAT_REQUEST_TIMEOUT),
                _ = heartbeat.tick() => {
                    // turmoil can stall a connection silently: a missing heartbeat reply is the
                    // only sign, so silence for a few intervals means the connection is dead.
                    let silent = conn.as_ref().map(|c| c.last_heard.elapsed());
                    if silent.is_some_and(|s| s >= self.config.heartbeat_interval * HEARTBEATS_MISSED) {
                        conn = self.lost("no heartbeat reply".into());
                    } else if let Some(c) = conn.as_ref() {
                        let beat = Frame::json(ids::HEART_BEAT_REQ, &HeartbeatReq { fromuid: self.config.uid });
                        self.send(c, beat);
                    }
                }
            }
        }
    }

    /// The session left behind by a move to another server: read until its server closes it
    /// (a kick, or its heartbeat timeout), and otherwise ignored; pushes sent into it are not
    /// acknowledged, so the new session gets them.
    fn retire(&self, old: ChatConnection) {
        let (peer, tracer) = (self.peer.clone(), self.tracer.clone());
        let ChatConnection {
            mut reader, sender, ..
        } = old;
        tokio::spawn(async move {
            let reason = loop {
                match next_frame(&mut reader).await {
                    Ok(Some(_)) => continue,
                    Ok(None) => break "closed by server".to_owned(),
                    Err(err) => break err.to_string(),
                }
            };
            drop(sender);
            tracer.emit(Event::ConnClosed { peer, reason });
        });
    }

    fn lost(&self, reason: String) -> Option<ChatConnection> {
        self.tracer.emit(Event::ConnClosed {
            peer: self.peer.clone(),
            reason,
        });
        None
    }

    /// Requests whose answer has not come for `older_than` (zero after a reconnect) are sent
    /// again. The chat server recognises them by unique id, so nothing is stored or pushed twice.
    fn resend_pending(&mut self, conn: Option<&ChatConnection>, older_than: Duration) {
        let Some(conn) = conn else { return };
        let now = Instant::now();
        let mut due = self.due_texts(older_than);
        for (_, _, frame, sent_at) in self.pending_images.values_mut() {
            if now.duration_since(*sent_at) >= older_than {
                *sent_at = now;
                due.push(frame.clone());
            }
        }
        for frame in due {
            self.send(conn, frame);
        }
    }

    /// The first pending text request to each receiver, if it was never sent or was sent at
    /// least `older_than` ago; marked as sent now.
    fn due_texts(&mut self, older_than: Duration) -> Vec<Frame> {
        let now = Instant::now();
        let mut heads = BTreeSet::new();
        let mut due = Vec::new();
        for text in self.pending_texts.iter_mut() {
            // A request with no ids (the seed's trailing empty one) has nothing to keep in order.
            if !text.ids.is_empty() && !heads.insert(text.to) {
                continue;
            }
            if text
                .sent_at
                .is_none_or(|at| now.duration_since(at) >= older_than)
            {
                text.sent_at = Some(now);
                due.push(text.frame.clone());
            }
        }
        due
    }

    /// Sends the text requests that have just become first for their receiver.
    fn send_next_texts(&mut self, conn: Option<&ChatConnection>) {
        let Some(conn) = conn else { return };
        for frame in self.due_texts(CHAT_REQUEST_TIMEOUT) {
            self.send(conn, frame);
        }
    }

    fn send(&self, conn: &ChatConnection, frame: Frame) {
        self.tracer
            .emit(Event::frame(Dir::Tx, &self.peer, &frame, None));
        conn.sender.send(frame);
    }

    fn unique_id(&mut self) -> String {
        let id = format!(
            "{}-{}-{}",
            self.config.uid, self.config.instance, self.next_unique
        );
        self.next_unique += 1;
        id
    }

    /// Records a request as pending and sends it now if connected (else after the reconnect).
    fn on_command(&mut self, command: Command, conn: Option<&ChatConnection>) {
        let uid = self.config.uid;
        match command {
            Command::Texts { to, contents } => {
                let items: Vec<(String, String)> = contents
                    .into_iter()
                    .map(|content| (content, self.unique_id()))
                    .collect();
                let press = text::press(&self.config.profile, &items);
                // The user sent these too; the seed's batcher lost them (bug 12), so they are
                // sent, from the user's side, and never acknowledged.
                for item in press.dropped {
                    self.tracer.emit(Event::TextSent {
                        from: uid,
                        to,
                        unique_id: item.unique_id,
                        content: item.content,
                    });
                }
                for batch in press.requests {
                    for item in &batch {
                        self.tracer.emit(Event::TextSent {
                            from: uid,
                            to,
                            unique_id: item.unique_id.clone(),
                            content: item.content.clone(),
                        });
                    }
                    let ids = batch.iter().map(|i| i.unique_id.clone()).collect();
                    let frame = Frame::json(
                        ids::TEXT_CHAT_MSG_REQ,
                        &TextReq {
                            fromuid: uid,
                            touid: to,
                            thread_id: thread_id(uid, to),
                            text_array: batch,
                        },
                    );
                    self.pending_texts.push(PendingText {
                        to,
                        ids,
                        frame,
                        sent_at: None,
                    });
                }
                self.send_next_texts(conn);
            }
            Command::Image { to, file } => {
                let unique_id = self.unique_id();
                let md5 = file.md5();
                self.tracer.emit(Event::ImageQueued {
                    file: file.name.clone(),
                    from: uid,
                    to,
                    size: file.data.len() as u64,
                    md5: md5.clone(),
                });
                let frame = Frame::json(
                    ids::IMG_CHAT_MSG_REQ,
                    &ImgMsgReq {
                        fromuid: uid,
                        touid: to,
                        thread_id: thread_id(uid, to),
                        md5,
                        name: file.name.clone(),
                        token: self.config.token.clone(),
                        unique_id: unique_id.clone(),
                    },
                );
                if let Some(conn) = conn {
                    self.send(conn, frame.clone());
                }
                self.pending_images
                    .insert(unique_id, (to, file, frame, Instant::now()));
            }
            Command::Logout | Command::Login { .. } => unreachable!("handled by the caller"),
        }
    }

    fn on_frame(&mut self, frame: Frame, conn: Option<&ChatConnection>) {
        self.tracer
            .emit(Event::frame(Dir::Rx, &self.peer, &frame, None));
        if let Some(key) = push_key(&frame) {
            // Acknowledge every copy (the ack itself may have been lost), act on the first.
            if let Some(conn) = conn {
                let ack = PushAck {
                    id: key.0,
                    message_id: key.1,
                };
                self.send(conn, Frame::json(ids::PUSH_ACK, &ack));
            }
            if !self.pushes_seen.insert(key) {
                return;
            }
        }
        let bad = |tracer: &Tracer, peer: &str, err: serde_json::Error| {
            tracer.emit(Event::BadInput {
                peer: peer.to_owned(),
                id: frame.id,
                error: err.to_string(),
            })
        };
        match frame.id {
            ids::HEARTBEAT_RSP => {}
            ids::TEXT_CHAT_MSG_RSP => match frame.parse::<TextRsp>() {
                Ok(rsp) => {
                    for data in &rsp.chat_datas {
                        for text in self.pending_texts.iter_mut() {
                            text.ids.remove(&data.unique_id);
                        }
                    }
                    self.pending_texts.retain(|text| !text.ids.is_empty());
                    self.send_next_texts(conn);
                    for data in rsp.chat_datas {
                        self.tracer.emit(Event::TextAcked {
                            unique_id: data.unique_id,
                            message_id: data.message_id,
                        });
                    }
                }
                Err(err) => bad(&self.tracer, &self.peer, err),
            },
            ids::NOTIFY_TEXT_CHAT_MSG_REQ => match frame.parse::<TextRsp>() {
                Ok(push) => {
                    for data in push.chat_datas {
                        self.tracer.emit(Event::TextReceived {
                            from: push.fromuid,
                            to: push.touid,
                            message_id: data.message_id,
                            unique_id: data.unique_id,
                            content: data.content,
                        });
                    }
                }
                Err(err) => bad(&self.tracer, &self.peer, err),
            },
            ids::IMG_CHAT_MSG_RSP => match frame.parse::<ImgMsgRsp>() {
                Ok(rsp) => {
                    let Some((to, file, _, _)) = self.pending_images.remove(&rsp.unique_id) else {
                        return;
                    };
                    if rsp.error != 0 {
                        self.tracer.emit(Event::UploadFailed {
                            file: file.name,
                            error: rsp.error,
                            reason: "the chat server refused the image message".into(),
                        });
                        return;
                    }
                    self.tracer.emit(Event::ImageAnnounced {
                        file: file.name.clone(),
                        message_id: rsp.message_id,
                    });
                    self.uploads
                        .command(upload::Command::Add(upload::NewUpload {
                            file,
                            to,
                            message_id: rsp.message_id,
                            thread_id: rsp.thread_id,
                        }));
                }
                Err(err) => bad(&self.tracer, &self.peer, err),
            },
            ids::NOTIFY_IMG_CHAT_MSG_REQ => match frame.parse::<ImgUploadedNotify>() {
                Ok(push) => {
                    self.tracer.emit(Event::ImagePushReceived {
                        file: push.img_name.clone(),
                        message_id: push.message_id,
                        from: push.sender_id,
                        size: push.total_size.value,
                    });
                    self.downloads.fetch(push);
                }
                Err(err) => bad(&self.tracer, &self.peer, err),
            },
            ids::NOTIFY_IMG_UPLOADED => match frame.parse::<ImgUploadedNotify>() {
                Ok(push) => self.tracer.emit(Event::UploadNotified {
                    file: push.img_name,
                    message_id: push.message_id,
                }),
                Err(err) => bad(&self.tracer, &self.peer, err),
            },
            other => self.tracer.emit(Event::BadInput {
                peer: self.peer.clone(),
                id: other,
                error: format!("unexpected message id {other}"),
            }),
        }
    }
}
