//! Paths that arrive from peers: accepted only when absolute and plain.

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::{Component, Path, PathBuf};

/// `raw` as a path if it is absolute, has at least one component, and has no `.`, `..`, empty
/// component or NUL byte; otherwise why not.
pub fn plain_absolute(raw: &[u8]) -> Result<PathBuf, &'static str> {
    if raw.contains(&0) {
        return Err("it contains a NUL byte");
    }
    let path = Path::new(OsStr::from_bytes(raw));
    if !path.is_absolute() {
        return Err("it is not absolute");
    }
    if raw.windows(2).any(|w| w == b"//") || raw.ends_with(b"/") {
        return Err("it has an empty component");
    }
    // Byte by byte: `Path::components` silently drops `.` components.
    if raw[1..]
        .split(|&b| b == b'/')
        .any(|c| c == b"." || c == b"..")
    {
        return Err("it has a `.` or `..` component");
    }
    if raw.len() == 1 {
        return Err("it is the root");
    }
    Ok(path.to_owned())
}

/// `path` joined to `cwd` if relative, with `.` and `..` resolved lexically (the way a
/// compiler's `-o ../obj/x.o` is meant).
pub fn absolute_lexical(cwd: &Path, path: &Path) -> PathBuf {
    let mut out = PathBuf::from("/");
    for c in cwd.join(path).components() {
        match c {
            Component::ParentDir => {
                out.pop();
            }
            Component::Normal(n) => out.push(n),
            _ => {}
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_paths_only() {
        assert!(plain_absolute(b"/usr/include/stdio.h").is_ok());
        for bad in [
            &b"rel/x"[..],
            b"/a/../b",
            b"/a/./b",
            b"/a//b",
            b"/",
            b"/a/",
            b"/a\0b",
        ] {
            assert!(plain_absolute(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn lexical_resolution() {
        assert_eq!(
            absolute_lexical(Path::new("/w/src"), Path::new("../obj/x.o")),
            PathBuf::from("/w/obj/x.o")
        );
        assert_eq!(
            absolute_lexical(Path::new("/w"), Path::new("/abs/./y.o")),
            PathBuf::from("/abs/y.o")
        );
    }
}
