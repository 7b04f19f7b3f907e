//! chatsim: a deterministic simulation and conformance harness for a chat system's image and file
//! transfer protocol. See README.md for the tour.

pub mod net;
pub mod protocol;

/// Code generated from `proto/message.proto`: the `ChatService` gRPC interface.
pub mod rpc {
    tonic::include_proto!("message");
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
