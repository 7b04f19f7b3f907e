//! The reference client: a chat connection (login, heartbeats, texts, image messages, pushes), an
//! upload engine on the resource socket (window, per-file books, retransmit) and a downloader.
//!
//! A [`Client`] is a handle; the work happens in tasks it spawns. The application (a scenario in
//! the simulation) calls `send_texts` and `send_image`; what happens is written to the trace.

mod download;
pub mod text;
mod upload;

use crate::hash::stable_hash;
use crate::net::{framed, next_frame, FrameSender, Network};
use crate::profile::Profile;
use crate::protocol::body::{
    HeartbeatReq, ImgMsgReq, ImgMsgRsp, ImgUploadedNotify, LoginReq, LoginRsp, TextReq, TextRsp,
};
use crate::protocol::{ids, Frame, FrameCodec, Framing};
use crate::trace::{Event, Tracer};
use bytes::Bytes;
use md5::{Digest, Md5};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;

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
        }
    }
}

/// A file to send: its unique name and its bytes.
#[derive(Debug, Clone)]
pub struct SourceFile {
    pub name: String,
    pub data: Bytes,
}

impl SourceFile {
    pub fn md5(&self) -> String {
        hex::encode(Md5::digest(&self.data))
    }
}

enum Command {
    Texts { to: i32, contents: Vec<String> },
    Image { to: i32, file: SourceFile },
}

/// A running client.
#[derive(Clone)]
pub struct Client {
    commands: mpsc::UnboundedSender<Command>,
}

impl Client {
    /// Connects to the chat server, logs in and starts the client's tasks. Returns once the login
    /// has been answered successfully.
    pub async fn start(
        config: ClientConfig,
        network: Arc<dyn Network>,
        tracer: Tracer,
    ) -> Result<Client, ClientError> {
        let stream = network
            .connect(config.chat_addr.clone())
            .await
            .map_err(|e| ClientError::Connect(config.chat_addr.clone(), e))?;
        let peer = config.chat_addr.clone();
        let (mut reader, sender) = framed(
            stream,
            FrameCodec::with_limit(Framing::Chat, usize::MAX),
            FrameCodec::upstream(Framing::Chat),
        );
        let login = Frame::json(
            ids::CHAT_LOGIN,
            &LoginReq {
                uid: config.uid,
                token: config.token.clone(),
            },
        );
        tracer.emit(Event::frame("tx", &peer, &login, None));
        sender.send(login);
        let reply = tokio::time::timeout(Duration::from_secs(10), next_frame(&mut reader))
            .await
            .map_err(|_| ClientError::Login("no reply to login within 10 s".into()))?
            .map_err(|e| ClientError::Login(e.to_string()))?
            .ok_or_else(|| ClientError::Login("connection closed before the login reply".into()))?;
        tracer.emit(Event::frame("rx", &peer, &reply, None));
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

        let uploads = upload::UploadEngine::start(config.clone(), network.clone(), tracer.clone());
        let downloads = download::Downloader::start(config.clone(), network, tracer.clone());
        let (commands, rx) = mpsc::unbounded_channel();
        let chat = ChatSide {
            config,
            tracer,
            peer,
            sender,
            uploads,
            downloads,
            pending_images: BTreeMap::new(),
            next_unique: 1,
        };
        tokio::spawn(chat.run(reader, rx));
        Ok(Client { commands })
    }

    /// One press of the send button with these texts.
    pub fn send_texts(&self, to: i32, contents: Vec<String>) {
        let _ = self.commands.send(Command::Texts { to, contents });
    }

    /// Announces an image message and uploads the file once the chat server answers.
    pub fn send_image(&self, to: i32, file: SourceFile) {
        let _ = self.commands.send(Command::Image { to, file });
    }
}

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
    tracer: Tracer,
    peer: String,
    sender: FrameSender,
    uploads: upload::UploadEngine,
    downloads: download::Downloader,
    /// Image messages announced and waiting for their 1036, by unique id.
    pending_images: BTreeMap<String, (i32, SourceFile)>,
    next_unique: u64,
}

impl ChatSide {
    async fn run(
        mut self,
        mut reader: crate::net::FrameReader,
        mut commands: mpsc::UnboundedReceiver<Command>,
    ) {
        let mut heartbeat = tokio::time::interval(self.config.heartbeat_interval);
        heartbeat.tick().await;
        loop {
            tokio::select! {
                biased;
                frame = next_frame(&mut reader) => match frame {
                    Ok(Some(frame)) => self.on_frame(frame),
                    Ok(None) => {
                        self.tracer.emit(Event::ConnClosed { peer: self.peer.clone(), reason: "closed by server".into() });
                        return;
                    }
                    Err(err) => {
                        self.tracer.emit(Event::ConnClosed { peer: self.peer.clone(), reason: err.to_string() });
                        return;
                    }
                },
                command = commands.recv() => match command {
                    Some(command) => self.on_command(command),
                    // The application dropped its handle; keep serving pushes.
                    None => std::future::pending::<()>().await,
                },
                _ = heartbeat.tick() => {
                    self.send(Frame::json(ids::HEART_BEAT_REQ, &HeartbeatReq { fromuid: self.config.uid }));
                }
            }
        }
    }

    fn send(&self, frame: Frame) {
        self.tracer
            .emit(Event::frame("tx", &self.peer, &frame, None));
        self.sender.send(frame);
    }

    fn unique_id(&mut self) -> String {
        let id = format!("{}-{}", self.config.uid, self.next_unique);
        self.next_unique += 1;
        id
    }

    fn on_command(&mut self, command: Command) {
        let uid = self.config.uid;
        match command {
            Command::Texts { to, contents } => {
                let items: Vec<(String, String)> = contents
                    .into_iter()
                    .map(|content| (content, self.unique_id()))
                    .collect();
                for batch in text::batch(&items) {
                    for item in &batch {
                        self.tracer.emit(Event::TextSent {
                            from: uid,
                            to,
                            unique_id: item.unique_id.clone(),
                            content: item.content.clone(),
                        });
                    }
                    self.send(Frame::json(
                        ids::TEXT_CHAT_MSG_REQ,
                        &TextReq {
                            fromuid: uid,
                            touid: to,
                            thread_id: thread_id(uid, to),
                            text_array: batch,
                        },
                    ));
                }
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
                self.send(Frame::json(
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
                ));
                self.pending_images.insert(unique_id, (to, file));
            }
        }
    }

    fn on_frame(&mut self, frame: Frame) {
        self.tracer
            .emit(Event::frame("rx", &self.peer, &frame, None));
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
                    let Some((to, file)) = self.pending_images.remove(&rsp.unique_id) else {
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
                    self.uploads.add(upload::NewUpload {
                        file,
                        to,
                        message_id: rsp.message_id,
                        thread_id: rsp.thread_id,
                    });
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
