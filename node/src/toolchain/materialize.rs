//! Rebuilding a toolchain's file tree on a worker, from verified blobs.
//!
//! The manifest comes from a peer and is treated as hostile: every path must be absolute and
//! plain (no `..`, no `.`, no empty component), every entry's parent must be a directory of
//! the manifest (never a link or a file), and links are created last, so nothing is ever
//! written through a link or outside the tree. Link targets are left as they are: they are
//! resolved only inside the jail, where `/` is the tree.

use std::collections::HashMap;
use std::fs;
use std::io::Write;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use meshcc_wire::ids::ToolchainId;
use meshcc_wire::job::{EntryKind, ToolchainManifest};

use crate::store::Store;

/// Why a tree could not be built.
#[derive(Debug, thiserror::Error)]
pub enum MaterializeError {
    /// The manifest names a path meshcc will not create.
    #[error("toolchain manifest entry {path:?} is refused: {why}")]
    BadEntry {
        /// The path, lossily decoded.
        path: String,
        /// Why.
        why: &'static str,
    },
    /// A blob it needs is not in the store.
    #[error("toolchain blob missing from the store: {0}")]
    Store(#[from] crate::store::StoreError),
    /// The filesystem failed.
    #[error("cannot build toolchain tree at {path}: {source}")]
    Io {
        /// Where.
        path: PathBuf,
        /// What.
        source: std::io::Error,
    },
}

/// Builds (once) the tree of toolchain `id` under `toolchains_dir/<id>` and returns it.
pub fn materialize(
    store: &Store,
    manifest: &ToolchainManifest,
    id: &ToolchainId,
    toolchains_dir: &Path,
) -> Result<PathBuf, MaterializeError> {
    let done = toolchains_dir.join(id.to_string());
    if done.is_dir() {
        return Ok(done);
    }
    let io = |path: &Path| {
        let path = path.to_owned();
        move |source| MaterializeError::Io { path, source }
    };
    fs::create_dir_all(toolchains_dir).map_err(io(toolchains_dir))?;
    let tmp = toolchains_dir.join(format!(".tmp-{}-{}", id.short(), rand::random::<u32>()));
    let result = build(store, manifest, &tmp);
    if let Err(e) = result {
        let _ = fs::remove_dir_all(&tmp);
        return Err(e);
    }
    // Another job may have built it meanwhile: theirs is as good as ours.
    if fs::rename(&tmp, &done).is_err() {
        let _ = fs::remove_dir_all(&tmp);
    }
    Ok(done)
}

fn check_path(raw: &[u8]) -> Result<PathBuf, MaterializeError> {
    crate::safepath::plain_absolute(raw).map_err(|why| MaterializeError::BadEntry {
        path: String::from_utf8_lossy(raw).into_owned(),
        why,
    })
}

fn build(store: &Store, manifest: &ToolchainManifest, root: &Path) -> Result<(), MaterializeError> {
    let io = |path: &Path| {
        let path = path.to_owned();
        move |source| MaterializeError::Io { path, source }
    };
    fs::create_dir(root).map_err(io(root))?;
    let mut dirs: HashMap<PathBuf, ()> = HashMap::new();
    dirs.insert(PathBuf::from("/"), ());
    let mut links = Vec::new();
    for entry in &manifest.entries {
        let path = check_path(&entry.path)?;
        let parent = path.parent().expect("checked: not the root");
        if !dirs.contains_key(parent) {
            return Err(MaterializeError::BadEntry {
                path: path.display().to_string(),
                why: "its parent is not a directory listed before it",
            });
        }
        let host = root.join(path.strip_prefix("/").expect("absolute"));
        match &entry.kind {
            EntryKind::Dir => {
                fs::create_dir(&host).map_err(io(&host))?;
                dirs.insert(path, ());
            }
            EntryKind::File {
                executable, chunks, ..
            } => {
                let mode = if *executable { 0o555 } else { 0o444 };
                if let [only] = chunks.as_slice() {
                    if !store.touch(only) {
                        return Err(crate::store::StoreError::Missing(*only).into());
                    }
                    let blob = store.path(only);
                    // Share the store's inode; the exec bit does not change the content.
                    fs::set_permissions(&blob, fs::Permissions::from_mode(mode))
                        .map_err(io(&blob))?;
                    fs::hard_link(&blob, &host).map_err(io(&host))?;
                } else {
                    let mut f = fs::OpenOptions::new()
                        .write(true)
                        .create_new(true)
                        .custom_flags(nix::libc::O_NOFOLLOW)
                        .mode(mode)
                        .open(&host)
                        .map_err(io(&host))?;
                    for chunk in chunks {
                        f.write_all(&store.get(chunk)?).map_err(io(&host))?;
                    }
                }
            }
            EntryKind::Symlink { target } => {
                if climbs_out(&path, target) {
                    return Err(MaterializeError::BadEntry {
                        path: path.display().to_string(),
                        why: "it is a symlink whose target climbs out of the toolchain's root",
                    });
                }
                links.push((host, target.clone()))
            }
        }
    }
    for (host, target) in links {
        std::os::unix::fs::symlink(std::ffi::OsStr::from_bytes(&target), &host)
            .map_err(io(&host))?;
    }
    Ok(())
}

/// Whether the relative symlink `link -> target` has more `..` than `link` has parents. In
/// the jail that only leads to the root, but on the host it would lead out of the tree, and no
/// real toolchain needs it. (Absolute targets are normal, `/usr/bin/cc -> /etc/alternatives/cc`,
/// and resolve inside the jail.)
fn climbs_out(link: &Path, target: &[u8]) -> bool {
    if target.starts_with(b"/") {
        return false;
    }
    let mut depth = link.components().count() as i64 - 2; // the root and the link's own name
    for part in target.split(|&b| b == b'/') {
        match part {
            b".." => depth -= 1,
            b"" | b"." => {}
            _ => depth += 1,
        }
        if depth < 0 {
            return true;
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;
    use meshcc_wire::job::ToolchainEntry;
    use serde_bytes::ByteBuf;

    fn entry(path: &str, kind: EntryKind) -> ToolchainEntry {
        ToolchainEntry {
            path: ByteBuf::from(path.as_bytes().to_vec()),
            kind,
        }
    }

    fn manifest(entries: Vec<ToolchainEntry>) -> ToolchainManifest {
        ToolchainManifest {
            family: "gcc".into(),
            version: "test".into(),
            arch: "x86_64".into(),
            os: "linux".into(),
            driver: ByteBuf::from(b"/usr/bin/cc".to_vec()),
            entries,
        }
    }

    #[test]
    fn builds_files_dirs_and_links() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("store"), u64::MAX).unwrap();
        let h = store.put(b"#!/bin/true\n").unwrap();
        let m = manifest(vec![
            entry("/usr", EntryKind::Dir),
            entry("/usr/bin", EntryKind::Dir),
            entry(
                "/usr/bin/cc",
                EntryKind::Symlink {
                    target: ByteBuf::from(b"cc-12".to_vec()),
                },
            ),
            entry(
                "/usr/bin/cc-12",
                EntryKind::File {
                    size: 12,
                    executable: true,
                    chunks: vec![h],
                },
            ),
        ]);
        let (id, _) = crate::toolchain::encode_manifest(&m);
        let tree = materialize(&store, &m, &id, &dir.path().join("tc")).unwrap();
        assert_eq!(fs::read(tree.join("usr/bin/cc")).unwrap(), b"#!/bin/true\n");
        let mode = fs::metadata(tree.join("usr/bin/cc-12"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o555);
    }

    #[test]
    fn hostile_paths_are_refused_and_nothing_is_written_outside() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("store"), u64::MAX).unwrap();
        let h = store.put(b"x").unwrap();
        let file = || EntryKind::File {
            size: 1,
            executable: false,
            chunks: vec![h],
        };
        let cases = vec![
            vec![entry("/../escape", file())],
            vec![entry("relative", file())],
            vec![entry("/a/./b", file())],
            vec![entry("/a//b", file())],
            vec![entry("/", EntryKind::Dir)],
            // A file under a link: would be written through the link.
            vec![
                entry(
                    "/l",
                    EntryKind::Symlink {
                        target: ByteBuf::from(b"/tmp".to_vec()),
                    },
                ),
                entry("/l/x", file()),
            ],
            // A file whose parent was never listed.
            vec![entry("/nodir/x", file())],
            // A link that leads out of the tree when followed on the host.
            vec![
                entry("/usr", EntryKind::Dir),
                entry(
                    "/usr/up",
                    EntryKind::Symlink {
                        target: ByteBuf::from(b"../../etc/shadow".to_vec()),
                    },
                ),
            ],
        ];
        for entries in cases {
            let m = manifest(entries);
            let (id, _) = crate::toolchain::encode_manifest(&m);
            let err = materialize(&store, &m, &id, &dir.path().join("tc")).unwrap_err();
            assert!(matches!(err, MaterializeError::BadEntry { .. }), "{err}");
        }
        assert!(!Path::new("/escape").exists());
        assert_eq!(
            fs::read_dir(dir.path().join("tc")).unwrap().count(),
            0,
            "temporary trees are removed"
        );
    }
}
