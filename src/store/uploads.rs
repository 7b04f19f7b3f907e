//! The resource server's upload state (`file_upload_<name>` in Redis upstream).

use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use std::io;
use std::sync::Mutex;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UploadRecord {
    pub name: String,
    /// The authenticated uploader; the file lives under this uid's folder.
    pub owner_uid: i32,
    pub total_size: u64,
    pub md5: String,
    pub message_id: i64,
    pub sender: i32,
    pub receiver: i32,
    pub thread_id: i32,
    /// Seqs whose bytes are durably stored.
    pub received: BTreeSet<u32>,
    /// All chunks stored and the md5 verified.
    pub complete: bool,
    /// The chat server acknowledged the notify.
    pub notified: bool,
}

/// Upload state by file name. `put` and `remove` are durable when they return `Ok`: the resource
/// server acks a chunk only after its record is saved.
pub trait UploadStore: Send + Sync + 'static {
    fn get(&self, name: &str) -> io::Result<Option<UploadRecord>>;
    fn put(&self, record: UploadRecord) -> io::Result<()>;
    fn remove(&self, name: &str) -> io::Result<()>;
    fn by_message(&self, message_id: i64) -> io::Result<Option<UploadRecord>>;
    /// Every record in name order.
    fn all(&self) -> io::Result<Vec<UploadRecord>>;
}

#[derive(Debug, Default)]
pub struct MemoryUploads {
    records: Mutex<BTreeMap<String, UploadRecord>>,
}

impl UploadStore for MemoryUploads {
    fn get(&self, name: &str) -> io::Result<Option<UploadRecord>> {
        Ok(self.records.lock().unwrap().get(name).cloned())
    }

    fn put(&self, record: UploadRecord) -> io::Result<()> {
        self.records
            .lock()
            .unwrap()
            .insert(record.name.clone(), record);
        Ok(())
    }

    fn remove(&self, name: &str) -> io::Result<()> {
        self.records.lock().unwrap().remove(name);
        Ok(())
    }

    fn by_message(&self, message_id: i64) -> io::Result<Option<UploadRecord>> {
        let records = self.records.lock().unwrap();
        Ok(records
            .values()
            .find(|r| r.message_id == message_id)
            .cloned())
    }

    fn all(&self) -> io::Result<Vec<UploadRecord>> {
        Ok(self.records.lock().unwrap().values().cloned().collect())
    }
}
