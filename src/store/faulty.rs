//! A file store that fails on command: the scenario's disk faults (write errors, a full disk).
//! Reads always go through; writes fail while a fault is armed.

use super::FileStore;
use crate::trace::{Event, Tracer};
use parking_lot::Mutex;
use std::io;
use std::path::Path;
use std::sync::Arc;

/// The armed disk faults, shared between the world (which arms them) and the store.
#[derive(Debug, Default)]
pub struct DiskFaults {
    state: Mutex<DiskState>,
}

#[derive(Debug, Default)]
struct DiskState {
    fail_next: u32,
    /// Per upload name, how many of its next writes fail.
    fail_file: std::collections::BTreeMap<String, u32>,
    full: bool,
}

/// The upload name a stored path holds: `<uid>/<name>` or `<uid>/<message id>:<name>`.
fn upload_name(path: &Path) -> Option<&str> {
    let last = path.file_name()?.to_str()?;
    Some(last.split_once(':').map_or(last, |(_, name)| name))
}

impl DiskFaults {
    /// The next `count` writes fail.
    pub fn fail_writes(&self, count: u32) {
        self.state.lock().fail_next += count;
    }

    /// The next `count` writes of the upload named `file` fail.
    pub fn fail_writes_of(&self, file: &str, count: u32) {
        *self
            .state
            .lock()
            .fail_file
            .entry(file.to_owned())
            .or_default() += count;
    }

    pub fn set_full(&self, full: bool) {
        self.state.lock().full = full;
    }

    pub fn clear(&self) {
        *self.state.lock() = DiskState::default();
    }

    /// Whether this write fails, and why.
    fn take(&self, path: &Path) -> Option<io::Error> {
        let mut state = self.state.lock();
        let left = upload_name(path).and_then(|name| state.fail_file.get_mut(name));
        if let Some(left) = left.filter(|left| **left > 0) {
            *left -= 1;
            return Some(io::Error::other("injected: write error on this file"));
        }
        if state.full {
            return Some(io::Error::new(
                io::ErrorKind::StorageFull,
                "injected: no space left on device",
            ));
        }
        if state.fail_next > 0 {
            state.fail_next -= 1;
            return Some(io::Error::other("injected: write error"));
        }
        None
    }
}

pub struct FaultyFiles {
    inner: Arc<dyn FileStore>,
    faults: Arc<DiskFaults>,
    tracer: Tracer,
}

impl FaultyFiles {
    pub fn new(inner: Arc<dyn FileStore>, faults: Arc<DiskFaults>, tracer: Tracer) -> Self {
        FaultyFiles {
            inner,
            faults,
            tracer,
        }
    }

    fn check(&self, what: &str, path: &Path) -> io::Result<()> {
        match self.faults.take(path) {
            None => Ok(()),
            Some(err) => {
                self.tracer.emit(Event::Fault {
                    kind: "disk_write_failed".into(),
                    detail: format!("{what} {}: {err}", path.display()),
                });
                Err(err)
            }
        }
    }
}

impl FileStore for FaultyFiles {
    fn create_sized(&self, path: &Path, size: u64) -> io::Result<()> {
        self.check("create", path)?;
        self.inner.create_sized(path, size)
    }

    fn write_at(&self, path: &Path, offset: u64, data: &[u8]) -> io::Result<()> {
        self.check("write", path)?;
        self.inner.write_at(path, offset, data)
    }

    fn read_at(&self, path: &Path, offset: u64, len: usize) -> io::Result<Vec<u8>> {
        self.inner.read_at(path, offset, len)
    }

    fn read(&self, path: &Path) -> io::Result<Vec<u8>> {
        self.inner.read(path)
    }

    fn replace(&self, path: &Path, data: &[u8]) -> io::Result<()> {
        self.check("replace", path)?;
        self.inner.replace(path, data)
    }

    fn remove(&self, path: &Path) -> io::Result<()> {
        self.inner.remove(path)
    }

    fn size(&self, path: &Path) -> io::Result<Option<u64>> {
        self.inner.size(path)
    }
}
