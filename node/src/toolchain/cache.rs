//! Which compiler has which toolchain id, kept in the state directory so that each compiler
//! is packaged once, and again only when one of its files changes (an upgrade).

use std::collections::HashMap;
use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use meshcc_wire::ids::ToolchainId;
use serde::{Deserialize, Serialize};

use crate::store::Store;

/// What identifies one version of a file without reading it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Fingerprint {
    /// The file.
    pub path: PathBuf,
    /// Its size.
    pub size: u64,
    /// Modification time, nanoseconds.
    pub mtime_ns: i128,
    /// Inode number (a package upgrade replaces the file).
    pub ino: u64,
}

impl Fingerprint {
    /// The fingerprint of `path` with metadata `meta`.
    pub fn of(path: &Path, meta: &fs::Metadata) -> Self {
        Self {
            path: path.to_owned(),
            size: meta.size(),
            mtime_ns: i128::from(meta.mtime()) * 1_000_000_000 + i128::from(meta.mtime_nsec()),
            ino: meta.ino(),
        }
    }

    fn still_holds(&self) -> bool {
        fs::metadata(&self.path).is_ok_and(|m| Self::of(&self.path, &m) == *self)
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Entry {
    id: String,
    files: Vec<Fingerprint>,
}

/// compiler path → toolchain id, persisted as JSON.
#[derive(Debug)]
pub struct ToolchainCache {
    path: PathBuf,
    entries: HashMap<PathBuf, Entry>,
}

impl ToolchainCache {
    /// Loads the cache file in `state_dir` (a missing or unreadable one is an empty cache).
    pub fn load(state_dir: &Path) -> Self {
        let path = state_dir.join("toolchains.json");
        let entries = fs::read(&path)
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .unwrap_or_default();
        Self { path, entries }
    }

    /// The id of `compiler` if it was packaged, none of its files changed, and the store still
    /// holds the manifest.
    pub fn lookup(&self, compiler: &Path, store: &Store) -> Option<ToolchainId> {
        let entry = self.entries.get(compiler)?;
        let id: ToolchainId = entry.id.parse().ok()?;
        let valid = entry.files.iter().all(Fingerprint::still_holds)
            && store.has(&super::manifest_blob(&id));
        valid.then_some(id)
    }

    /// Records a packaging result and saves the file.
    pub fn insert(&mut self, compiler: &Path, id: ToolchainId, files: Vec<Fingerprint>) {
        self.entries.insert(
            compiler.to_owned(),
            Entry {
                id: id.to_string(),
                files,
            },
        );
        let tmp = self.path.with_extension("json.tmp");
        let saved = serde_json::to_vec_pretty(&self.entries)
            .map_err(std::io::Error::other)
            .and_then(|b| fs::write(&tmp, b))
            .and_then(|()| fs::rename(&tmp, &self.path));
        if let Err(e) = saved {
            tracing::warn!("cannot save toolchain cache {}: {e}", self.path.display());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn changed_file_invalidates_and_cache_survives_reload() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("store"), u64::MAX).unwrap();
        let manifest = store.put(b"pretend manifest").unwrap();
        let id = ToolchainId(manifest.0);
        let cc = dir.path().join("cc");
        fs::write(&cc, "v1").unwrap();
        let mut cache = ToolchainCache::load(dir.path());
        cache.insert(
            &cc,
            id,
            vec![Fingerprint::of(&cc, &fs::metadata(&cc).unwrap())],
        );
        let cache = ToolchainCache::load(dir.path());
        assert_eq!(cache.lookup(&cc, &store), Some(id));
        std::thread::sleep(std::time::Duration::from_millis(10));
        fs::write(&cc, "v2, longer").unwrap();
        assert_eq!(cache.lookup(&cc, &store), None);
    }
}
