//! The resource server's upload state (`file_upload_<name>` in Redis upstream). Records are keyed
//! by the chat message they upload for, not by file name: two messages may carry the same name
//! (issue 11, item 5), and a message has at most one upload.

use parking_lot::Mutex;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use std::io;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UploadRecord {
    pub name: String,
    /// The authenticated uploader; the file lives under this uid's folder.
    pub owner_uid: i32,
    pub total_size: u64,
    pub md5: String,
    /// The key: the image message this upload is for.
    pub message_id: i64,
    pub sender: i32,
    pub receiver: i32,
    pub thread_id: i32,
    /// Where the bytes are, relative to the file store's root: `<owner>/<name>`, or
    /// `<owner>/<message_id>:<name>` when another message of the same owner already uses that
    /// path (a name never contains ':', so the two forms never meet).
    pub path: String,
    /// Seqs whose bytes are durably stored.
    pub received: BTreeSet<u32>,
    /// All chunks stored and the md5 verified.
    pub complete: bool,
    /// The chat server acknowledged the notify.
    pub notified: bool,
    /// When a chunk last arrived (seconds since the epoch by the server's clock; 0 when the
    /// server has no clock): an unfinished upload idle past the TTL expires.
    #[serde(default)]
    pub touched_s: u64,
    /// Expired: its file is deleted and its chunks are refused; the row stays, small, so a late
    /// chunk cannot start the upload again under the client's feet.
    #[serde(default)]
    pub expired: bool,
    /// Rejected for its md5: its file and seqs are gone, and chunks of that attempt that arrive
    /// late are refused until the sender starts again at seq 1. Without the row a late chunk
    /// started a new upload, was acked, and the sender took the file for done (explore finding 8).
    #[serde(default)]
    pub rejected: bool,
}

impl UploadRecord {
    /// A new upload of `name` by `owner_uid` to `receiver`, for message `message_id`, stored at
    /// `path`: nothing received, no md5 or thread yet.
    pub fn new(
        name: &str,
        owner_uid: i32,
        (message_id, receiver): (i64, i32),
        total_size: u64,
        path: &str,
    ) -> Self {
        UploadRecord {
            name: name.to_owned(),
            owner_uid,
            total_size,
            md5: String::new(),
            message_id,
            sender: owner_uid,
            receiver,
            thread_id: 0,
            path: path.to_owned(),
            received: BTreeSet::new(),
            complete: false,
            notified: false,
            touched_s: 0,
            expired: false,
            rejected: false,
        }
    }
}

/// Upload state by message id. `put` and `remove` are durable when they return `Ok`: the resource
/// server acks a chunk only after its record is saved.
pub trait UploadStore: Send + Sync + 'static {
    fn get(&self, message_id: i64) -> io::Result<Option<UploadRecord>>;
    /// Creates or replaces the record of `record.message_id`.
    fn put(&self, record: UploadRecord) -> io::Result<()>;
    fn remove(&self, message_id: i64) -> io::Result<()>;
    /// `owner`'s records of file `name`, in message id order.
    fn by_name(&self, owner: i32, name: &str) -> io::Result<Vec<UploadRecord>>;
    /// Every record, in name order then message id order.
    fn all(&self) -> io::Result<Vec<UploadRecord>>;

    /// The record without its received seqs (`received` empty), whether it holds `seq`, and how
    /// many seqs it holds: what a chunk needs, at a cost that does not grow with the file.
    fn head(&self, message_id: i64, seq: u32) -> io::Result<Option<ChunkHead>> {
        Ok(self.get(message_id)?.map(|mut record| {
            let holds = record.received.contains(&seq);
            let count = record.received.len() as u64;
            record.received.clear();
            ChunkHead {
                record,
                holds,
                count,
            }
        }))
    }

    /// Saves `record`'s fields, keeping the received seqs stored (`record.received` is ignored).
    fn save_fields(&self, record: &UploadRecord) -> io::Result<()> {
        let received = self
            .get(record.message_id)?
            .map_or_else(Default::default, |r| r.received);
        self.put(UploadRecord {
            received,
            ..record.clone()
        })
    }

    /// Saves `record`'s fields and adds `seq` to its received seqs, in one step; returns how many
    /// it now holds. `record.received` is ignored.
    fn add_chunk(&self, record: &UploadRecord, seq: u32) -> io::Result<u64> {
        let mut stored = self
            .get(record.message_id)?
            .map_or_else(Default::default, |r| r.received);
        stored.insert(seq);
        let count = stored.len() as u64;
        self.put(UploadRecord {
            received: stored,
            ..record.clone()
        })?;
        Ok(count)
    }

    /// [`UploadStore::add_chunk`] for every seq of every record, as one durable step: the chunks
    /// that arrived together cost one commit. Each record's fields are saved as given.
    fn add_chunks(&self, chunks: &[(UploadRecord, BTreeSet<u32>)]) -> io::Result<()> {
        for (record, seqs) in chunks {
            for &seq in seqs {
                self.add_chunk(record, seq)?;
            }
        }
        Ok(())
    }
}

/// See [`UploadStore::head`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChunkHead {
    pub record: UploadRecord,
    pub holds: bool,
    pub count: u64,
}

#[derive(Debug, Default)]
pub struct MemoryUploads {
    records: Mutex<BTreeMap<i64, UploadRecord>>,
}

impl UploadStore for MemoryUploads {
    fn get(&self, message_id: i64) -> io::Result<Option<UploadRecord>> {
        Ok(self.records.lock().get(&message_id).cloned())
    }

    fn put(&self, record: UploadRecord) -> io::Result<()> {
        self.records.lock().insert(record.message_id, record);
        Ok(())
    }

    fn remove(&self, message_id: i64) -> io::Result<()> {
        self.records.lock().remove(&message_id);
        Ok(())
    }

    fn by_name(&self, owner: i32, name: &str) -> io::Result<Vec<UploadRecord>> {
        let records = self.records.lock();
        Ok(records
            .values()
            .filter(|r| r.owner_uid == owner && r.name == name)
            .cloned()
            .collect())
    }

    fn all(&self) -> io::Result<Vec<UploadRecord>> {
        let mut all: Vec<UploadRecord> = self.records.lock().values().cloned().collect();
        all.sort_by(|a, b| (&a.name, a.message_id).cmp(&(&b.name, b.message_id)));
        Ok(all)
    }
}
