//! `message.ChatService` (docs/protocol.md section 5): the resource server's report that an upload is
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
        let error =
            match self
                .server
                .upload_finished(i64::from(req.message_id), &req.file_name, total)
            {
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
