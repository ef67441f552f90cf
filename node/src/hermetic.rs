//! Hermetic inputs: the submitter runs the compiler's own preprocessor once, with the
//! command's full flags, and so learns exactly which files the compile reads (the dependency
//! list) and what the compiler will see (the hash of the preprocessed translation unit).
//!
//! The worker rebuilds those files at the same absolute paths and preprocesses again in its
//! sandbox; equal hashes show the jail holds everything the compile reads, including what a
//! dependency list cannot show (`__has_include` of a file that exists but is not included).
//! Then it runs the original command, unchanged.

use std::ffi::OsString;
use std::io::{self, Read};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use meshcc_wire::ids::BlobHash;
use meshcc_wire::job::InputFile;
use serde_bytes::ByteBuf;

use crate::args::Invocation;
use crate::safepath::absolute_lexical;

/// Input files larger than this are not shipped (the compile runs locally).
pub const MAX_INPUT: u64 = 16 * 1024 * 1024;

/// Why a compile could not be prepared for the mesh (it then runs locally).
#[derive(Debug, thiserror::Error)]
pub enum PrepareError {
    /// The preprocessor could not run, or failed (the local compile will show why).
    #[error("preprocessing failed: {0}")]
    Preprocess(String),
    /// An input could not be read or is too large.
    #[error("input {path}: {why}")]
    Input {
        /// The file.
        path: PathBuf,
        /// Why.
        why: String,
    },
}

/// What the mesh needs to know of a compile besides its command.
#[derive(Debug, Clone)]
pub struct Prepared {
    /// Every file read, by absolute path and hash.
    pub inputs: Vec<InputFile>,
    /// The hash of the preprocessed translation unit.
    pub tu_hash: BlobHash,
    /// Its length in bytes: the compile's size, for the order jobs are sent in.
    pub tu_size: u64,
}

/// The arguments (after the compiler) that preprocess `inv` to standard output. The worker
/// derives the same from the same command, so both sides run the same preprocessing.
pub fn preprocess_args(inv: &Invocation) -> Vec<OsString> {
    let mut args = inv.args_for_preprocessing();
    args.push("-E".into());
    args
}

/// Preprocesses `inv` with `compiler` (run as `arg0`) in `cwd`.
pub fn prepare(
    compiler: &Path,
    arg0: &OsString,
    inv: &Invocation,
    cwd: &Path,
) -> Result<Prepared, PrepareError> {
    let depfile = tempfile::Builder::new()
        .prefix("meshcc-deps-")
        .suffix(".d")
        .tempfile()
        .map_err(|e| PrepareError::Preprocess(format!("cannot create a temporary file: {e}")))?;
    let mut cmd = Command::new(compiler);
    std::os::unix::process::CommandExt::arg0(&mut cmd, arg0);
    cmd.args(preprocess_args(inv))
        .arg("-MD")
        .arg("-MF")
        .arg(depfile.path())
        .arg("-MT")
        .arg("meshcc-target")
        .current_dir(cwd)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    let mut child = cmd
        .spawn()
        .map_err(|e| PrepareError::Preprocess(format!("cannot run {}: {e}", compiler.display())))?;
    let mut hasher = blake3::Hasher::new();
    let mut stdout = child.stdout.take().expect("piped");
    let mut buf = vec![0u8; 64 * 1024];
    let mut tu_size = 0u64;
    loop {
        match stdout.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => {
                hasher.update(&buf[..n]);
                tu_size += n as u64;
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(PrepareError::Preprocess(e.to_string())),
        }
    }
    let status = child
        .wait()
        .map_err(|e| PrepareError::Preprocess(e.to_string()))?;
    if !status.success() {
        return Err(PrepareError::Preprocess(format!(
            "the preprocessor exited with {status}"
        )));
    }
    let deps = std::fs::read(depfile.path())
        .map_err(|e| PrepareError::Preprocess(format!("no dependency list: {e}")))?;
    let mut inputs = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for dep in parse_depfile(&deps) {
        let path = absolute_lexical(cwd, &dep);
        if !seen.insert(path.clone()) {
            continue;
        }
        inputs.push(hash_input(&path)?);
    }
    Ok(Prepared {
        inputs,
        tu_hash: hasher.finalize().into(),
        tu_size,
    })
}

fn hash_input(path: &Path) -> Result<InputFile, PrepareError> {
    let fail = |why: String| PrepareError::Input {
        path: path.to_owned(),
        why,
    };
    let data = std::fs::read(path).map_err(|e| fail(e.to_string()))?;
    if data.len() as u64 > MAX_INPUT {
        return Err(fail(format!(
            "{} bytes is more than meshcc ships",
            data.len()
        )));
    }
    Ok(InputFile {
        path: ByteBuf::from(path.as_os_str().as_bytes().to_vec()),
        hash: BlobHash::of(&data),
    })
}

/// The prerequisites of a make rule as gcc and clang write it with `-MD -MF`: continuation
/// lines joined, `\ ` an escaped space, `$$` a dollar, `\#` a hash sign.
pub fn parse_depfile(text: &[u8]) -> Vec<PathBuf> {
    let text = match text.iter().position(|&b| b == b':') {
        // Skip "target:"; a ':' inside the target would be escaped, and ours is fixed.
        Some(colon) => &text[colon + 1..],
        None => return Vec::new(),
    };
    let mut out = Vec::new();
    let mut cur = Vec::new();
    let mut i = 0;
    while i < text.len() {
        let c = text[i];
        match c {
            b'\\' if i + 1 < text.len() && text[i + 1] == b'\n' => i += 1,
            b'\\' if i + 2 < text.len() && text[i + 1] == b'\r' && text[i + 2] == b'\n' => i += 2,
            b'\\' if i + 1 < text.len() && (text[i + 1] == b' ' || text[i + 1] == b'#') => {
                cur.push(text[i + 1]);
                i += 1;
            }
            b'$' if i + 1 < text.len() && text[i + 1] == b'$' => {
                cur.push(b'$');
                i += 1;
            }
            b' ' | b'\t' | b'\n' | b'\r' => {
                if !cur.is_empty() {
                    out.push(PathBuf::from(OsString::from_vec(std::mem::take(&mut cur))));
                }
            }
            _ => cur.push(c),
        }
        i += 1;
    }
    if !cur.is_empty() {
        out.push(PathBuf::from(OsString::from_vec(cur)));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn depfile_with_continuations_and_escapes() {
        let text = b"meshcc-target: a.c /usr/include/stdio.h \\\n  dir\\ with\\ space/h.h cost$$.h \\\r\n last.h\n";
        let got = parse_depfile(text);
        let want: Vec<PathBuf> = [
            "a.c",
            "/usr/include/stdio.h",
            "dir with space/h.h",
            "cost$.h",
            "last.h",
        ]
        .iter()
        .map(PathBuf::from)
        .collect();
        assert_eq!(got, want);
    }

    #[test]
    fn real_gcc_lists_source_and_system_headers() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("x.c"),
            "#include <stdio.h>\n#include \"x.h\"\nint main(void){return X;}\n",
        )
        .unwrap();
        std::fs::write(dir.path().join("x.h"), "#define X 0\n").unwrap();
        let args: Vec<OsString> = ["-O2", "-c", "x.c", "-o", "x.o"]
            .iter()
            .map(Into::into)
            .collect();
        let inv = crate::args::parse("gcc", &args).unwrap();
        let p = prepare(Path::new("/usr/bin/gcc"), &"gcc".into(), &inv, dir.path()).unwrap();
        let paths: Vec<String> = p
            .inputs
            .iter()
            .map(|i| String::from_utf8_lossy(&i.path).into_owned())
            .collect();
        assert!(paths[0].ends_with("/x.c"), "{paths:?}");
        assert!(paths.iter().any(|p| p.ends_with("/x.h")));
        assert!(paths.iter().any(|p| p == "/usr/include/stdio.h"));
        // stdio.h alone preprocesses to several hundred lines.
        assert!(p.tu_size > 10_000, "{} bytes", p.tu_size);
        // Same inputs and flags: same translation unit.
        let again = prepare(Path::new("/usr/bin/gcc"), &"gcc".into(), &inv, dir.path()).unwrap();
        assert_eq!(again.tu_hash, p.tu_hash);
        std::fs::write(dir.path().join("x.h"), "#define X 1\n").unwrap();
        let changed = prepare(Path::new("/usr/bin/gcc"), &"gcc".into(), &inv, dir.path()).unwrap();
        assert_ne!(
            changed.tu_hash, p.tu_hash,
            "an edited header changes the translation unit"
        );
    }
}
