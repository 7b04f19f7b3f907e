//! `message.ChatService` (PROTOCOL.md section 5): the resource server's report that an upload is
//! stored.

use super::ChatServer;
use crate::rpc::chat_service_server::{ChatService, ChatServiceServer};
use crate::rpc::{NotifyChatImgReq, NotifyChatImgRsp};
use tonic::{Request, Response, Status};

pub struct NotifyService {
    server: ChatServer,
}

impl NotifyService {
    pub fn new(server: ChatServer) -> Self {
        NotifyService { server }
    }

    pub fn into_server(self) -> ChatServiceServer<Self> {
        ChatServiceServer::new(self)
    }
}

#[tonic::async_trait]
impl ChatService for NotifyService {
    async fn notify_chat_img_msg(
        &self,
        request: Request<NotifyChatImgReq>,
    ) -> Result<Response<NotifyChatImgRsp>, Status> {
        let req = request.into_inner();
        let total = u64::try_from(req.total_size)
            .map_err(|_| Status::invalid_argument("total_size is negative"))?;
        let server = self.server.clone();
        let (message_id, file) = (i64::from(req.message_id), req.file_name.clone());
        // A status change and two pushes in one commit: off the async threads in `serve`.
        let finished = self
            .server
            .inner
            .config
            .storage
            .run(move || server.upload_finished(message_id, &file, total))
            .await;
        let error = match finished {
            Ok(()) => 0,
            Err(code) => code,
        };
        Ok(Response::new(NotifyChatImgRsp {
            error,
            from_uid: req.from_uid,
            to_uid: req.to_uid,
            message_id: req.message_id,
            file_name: req.file_name,
            total_size: req.total_size,
            thread_id: req.thread_id,
        }))
    }
}
