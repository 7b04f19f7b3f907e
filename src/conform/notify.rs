//! `--notify-listen`: chatsim plays the chat server's `message.ChatService` so the notify cases can
//! see what the resource server under test sends when an upload completes.

use crate::net::{GrpcConn, Network, TokioNetwork};
use crate::rpc::chat_service_server::{ChatService, ChatServiceServer};
use crate::rpc::{NotifyChatImgReq, NotifyChatImgRsp};
use parking_lot::Mutex;
use std::collections::BTreeSet;
use std::io;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{oneshot, watch};
use tonic::{Request, Response, Status};

/// Every notify received, in order, and the files whose first attempt is to be refused.
#[derive(Default)]
struct Book {
    calls: Vec<NotifyChatImgReq>,
    refuse_first: BTreeSet<String>,
}

struct Recorder {
    book: Mutex<Book>,
    /// Bumped on every call so waiters wake.
    calls_seen: watch::Sender<usize>,
}

impl Recorder {
    fn book(&self) -> parking_lot::MutexGuard<'_, Book> {
        self.book.lock()
    }
}

struct Service(Arc<Recorder>);

#[tonic::async_trait]
impl ChatService for Service {
    async fn notify_text_chat_msg(
        &self,
        _request: Request<crate::rpc::TextChatMsgReq>,
    ) -> Result<Response<crate::rpc::TextChatMsgRsp>, Status> {
        Err(Status::unimplemented(
            "chatsim conform listens for the resource server's notify only",
        ))
    }

    async fn notify_kick_user(
        &self,
        _request: Request<crate::rpc::KickUserReq>,
    ) -> Result<Response<crate::rpc::KickUserRsp>, Status> {
        Err(Status::unimplemented(
            "chatsim conform listens for the resource server's notify only",
        ))
    }

    async fn notify_chat_img_msg(
        &self,
        request: Request<NotifyChatImgReq>,
    ) -> Result<Response<NotifyChatImgRsp>, Status> {
        let req = request.into_inner();
        let refuse = {
            let mut book = self.0.book();
            book.calls.push(req.clone());
            // The first attempt for a marked file fails, to see that the server retries.
            book.refuse_first.remove(&req.file_name)
        };
        self.0.calls_seen.send_modify(|n| *n += 1);
        if refuse {
            return Err(Status::unavailable(
                "chatsim conform: refusing the first attempt on purpose",
            ));
        }
        Ok(Response::new(NotifyChatImgRsp::answering(0, req)))
    }
}

/// The listener; stops serving when dropped.
pub struct NotifyListener {
    addr: String,
    recorder: Arc<Recorder>,
    _stop: oneshot::Sender<()>,
}

impl NotifyListener {
    /// Binds `addr` and serves `message.ChatService` there. [`NotifyListener::addr`] is the
    /// address as bound (port 0 picks a free port).
    pub async fn start(addr: &str) -> io::Result<NotifyListener> {
        let listener = TokioNetwork.bind(addr.to_owned()).await?;
        // The address as bound: the real port when `addr` asked for port 0.
        let addr = listener.local_addr().unwrap_or_else(|_| addr.to_owned());
        let (calls_seen, _) = watch::channel(0);
        let recorder = Arc::new(Recorder {
            book: Mutex::default(),
            calls_seen,
        });
        let (stop_tx, stop_rx) = oneshot::channel::<()>();
        let service = ChatServiceServer::new(Service(recorder.clone()));
        tokio::spawn(async move {
            let served = tonic::transport::Server::builder()
                .add_service(service)
                .serve_with_incoming_shutdown(GrpcConn::incoming(listener), async {
                    let _ = stop_rx.await;
                })
                .await;
            if let Err(err) = served {
                tracing::warn!("notify listener stopped: {err}");
            }
        });
        Ok(NotifyListener {
            addr,
            recorder,
            _stop: stop_tx,
        })
    }

    pub fn addr(&self) -> &str {
        &self.addr
    }

    /// Makes the first notify for `file` fail with UNAVAILABLE.
    pub fn refuse_first_attempt(&self, file: &str) {
        self.recorder.book().refuse_first.insert(file.to_owned());
    }

    /// Every notify received so far for `file`.
    pub fn calls_for(&self, file: &str) -> Vec<NotifyChatImgReq> {
        self.recorder
            .book()
            .calls
            .iter()
            .filter(|c| c.file_name == file)
            .cloned()
            .collect()
    }

    /// Waits up to `within` until at least `count` notifies for `file` arrived; returns those
    /// that did.
    pub async fn wait_for(
        &self,
        file: &str,
        count: usize,
        within: Duration,
    ) -> Vec<NotifyChatImgReq> {
        let mut seen = self.recorder.calls_seen.subscribe();
        let deadline = tokio::time::Instant::now() + within;
        loop {
            let calls = self.calls_for(file);
            if calls.len() >= count {
                return calls;
            }
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            match crate::timer::timeout(left, seen.changed()).await {
                Ok(Ok(())) => {}
                _ => return self.calls_for(file),
            }
        }
    }
}
