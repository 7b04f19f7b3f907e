//! chatsim: a deterministic simulation and conformance harness for a chat system's image and file
//! transfer protocol. See README.md for the tour.

pub mod net;
pub mod protocol;
pub mod timer;

/// Code generated from `proto/message.proto`: the `ChatService` gRPC interface.
pub mod rpc {
    tonic::include_proto!("message");

    impl NotifyChatImgRsp {
        /// The answer to `req` with `error`, echoing its fields as upstream's chat server does.
        pub fn answering(error: i32, req: NotifyChatImgReq) -> Self {
            NotifyChatImgRsp {
                error,
                from_uid: req.from_uid,
                to_uid: req.to_uid,
                message_id: req.message_id,
                file_name: req.file_name,
                total_size: req.total_size,
                thread_id: req.thread_id,
            }
        }
    }
}
pub mod backoff;
pub mod chat;
pub mod client;
pub mod clock;
pub mod conform;
pub mod explore;
pub mod hash;
pub mod html;
pub mod perfetto;
pub mod probe;
pub mod profile;
pub mod proxy;
pub mod report;
pub mod resource;
pub mod scenario;
pub mod serve;
pub mod sim;
pub mod store;
pub mod timeline;
pub mod trace;
pub mod users;
