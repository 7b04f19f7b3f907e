//! The gRPC notify to the chat server, retried with backoff until the chat server answers. A
//! record is marked `notified` only after an answer, so a restart retries what was never answered;
//! the chat server makes repeats harmless.

use super::ResourceConfig;
use crate::net::{grpc_channel, Network};
use crate::rpc::chat_service_client::ChatServiceClient;
use crate::rpc::NotifyChatImgReq;
use crate::store::{UploadRecord, UploadStore};
use crate::trace::{Event, Tracer};
use std::sync::Arc;

use tokio::sync::mpsc;

#[derive(Clone)]
pub(super) struct Notifier {
    tx: mpsc::UnboundedSender<UploadRecord>,
}

impl Notifier {
    pub fn start(
        network: Arc<dyn Network>,
        config: &ResourceConfig,
        uploads: Arc<dyn UploadStore>,
        tracer: Tracer,
    ) -> Self {
        let (tx, mut rx) = mpsc::unbounded_channel::<UploadRecord>();
        let config = config.clone();
        tokio::spawn(async move {
            // A bad address is a configuration error; every attempt then reports it.
            let channel = grpc_channel(network, &config.chat_grpc).map_err(|e| e.to_string());
            while let Some(record) = rx.recv().await {
                let channel = channel.clone();
                let uploads = uploads.clone();
                let tracer = tracer.clone();
                let config = config.clone();
                tokio::spawn(async move {
                    let client = channel.map(ChatServiceClient::new);
                    notify_until_answered(client, &config, &record, &tracer).await;
                    // If this save fails the notify is repeated after a restart; the chat server
                    // makes that harmless.
                    if let Ok(Some(mut current)) = uploads.get(&record.name) {
                        current.notified = true;
                        if let Err(err) = uploads.put(current) {
                            tracing::warn!("cannot save notified state of {}: {err}", record.name);
                        }
                    }
                });
            }
        });
        Notifier { tx }
    }

    pub fn enqueue(&self, record: UploadRecord) {
        let _ = self.tx.send(record);
    }
}

async fn notify_until_answered(
    client: Result<ChatServiceClient<tonic::transport::Channel>, String>,
    config: &ResourceConfig,
    record: &UploadRecord,
    tracer: &Tracer,
) {
    let request = NotifyChatImgReq {
        from_uid: record.sender,
        to_uid: record.receiver,
        message_id: i32::try_from(record.message_id).unwrap_or(i32::MAX),
        file_name: record.name.clone(),
        total_size: i64::try_from(record.total_size).unwrap_or(i64::MAX),
        thread_id: record.thread_id,
    };
    let mut backoff = config.notify_backoff;
    for attempt in 1.. {
        let outcome = match &client {
            Err(err) => Err(format!("bad chat server address: {err}")),
            Ok(client) => {
                let mut client = client.clone();
                match tokio::time::timeout(
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
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(config.notify_backoff_max);
    }
}
