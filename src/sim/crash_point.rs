//! Crash points inside the stores that live beside the hosts: the chat server's message store
//! (MySQL upstream) and the resource server's upload state (Redis upstream). A crash of a host
//! alone cannot strike between two of their commits, or between a commit and the replies it
//! allows (the resource server's group commit: records saved, acks and notify not yet sent); a
//! `store_crash` fault arms this switch: the store completes the chosen write,
//! and at that instant the host is cut off from every peer (so nothing it sends afterwards
//! arrives) and every later write fails, as a process killed there would never make them; the
//! world then crashes the host at the end of the step and repairs its links. What the server
//! committed in two steps shows as half done.

use crate::store::{
    ChunkHead, MessageStore, NewMessage, PushFor, QueuedPush, Stored, StoredMessage, UploadRecord,
    UploadStore,
};
use parking_lot::Mutex;
use std::collections::BTreeSet;
use std::io;
use std::sync::Arc;

#[derive(Debug, Default)]
struct State {
    /// The write to strike after, and how many more of it to let through first.
    armed: Option<(String, u32)>,
    /// The armed write has happened: every later write fails until the host is crashed.
    tripped: bool,
}

/// Shared by the world (which arms it and crashes the host) and the store wrapper.
#[derive(Debug, Default)]
pub struct CrashSwitch {
    state: Mutex<State>,
    /// The host whose store this is, and every other host: cut apart when the switch trips.
    host: String,
    peers: Vec<String>,
}

impl CrashSwitch {
    pub fn new(host: &str, peers: Vec<String>) -> Self {
        CrashSwitch {
            host: host.to_owned(),
            peers,
            ..CrashSwitch::default()
        }
    }

    /// The host and the peers it was cut off from, for the world to repair after the crash.
    pub fn links(&self) -> impl Iterator<Item = (&str, &str)> {
        self.peers.iter().map(|p| (self.host.as_str(), p.as_str()))
    }

    /// Strike after the `nth` write `op` from now on.
    pub fn arm(&self, op: &str, nth: u32) {
        let mut state = self.state.lock();
        state.armed = Some((op.to_owned(), nth.max(1)));
    }

    /// True once, when the armed write has happened; the switch is then ready for the host to
    /// be crashed and started again with a working store.
    pub fn take_tripped(&self) -> bool {
        let mut state = self.state.lock();
        std::mem::take(&mut state.tripped)
    }

    fn before_write(&self) -> io::Result<()> {
        if self.state.lock().tripped {
            return Err(io::Error::other(format!(
                "the {} host crashed (store_crash)",
                self.host
            )));
        }
        Ok(())
    }

    /// A write through the switch: refused once it tripped, and counted as `op`.
    fn write<T>(&self, op: &str, write: impl FnOnce() -> io::Result<T>) -> io::Result<T> {
        self.before_write()?;
        let result = write()?;
        self.after_write(op);
        Ok(result)
    }

    fn after_write(&self, op: &str) {
        let mut state = self.state.lock();
        let Some((armed, remaining)) = state.armed.as_mut() else {
            return;
        };
        if armed != op {
            return;
        }
        *remaining -= 1;
        if *remaining == 0 {
            state.armed = None;
            state.tripped = true;
            // Inside the simulation the host dies here: nothing it sends from now on arrives.
            if turmoil::in_simulation() {
                for peer in &self.peers {
                    turmoil::partition(self.host.as_str(), peer.as_str());
                }
            }
        }
    }
}

/// A store beside a host whose writes pass the crash switch: the chat server's messages or the
/// resource server's upload state.
pub struct Crashable<S> {
    inner: Arc<S>,
    switch: Arc<CrashSwitch>,
}

impl<S> Crashable<S> {
    pub fn new(inner: Arc<S>, switch: Arc<CrashSwitch>) -> Self {
        Crashable { inner, switch }
    }

    fn write<T>(&self, op: &str, f: impl FnOnce(&S) -> io::Result<T>) -> io::Result<T> {
        self.switch.write(op, || f(&self.inner))
    }
}

impl<S: MessageStore> MessageStore for Crashable<S> {
    fn insert(&self, message: NewMessage) -> io::Result<i64> {
        self.write("insert", |s| s.insert(message))
    }

    fn get(&self, message_id: i64) -> io::Result<Option<StoredMessage>> {
        self.inner.get(message_id)
    }

    fn set_status(&self, message_id: i64, status: i32) -> io::Result<Option<i32>> {
        self.write("set_status", |s| s.set_status(message_id, status))
    }

    fn all(&self) -> io::Result<Vec<StoredMessage>> {
        self.inner.all()
    }

    fn remember_unique(&self, sender: i32, unique_id: &str, message_id: i64) -> io::Result<()> {
        self.write("remember_unique", |s| {
            s.remember_unique(sender, unique_id, message_id)
        })
    }

    fn find_unique(&self, sender: i32, unique_id: &str) -> io::Result<Option<i64>> {
        self.inner.find_unique(sender, unique_id)
    }

    fn queue_push(&self, uid: i32, push: QueuedPush) -> io::Result<()> {
        self.write("queue_push", |s| s.queue_push(uid, push))
    }

    fn pending_pushes(&self, uid: i32) -> io::Result<Vec<QueuedPush>> {
        self.inner.pending_pushes(uid)
    }

    fn drop_push(&self, uid: i32, id: u16, message_id: i64) -> io::Result<()> {
        self.write("drop_push", |s| s.drop_push(uid, id, message_id))
    }

    fn pushes_after(
        &self,
        uid: i32,
        after: u64,
        limit: usize,
    ) -> io::Result<Vec<(u64, QueuedPush)>> {
        self.inner.pushes_after(uid, after, limit)
    }

    fn store_once(
        &self,
        sender: i32,
        items: Vec<(String, NewMessage)>,
        push: &PushFor<'_>,
    ) -> io::Result<Vec<Stored>> {
        self.write("store_once", |s| s.store_once(sender, items, push))
    }

    fn change_status(
        &self,
        message_id: i64,
        from: i32,
        status: i32,
        pushes: Vec<(i32, QueuedPush)>,
    ) -> io::Result<Option<i32>> {
        self.write("change_status", |s| {
            s.change_status(message_id, from, status, pushes)
        })
    }
}

/// The resource server's upload state through the switch: a write's op is the store method's
/// name; the defaults that build on `get` and `put` (`save_fields`, `add_chunk`, `add_chunks`)
/// are counted as themselves, not as the puts they make.
impl<S: UploadStore> UploadStore for Crashable<S> {
    fn get(&self, message_id: i64) -> io::Result<Option<UploadRecord>> {
        self.inner.get(message_id)
    }

    fn put(&self, record: UploadRecord) -> io::Result<()> {
        self.write("put", |s| s.put(record))
    }

    fn remove(&self, message_id: i64) -> io::Result<()> {
        self.write("remove", |s| s.remove(message_id))
    }

    fn by_name(&self, owner: i32, name: &str) -> io::Result<Vec<UploadRecord>> {
        self.inner.by_name(owner, name)
    }

    fn all(&self) -> io::Result<Vec<UploadRecord>> {
        self.inner.all()
    }

    fn head(&self, message_id: i64, seq: u32) -> io::Result<Option<ChunkHead>> {
        self.inner.head(message_id, seq)
    }

    fn save_fields(&self, record: &UploadRecord) -> io::Result<()> {
        self.write("save_fields", |s| s.save_fields(record))
    }

    fn add_chunk(&self, record: &UploadRecord, seq: u32) -> io::Result<u64> {
        self.write("add_chunk", |s| s.add_chunk(record, seq))
    }

    fn add_chunks(&self, chunks: &[(UploadRecord, BTreeSet<u32>)]) -> io::Result<()> {
        self.write("add_chunks", |s| s.add_chunks(chunks))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::MemoryMessages;

    #[test]
    fn the_armed_write_commits_and_every_later_write_fails_until_the_crash() {
        let switch = Arc::new(CrashSwitch::default());
        let store = Crashable::new(Arc::new(MemoryMessages::default()), switch.clone());
        switch.arm("remember_unique", 1);
        store.remember_unique(1, "a", 1).unwrap();
        assert!(store.remember_unique(1, "b", 2).is_err());
        assert_eq!(store.find_unique(1, "a").unwrap(), Some(1));
        assert_eq!(store.find_unique(1, "b").unwrap(), None);
        assert!(switch.take_tripped());
        assert!(!switch.take_tripped());
        store.remember_unique(1, "b", 2).unwrap();
    }

    #[test]
    fn an_upload_group_commit_is_kept_and_the_writes_after_it_fail_until_the_crash() {
        use crate::store::MemoryUploads;
        let switch = Arc::new(CrashSwitch::new("resource", vec!["chat".into()]));
        let store = Crashable::new(Arc::new(MemoryUploads::default()), switch.clone());
        let record = UploadRecord::new("cat.png", 1, (7, 2), 100_000, "1/cat.png");
        store.put(record.clone()).unwrap();
        switch.arm("add_chunks", 1);
        store
            .add_chunks(&[(record.clone(), BTreeSet::from([1, 2, 3]))])
            .unwrap();
        let err = store.save_fields(&record).unwrap_err();
        assert_eq!(err.to_string(), "the resource host crashed (store_crash)");
        assert_eq!(store.get(7).unwrap().unwrap().received.len(), 3);
        assert!(switch.take_tripped());
        store.save_fields(&record).unwrap();
    }
}
