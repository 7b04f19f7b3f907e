//! The chat server's message table (`chat_message` upstream).

use parking_lot::Mutex;
use serde::Serialize;
use std::collections::BTreeMap;
use std::io;

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct NewMessage {
    pub thread_id: i32,
    pub sender_id: i32,
    pub recv_id: i32,
    pub content: String,
    pub status: i32,
    pub msg_type: i32,
    pub created_at: String,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StoredMessage {
    pub message_id: i64,
    #[serde(flatten)]
    pub message: NewMessage,
}

pub trait MessageStore: Send + Sync + 'static {
    /// Stores a message and returns its id (auto-increment from 1).
    fn insert(&self, message: NewMessage) -> io::Result<i64>;
    fn get(&self, message_id: i64) -> io::Result<Option<StoredMessage>>;
    /// Sets the status; returns the previous one, or `None` when there is no such message.
    fn set_status(&self, message_id: i64, status: i32) -> io::Result<Option<i32>>;
    /// Every message in id order.
    fn all(&self) -> io::Result<Vec<StoredMessage>>;

    /// Remembers that `sender`'s request `unique_id` was stored as `message_id`, so that a
    /// request sent again after a reconnect (or a chat server restart) is recognised.
    fn remember_unique(&self, sender: i32, unique_id: &str, message_id: i64) -> io::Result<()>;

    /// The message stored for `sender`'s `unique_id`, if any.
    fn find_unique(&self, sender: i32, unique_id: &str) -> io::Result<Option<i64>>;

    /// Keeps a push for `uid` until it is known to be received (it survives a restart).
    fn queue_push(&self, uid: i32, push: QueuedPush) -> io::Result<()>;

    /// `uid`'s pushes not yet known to be received, in the order they were queued.
    fn pending_pushes(&self, uid: i32) -> io::Result<Vec<QueuedPush>> {
        Ok(self
            .pushes_after(uid, 0, usize::MAX)?
            .into_iter()
            .map(|(_, push)| push)
            .collect())
    }

    /// Up to `limit` of `uid`'s pending pushes queued after position `after`, each with its
    /// position (increasing in queue order, never 0): a page to deliver.
    fn pushes_after(
        &self,
        uid: i32,
        after: u64,
        limit: usize,
    ) -> io::Result<Vec<(u64, QueuedPush)>>;

    /// Forgets the push of message `id` for `message_id`: it was received.
    fn drop_push(&self, uid: i32, id: u16, message_id: i64) -> io::Result<()>;

    /// In one transaction: stores each `(unique_id, message)` of `sender` whose unique id was
    /// not stored before and remembers it, then queues the push that `push` makes from the
    /// outcome. Returns each item's message id and whether it was stored now. A crash leaves all
    /// of it or none, so a request sent again never finds its messages stored and its push lost.
    fn store_once(
        &self,
        sender: i32,
        items: Vec<(String, NewMessage)>,
        push: &PushFor<'_>,
    ) -> io::Result<Vec<Stored>>;

    /// In one transaction: sets `message_id`'s status to `status` and, when it was `from` before,
    /// queues `pushes`. Returns the previous status (`None`: no such message). A crash cannot
    /// leave the status changed and the pushes never queued.
    fn change_status(
        &self,
        message_id: i64,
        from: i32,
        status: i32,
        pushes: Vec<(i32, QueuedPush)>,
    ) -> io::Result<Option<i32>>;
}

/// What [`MessageStore::store_once`] queues: the push, and for whom, made from the outcome.
pub type PushFor<'a> = dyn Fn(&[Stored]) -> Option<(i32, QueuedPush)> + 'a;

/// One item of [`MessageStore::store_once`]: its message id, and whether it was stored now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stored {
    pub message_id: i64,
    pub new: bool,
}

/// A push kept for its user: the message id of the frame, the first message it is about, and
/// the frame's body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueuedPush {
    pub id: u16,
    pub message_id: i64,
    pub body: Vec<u8>,
}

#[derive(Debug, Default)]
pub struct MemoryMessages {
    rows: Mutex<BTreeMap<i64, NewMessage>>,
    uniques: Mutex<BTreeMap<(i32, String), i64>>,
    pushes: Mutex<PushQueues>,
}

/// Per user, pushes with their queue position; the last position handed out.
type PushQueues = (u64, BTreeMap<i32, Vec<(u64, QueuedPush)>>);

/// Appends `push` to `uid`'s queue under the next position.
fn enqueue(pushes: &mut PushQueues, uid: i32, push: QueuedPush) {
    pushes.0 += 1;
    let seq = pushes.0;
    pushes.1.entry(uid).or_default().push((seq, push));
}

impl MessageStore for MemoryMessages {
    fn insert(&self, message: NewMessage) -> io::Result<i64> {
        let mut rows = self.rows.lock();
        let id = rows.keys().next_back().map_or(1, |last| last + 1);
        rows.insert(id, message);
        Ok(id)
    }

    fn get(&self, message_id: i64) -> io::Result<Option<StoredMessage>> {
        let rows = self.rows.lock();
        Ok(rows.get(&message_id).map(|m| StoredMessage {
            message_id,
            message: m.clone(),
        }))
    }

    fn set_status(&self, message_id: i64, status: i32) -> io::Result<Option<i32>> {
        let mut rows = self.rows.lock();
        Ok(rows
            .get_mut(&message_id)
            .map(|row| std::mem::replace(&mut row.status, status)))
    }

    fn remember_unique(&self, sender: i32, unique_id: &str, message_id: i64) -> io::Result<()> {
        self.uniques
            .lock()
            .insert((sender, unique_id.to_owned()), message_id);
        Ok(())
    }

    fn find_unique(&self, sender: i32, unique_id: &str) -> io::Result<Option<i64>> {
        let uniques = self.uniques.lock();
        Ok(uniques.get(&(sender, unique_id.to_owned())).copied())
    }

    fn queue_push(&self, uid: i32, push: QueuedPush) -> io::Result<()> {
        enqueue(&mut self.pushes.lock(), uid, push);
        Ok(())
    }

    fn pushes_after(
        &self,
        uid: i32,
        after: u64,
        limit: usize,
    ) -> io::Result<Vec<(u64, QueuedPush)>> {
        let pushes = self.pushes.lock();
        Ok(pushes
            .1
            .get(&uid)
            .map(|pending| {
                pending
                    .iter()
                    .filter(|(seq, _)| *seq > after)
                    .take(limit)
                    .cloned()
                    .collect()
            })
            .unwrap_or_default())
    }

    fn drop_push(&self, uid: i32, id: u16, message_id: i64) -> io::Result<()> {
        if let Some(pending) = self.pushes.lock().1.get_mut(&uid) {
            pending.retain(|(_, p)| !(p.id == id && p.message_id == message_id));
        }
        Ok(())
    }

    fn store_once(
        &self,
        sender: i32,
        items: Vec<(String, NewMessage)>,
        push: &PushFor<'_>,
    ) -> io::Result<Vec<Stored>> {
        // The locks are taken in one order (rows, uniques, pushes) and held to the end, which
        // makes the three changes one step.
        let mut rows = self.rows.lock();
        let mut uniques = self.uniques.lock();
        let mut pushes = self.pushes.lock();
        let mut outcome = Vec::with_capacity(items.len());
        for (unique_id, message) in items {
            let key = (sender, unique_id);
            if let Some(&message_id) = uniques.get(&key) {
                outcome.push(Stored {
                    message_id,
                    new: false,
                });
                continue;
            }
            let message_id = rows.keys().next_back().map_or(1, |last| last + 1);
            rows.insert(message_id, message);
            uniques.insert(key, message_id);
            outcome.push(Stored {
                message_id,
                new: true,
            });
        }
        if let Some((uid, queued)) = push(&outcome) {
            enqueue(&mut pushes, uid, queued);
        }
        Ok(outcome)
    }

    fn change_status(
        &self,
        message_id: i64,
        from: i32,
        status: i32,
        queued: Vec<(i32, QueuedPush)>,
    ) -> io::Result<Option<i32>> {
        let mut rows = self.rows.lock();
        let mut pushes = self.pushes.lock();
        let Some(row) = rows.get_mut(&message_id) else {
            return Ok(None);
        };
        let previous = std::mem::replace(&mut row.status, status);
        if previous == from {
            for (uid, push) in queued {
                enqueue(&mut pushes, uid, push);
            }
        }
        Ok(Some(previous))
    }

    fn all(&self) -> io::Result<Vec<StoredMessage>> {
        let rows = self.rows.lock();
        Ok(rows
            .iter()
            .map(|(id, m)| StoredMessage {
                message_id: *id,
                message: m.clone(),
            })
            .collect())
    }
}
