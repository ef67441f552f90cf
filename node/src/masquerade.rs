//! Masquerade directories: links to meshcc named after compilers, put first in `PATH`, so that
//! builds that run `gcc` or `clang++-14` go through meshcc without changing `CC`.
//!
//! `meshcc setup-masquerade DIR` makes one; `meshcc doctor` finds them in `PATH` and checks them.

use std::collections::BTreeSet;
use std::ffi::OsStr;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};

/// The compiler names every masquerade directory gets, whether or not they are installed.
pub const BASE_NAMES: &[&str] = &["gcc", "g++", "cc", "c++", "clang", "clang++"];

/// Whether `name` is a compiler name meshcc masquerades as: a base name, or one with a version
/// suffix (`gcc-12`, `clang++-14`, `clang-14.0`).
pub fn is_compiler_name(name: &str) -> bool {
    BASE_NAMES.iter().any(|base| {
        name == *base
            || name
                .strip_prefix(base)
                .and_then(|r| r.strip_prefix('-'))
                .is_some_and(|v| {
                    v.starts_with(|c: char| c.is_ascii_digit())
                        && v.chars().all(|c| c.is_ascii_digit() || c == '.')
                })
    })
}

/// The compiler names found in the directories of `path_var` (not counting links to `me`),
/// plus [`BASE_NAMES`].
pub fn names_to_link(path_var: &OsStr, me: &Path) -> BTreeSet<String> {
    let mut names: BTreeSet<String> = BASE_NAMES.iter().map(|s| s.to_string()).collect();
    for dir in std::env::split_paths(path_var) {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if is_compiler_name(&name) && !points_to(&entry.path(), me) {
                names.insert(name);
            }
        }
    }
    names
}

/// Whether `path` resolves to the file `me` (canonical).
pub fn points_to(path: &Path, me: &Path) -> bool {
    path.canonicalize().is_ok_and(|p| p == me)
}

/// Makes `dir` a masquerade directory: a link to `meshcc` for each name in `names`. Existing
/// links are replaced; anything else already there is left alone and reported, since it may be
/// somebody's real compiler. Returns the names linked.
pub fn setup(dir: &Path, meshcc: &Path, names: &BTreeSet<String>) -> Result<Vec<String>> {
    std::fs::create_dir_all(dir)
        .with_context(|| format!("cannot create the masquerade directory {}", dir.display()))?;
    let mut linked = Vec::new();
    let mut in_the_way = Vec::new();
    for name in names {
        let link = dir.join(name);
        match link.symlink_metadata() {
            Ok(meta) if meta.file_type().is_symlink() => std::fs::remove_file(&link)
                .with_context(|| format!("cannot replace the link {}", link.display()))?,
            Ok(_) => {
                in_the_way.push(link);
                continue;
            }
            Err(_) => {}
        }
        std::os::unix::fs::symlink(meshcc, &link)
            .with_context(|| format!("cannot create the link {}", link.display()))?;
        linked.push(name.clone());
    }
    if !in_the_way.is_empty() {
        let list: Vec<String> = in_the_way.iter().map(|p| p.display().to_string()).collect();
        bail!(
            "linked {} names, but these files are not links and were left alone: {}. A masquerade \
             directory should hold only links to meshcc; move those files elsewhere and run this again",
            linked.len(),
            list.join(", ")
        );
    }
    Ok(linked)
}

/// The directories of `path_var` that hold at least one compiler-named link to `me`, in
/// `PATH` order.
pub fn dirs_in_path(path_var: &OsStr, me: &Path) -> Vec<PathBuf> {
    std::env::split_paths(path_var)
        .filter(|dir| {
            std::fs::read_dir(dir).is_ok_and(|entries| {
                entries.flatten().any(|e| {
                    is_compiler_name(&e.file_name().to_string_lossy()) && points_to(&e.path(), me)
                })
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compiler_names() {
        for yes in ["gcc", "g++-12", "clang++-14", "clang-14.0", "cc", "c++"] {
            assert!(is_compiler_name(yes), "{yes}");
        }
        for no in [
            "gcc-ar",
            "gcc-ar-12",
            "clang-format",
            "g++x",
            "ccache",
            "gcc-",
        ] {
            assert!(!is_compiler_name(no), "{no}");
        }
    }

    #[test]
    fn setup_links_names_and_leaves_real_files_alone() {
        let tmp = tempfile::tempdir().unwrap();
        let me = tmp.path().join("meshcc");
        std::fs::write(&me, "").unwrap();
        let dir = tmp.path().join("masq");
        std::fs::create_dir(&dir).unwrap();
        std::fs::write(dir.join("cc"), "a real file").unwrap();
        let names: BTreeSet<String> = ["gcc", "cc"].iter().map(|s| s.to_string()).collect();
        let err = setup(&dir, &me, &names).unwrap_err();
        assert!(format!("{err:#}").contains("left alone"), "{err:#}");
        assert_eq!(std::fs::read_link(dir.join("gcc")).unwrap(), me);
        assert_eq!(
            std::fs::read_to_string(dir.join("cc")).unwrap(),
            "a real file"
        );
        // Again: the existing link is replaced, not an error.
        let names: BTreeSet<String> = ["gcc".to_string()].into();
        assert_eq!(setup(&dir, &me, &names).unwrap(), vec!["gcc".to_string()]);
    }
}
