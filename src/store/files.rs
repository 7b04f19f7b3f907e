//! File storage behind a small trait. Both implementations come from one macro over a module with
//! `std::fs`'s shape: the real one (here) uses `std::fs`, the simulated one (`sim::SimFiles`)
//! turmoil's shim, whose files lose unsynced data when the host crashes. Paths are relative to the
//! store's root.

use std::io;
use std::path::{Path, PathBuf};

/// What the resource server needs from a disk. Every mutating call is durable when it returns:
/// an ack must mean the data survives a crash (docs/protocol.md section 8).
pub trait FileStore: Send + Sync + 'static {
    /// Creates (or, if it exists, leaves alone) a file of exactly `size` bytes, durably.
    fn create_sized(&self, path: &Path, size: u64) -> io::Result<()>;
    /// Writes `data` at `offset` and syncs the file.
    fn write_at(&self, path: &Path, offset: u64, data: &[u8]) -> io::Result<()>;
    /// Writes `data` at `offset`; durable only after [`FileStore::sync`] of the file, so that
    /// the chunks that arrived together cost one fsync. By default as durable as `write_at`.
    fn write_at_unsynced(&self, path: &Path, offset: u64, data: &[u8]) -> io::Result<()> {
        self.write_at(path, offset, data)
    }
    /// Makes every write to the file durable.
    fn sync(&self, _path: &Path) -> io::Result<()> {
        Ok(())
    }
    /// Reads up to `len` bytes at `offset`.
    fn read_at(&self, path: &Path, offset: u64, len: usize) -> io::Result<Vec<u8>>;
    fn read(&self, path: &Path) -> io::Result<Vec<u8>>;
    /// Replaces the whole file atomically (write aside, sync, rename, sync the directory).
    fn replace(&self, path: &Path, data: &[u8]) -> io::Result<()>;
    fn remove(&self, path: &Path) -> io::Result<()>;
    /// The file's size, or `None` when it does not exist.
    fn size(&self, path: &Path) -> io::Result<Option<u64>>;
}

macro_rules! file_store_impl {
    ($name:ident, $fs:path, $sync_dir:path) => {
        impl FileStore for $name {
            fn create_sized(&self, path: &Path, size: u64) -> io::Result<()> {
                use $fs as fs;
                let full = self.full(path);
                let parent = full.parent().unwrap_or(&self.root).to_path_buf();
                fs::create_dir_all(&parent)?;
                let file = fs::OpenOptions::new()
                    .write(true)
                    .create(true)
                    .truncate(false)
                    .open(&full)?;
                if file.metadata()?.len() != size {
                    file.set_len(size)?;
                }
                file.sync_all()?;
                $sync_dir(&parent)?;
                $sync_dir(&self.root)
            }

            fn write_at(&self, path: &Path, offset: u64, data: &[u8]) -> io::Result<()> {
                use std::os::unix::fs::FileExt;
                use $fs as fs;
                let file = fs::OpenOptions::new().write(true).open(self.full(path))?;
                file.write_all_at(data, offset)?;
                file.sync_all()
            }

            fn write_at_unsynced(&self, path: &Path, offset: u64, data: &[u8]) -> io::Result<()> {
                use std::os::unix::fs::FileExt;
                use $fs as fs;
                let file = fs::OpenOptions::new().write(true).open(self.full(path))?;
                file.write_all_at(data, offset)
            }

            fn sync(&self, path: &Path) -> io::Result<()> {
                use $fs as fs;
                // An fsync syncs the file, whichever descriptor wrote to it.
                fs::OpenOptions::new()
                    .write(true)
                    .open(self.full(path))?
                    .sync_data()
            }

            fn read_at(&self, path: &Path, offset: u64, len: usize) -> io::Result<Vec<u8>> {
                use std::os::unix::fs::FileExt;
                use $fs as fs;
                let file = fs::File::open(self.full(path))?;
                let mut buf = vec![0u8; len];
                let mut filled = 0;
                while filled < len {
                    let n = file.read_at(&mut buf[filled..], offset + filled as u64)?;
                    if n == 0 {
                        break;
                    }
                    filled += n;
                }
                buf.truncate(filled);
                Ok(buf)
            }

            fn read(&self, path: &Path) -> io::Result<Vec<u8>> {
                use $fs as fs;
                fs::read(self.full(path))
            }

            fn replace(&self, path: &Path, data: &[u8]) -> io::Result<()> {
                use std::io::Write;
                use $fs as fs;
                let full = self.full(path);
                let parent = full.parent().unwrap_or(&self.root).to_path_buf();
                fs::create_dir_all(&parent)?;
                let aside = full.with_extension("tmp");
                let mut file = fs::File::create(&aside)?;
                file.write_all(data)?;
                file.sync_all()?;
                fs::rename(&aside, &full)?;
                $sync_dir(&parent)
            }

            fn remove(&self, path: &Path) -> io::Result<()> {
                use $fs as fs;
                let full = self.full(path);
                match fs::remove_file(&full) {
                    Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
                    other => other?,
                }
                $sync_dir(full.parent().unwrap_or(&self.root))
            }

            fn size(&self, path: &Path) -> io::Result<Option<u64>> {
                use $fs as fs;
                match fs::metadata(self.full(path)) {
                    Ok(meta) => Ok(Some(meta.len())),
                    Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
                    Err(e) => Err(e),
                }
            }
        }
    };
}

/// Files on the real disk under `root`.
#[derive(Debug, Clone)]
pub struct RealFiles {
    root: PathBuf,
}

impl RealFiles {
    pub fn new(root: impl Into<PathBuf>) -> Self {
        RealFiles { root: root.into() }
    }
    fn full(&self, path: &Path) -> PathBuf {
        self.root.join(path)
    }
}

fn real_sync_dir(dir: &Path) -> io::Result<()> {
    std::fs::File::open(dir)?.sync_all()
}

file_store_impl!(RealFiles, std::fs, real_sync_dir);

// The simulation's store (`sim::SimFiles`) is made by the same macro over turmoil's shim.
pub(crate) use file_store_impl;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn real_files_write_at_offsets_in_any_order() {
        let dir = std::env::temp_dir().join(format!("chatsim-files-{}", std::process::id()));
        let store = RealFiles::new(&dir);
        let path = Path::new("7/a.bin");
        store.create_sized(path, 10).unwrap();
        store.write_at(path, 5, b"world").unwrap();
        store.write_at(path, 0, b"hello").unwrap();
        // A second create must not truncate what is there.
        store.create_sized(path, 10).unwrap();
        assert_eq!(store.read(path).unwrap(), b"helloworld");
        assert_eq!(store.read_at(path, 3, 4).unwrap(), b"lowo");
        assert_eq!(store.size(path).unwrap(), Some(10));
        store.remove(path).unwrap();
        assert_eq!(store.size(path).unwrap(), None);
        std::fs::remove_dir_all(dir).unwrap();
    }
}
