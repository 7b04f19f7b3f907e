//! `message.ChatService` (docs/protocol.md section 5): the resource server's report that an upload is
//! stored, and, between two chat servers, a text or a push for a user held here and the kick of a
//! user who logged in on the other server.

use super::ChatServer;
use crate::rpc::chat_service_server::{ChatService, ChatServiceServer};
use crate::rpc::{
    KickUserReq, KickUserRsp, NotifyChatImgReq, NotifyChatImgRsp, TextChatMsgReq, TextChatMsgRsp,
};
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
        // From the other chat server: the upload is marked already; deliver its push here.
        let forwarded_to = request
            .metadata()
            .get(super::FORWARD_TO)
            .and_then(|v| v.to_str().ok()?.parse::<i32>().ok());
        let req = request.into_inner();
        if let Some(uid) = forwarded_to {
            self.server.wake_here(uid);
            return Ok(Response::new(NotifyChatImgRsp::answering(0, req)));
        }
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
        Ok(Response::new(NotifyChatImgRsp::answering(error, req)))
    }

    /// The texts are in the shared message table with their push: the receiver's session here
    /// delivers them.
    async fn notify_text_chat_msg(
        &self,
        request: Request<TextChatMsgReq>,
    ) -> Result<Response<TextChatMsgRsp>, Status> {
        let req = request.into_inner();
        self.server.wake_here(req.touid);
        Ok(Response::new(TextChatMsgRsp {
            error: 0,
            fromuid: req.fromuid,
            touid: req.touid,
            thread_id: req.thread_id,
            textmsgs: req.textmsgs,
        }))
    }

    async fn notify_kick_user(
        &self,
        request: Request<KickUserReq>,
    ) -> Result<Response<KickUserRsp>, Status> {
        let uid = request.into_inner().uid;
        self.server.kick_here(uid);
        Ok(Response::new(KickUserRsp { error: 0, uid }))
    }
}
