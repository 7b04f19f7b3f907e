//! The simulation's file store: turmoil's per-host file system, which loses unsynced data when the
//! host crashes. It lives with the simulation; parties only see the `FileStore` seam.

use crate::store::files::file_store_impl;
use crate::store::FileStore;
use std::io;
use std::path::{Path, PathBuf};

/// Files in the current turmoil host's simulated file system under `root`.
#[derive(Debug, Clone)]
pub struct SimFiles {
    root: PathBuf,
}

impl SimFiles {
    pub fn new(root: impl Into<PathBuf>) -> Self {
        SimFiles { root: root.into() }
    }
    fn full(&self, path: &Path) -> PathBuf {
        self.root.join(path)
    }
}

file_store_impl!(
    SimFiles,
    turmoil::fs::shim::std::fs,
    turmoil::fs::shim::std::fs::sync_dir
);
