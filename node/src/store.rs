//! The content-addressed store: every blob an agent holds (toolchain chunks and manifests,
//! sources and headers it compiled for others), by BLAKE3 hash, with a size limit and
//! least-recently-used eviction.
//!
//! Blobs live at `blobs/<first 2 hex digits>/<rest>`, read-only. A blob is written to a
//! temporary name and renamed into place only after its hash is checked, so a reader never sees
//! a partial or unverified blob. Eviction only unlinks store entries: trees built from them
//! by hard links (materialised toolchains, job roots) keep their inodes.

use std::collections::HashMap;
use std::fs;
use std::io::{self, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::SystemTime;

use meshcc_wire::ids::BlobHash;

/// Why a blob was not stored or read.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The content does not hash to what it was claimed to be.
    #[error("blob hash mismatch: expected {expected}, got {got}")]
    HashMismatch {
        /// The hash asked for.
        expected: BlobHash,
        /// The hash of what arrived.
        got: BlobHash,
    },
    /// The blob is not in the store.
    #[error("blob {0} is not in the store")]
    Missing(BlobHash),
    /// The filesystem failed.
    #[error("cannot use the store at {path}: {source} (check the state directory's permissions and free space)")]
    Io {
        /// Where.
        path: PathBuf,
        /// What.
        source: io::Error,
    },
}

#[derive(Debug, Clone, Copy)]
struct Entry {
    size: u64,
    used: SystemTime,
}

/// An agent's blob store.
#[derive(Debug)]
pub struct Store {
    dir: PathBuf,
    limit: u64,
    index: Mutex<Index>,
}

#[derive(Debug, Default)]
struct Index {
    entries: HashMap<BlobHash, Entry>,
    total: u64,
}

fn io_err(path: &Path) -> impl FnOnce(io::Error) -> StoreError + '_ {
    move |source| StoreError::Io {
        path: path.to_owned(),
        source,
    }
}

impl Store {
    /// Opens (creating) the store in `dir`, keeping at most `limit` bytes.
    pub fn open(dir: &Path, limit: u64) -> Result<Self, StoreError> {
        let blobs = dir.join("blobs");
        fs::create_dir_all(&blobs).map_err(io_err(&blobs))?;
        let mut index = Index::default();
        for shard in fs::read_dir(&blobs).map_err(io_err(&blobs))?.flatten() {
            for file in fs::read_dir(shard.path()).into_iter().flatten().flatten() {
                let name = format!(
                    "{}{}",
                    shard.file_name().to_string_lossy(),
                    file.file_name().to_string_lossy()
                );
                let (Ok(hash), Ok(meta)) = (name.parse::<BlobHash>(), file.metadata()) else {
                    // A temporary file left by a crash, or a stranger: not ours to keep.
                    let _ = fs::remove_file(file.path());
                    continue;
                };
                index.total += meta.len();
                let used = meta
                    .accessed()
                    .or_else(|_| meta.modified())
                    .unwrap_or(SystemTime::UNIX_EPOCH);
                index.entries.insert(
                    hash,
                    Entry {
                        size: meta.len(),
                        used,
                    },
                );
            }
        }
        Ok(Self {
            dir: blobs,
            limit,
            index: Mutex::new(index),
        })
    }

    /// Where blob `hash` lives (whether or not it is there).
    pub fn path(&self, hash: &BlobHash) -> PathBuf {
        let hex = hash.to_string();
        self.dir.join(&hex[..2]).join(&hex[2..])
    }

    /// Whether the store holds `hash`.
    pub fn has(&self, hash: &BlobHash) -> bool {
        self.index.lock().unwrap().entries.contains_key(hash)
    }

    /// Marks `hash` as used now, for eviction; returns whether it is held.
    pub fn touch(&self, hash: &BlobHash) -> bool {
        let mut index = self.index.lock().unwrap();
        match index.entries.get_mut(hash) {
            Some(e) => {
                e.used = SystemTime::now();
                true
            }
            None => false,
        }
    }

    /// Reads blob `hash`.
    pub fn get(&self, hash: &BlobHash) -> Result<Vec<u8>, StoreError> {
        if !self.touch(hash) {
            return Err(StoreError::Missing(*hash));
        }
        let path = self.path(hash);
        fs::read(&path).map_err(io_err(&path))
    }

    /// Stores `data` under its own hash.
    pub fn put(&self, data: &[u8]) -> Result<BlobHash, StoreError> {
        let hash = BlobHash::of(data);
        self.insert(hash, data)?;
        Ok(hash)
    }

    /// Stores `data` if it hashes to `expected`; nothing is stored otherwise.
    pub fn put_verified(&self, expected: BlobHash, data: &[u8]) -> Result<(), StoreError> {
        let got = BlobHash::of(data);
        if got != expected {
            return Err(StoreError::HashMismatch { expected, got });
        }
        self.insert(expected, data)
    }

    fn insert(&self, hash: BlobHash, data: &[u8]) -> Result<(), StoreError> {
        if self.touch(&hash) {
            return Ok(());
        }
        let path = self.path(&hash);
        let shard = path.parent().expect("blob path has a shard directory");
        fs::create_dir_all(shard).map_err(io_err(shard))?;
        let tmp = shard.join(format!(
            ".tmp-{}-{}",
            std::process::id(),
            rand::random::<u64>()
        ));
        let write = || -> io::Result<()> {
            let mut f = fs::File::create(&tmp)?;
            f.write_all(data)?;
            f.set_permissions(fs::Permissions::from_mode(0o444))?;
            fs::rename(&tmp, &path)
        };
        if let Err(e) = write() {
            let _ = fs::remove_file(&tmp);
            return Err(io_err(&path)(e));
        }
        let mut index = self.index.lock().unwrap();
        if index
            .entries
            .insert(
                hash,
                Entry {
                    size: data.len() as u64,
                    used: SystemTime::now(),
                },
            )
            .is_none()
        {
            index.total += data.len() as u64;
        }
        let evict = self.over_limit(&mut index);
        drop(index);
        for victim in evict {
            let _ = fs::remove_file(self.path(&victim));
        }
        Ok(())
    }

    /// Picks least-recently-used blobs to drop until the store is at 90 % of its limit.
    fn over_limit(&self, index: &mut Index) -> Vec<BlobHash> {
        if index.total <= self.limit {
            return Vec::new();
        }
        let mut by_age: Vec<(SystemTime, BlobHash, u64)> = index
            .entries
            .iter()
            .map(|(h, e)| (e.used, *h, e.size))
            .collect();
        by_age.sort();
        let target = self.limit / 10 * 9;
        let mut victims = Vec::new();
        for (_, hash, size) in by_age {
            if index.total <= target {
                break;
            }
            index.entries.remove(&hash);
            index.total -= size;
            victims.push(hash);
        }
        victims
    }

    /// Bytes held.
    pub fn total(&self) -> u64 {
        self.index.lock().unwrap().total
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn put_get_and_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path(), 1 << 20).unwrap();
        let h = store.put(b"int x;").unwrap();
        assert_eq!(h, BlobHash::of(b"int x;"));
        assert_eq!(store.get(&h).unwrap(), b"int x;");
        drop(store);
        let store = Store::open(dir.path(), 1 << 20).unwrap();
        assert!(store.has(&h));
        assert_eq!(store.total(), 6);
    }

    #[test]
    fn corrupt_data_is_never_stored() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path(), 1 << 20).unwrap();
        let want = BlobHash::of(b"good");
        let err = store.put_verified(want, b"evil").unwrap_err();
        assert!(matches!(err, StoreError::HashMismatch { .. }));
        assert!(!store.has(&want));
        assert!(!store.path(&want).exists());
    }

    #[test]
    fn least_recently_used_is_evicted_first() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path(), 30).unwrap();
        let a = store.put(&[b'a'; 10]).unwrap();
        std::thread::sleep(std::time::Duration::from_millis(5));
        let b = store.put(&[b'b'; 10]).unwrap();
        std::thread::sleep(std::time::Duration::from_millis(5));
        store.touch(&a);
        std::thread::sleep(std::time::Duration::from_millis(5));
        let c = store.put(&[b'c'; 15]).unwrap();
        assert!(store.has(&a) && store.has(&c), "a was used after b");
        assert!(
            !store.has(&b) && !store.path(&b).exists(),
            "b was the least recently used"
        );
        assert!(store.total() <= 27);
    }
}
