//! Paths inside the jail, checked once when they are made or decoded.
//!
//! A job names files by the absolute paths they had on the submitter's machine. Those names come
//! from a peer and are hostile until checked: a [`JailPath`] is absolute, normalised (no `.`,
//! `..`, empty components or trailing slash) and free of NUL bytes, so joining it under a host
//! directory can never leave that directory. Paths travel as bytes, not strings: Unix paths need
//! not be UTF-8.

use std::ffi::OsStr;
use std::fmt;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use serde_bytes::ByteBuf;

/// Longest path accepted, as Linux's `PATH_MAX`.
pub const MAX_PATH_LEN: usize = 4096;

/// Why a path was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PathError {
    /// The path does not start with `/`.
    #[error("{path:?} is not an absolute path")]
    NotAbsolute {
        /// The path as given, lossily decoded.
        path: String,
    },
    /// The path has a `.`, `..` or empty component, or a trailing slash.
    #[error("{path:?} is not normalised: it has a {component:?} component")]
    NotNormal {
        /// The path as given, lossily decoded.
        path: String,
        /// The offending component (empty for `//` or a trailing slash).
        component: String,
    },
    /// The path contains a NUL byte.
    #[error("{path:?} contains a NUL byte")]
    Nul {
        /// The path as given, lossily decoded.
        path: String,
    },
    /// The path is longer than [`MAX_PATH_LEN`].
    #[error("path of {len} bytes is longer than {MAX_PATH_LEN}")]
    TooLong {
        /// Its length in bytes.
        len: usize,
    },
}

/// An absolute, normalised path inside the jail.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "ByteBuf", into = "ByteBuf")]
pub struct JailPath(PathBuf);

impl JailPath {
    /// Checks `path` and wraps it.
    pub fn new(path: impl AsRef<Path>) -> Result<Self, PathError> {
        let bytes = path.as_ref().as_os_str().as_bytes();
        let lossy = || String::from_utf8_lossy(bytes).into_owned();
        if bytes.len() > MAX_PATH_LEN {
            return Err(PathError::TooLong { len: bytes.len() });
        }
        if bytes.contains(&0) {
            return Err(PathError::Nul { path: lossy() });
        }
        if bytes.first() != Some(&b'/') {
            return Err(PathError::NotAbsolute { path: lossy() });
        }
        if bytes != b"/" {
            for component in bytes[1..].split(|&b| b == b'/') {
                if component.is_empty() || component == b"." || component == b".." {
                    return Err(PathError::NotNormal {
                        path: lossy(),
                        component: String::from_utf8_lossy(component).into_owned(),
                    });
                }
            }
        }
        Ok(JailPath(PathBuf::from(OsStr::from_bytes(bytes))))
    }

    /// The path as seen inside the jail.
    pub fn as_path(&self) -> &Path {
        &self.0
    }

    /// The path without its leading `/`, for joining under a host directory (empty for `/`).
    pub fn relative(&self) -> &Path {
        Path::new(OsStr::from_bytes(&self.0.as_os_str().as_bytes()[1..]))
    }

    /// Whether this is `/`.
    pub fn is_root(&self) -> bool {
        self.0.as_os_str().as_bytes() == b"/"
    }

    /// Whether `self` is `dir` or lies below it.
    pub fn is_within(&self, dir: &JailPath) -> bool {
        self.0.starts_with(&dir.0)
    }

    /// Whether `self` lies strictly below `dir`.
    pub fn is_below(&self, dir: &JailPath) -> bool {
        self != dir && self.is_within(dir)
    }

    /// `self` joined under the host directory `base`.
    pub fn under(&self, base: &Path) -> PathBuf {
        base.join(self.relative())
    }
}

impl fmt::Debug for JailPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.0, f)
    }
}

impl fmt::Display for JailPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0.display(), f)
    }
}

impl TryFrom<ByteBuf> for JailPath {
    type Error = PathError;
    fn try_from(bytes: ByteBuf) -> Result<Self, PathError> {
        JailPath::new(OsStr::from_bytes(&bytes))
    }
}

impl From<JailPath> for ByteBuf {
    fn from(path: JailPath) -> ByteBuf {
        ByteBuf::from(path.0.into_os_string().into_vec())
    }
}

use std::os::unix::ffi::OsStringExt;

/// Serde for host paths as raw bytes (`#[serde(with = "host_path")]`).
pub(crate) mod host_path {
    use super::*;
    use serde::{Deserializer, Serializer};

    pub fn serialize<S: Serializer>(path: &Path, s: S) -> Result<S::Ok, S::Error> {
        serde_bytes::Bytes::new(path.as_os_str().as_bytes()).serialize(s)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<PathBuf, D::Error> {
        let bytes = ByteBuf::deserialize(d)?;
        Ok(PathBuf::from(OsStr::from_bytes(&bytes)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_normal_absolute_paths() {
        for p in ["/", "/usr/include/stdio.h", "/home/u/a b/c.c", "/x/.hidden"] {
            assert!(JailPath::new(p).is_ok(), "{p}");
        }
    }

    #[test]
    fn refuses_relative_dotted_and_odd_paths() {
        assert!(matches!(
            JailPath::new("usr/include"),
            Err(PathError::NotAbsolute { .. })
        ));
        assert!(matches!(
            JailPath::new(""),
            Err(PathError::NotAbsolute { .. })
        ));
        for p in ["/usr/../etc/passwd", "/usr/./x", "/usr//x", "/usr/", "/.."] {
            assert!(
                matches!(JailPath::new(p), Err(PathError::NotNormal { .. })),
                "{p}"
            );
        }
        let long = format!("/{}", "a".repeat(MAX_PATH_LEN));
        assert!(matches!(
            JailPath::new(long),
            Err(PathError::TooLong { .. })
        ));
    }

    #[test]
    fn decoding_checks_too() {
        let ok: JailPath = ByteBuf::from(b"/a/b".to_vec()).try_into().unwrap();
        assert_eq!(ok.relative(), Path::new("a/b"));
        let bad: Result<JailPath, _> = ByteBuf::from(b"/a/../b".to_vec()).try_into();
        assert!(bad.is_err());
        let nul: Result<JailPath, _> = ByteBuf::from(b"/a\0b".to_vec()).try_into();
        assert!(matches!(nul, Err(PathError::Nul { .. })));
    }

    #[test]
    fn containment() {
        let p = |s| JailPath::new(s).unwrap();
        assert!(p("/w/x.o").is_below(&p("/w")));
        assert!(!p("/w").is_below(&p("/w")));
        assert!(p("/w").is_within(&p("/w")));
        assert!(!p("/wx/y").is_within(&p("/w")));
        assert_eq!(p("/a/b").under(Path::new("/base")), Path::new("/base/a/b"));
        assert_eq!(p("/").under(Path::new("/base")), Path::new("/base/"));
    }
}
