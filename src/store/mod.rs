//! Storage seams: files (over a small fs trait with a real and a simulated implementation), chat
//! messages, and the resource server's upload state (in memory for the simulation, in SQLite for
//! `chatsim serve`).

mod faulty;
pub(crate) mod files;
mod messages;
mod offload;
mod presence;
mod sqlite;
mod uploads;

pub use faulty::{DiskFaults, FaultyFiles};
pub use files::{FileStore, RealFiles};
pub use messages::{
    MemoryMessages, MessageStore, NewMessage, PushFor, QueuedPush, Stored, StoredMessage,
};
pub use offload::Offload;
pub use presence::{ChatRoutes, MemoryPresence, PresenceStore};
pub use sqlite::{SqliteDb, SqliteMessages, SqlitePresence, SqliteUploads};
pub use uploads::{ChunkHead, MemoryUploads, UploadRecord, UploadStore};
