//! Two chat servers (the system upstream runs as `chatserver1` and `chatserver2`): each login is
//! recorded in the shared presence table, a push for a user on the other server is forwarded to
//! it over gRPC, and a login on one server kicks the user's session on the other.
//!
//! The message table and its push queue are shared, as upstream shares MySQL, so a forward does
//! not carry the push itself: it tells the server holding the user to deliver what the store
//! holds for that user. The request still carries upstream's fields, so a server that keeps no
//! such queue can push from the request alone. Reference rules where upstream is silent: a
//! forward to a server that does not answer is retried until it answers or the presence record
//! moves, and then goes to the new server (or to nobody: an offline user gets the push at its
//! next login); forwards are coalesced per user and kind, so a dead peer costs one task per user.

use super::ChatServer;
use crate::net::{grpc_channel, Network};
use crate::rpc::chat_service_client::ChatServiceClient;
use crate::rpc::{KickUserReq, NotifyChatImgReq, TextChatMsgReq};
use crate::store::ChatRoutes;
use crate::trace::Event;
use parking_lot::Mutex;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

/// gRPC metadata key naming the one user a forwarded `NotifyChatImgMsg` is for: the call wakes
/// that user's session and does nothing else (the upload is already marked).
pub const FORWARD_TO: &str = "chatsim-forward-to";

const FORWARD_TIMEOUT: Duration = Duration::from_secs(3);
const FORWARD_BACKOFF: Duration = Duration::from_millis(200);
const FORWARD_BACKOFF_MAX: Duration = Duration::from_secs(5);

pub(super) struct Routing {
    /// This server's name in the presence table.
    pub name: String,
    pub routes: ChatRoutes,
    network: Arc<dyn Network>,
    /// False in a mutant that tests the tests: this server never calls the other one.
    pub forwards: bool,
    /// Forwards being sent, by (user, kind); the value is the next one to send, if any.
    pending: Mutex<BTreeMap<(i32, &'static str), Option<Forward>>>,
}

/// One call to the other chat server.
#[derive(Clone)]
pub(super) enum Forward {
    /// A text push for `touid` (NotifyTextChatMsg).
    Text(TextChatMsgReq),
    /// An image push for the user named in [`FORWARD_TO`] (NotifyChatImgMsg).
    Image { uid: i32, req: NotifyChatImgReq },
    /// `uid` logged in here; end its session on `server` (NotifyKickUser).
    Kick { uid: i32, server: String },
}

impl Forward {
    fn uid(&self) -> i32 {
        match self {
            Forward::Text(req) => req.touid,
            Forward::Image { uid, .. } | Forward::Kick { uid, .. } => *uid,
        }
    }

    fn method(&self) -> &'static str {
        match self {
            Forward::Text(_) => "text",
            Forward::Image { .. } => "image",
            Forward::Kick { .. } => "kick",
        }
    }
}

impl Routing {
    pub fn new(name: &str, routes: ChatRoutes, network: Arc<dyn Network>) -> Self {
        Routing {
            name: name.to_owned(),
            routes,
            network,
            forwards: true,
            pending: Mutex::default(),
        }
    }

    /// The other server `uid` is on, if it is on another one.
    pub fn elsewhere(&self, uid: i32) -> Option<String> {
        self.routes
            .server_of(uid)
            .map(|(name, _)| name)
            .filter(|name| *name != self.name)
    }

    fn pending(
        &self,
    ) -> parking_lot::MutexGuard<'_, BTreeMap<(i32, &'static str), Option<Forward>>> {
        self.pending.lock()
    }
}

impl ChatServer {
    fn routing(&self) -> Option<&Routing> {
        self.inner.routing.as_ref()
    }

    /// A successful login here: record it, and kick the session the user had elsewhere.
    pub(super) fn record_login(&self, uid: i32) {
        let Some(routing) = self.routing() else {
            return;
        };
        match routing.routes.table.set(uid, &routing.name) {
            Ok(Some(before)) if before != routing.name => self.forward(Forward::Kick {
                uid,
                server: before,
            }),
            Ok(_) => {}
            Err(err) => tracing::warn!("cannot record the presence of uid {uid}: {err}"),
        }
    }

    /// At start: forwards live in memory, so a crash loses those still being retried (seen by
    /// `explore --chat-servers 2`, seed 11). What they were for waits in the shared store: wake
    /// every user on another server who has pushes waiting.
    pub(super) fn resume_forwards(&self) {
        let Some(routing) = self.routing() else {
            return;
        };
        for user in self.inner.users.iter() {
            let uid = user.uid;
            if routing.elsewhere(uid).is_none() {
                continue;
            }
            let waiting = self.inner.messages.pushes_after(uid, 0, 1);
            if waiting.is_ok_and(|page| !page.is_empty()) {
                let req = NotifyChatImgReq {
                    to_uid: uid,
                    ..NotifyChatImgReq::default()
                };
                self.forward(Forward::Image { uid, req });
            }
        }
    }

    /// The current session of `uid` here ended: forget the record if it still names this server.
    pub(super) fn record_logout(&self, uid: i32) {
        let Some(routing) = self.routing() else {
            return;
        };
        if let Err(err) = routing.routes.table.clear_if(uid, &routing.name) {
            tracing::warn!("cannot clear the presence of uid {uid}: {err}");
        }
    }

    /// Sends `forward` in the background, after any forward of the same kind for the same user.
    pub(super) fn forward(&self, forward: Forward) {
        let Some(routing) = self.routing().filter(|r| r.forwards) else {
            return;
        };
        let key = (forward.uid(), forward.method());
        let mut pending = routing.pending();
        if let Some(next) = pending.get_mut(&key) {
            // A task is sending for this user: it sends this one next (the latest suffices, a
            // forward only makes the peer deliver what the store holds).
            *next = Some(forward);
            return;
        }
        pending.insert(key, Some(forward));
        drop(pending);
        tokio::spawn(self.clone().send_forwards(key));
    }

    async fn send_forwards(self, key: (i32, &'static str)) {
        loop {
            let next = {
                let Some(routing) = self.routing() else {
                    return;
                };
                let mut pending = routing.pending();
                match pending.get_mut(&key).and_then(Option::take) {
                    Some(next) => next,
                    None => {
                        pending.remove(&key);
                        return;
                    }
                }
            };
            self.send_until_answered(next).await;
        }
    }

    /// Where the forward goes now: `None` when there is nothing to send (the user left, or is
    /// here, in which case its session here is woken).
    fn forward_target(&self, forward: &Forward) -> Option<(String, String)> {
        let routing = self.routing()?;
        match forward {
            Forward::Kick { uid, server } => {
                // Moot once the user has moved on from this server too.
                let here = routing.routes.server_of(*uid)?.0 == routing.name;
                let addr = routing.routes.servers.get(server)?;
                here.then(|| (server.clone(), addr.clone()))
            }
            _ => {
                let (name, addr) = routing.routes.server_of(forward.uid())?;
                if name == routing.name {
                    self.wake_here(forward.uid());
                    return None;
                }
                Some((name, addr))
            }
        }
    }

    async fn send_until_answered(&self, forward: Forward) {
        let Some(routing) = self.routing() else {
            return;
        };
        let mut backoff = FORWARD_BACKOFF;
        for attempt in 1.. {
            let Some((server, addr)) = self.forward_target(&forward) else {
                return;
            };
            let outcome = call(routing.network.clone(), &addr, &forward).await;
            self.inner.tracer.emit(Event::Forward {
                method: forward.method().to_owned(),
                uid: forward.uid(),
                server,
                attempt,
                ok: outcome.is_ok(),
                detail: outcome.clone().err().unwrap_or_else(|| "answered".into()),
            });
            if outcome.is_ok() {
                return;
            }
            crate::timer::sleep(backoff).await;
            backoff = (backoff * 2).min(FORWARD_BACKOFF_MAX);
        }
    }

    /// Wakes `uid`'s session here, if there is one, to deliver what the store holds for it.
    pub(super) fn wake_here(&self, uid: i32) {
        if let Some(session) = self.inner.sessions.lock().get(&uid) {
            session.wake.notify_one();
        }
    }

    /// The other server says `uid` logged in there: end its session here, unless the user has
    /// come back since.
    pub(super) fn kick_here(&self, uid: i32) {
        if let Some(routing) = self.routing() {
            if routing.elsewhere(uid).is_none() {
                return;
            }
        }
        let session = self.inner.sessions.lock().get(&uid).cloned();
        if let Some(session) = session {
            self.inner.tracer.emit(Event::Kicked { uid });
            session.kick.notify_one();
        }
    }
}

/// One attempt on a fresh connection (a connection that timed out may be stalled for good).
async fn call(network: Arc<dyn Network>, addr: &str, forward: &Forward) -> Result<(), String> {
    let channel = grpc_channel(network, addr).map_err(|e| format!("bad address {addr}: {e}"))?;
    let mut client = ChatServiceClient::new(channel);
    let answered = async {
        match forward.clone() {
            Forward::Text(req) => client.notify_text_chat_msg(req).await.map(|_| ()),
            Forward::Kick { uid, .. } => client
                .notify_kick_user(KickUserReq { uid })
                .await
                .map(|_| ()),
            Forward::Image { uid, req } => {
                let mut request = tonic::Request::new(req);
                if let Ok(value) = uid.to_string().parse() {
                    request.metadata_mut().insert(FORWARD_TO, value);
                }
                client.notify_chat_img_msg(request).await.map(|_| ())
            }
        }
    };
    match crate::timer::timeout(FORWARD_TIMEOUT, answered).await {
        Err(_) => Err("timed out".into()),
        Ok(Err(status)) => Err(format!("{}: {}", status.code(), status.message())),
        Ok(Ok(())) => Ok(()),
    }
}
