//! The chat server: logins, heartbeats, text messages, image messages, pushes to online users, and
//! the `ChatService` gRPC interface through which the resource server reports a finished upload.

mod routing;
mod service;

use crate::clock::Clock;
use crate::net::{framed_with, next_frame, FrameSender, Listener, Network};
use crate::profile::{Profile, Quirk};
use crate::protocol::body::{
    ChatData, ErrorRsp, HeartbeatReq, ImgMsgReq, ImgMsgRsp, ImgUploadedNotify, LoginReq, LoginRsp,
    PushAck, TextReq, TextRsp,
};
use crate::protocol::codes::{msg_type, status};
use crate::protocol::{ids, ErrorCode, Frame, FrameCodec, Framing, WireSize};
use crate::rpc::{NotifyChatImgReq, TextChatData, TextChatMsgReq};
use crate::store::{ChatRoutes, MessageStore, NewMessage, Offload, QueuedPush, Stored};
use crate::trace::{Dir, Event, Tracer};
use crate::users::Users;
use parking_lot::Mutex;
use routing::Forward;
use std::collections::BTreeMap;
use std::io;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Notify;
use tokio::time::Instant;

pub use routing::FORWARD_TO;
pub use service::NotifyService;

/// Upstream's error code for a message that cannot be stored (CREATE_CHAT_FAILED).
pub const CREATE_CHAT_FAILED: i32 = 1012;
/// Upstream's error code for a message that cannot be loaded (LOAD_CHAT_FAILED).
pub const LOAD_CHAT_FAILED: i32 = 1013;

#[derive(Debug, Clone)]
pub struct ChatConfig {
    /// Where clients connect (`ip:port`).
    pub listen: String,
    /// Where the resource server's gRPC notify arrives (`ip:port`).
    pub grpc_listen: String,
    /// A session with no frame for this long is dropped (upstream: 20 s).
    pub heartbeat_timeout: Duration,
    /// A connection whose socket accepts nothing for this long while frames wait is closed.
    pub write_timeout: Duration,
    /// The seed's quirks to reproduce, if any.
    pub profile: Profile,
    /// Where message store calls run: off the async threads for SQLite (`serve`).
    pub storage: Offload,
}

impl Default for ChatConfig {
    fn default() -> Self {
        ChatConfig {
            listen: "0.0.0.0:8090".into(),
            grpc_listen: "0.0.0.0:50051".into(),
            heartbeat_timeout: Duration::from_secs(20),
            write_timeout: crate::net::WRITE_TIMEOUT,
            profile: Profile::reference(),
            storage: Offload::Inline,
        }
    }
}

/// A cheap cloneable handle on the chat server's shared state.
#[derive(Clone)]
pub struct ChatServer {
    inner: Arc<Inner>,
}

struct Inner {
    config: ChatConfig,
    users: Users,
    messages: Arc<dyn MessageStore>,
    clock: Arc<dyn Clock>,
    tracer: Tracer,
    sessions: Mutex<BTreeMap<i32, Arc<Session>>>,
    next_conn: AtomicU64,
    /// Presence and forwarding, in a world of two chat servers.
    routing: Option<routing::Routing>,
}

/// A logged-in user's connection. Its pushes are delivered by one task, [`ChatServer::deliver`],
/// from the message store.
struct Session {
    conn: u64,
    sender: FrameSender,
    /// The client announced at login that it acknowledges pushes (extension 1053).
    acks_pushes: bool,
    /// Woken when a push is queued for the user or the session ends.
    wake: Notify,
    /// Woken when the client acknowledges a push.
    acked: Notify,
    ended: AtomicBool,
    /// Woken when the user logged in on another server: the connection is closed.
    kick: Arc<Notify>,
}

impl Session {
    fn end(&self) {
        self.ended.store(true, Ordering::SeqCst);
        self.wake.notify_one();
    }

    fn is_ended(&self) -> bool {
        self.ended.load(Ordering::SeqCst)
    }
}

/// An unacknowledged push is sent again after this long.
const PUSH_RETRY: Duration = Duration::from_secs(5);

/// Pushes are taken from the store this many at a time, and only when fewer than this many frames
/// wait for the socket: a user with thousands of pushes waiting costs one page of memory.
const PUSH_PAGE: usize = 32;

impl ChatServer {
    pub fn new(
        config: ChatConfig,
        users: Users,
        messages: Arc<dyn MessageStore>,
        clock: Arc<dyn Clock>,
        tracer: Tracer,
    ) -> Self {
        ChatServer {
            inner: Arc::new(Inner {
                config,
                users,
                messages,
                clock,
                tracer,
                sessions: Mutex::default(),
                next_conn: AtomicU64::new(1),
                routing: None,
            }),
        }
    }

    /// Makes this server `name`, one of the chat servers in `routes`: it records its logins in
    /// the shared presence table and forwards pushes and kicks to the others through `network`.
    pub fn with_routes(
        mut self,
        name: &str,
        routes: ChatRoutes,
        network: Arc<dyn Network>,
    ) -> Self {
        let inner = Arc::get_mut(&mut self.inner).expect("routes are set before the server runs");
        inner.routing = Some(routing::Routing::new(name, routes, network));
        self
    }

    /// A mutant for testing the two-server scenarios: the server records presence but never
    /// calls the other server (no forwarded push, no kick). Call after [`Self::with_routes`].
    pub fn without_forwards(mut self) -> Self {
        let inner = Arc::get_mut(&mut self.inner).expect("set before the server runs");
        if let Some(routing) = inner.routing.as_mut() {
            routing.forwards = false;
        }
        self
    }

    /// Serves clients and the gRPC interface until the gRPC server fails (a failed accept of a
    /// client is retried).
    pub async fn run(self, network: Arc<dyn Network>) -> io::Result<()> {
        let listener = network.bind(self.inner.config.listen.clone()).await?;
        let grpc_listener = network.bind(self.inner.config.grpc_listen.clone()).await?;
        self.run_on(listener, grpc_listener).await
    }

    /// Like [`ChatServer::run`], on listeners the caller already bound (for example to port 0,
    /// reading the chosen ports with [`crate::net::Listener::local_addr`]); `config.listen` and
    /// `config.grpc_listen` are not used.
    pub async fn run_on(
        self,
        mut listener: Box<dyn Listener>,
        grpc_listener: Box<dyn Listener>,
    ) -> io::Result<()> {
        self.resume_forwards();
        let grpc = tonic::transport::Server::builder()
            .add_service(NotifyService::new(self.clone()).into_server())
            .serve_with_incoming(crate::net::GrpcConn::incoming(grpc_listener));
        let clients = async {
            loop {
                let (stream, peer) = crate::net::accept_next(listener.as_mut()).await;
                let server = self.clone();
                tokio::spawn(async move { server.serve_connection(stream, peer).await });
            }
        };
        tokio::select! {
            biased;
            served = grpc => served.map_err(io::Error::other),
            accepted = clients => accepted,
        }
    }

    async fn serve_connection(self, stream: crate::net::BoxStream, peer: String) {
        let inner = &self.inner;
        let conn = inner.next_conn.fetch_add(1, Ordering::Relaxed);
        inner.tracer.emit(Event::ConnOpened { peer: peer.clone() });
        // Server-to-client frames may exceed the 2048 bytes a client may send (a batch of CJK
        // text is 3 bytes a character), so only the read side enforces upstream's limit.
        let (mut reader, sender) = framed_with(
            stream,
            FrameCodec::upstream(Framing::Chat),
            FrameCodec::with_limit(Framing::Chat, usize::MAX),
            inner.config.write_timeout,
        );
        let mut uid: Option<i32> = None;
        let kick = Arc::new(Notify::new());
        // One branch for both ends the server decides, so the select keeps its shape (and its
        // draws of the runtime's random numbers) in the one-server world.
        let stop = || async {
            tokio::select! {
                biased;
                _ = sender.closed() => crate::net::WRITER_STOPPED.to_owned(),
                _ = kick.notified() => "kicked: logged in on another server".to_owned(),
            }
        };
        let reason = loop {
            // No slot for one more reply: the client is not reading, so its next request waits
            // in the socket rather than in memory.
            let Some(slot) = sender.reserve().await else {
                break crate::net::WRITER_STOPPED.to_owned();
            };
            let next =
                crate::timer::timeout(inner.config.heartbeat_timeout, next_frame(&mut reader));
            let frame = tokio::select! {
                next = next => match next {
                    Err(_) => break "heartbeat timeout".to_owned(),
                    Ok(Ok(None)) => break "closed by peer".to_owned(),
                    Ok(Err(err)) => {
                        inner.tracer.emit(Event::BadInput {
                            peer: peer.clone(),
                            id: 0,
                            error: err.to_string(),
                        });
                        break format!("bad frame: {err}");
                    }
                    Ok(Ok(Some(frame))) => frame,
                },
                reason = stop() => break reason,
            };
            inner
                .tracer
                .emit(Event::frame(Dir::Rx, &peer, &frame, None));
            let (handled, new_uid, login) = self.handle_where_storage_runs(uid, &frame).await;
            uid = new_uid;
            let reply = match handled {
                Ok(reply) => reply,
                Err(error) => {
                    inner.tracer.emit(Event::BadInput {
                        peer: peer.clone(),
                        id: frame.id,
                        error: error.to_string(),
                    });
                    match ids::reply_to(frame.id) {
                        Some(reply_id) => Some(Frame::json(
                            reply_id,
                            &ErrorRsp {
                                error: error.code(),
                            },
                        )),
                        // An id with no reply to answer with: a clean close.
                        None if matches!(error, RequestError::UnknownId(_)) => {
                            break error.to_string();
                        }
                        None => None,
                    }
                }
            };
            if let Some(reply) = reply {
                inner
                    .tracer
                    .emit(Event::frame(Dir::Tx, &peer, &reply, None));
                slot.send(reply);
            }
            // The login reply is queued first, then what was kept while the user was away.
            if let (Some(acks_pushes), Some(uid)) = (login, uid) {
                self.start_session(conn, uid, (sender.clone(), kick.clone()), acks_pushes);
            }
        };
        if let Some(uid) = uid {
            let mut sessions = inner.sessions.lock();
            if sessions.get(&uid).is_some_and(|s| s.conn == conn) {
                if let Some(session) = sessions.remove(&uid) {
                    session.end();
                }
                self.record_logout(uid);
                inner.tracer.emit(Event::SessionEnded {
                    uid,
                    reason: reason.clone(),
                });
            }
        }
        inner.tracer.emit(Event::ConnClosed { peer, reason });
    }

    /// [`Self::handle`], on the storage's side when the request touches the message store (a login
    /// or a heartbeat never waits behind a commit). Returns the outcome, the session's uid and
    /// whether a login succeeded (and so whether the client acknowledges pushes).
    async fn handle_where_storage_runs(
        &self,
        uid: Option<i32>,
        frame: &Frame,
    ) -> (
        Result<Option<Frame>, RequestError>,
        Option<i32>,
        Option<bool>,
    ) {
        let touches_store = frame_touches_store(frame.id);
        let server = self.clone();
        let frame = frame.clone();
        let work = move || {
            let (mut uid, mut login) = (uid, None);
            let handled = server.handle(&mut uid, &mut login, &frame);
            (handled, uid, login)
        };
        match touches_store {
            true => self.inner.config.storage.run(work).await,
            false => work(),
        }
    }

    /// Applies one request; returns the reply, if the request has one.
    /// A successful login sets `uid` and `login` (whether the client acknowledges pushes).
    fn handle(
        &self,
        uid: &mut Option<i32>,
        login: &mut Option<bool>,
        frame: &Frame,
    ) -> Result<Option<Frame>, RequestError> {
        let inner = &self.inner;
        match frame.id {
            ids::CHAT_LOGIN => {
                let req: LoginReq = frame.parse()?;
                let error = match inner.users.get(req.uid) {
                    None => ErrorCode::UidInvalid,
                    Some(user) if user.token != req.token => ErrorCode::TokenInvalid,
                    Some(_) => ErrorCode::Success,
                };
                let name = inner.users.get(req.uid).map(|u| u.name.clone());
                let reply = Frame::json(
                    ids::CHAT_LOGIN_RSP,
                    &LoginRsp {
                        error: error.code(),
                        uid: req.uid,
                        token: req.token,
                        name: name.unwrap_or_default(),
                    },
                );
                if error == ErrorCode::Success {
                    *uid = Some(req.uid);
                    *login = Some(req.push_ack);
                }
                Ok(Some(reply))
            }
            ids::HEART_BEAT_REQ => {
                let req: HeartbeatReq = frame.parse()?;
                self.require_session(*uid, req.fromuid)?;
                Ok(Some(Frame::json(
                    ids::HEARTBEAT_RSP,
                    &ErrorRsp { error: 0 },
                )))
            }
            ids::TEXT_CHAT_MSG_REQ => {
                let req: TextReq = frame.parse()?;
                self.require_session(*uid, req.fromuid)?;
                self.require_user(req.touid)?;
                self.store_texts(req).map(Some)
            }
            ids::PUSH_ACK => {
                let ack: PushAck = frame.parse()?;
                let uid = uid.ok_or(RequestError::Code(ErrorCode::UidInvalid))?;
                self.push_acked(uid, &ack);
                Ok(None)
            }
            ids::IMG_CHAT_MSG_REQ => {
                let req: ImgMsgReq = frame.parse()?;
                self.require_session(*uid, req.fromuid)?;
                self.require_user(req.touid)?;
                if !inner.users.check(req.fromuid, &req.token) {
                    return Err(RequestError::Code(ErrorCode::TokenInvalid));
                }
                self.store_image_message(req).map(Some)
            }
            other => Err(RequestError::UnknownId(other)),
        }
    }

    /// A message to nobody would be stored, and its push kept, for ever.
    fn require_user(&self, uid: i32) -> Result<(), RequestError> {
        match self.inner.users.get(uid) {
            Some(_) => Ok(()),
            None => Err(RequestError::Code(ErrorCode::UidInvalid)),
        }
    }

    fn require_session(&self, session_uid: Option<i32>, claimed: i32) -> Result<(), RequestError> {
        match session_uid {
            Some(uid) if uid == claimed => Ok(()),
            _ => Err(RequestError::Code(ErrorCode::UidInvalid)),
        }
    }

    fn start_session(
        &self,
        conn: u64,
        uid: i32,
        (sender, kick): (FrameSender, Arc<Notify>),
        acks_pushes: bool,
    ) {
        let inner = &self.inner;
        let session = Arc::new(Session {
            conn,
            sender,
            acks_pushes,
            wake: Notify::new(),
            acked: Notify::new(),
            ended: AtomicBool::new(false),
            kick,
        });
        if let Some(old) = inner.sessions.lock().insert(uid, session.clone()) {
            old.end();
        }
        self.record_login(uid);
        inner.tracer.emit(Event::SessionStarted { uid });
        tokio::spawn(self.clone().deliver(uid, session));
    }

    /// Delivers `uid`'s pushes from the message store for as long as the session lasts, only
    /// while the socket keeps up, so no backlog sits in memory. An upstream client gets each push
    /// once ([`Self::deliver_once`]); one that acknowledges pushes gets them one at a time, in
    /// order, until each is acknowledged ([`Self::deliver_in_order`]).
    async fn deliver(self, uid: i32, session: Arc<Session>) {
        if session.acks_pushes {
            self.deliver_in_order(uid, session).await
        } else {
            self.deliver_once(uid, session).await
        }
    }

    /// An upstream client never says what it got: each push is sent once, a page at a time, and
    /// forgotten. One TCP connection keeps them in order.
    async fn deliver_once(self, uid: i32, session: Arc<Session>) {
        let mut cursor = 0;
        while !session.is_ended() {
            if !socket_has_room(&session).await {
                return;
            }
            let page = self.pushes_after(uid, cursor, PUSH_PAGE).await;
            if page.is_empty() {
                session.wake.notified().await;
                continue;
            }
            let mut sent = Vec::new();
            let mut closed = false;
            for (seq, push) in page {
                cursor = seq;
                if !self.push_frame(uid, &session, &push) {
                    closed = true;
                    break;
                }
                sent.push((push.id, push.message_id));
            }
            let server = self.clone();
            self.inner
                .config
                .storage
                .run(move || {
                    for (id, message_id) in sent {
                        server.forget_push(uid, id, message_id);
                    }
                })
                .await;
            if closed {
                return;
            }
        }
    }

    /// A client that acknowledges pushes gets the first unacknowledged one, then the next once
    /// it is acknowledged; one unacknowledged for [`PUSH_RETRY`] is sent again, and a new session
    /// starts again from the first. With several in flight a delayed or lost push was overtaken
    /// by a later one (explore seed 181), and a resent one arrived after newer ones. The cost is
    /// a round trip per push to the same user.
    async fn deliver_in_order(self, uid: i32, session: Arc<Session>) {
        // With two servers a session sends what it was told of (a wake) and, at login, what
        // waits: a push the other server queued is found through its forward, never by this
        // loop alone, so a routing that never forwards does not look right.
        let told_only = self.inner.routing.is_some();
        let mut told_up_to = match told_only {
            true => self.latest_push(uid, 0).await,
            false => u64::MAX,
        };
        let mut in_flight: Option<(u64, Instant)> = None;
        while !session.is_ended() {
            if !socket_has_room(&session).await {
                return;
            }
            let first = self.pushes_after(uid, 0, 1).await.into_iter().next();
            let first = first.filter(|(seq, _)| *seq <= told_up_to);
            if let Some((seq, push)) = &first {
                let waiting =
                    in_flight.is_some_and(|(sent, at)| sent == *seq && at.elapsed() < PUSH_RETRY);
                if !waiting {
                    if !self.push_frame(uid, &session, push) {
                        return;
                    }
                    in_flight = Some((*seq, Instant::now()));
                }
            }
            let retry_at = in_flight
                .filter(|_| first.is_some())
                .map(|(_, at)| at + PUSH_RETRY);
            let retry = async {
                match retry_at {
                    Some(at) => crate::timer::sleep_until(at).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                biased;
                _ = session.wake.notified() => {
                    if told_only {
                        told_up_to = self.latest_push(uid, told_up_to).await;
                    }
                }
                _ = session.acked.notified() => {}
                _ = retry => {}
            }
        }
    }

    /// Up to `limit` of `uid`'s pushes after `cursor`, from the store (none if it cannot read).
    async fn pushes_after(&self, uid: i32, cursor: u64, limit: usize) -> Vec<(u64, QueuedPush)> {
        let messages = self.inner.messages.clone();
        self.inner
            .config
            .storage
            .run(move || messages.pushes_after(uid, cursor, limit))
            .await
            .unwrap_or_else(|err| {
                tracing::warn!("cannot read the pushes kept for uid {uid}: {err}");
                Vec::new()
            })
    }

    /// The seq of `uid`'s latest push (`from` if there is none after it).
    async fn latest_push(&self, uid: i32, from: u64) -> u64 {
        let mut latest = from;
        loop {
            let page = self.pushes_after(uid, latest, PUSH_PAGE).await;
            let Some((seq, _)) = page.last() else {
                return latest;
            };
            latest = *seq;
            if page.len() < PUSH_PAGE {
                return latest;
            }
        }
    }

    /// Queues one push on the session's socket; false when the connection is gone.
    fn push_frame(&self, uid: i32, session: &Session, push: &QueuedPush) -> bool {
        if !session.sender.send(Frame::new(push.id, push.body.clone())) {
            return false;
        }
        self.inner.tracer.emit(Event::Pushed {
            to: uid,
            id: push.id,
            message_id: push.message_id,
            queued: false,
        });
        true
    }

    fn forget_push(&self, uid: i32, id: u16, message_id: i64) {
        if let Err(err) = self.inner.messages.drop_push(uid, id, message_id) {
            tracing::warn!("cannot forget push {id} of message {message_id} for uid {uid}: {err}");
        }
    }

    /// Whether `uid` has a session here (upstream's Redis `uip_<uid>`).
    pub fn is_online(&self, uid: i32) -> bool {
        self.inner.sessions.lock().contains_key(&uid)
    }

    /// A push for `uid` was queued in the message store: its session delivers it now if the user
    /// is online, else after the next login. A user on the other server is told through it
    /// (`forward`, in the two-server world).
    fn pushed(&self, uid: i32, id: u16, message_id: i64, forward: impl FnOnce() -> Forward) {
        let inner = &self.inner;
        if inner
            .routing
            .as_ref()
            .is_some_and(|r| r.elsewhere(uid).is_some())
        {
            return self.forward(forward());
        }
        match inner.sessions.lock().get(&uid) {
            Some(session) => session.wake.notify_one(),
            None => inner.tracer.emit(Event::Pushed {
                to: uid,
                id,
                message_id,
                queued: true,
            }),
        }
    }

    /// Extension 1053: `uid` has the push.
    fn push_acked(&self, uid: i32, ack: &PushAck) {
        self.forget_push(uid, ack.id, ack.message_id);
        if let Some(session) = self.inner.sessions.lock().get(&uid) {
            session.acked.notify_one();
        }
    }

    fn store_texts(&self, req: TextReq) -> Result<Frame, RequestError> {
        let inner = &self.inner;
        let chat_time = inner.clock.chat_time();
        let items = req
            .text_array
            .iter()
            .map(|item| {
                let message = NewMessage {
                    thread_id: req.thread_id,
                    sender_id: req.fromuid,
                    recv_id: req.touid,
                    content: item.content.clone(),
                    status: status::UN_READ,
                    msg_type: msg_type::TEXT,
                    created_at: chat_time.clone(),
                };
                (item.unique_id.clone(), message)
            })
            .collect();
        let datas = |outcome: &[Stored], only_new: bool| -> Vec<ChatData> {
            req.text_array
                .iter()
                .zip(outcome)
                .filter(|(_, stored)| stored.new || !only_new)
                .map(|(item, stored)| ChatData {
                    message_id: stored.message_id,
                    unique_id: item.unique_id.clone(),
                    content: item.content.clone(),
                    status: status::UN_READ,
                    chat_time: chat_time.clone(),
                })
                .collect()
        };
        let reply = |chat_datas| TextRsp {
            error: 0,
            fromuid: req.fromuid,
            touid: req.touid,
            thread_id: req.thread_id,
            chat_datas,
        };
        // Only what is stored now is pushed (a repeat was pushed the first time), and the push is
        // queued in the same transaction as the texts.
        let push = |outcome: &[Stored]| {
            let fresh = datas(outcome, true);
            let first = fresh.first()?.message_id;
            let frame = Frame::json(ids::NOTIFY_TEXT_CHAT_MSG_REQ, &reply(fresh));
            Some((req.touid, queued(frame, first)))
        };
        let outcome = inner
            .messages
            .store_once(req.fromuid, items, &push)
            .map_err(|_| RequestError::Store(CREATE_CHAT_FAILED))?;
        for (item, stored) in req.text_array.iter().zip(&outcome) {
            if stored.new {
                inner.tracer.emit(Event::TextStored {
                    message_id: stored.message_id,
                    from: req.fromuid,
                    to: req.touid,
                    unique_id: item.unique_id.clone(),
                });
            }
        }
        if let Some(first) = outcome.iter().find(|s| s.new) {
            let forward = || Forward::Text(text_forward(&req, &datas(&outcome, true)));
            self.pushed(
                req.touid,
                ids::NOTIFY_TEXT_CHAT_MSG_REQ,
                first.message_id,
                forward,
            );
        }
        Ok(Frame::json(
            ids::TEXT_CHAT_MSG_RSP,
            &reply(datas(&outcome, false)),
        ))
    }

    fn store_image_message(&self, req: ImgMsgReq) -> Result<Frame, RequestError> {
        let inner = &self.inner;
        let chat_time = inner.clock.chat_time();
        let stored_type = if inner.config.profile.has(Quirk::ImageAsText) {
            // seed: LogicSystem::DealChatImgMsg fills a ChatMessage without setting its msg_type,
            // and the client builds the ImgChatData with ChatMsgType::TEXT (bug 11): the image
            // message is stored as a text whose content is the file name.
            msg_type::TEXT
        } else {
            msg_type::PIC
        };
        let message = NewMessage {
            thread_id: req.thread_id,
            sender_id: req.fromuid,
            recv_id: req.touid,
            content: req.name.clone(),
            status: status::UN_UPLOAD,
            msg_type: stored_type,
            created_at: chat_time.clone(),
        };
        // The message and its unique id in one transaction: a crash between them stored the
        // message twice when the client sent it again.
        let outcome = inner
            .messages
            .store_once(req.fromuid, vec![(req.unique_id.clone(), message)], &|_| {
                None
            })
            .map_err(|_| RequestError::Store(CREATE_CHAT_FAILED))?;
        let Some(&Stored {
            message_id,
            new: first,
        }) = outcome.first()
        else {
            return Err(RequestError::Store(CREATE_CHAT_FAILED));
        };
        if first {
            inner.tracer.emit(Event::ImageMessageStored {
                message_id,
                from: req.fromuid,
                to: req.touid,
                file: req.name.clone(),
                msg_type: stored_type,
                status: status::UN_UPLOAD,
            });
        }
        Ok(Frame::json(
            ids::IMG_CHAT_MSG_RSP,
            &ImgMsgRsp {
                error: 0,
                fromuid: req.fromuid,
                touid: req.touid,
                thread_id: req.thread_id,
                md5: req.md5,
                unique_name: req.name,
                unique_id: req.unique_id,
                chat_time,
                status: status::UN_UPLOAD,
                message_id,
            },
        ))
    }

    /// The resource server says `message_id`'s file is stored. Marks the message uploaded and
    /// tells both parties, once: a repeated notify (a retry whose answer was lost) changes nothing.
    pub fn upload_finished(&self, message_id: i64, file: &str, total_size: u64) -> Result<(), i32> {
        let inner = &self.inner;
        let Ok(Some(stored)) = inner.messages.get(message_id) else {
            return Err(LOAD_CHAT_FAILED);
        };
        if stored.message.content != file {
            return Err(LOAD_CHAT_FAILED);
        }
        let m = &stored.message;
        let notice = ImgUploadedNotify {
            error: 0,
            message_id,
            sender_id: m.sender_id,
            receiver_id: m.recv_id,
            img_name: file.to_owned(),
            total_size: WireSize::string(total_size),
            thread_id: m.thread_id,
        };
        let pushes = vec![
            (
                m.recv_id,
                queued(
                    Frame::json(ids::NOTIFY_IMG_CHAT_MSG_REQ, &notice),
                    message_id,
                ),
            ),
            (
                m.sender_id,
                queued(Frame::json(ids::NOTIFY_IMG_UPLOADED, &notice), message_id),
            ),
        ];
        // The status change and both pushes in one transaction: a crash between them made the
        // retried notify "not the first" and nobody was ever told.
        let previous = inner
            .messages
            .change_status(message_id, status::UN_UPLOAD, status::READED, pushes)
            .map_err(|_| LOAD_CHAT_FAILED)?;
        let first = previous == Some(status::UN_UPLOAD);
        inner.tracer.emit(Event::NotifyReceived {
            message_id,
            file: file.to_owned(),
            first,
        });
        // With two servers every notify routes both pushes again: a server that marked the
        // message and crashed before it told the other server is called again (the resource
        // server retries), and this is its chance to forward. Delivery is from the store, once.
        if first || inner.routing.is_some() {
            let request = NotifyChatImgReq {
                from_uid: m.sender_id,
                to_uid: m.recv_id,
                message_id: i32::try_from(message_id).unwrap_or(i32::MAX),
                file_name: file.to_owned(),
                total_size: i64::try_from(total_size).unwrap_or(i64::MAX),
                thread_id: m.thread_id,
            };
            for (uid, id) in [
                (m.recv_id, ids::NOTIFY_IMG_CHAT_MSG_REQ),
                (m.sender_id, ids::NOTIFY_IMG_UPLOADED),
            ] {
                let req = request.clone();
                self.pushed(uid, id, message_id, || Forward::Image { uid, req });
            }
        }
        Ok(())
    }
}

/// Upstream's request for a text to a user on the other server.
fn text_forward(req: &TextReq, datas: &[ChatData]) -> TextChatMsgReq {
    TextChatMsgReq {
        fromuid: req.fromuid,
        touid: req.touid,
        thread_id: req.thread_id,
        textmsgs: datas
            .iter()
            .map(|d| TextChatData {
                unique_id: d.unique_id.clone(),
                msg_id: i32::try_from(d.message_id).unwrap_or(i32::MAX),
                msgcontent: d.content.clone(),
                chat_time: d.chat_time.clone(),
            })
            .collect(),
    }
}

/// Waits until the session's socket has room for a push; false when the connection is gone.
/// (Unbiased, as it always was: its draws of the runtime's random numbers are part of every
/// trace.)
async fn socket_has_room(session: &Session) -> bool {
    tokio::select! {
        _ = session.sender.wait_below(PUSH_PAGE) => true,
        _ = session.sender.closed() => false,
    }
}

/// Whether a request reads or writes the message store (a login or a heartbeat does not).
fn frame_touches_store(id: u16) -> bool {
    matches!(
        id,
        ids::TEXT_CHAT_MSG_REQ | ids::IMG_CHAT_MSG_REQ | ids::PUSH_ACK
    )
}

fn queued(frame: Frame, message_id: i64) -> QueuedPush {
    QueuedPush {
        id: frame.id,
        message_id,
        body: frame.body.to_vec(),
    }
}

/// Why a request got an error reply.
#[derive(Debug, thiserror::Error)]
enum RequestError {
    #[error("malformed body: {0}")]
    Json(#[from] serde_json::Error),
    #[error("refused with {0:?}")]
    Code(ErrorCode),
    #[error("unknown message id {0}")]
    UnknownId(u16),
    #[error("the message store failed (error {0})")]
    Store(i32),
}

impl RequestError {
    fn code(&self) -> i32 {
        match self {
            RequestError::Json(_) => ErrorCode::ErrorJson.code(),
            RequestError::Code(code) => code.code(),
            RequestError::UnknownId(_) => ErrorCode::MsgIdErr.code(),
            RequestError::Store(code) => *code,
        }
    }
}
