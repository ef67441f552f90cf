//! Packaging the compiler the submitter would run: which files it needs, as a manifest.
//!
//! What a compile needs besides the sources and headers (which travel as job inputs):
//! - gcc: the driver, `cc1`/`cc1plus` (`-print-prog-name`), `as` and `objcopy`;
//! - clang: the driver (resolved through its symlinks to the real binary, whose location clang
//!   uses to find its resource directory), `as` for `-fno-integrated-as`, and the `crtbegin.o`
//!   files by which clang's driver detects the GCC installation (and so libstdc++'s headers);
//! - for every binary, its shared-library closure (`ldd`) and the dynamic loader;
//! - `/etc/ld.so.cache` and the locale data, so that a UTF-8 locale gives the same quotes in
//!   diagnostics as on the submitter.
//!
//! Every symbolic link met on the way (`/usr/bin/gcc` → `gcc-12`, merged-`/usr` `/lib` →
//! `usr/lib`) is recorded as a link, and files at their real paths, so the tree rebuilt on a
//! worker resolves exactly as on the submitter.

use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::fs;
use std::io::{self, Read};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Component, Path, PathBuf};
use std::process::Command;

use meshcc_wire::ids::ToolchainId;
use meshcc_wire::job::{EntryKind, ToolchainEntry, ToolchainManifest, CHUNK_SIZE};
use serde_bytes::ByteBuf;

use super::cache::Fingerprint;
use crate::store::{Store, StoreError};

/// Why a compiler could not be packaged (its compiles then stay local).
#[derive(Debug, thiserror::Error)]
pub enum PackageError {
    /// Running the compiler to ask about itself failed.
    #[error("cannot ask {compiler} about itself: {detail}")]
    Probe {
        /// The compiler.
        compiler: PathBuf,
        /// What went wrong.
        detail: String,
    },
    /// A file it needs could not be read.
    #[error("cannot read {path} for the toolchain: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: io::Error,
    },
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// A packaged compiler.
#[derive(Debug, Clone)]
pub struct Packaged {
    /// Its id.
    pub id: ToolchainId,
    /// Its manifest.
    pub manifest: ToolchainManifest,
    /// The files it was made from, to notice when one changes.
    pub fingerprints: Vec<Fingerprint>,
}

/// How far packaging has come, for progress reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// Every file is known: this many, of this many bytes in all.
    Listed {
        /// Files to store.
        files: u64,
        /// Their bytes.
        bytes: u64,
    },
    /// One more file of this many bytes is in the store.
    Stored {
        /// Its size.
        bytes: u64,
    },
}

/// Packages `compiler` (an absolute path) into `store`.
pub fn package(compiler: &Path, store: &Store) -> Result<Packaged, PackageError> {
    package_reporting(compiler, store, &mut |_| {})
}

/// [`package`], telling `progress` each [`Step`]: a large compiler takes seconds to hash and
/// store, and a user should see that it moves.
pub fn package_reporting(
    compiler: &Path,
    store: &Store,
    progress: &mut dyn FnMut(Step),
) -> Result<Packaged, PackageError> {
    let version = probe(compiler, &["--version"])?;
    let version = version.lines().next().unwrap_or_default().to_owned();
    let clang = version.contains("clang");
    let mut wanted: Vec<PathBuf> = vec![compiler.to_owned()];
    if clang {
        wanted.extend(glob_crtbegin());
        wanted.extend(find_in_path("as"));
    } else {
        for prog in ["cc1", "cc1plus", "as", "objcopy"] {
            let answer = probe(compiler, &[&format!("-print-prog-name={prog}")])?;
            let answer = PathBuf::from(answer.trim());
            if answer.is_absolute() {
                wanted.push(answer);
            } else {
                wanted.extend(find_in_path(&answer.to_string_lossy()));
            }
        }
    }
    let mut tree = Tree::default();
    let mut binaries = Vec::new();
    for path in &wanted {
        if let Some(real) = tree.add(path)? {
            binaries.push(real);
        }
    }
    for lib in shared_libraries(&binaries) {
        tree.add(&lib)?;
    }
    for extra in ["/etc/ld.so.cache", "/usr/lib/locale/locale-archive"] {
        if Path::new(extra).exists() {
            tree.add(Path::new(extra))?;
        }
    }
    tree.add_dir_tree(Path::new("/usr/lib/locale/C.utf8"))?;
    let (entries, fingerprints) = tree.store(store, progress)?;
    let manifest = ToolchainManifest {
        family: if clang { "clang" } else { "gcc" }.to_owned(),
        version,
        arch: std::env::consts::ARCH.to_owned(),
        os: std::env::consts::OS.to_owned(),
        driver: ByteBuf::from(compiler.as_os_str().as_bytes().to_vec()),
        entries,
    };
    let (id, bytes) = super::encode_manifest(&manifest);
    store.put_verified(super::manifest_blob(&id), &bytes)?;
    Ok(Packaged {
        id,
        manifest,
        fingerprints,
    })
}

fn probe(compiler: &Path, args: &[&str]) -> Result<String, PackageError> {
    let fail = |detail: String| PackageError::Probe {
        compiler: compiler.to_owned(),
        detail,
    };
    let out = Command::new(compiler)
        .args(args)
        .env("LC_ALL", "C")
        .output()
        .map_err(|e| fail(e.to_string()))?;
    if !out.status.success() {
        return Err(fail(format!(
            "`{} {}` exited with {}",
            compiler.display(),
            args.join(" "),
            out.status
        )));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

fn find_in_path(name: &str) -> Option<PathBuf> {
    std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default())
        .map(|d| d.join(name))
        .find(|p| p.is_file())
}

fn glob_crtbegin() -> Vec<PathBuf> {
    let mut out = Vec::new();
    for triple in fs::read_dir("/usr/lib/gcc").into_iter().flatten().flatten() {
        for version in fs::read_dir(triple.path()).into_iter().flatten().flatten() {
            for name in [
                "crtbegin.o",
                "crtbeginS.o",
                "crtbeginT.o",
                "crtend.o",
                "crtendS.o",
            ] {
                let p = version.path().join(name);
                if p.is_file() {
                    out.push(p);
                }
            }
        }
    }
    out
}

/// The shared libraries and loader of `binaries`, from `ldd`.
fn shared_libraries(binaries: &[PathBuf]) -> Vec<PathBuf> {
    let mut libs = Vec::new();
    for bin in binaries {
        let Ok(out) = Command::new("ldd").arg(bin).env("LC_ALL", "C").output() else {
            continue;
        };
        for line in String::from_utf8_lossy(&out.stdout).lines() {
            // "libc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x…)" or "/lib64/ld-linux-x86-64.so.2 (0x…)"
            let path = match line.split_once("=>") {
                Some((_, right)) => right.split_whitespace().next(),
                None => line.split_whitespace().next(),
            };
            if let Some(p) = path.filter(|p| p.starts_with('/')) {
                libs.push(PathBuf::from(p));
            }
        }
    }
    libs.sort();
    libs.dedup();
    libs
}

/// Paths collected for a manifest, keyed by absolute path.
#[derive(Default)]
struct Tree {
    entries: BTreeMap<PathBuf, Node>,
}

enum Node {
    Dir,
    File,
    Symlink(PathBuf),
}

impl Tree {
    /// Adds `path`, every directory above it and every symlink on the way; returns the real
    /// path of the file it names, if it is a regular file.
    fn add(&mut self, path: &Path) -> Result<Option<PathBuf>, PackageError> {
        self.add_depth(path, 0)
    }

    fn add_depth(&mut self, path: &Path, depth: u32) -> Result<Option<PathBuf>, PackageError> {
        let read_err = |source| PackageError::Read {
            path: path.to_owned(),
            source,
        };
        if depth > 32 {
            return Err(read_err(io::Error::other(
                "too many levels of symbolic links",
            )));
        }
        let mut cur = PathBuf::from("/");
        let comps: Vec<Component> = path.components().collect();
        for (i, comp) in comps.iter().enumerate() {
            match comp {
                Component::RootDir => continue,
                Component::CurDir => continue,
                Component::ParentDir => {
                    cur.pop();
                    continue;
                }
                Component::Normal(name) => cur.push(name),
                Component::Prefix(_) => unreachable!("no prefixes on unix"),
            }
            let meta = fs::symlink_metadata(&cur).map_err(read_err)?;
            let last = i + 1 == comps.len();
            if meta.file_type().is_symlink() {
                let target = fs::read_link(&cur).map_err(read_err)?;
                let resolved = cur.parent().unwrap_or(Path::new("/")).join(&target);
                self.entries.insert(cur.clone(), Node::Symlink(target));
                let rest: PathBuf = comps[i + 1..].iter().collect();
                return self.add_depth(&resolved.join(rest), depth + 1);
            }
            if meta.is_dir() {
                self.entries.entry(cur.clone()).or_insert(Node::Dir);
            } else if last && meta.is_file() {
                self.entries.insert(cur.clone(), Node::File);
                return Ok(Some(cur));
            }
        }
        Ok(None)
    }

    fn add_dir_tree(&mut self, dir: &Path) -> Result<(), PackageError> {
        if !dir.is_dir() {
            return Ok(());
        }
        self.add(dir)?;
        for entry in fs::read_dir(dir).into_iter().flatten().flatten() {
            let p = entry.path();
            if p.is_dir() {
                self.add_dir_tree(&p)?;
            } else {
                self.add(&p)?;
            }
        }
        Ok(())
    }

    /// Stores every file as chunks; returns the sorted entries and the files' fingerprints.
    fn store(
        self,
        store: &Store,
        progress: &mut dyn FnMut(Step),
    ) -> Result<(Vec<ToolchainEntry>, Vec<Fingerprint>), PackageError> {
        let files: Vec<&PathBuf> = self
            .entries
            .iter()
            .filter(|(_, node)| matches!(node, Node::File))
            .map(|(path, _)| path)
            .collect();
        progress(Step::Listed {
            files: files.len() as u64,
            bytes: files
                .iter()
                .filter_map(|p| fs::metadata(p).ok())
                .map(|m| m.len())
                .sum(),
        });
        let mut entries = Vec::new();
        let mut prints = Vec::new();
        for (path, node) in self.entries {
            let kind = match node {
                Node::Dir => EntryKind::Dir,
                Node::Symlink(target) => EntryKind::Symlink {
                    target: bytes(target.as_os_str()),
                },
                Node::File => {
                    let read_err = |source| PackageError::Read {
                        path: path.clone(),
                        source,
                    };
                    let mut f = fs::File::open(&path).map_err(read_err)?;
                    let meta = f.metadata().map_err(read_err)?;
                    let mut chunks = Vec::new();
                    let mut buf = vec![0u8; CHUNK_SIZE];
                    loop {
                        let n = read_full(&mut f, &mut buf).map_err(read_err)?;
                        if n == 0 && !chunks.is_empty() {
                            break;
                        }
                        chunks.push(store.put(&buf[..n])?);
                        if n < CHUNK_SIZE {
                            break;
                        }
                    }
                    prints.push(Fingerprint::of(&path, &meta));
                    progress(Step::Stored { bytes: meta.size() });
                    EntryKind::File {
                        size: meta.size(),
                        executable: meta.permissions().mode() & 0o111 != 0,
                        chunks,
                    }
                }
            };
            entries.push(ToolchainEntry {
                path: bytes(path.as_os_str()),
                kind,
            });
        }
        Ok((entries, prints))
    }
}

fn bytes(s: &OsStr) -> ByteBuf {
    ByteBuf::from(s.as_bytes().to_vec())
}

fn read_full(f: &mut fs::File, buf: &mut [u8]) -> io::Result<usize> {
    let mut got = 0;
    while got < buf.len() {
        match f.read(&mut buf[got..])? {
            0 => break,
            n => got += n,
        }
    }
    Ok(got)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gcc_packages_with_its_helpers_libraries_and_links() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path(), u64::MAX).unwrap();
        let p = package(Path::new("/usr/bin/gcc"), &store).unwrap();
        let paths: Vec<String> = p
            .manifest
            .entries
            .iter()
            .map(|e| String::from_utf8_lossy(&e.path).into_owned())
            .collect();
        let has = |suffix: &str| paths.iter().any(|p| p.ends_with(suffix));
        assert!(has("/cc1") && has("/cc1plus"), "{paths:#?}");
        assert!(
            has("/libc.so.6") && has("ld-linux-x86-64.so.2"),
            "{paths:#?}"
        );
        let gcc = p
            .manifest
            .entries
            .iter()
            .find(|e| &e.path[..] == b"/usr/bin/gcc")
            .unwrap();
        assert!(
            matches!(gcc.kind, EntryKind::Symlink { .. }),
            "/usr/bin/gcc is a link on Debian"
        );
        assert_eq!(p.manifest.family, "gcc");
        // Deterministic: packaging again gives the same id.
        assert_eq!(package(Path::new("/usr/bin/gcc"), &store).unwrap().id, p.id);
        for chunk in super::super::chunks(&p.manifest) {
            assert!(store.has(&chunk));
        }
    }

    #[test]
    fn packaging_reports_every_file_it_stores_against_the_total() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path(), u64::MAX).unwrap();
        let mut steps = Vec::new();
        let p =
            package_reporting(Path::new("/usr/bin/gcc"), &store, &mut |s| steps.push(s)).unwrap();
        let Some((Step::Listed { files, bytes }, stored)) = steps.split_first() else {
            panic!("the first step is not the list of files: {steps:?}");
        };
        let in_manifest: Vec<u64> = p
            .manifest
            .entries
            .iter()
            .filter_map(|e| match e.kind {
                EntryKind::File { size, .. } => Some(size),
                _ => None,
            })
            .collect();
        assert_eq!(*files, in_manifest.len() as u64);
        assert_eq!(*bytes, in_manifest.iter().sum::<u64>());
        assert_eq!(stored.len() as u64, *files);
        let stored_bytes: u64 = stored
            .iter()
            .map(|s| match s {
                Step::Stored { bytes } => *bytes,
                other => panic!("{other:?} after the list"),
            })
            .sum();
        assert_eq!(stored_bytes, *bytes);
    }
}
