//! The presence table: which chat server each logged-in user is on (upstream's Redis keys
//! `uip_<uid>`, holding a server's name). It lives beside the servers like the other stores, so a
//! crashed server's records stay until their users log in elsewhere.

use parking_lot::Mutex;
use std::collections::BTreeMap;
use std::io;
use std::sync::Arc;

pub trait PresenceStore: Send + Sync {
    /// The server `uid` is logged in to, if any.
    fn get(&self, uid: i32) -> io::Result<Option<String>>;
    /// Records that `uid` is on `server`; returns the server it was on before.
    fn set(&self, uid: i32, server: &str) -> io::Result<Option<String>>;
    /// Forgets `uid`'s record if it still names `server` (a session that ends after its user
    /// moved on must not erase the new record).
    fn clear_if(&self, uid: i32, server: &str) -> io::Result<()>;
}

#[derive(Debug, Default)]
pub struct MemoryPresence {
    servers: Mutex<BTreeMap<i32, String>>,
}

impl MemoryPresence {
    fn table(&self) -> parking_lot::MutexGuard<'_, BTreeMap<i32, String>> {
        self.servers.lock()
    }
}

impl PresenceStore for MemoryPresence {
    fn get(&self, uid: i32) -> io::Result<Option<String>> {
        Ok(self.table().get(&uid).cloned())
    }

    fn set(&self, uid: i32, server: &str) -> io::Result<Option<String>> {
        Ok(self.table().insert(uid, server.to_owned()))
    }

    fn clear_if(&self, uid: i32, server: &str) -> io::Result<()> {
        let mut table = self.table();
        if table.get(&uid).is_some_and(|s| s == server) {
            table.remove(&uid);
        }
        Ok(())
    }
}

/// Every chat server by name with the address of its gRPC service, and the presence table that
/// says which one holds a user: what a party needs to route a notify or a push.
#[derive(Clone)]
pub struct ChatRoutes {
    pub table: Arc<dyn PresenceStore>,
    /// Server name -> gRPC address (`host:port`).
    pub servers: BTreeMap<String, String>,
}

impl ChatRoutes {
    /// The server `uid` is on and its gRPC address; `None` when the user is on no server, or on
    /// one this table does not know (a record no party can act on), or the table cannot be read.
    pub fn server_of(&self, uid: i32) -> Option<(String, String)> {
        let name = match self.table.get(uid) {
            Ok(name) => name?,
            Err(err) => {
                tracing::warn!("cannot read the presence of uid {uid}: {err}");
                return None;
            }
        };
        let addr = self.servers.get(&name)?.clone();
        Some((name, addr))
    }

    /// Whether `uid` is logged in on one of the servers: what the resource server asks when it
    /// needs to know who is online.
    pub fn is_online(&self, uid: i32) -> bool {
        self.server_of(uid).is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_record_is_cleared_only_by_the_server_it_names() {
        let p = MemoryPresence::default();
        assert_eq!(p.set(2, "chat1").unwrap(), None);
        assert_eq!(p.set(2, "chat2").unwrap().as_deref(), Some("chat1"));
        p.clear_if(2, "chat1").unwrap();
        assert_eq!(p.get(2).unwrap().as_deref(), Some("chat2"));
        p.clear_if(2, "chat2").unwrap();
        assert_eq!(p.get(2).unwrap(), None);
    }
}
