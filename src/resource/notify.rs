//! The gRPC notify to the chat server, retried with backoff until the chat server answers. A
//! record is marked `notified` only after an answer, so a restart retries what was never answered;
//! the chat server makes repeats harmless.

use super::ResourceConfig;
use crate::backoff::Backoff;
use crate::net::{grpc_channel, Network};
use crate::profile::Quirk;
use crate::rpc::chat_service_client::ChatServiceClient;
use crate::rpc::NotifyChatImgReq;
use crate::store::{ChatRoutes, UploadRecord, UploadStore};
use crate::trace::{Event, Tracer};
use std::sync::Arc;

use tokio::sync::mpsc;
use tonic::transport::Channel;

#[derive(Clone)]
pub(super) struct Notifier {
    tx: mpsc::UnboundedSender<UploadRecord>,
    /// False with the seed's bug 7: a completed upload goes no further.
    chain: bool,
}

impl Notifier {
    pub fn start(
        network: Arc<dyn Network>,
        (config, routes): (&ResourceConfig, Option<ChatRoutes>),
        uploads: Arc<dyn UploadStore>,
        tracer: Tracer,
    ) -> Self {
        let (tx, mut rx) = mpsc::unbounded_channel::<UploadRecord>();
        let chain = !config.profile.has(Quirk::NoCompletionChain);
        let config = config.clone();
        tokio::spawn(async move {
            while let Some(record) = rx.recv().await {
                let network = network.clone();
                let uploads = uploads.clone();
                let tracer = tracer.clone();
                let config = config.clone();
                let routes = routes.clone();
                tokio::spawn(async move {
                    let target = Target {
                        config: &config,
                        routes: routes.as_ref(),
                    };
                    notify_until_answered(network, target, &record, &tracer).await;
                    // If this save fails the notify is repeated after a restart; the chat server
                    // makes that harmless.
                    let save = move || {
                        if let Ok(Some(mut current)) = uploads.get(record.message_id) {
                            current.notified = true;
                            if let Err(err) = uploads.save_fields(&current) {
                                tracing::warn!(
                                    "cannot save notified state of {}: {err}",
                                    record.name
                                );
                            }
                        }
                    };
                    config.storage.run(save).await;
                });
            }
        });
        Notifier { tx, chain }
    }

    /// Starts the completion chain of a completed upload: the notify, after which the chat server
    /// marks the message uploaded and tells both parties.
    pub fn enqueue(&self, record: UploadRecord) {
        if !self.chain {
            // seed: FileWorker::RegisterHandlers, after the last chunk: `//todo...更新数据库聊天图像
            // 上传状态 //通过grpc通知ChatServer` (bug 7): no status update, no notify, no push.
            return;
        }
        let _ = self.tx.send(record);
    }
}

/// A client on a fresh connection. A bad address is a configuration error that every attempt
/// then reports.
fn fresh_client(
    network: &Arc<dyn Network>,
    addr: &str,
) -> Result<ChatServiceClient<Channel>, String> {
    grpc_channel(network.clone(), addr)
        .map(ChatServiceClient::new)
        .map_err(|e| format!("bad chat server address: {e}"))
}

/// Where a notify goes: the one chat server, or (with routes) the one the receiver is on.
#[derive(Clone, Copy)]
struct Target<'a> {
    config: &'a ResourceConfig,
    routes: Option<&'a ChatRoutes>,
}

impl Target<'_> {
    /// The chat server for this attempt, named in the trace when there are several: the
    /// receiver's (upstream's `uip_<to_uid>`), else the sender's, else the configured one. Read
    /// again on every attempt, so a notify to a server that is down follows its user.
    fn server(&self, record: &UploadRecord) -> (Option<String>, String) {
        let Some(routes) = self.routes else {
            return (None, self.config.chat_grpc.clone());
        };
        match routes
            .server_of(record.receiver)
            .or_else(|| routes.server_of(record.sender))
        {
            Some((name, addr)) => (Some(name), addr),
            None => {
                let default = routes
                    .servers
                    .iter()
                    .find(|(_, addr)| **addr == self.config.chat_grpc)
                    .map(|(name, _)| name.clone());
                (default, self.config.chat_grpc.clone())
            }
        }
    }
}

async fn notify_until_answered(
    network: Arc<dyn Network>,
    target: Target<'_>,
    record: &UploadRecord,
    tracer: &Tracer,
) {
    let config = target.config;
    let request = NotifyChatImgReq {
        from_uid: record.sender,
        to_uid: record.receiver,
        message_id: i32::try_from(record.message_id).unwrap_or(i32::MAX),
        file_name: record.name.clone(),
        total_size: i64::try_from(record.total_size).unwrap_or(i64::MAX),
        thread_id: record.thread_id,
    };
    let mut backoff = Backoff::new(config.notify_backoff, config.notify_backoff_max);
    let mut client = None;
    let mut addr = String::new();
    for attempt in 1.. {
        let (server, now_addr) = target.server(record);
        if now_addr != addr {
            client = None;
            addr = now_addr;
        }
        let outcome = match client.get_or_insert_with(|| fresh_client(&network, &addr)) {
            Err(err) => Err(err.clone()),
            Ok(client) => {
                let mut client = client.clone();
                match crate::timer::timeout(
                    config.notify_timeout,
                    client.notify_chat_img_msg(request.clone()),
                )
                .await
                {
                    Err(_) => Err("timed out".to_owned()),
                    Ok(Err(status)) => Err(format!("{}: {}", status.code(), status.message())),
                    Ok(Ok(reply)) => Ok(reply.into_inner().error),
                }
            }
        };
        let (ok, detail) = match &outcome {
            Ok(0) => (true, "answered".to_owned()),
            Ok(code) => (true, format!("answered with error {code}")),
            Err(err) => (false, err.clone()),
        };
        let detail = match server {
            Some(server) => format!("{server}: {detail}"),
            None => detail,
        };
        tracer.emit(Event::NotifyAttempt {
            file: record.name.clone(),
            message_id: record.message_id,
            attempt,
            ok,
            detail,
        });
        if ok {
            return;
        }
        if config.profile.has(Quirk::NotifyOnce) {
            // upstream: ChatServerGrpcClient.cpp:33-37 calls NotifyChatImgMsg once and ignores
            // the status: a notify lost to a network fault is never sent again.
            return;
        }
        // A connection that timed out may be stalled for good (a silent partition leaves HTTP/2
        // waiting forever): the next attempt dials anew.
        client = None;
        backoff.wait().await;
    }
}
