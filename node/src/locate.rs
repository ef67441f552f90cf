//! Finding the real compiler: `meshcc gcc …`, `meshcc /usr/bin/gcc …`, or a masquerade link
//! named `gcc`, `clang++-14`, `x86_64-linux-gnu-gcc-12` that points at meshcc.
//!
//! The search walks `PATH` and skips anything that is meshcc itself. To survive chains of
//! wrappers (a masquerade directory and ccache's both in `PATH`, each finding "the next gcc"),
//! meshcc tells the compiler it starts where it found it (`MESHCC_FOUND_DIR`); a meshcc further
//! down the chain continues the search after that directory instead of starting over, and a
//! hop counter (`MESHCC_DEPTH`) stops any loop that still remains.

use std::ffi::{OsStr, OsString};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

/// Environment variable: the `PATH` directory where the previous meshcc found its compiler.
pub const FOUND_DIR_ENV: &str = "MESHCC_FOUND_DIR";
/// Environment variable: how many meshcc hops led here.
pub const DEPTH_ENV: &str = "MESHCC_DEPTH";
const MAX_DEPTH: u32 = 8;

/// The compiler to run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Located {
    /// The executable.
    pub path: PathBuf,
    /// What to pass as `argv[0]`: the bare name when running it by that name would find the
    /// same file (so its messages read exactly as when run directly), else the full path (so a
    /// driver that locates its own files through `argv[0]` does not find meshcc instead).
    pub arg0: OsString,
    /// The `PATH` directory it came from, if it came from a search.
    pub dir: Option<PathBuf>,
}

/// Why no compiler could be found.
#[derive(Debug, thiserror::Error)]
pub enum LocateError {
    /// Nothing but meshcc itself answers to that name.
    #[error("meshcc: cannot find the real `{0}` in PATH (none there, or only meshcc itself); install the compiler or fix PATH")]
    NotFound(String),
    /// A path to the meshcc binary itself (not a masquerade link) was given as the compiler.
    #[error("meshcc: `{0}` is meshcc itself, not a compiler; name the real compiler (e.g. /usr/bin/gcc), or its bare name for meshcc to find it in PATH")]
    IsMeshcc(String),
    /// Wrappers keep calling each other.
    #[error("meshcc: `{0}` has gone through {MAX_DEPTH} compiler wrappers; PATH makes them call each other in a loop")]
    Loop(String),
}

/// Finds the compiler `name` for this process, given its environment.
pub fn locate(name: &OsStr) -> Result<Located, LocateError> {
    let me = std::env::current_exe().and_then(|p| p.canonicalize()).ok();
    let path_var = std::env::var_os("PATH").unwrap_or_default();
    let depth: u32 = std::env::var(DEPTH_ENV)
        .ok()
        .and_then(|d| d.parse().ok())
        .unwrap_or(0);
    if depth >= MAX_DEPTH {
        return Err(LocateError::Loop(name.to_string_lossy().into_owned()));
    }
    let found_dir = std::env::var_os(FOUND_DIR_ENV).map(PathBuf::from);
    locate_in(name, &path_var, me.as_deref(), found_dir.as_deref())
}

/// [`locate`] with its inputs explicit (tests).
pub fn locate_in(
    name: &OsStr,
    path_var: &OsStr,
    me: Option<&Path>,
    after_dir: Option<&Path>,
) -> Result<Located, LocateError> {
    let display = name.to_string_lossy().into_owned();
    let is_me = |p: &Path| me.is_some_and(|me| p.canonicalize().ok().as_deref() == Some(me));
    if name.as_encoded_bytes().contains(&b'/') {
        let path = PathBuf::from(name);
        if is_me(&path) {
            // A masquerade link by its path: ccache with `CCACHE_PREFIX=meshcc` runs the
            // compiler it found in PATH, which is the link when the masquerade directory
            // comes first. Find the compiler it stands for, as the link itself would: after the
            // previous hop's directory if this is a chain (masquerade → ccache → this), else
            // after the link's own.
            return match path.file_name() {
                Some(link) if !is_meshcc_name(link) => {
                    locate_in(link, path_var, me, after_dir.or(path.parent()))
                }
                _ => Err(LocateError::IsMeshcc(display)),
            };
        }
        return Ok(Located {
            path,
            arg0: name.to_owned(),
            dir: None,
        });
    }
    let dirs: Vec<PathBuf> = std::env::split_paths(path_var).collect();
    // Continue after the directory a previous meshcc used, if it is in PATH at all.
    let start = after_dir
        .and_then(|d| dirs.iter().position(|x| x == d).map(|i| i + 1))
        .unwrap_or(0);
    let candidate = |dir: &PathBuf| {
        let p = dir.join(name);
        is_executable(&p).then_some(p)
    };
    let first_hit = dirs.iter().find_map(candidate);
    for dir in &dirs[start..] {
        let Some(path) = candidate(dir) else { continue };
        if is_me(&path) {
            continue;
        }
        let same_as_by_name = first_hit.as_deref() == Some(path.as_path());
        return Ok(Located {
            arg0: if same_as_by_name {
                name.to_owned()
            } else {
                path.clone().into_os_string()
            },
            path,
            dir: Some(dir.clone()),
        });
    }
    Err(LocateError::NotFound(display))
}

fn is_executable(p: &Path) -> bool {
    p.metadata()
        .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// Whether `argv0` names meshcc itself rather than a masquerade link.
pub fn is_meshcc_name(argv0: &OsStr) -> bool {
    Path::new(argv0)
        .file_name()
        .is_some_and(|n| n == "meshcc" || n.to_string_lossy().starts_with("meshcc-"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    fn exe(path: &Path) {
        std::fs::write(path, "#!/bin/sh\n").unwrap();
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).unwrap();
    }

    struct Tree {
        _tmp: tempfile::TempDir,
        masq: PathBuf,
        ccache: PathBuf,
        bin: PathBuf,
        me: PathBuf,
    }

    fn tree() -> Tree {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().canonicalize().unwrap();
        let (masq, ccache, bin) = (root.join("masq"), root.join("ccache"), root.join("bin"));
        for d in [&masq, &ccache, &bin] {
            std::fs::create_dir(d).unwrap();
        }
        let me = root.join("meshcc");
        exe(&me);
        symlink(&me, masq.join("gcc-12")).unwrap();
        exe(&ccache.join("gcc-12"));
        exe(&bin.join("gcc-12"));
        Tree {
            _tmp: tmp,
            masq,
            ccache,
            bin,
            me,
        }
    }

    fn path(dirs: &[&PathBuf]) -> OsString {
        std::env::join_paths(dirs).unwrap()
    }

    #[test]
    fn masquerade_link_is_skipped_and_full_path_is_argv0() {
        let t = tree();
        let got = locate_in(
            "gcc-12".as_ref(),
            &path(&[&t.masq, &t.bin]),
            Some(&t.me),
            None,
        )
        .unwrap();
        assert_eq!(got.path, t.bin.join("gcc-12"));
        assert_eq!(
            got.arg0,
            t.bin.join("gcc-12").into_os_string(),
            "gcc-12 by name would find meshcc"
        );
    }

    #[test]
    fn plain_name_keeps_argv0_when_path_finds_the_same_file() {
        let t = tree();
        let got = locate_in("gcc-12".as_ref(), &path(&[&t.bin]), Some(&t.me), None).unwrap();
        assert_eq!(got.arg0, OsString::from("gcc-12"));
    }

    #[test]
    fn chain_with_ccache_continues_after_the_previous_hop() {
        let t = tree();
        let p = path(&[&t.masq, &t.ccache, &t.bin]);
        let first = locate_in("gcc-12".as_ref(), &p, Some(&t.me), None).unwrap();
        assert_eq!(first.path, t.ccache.join("gcc-12"));
        // ccache then runs "the next gcc-12", which is meshcc again: it must go on past ccache.
        let second = locate_in("gcc-12".as_ref(), &p, Some(&t.me), first.dir.as_deref()).unwrap();
        assert_eq!(second.path, t.bin.join("gcc-12"));
    }

    #[test]
    fn only_meshcc_in_path_is_not_found() {
        let t = tree();
        let err = locate_in("gcc-12".as_ref(), &path(&[&t.masq]), Some(&t.me), None).unwrap_err();
        assert!(matches!(err, LocateError::NotFound(_)));
    }

    #[test]
    fn explicit_path_to_a_masquerade_link_finds_the_compiler_it_stands_for() {
        // `CCACHE_PREFIX=meshcc` with the masquerade directory first in PATH.
        let t = tree();
        let link = t.masq.join("gcc-12");
        let p = path(&[&t.masq, &t.bin]);
        let got = locate_in(link.as_os_str(), &p, Some(&t.me), None).unwrap();
        assert_eq!(got.path, t.bin.join("gcc-12"));
    }

    #[test]
    fn explicit_path_to_meshcc_is_refused() {
        let t = tree();
        let err = locate_in(t.me.as_os_str(), &path(&[&t.bin]), Some(&t.me), None).unwrap_err();
        assert!(matches!(err, LocateError::IsMeshcc(_)));
    }

    #[test]
    fn meshcc_names() {
        assert!(is_meshcc_name("/usr/bin/meshcc".as_ref()));
        assert!(!is_meshcc_name("/opt/masq/gcc".as_ref()));
        assert!(!is_meshcc_name("x86_64-linux-gnu-gcc-12".as_ref()));
    }
}
