//! Storage seams: files (over a small fs trait with a real and a simulated implementation), chat
//! messages, and the resource server's upload state.

mod files;
mod messages;
mod uploads;

pub use files::{FileStore, RealFiles, SimFiles};
pub use messages::{MemoryMessages, MessageStore, NewMessage, StoredMessage};
pub use uploads::{MemoryUploads, UploadRecord, UploadStore};
