//! `@file` response files, expanded as gcc's libiberty (`expandargv`/`buildargv`) does; clang
//! 14's GNU tokenizer agrees on every case tested here:
//!
//! - words are separated by whitespace; `'…'` and `"…"` quote (and may make an empty word);
//!   a backslash escapes the next character, inside quotes too (`'it\'s'` → `it's`);
//! - an `@file` inside a response file is expanded as well, relative to the *working
//!   directory*, not to the file that names it (checked with both compilers);
//! - an `@file` that cannot be opened stays a literal word (the compiler then reports it);
//! - a directory is an error (gcc: "@-file refers to a directory"), and so is a cycle
//!   (gcc stops after 2000 files: "too many @-files encountered").

use std::ffi::OsString;
use std::fs::File;
use std::io::{self, Read};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::{Path, PathBuf};

/// gcc's limit on the number of response files read for one command.
pub const MAX_RESPONSE_FILES: usize = 2000;

/// Why a command's response files could not be expanded; the command then runs locally.
#[derive(Debug, thiserror::Error)]
pub enum ResponseFileError {
    /// The file exists but could not be read.
    #[error("cannot read response file {}: {source}", path.display())]
    Read {
        /// The file, relative to the working directory as written.
        path: PathBuf,
        /// What went wrong.
        source: io::Error,
    },
    /// `@dir` names a directory.
    #[error("response file {} is a directory", path.display())]
    Directory {
        /// The directory.
        path: PathBuf,
    },
    /// More than [`MAX_RESPONSE_FILES`] files: almost certainly a file that names itself.
    #[error("more than {MAX_RESPONSE_FILES} response files (the last was {}); is there a cycle?", path.display())]
    TooMany {
        /// The file at which the limit was reached.
        path: PathBuf,
    },
}

/// Replaces every `@file` in `args` by the words it contains, recursively. `cwd` is the
/// directory relative paths are resolved against (the compile's working directory).
pub fn expand_response_files(
    args: &[OsString],
    cwd: &Path,
) -> Result<Vec<OsString>, ResponseFileError> {
    let mut out = Vec::with_capacity(args.len());
    // A stack of words still to look at, last word on top, so expansion happens in place.
    let mut pending: Vec<OsString> = args.iter().rev().cloned().collect();
    let mut files_read = 0;
    while let Some(word) = pending.pop() {
        let Some(name) = word.as_bytes().strip_prefix(b"@") else {
            out.push(word);
            continue;
        };
        let path = PathBuf::from(OsString::from_vec(name.to_vec()));
        let Some(text) = read(&cwd.join(&path), &path)? else {
            out.push(word);
            continue;
        };
        files_read += 1;
        if files_read > MAX_RESPONSE_FILES {
            return Err(ResponseFileError::TooMany { path });
        }
        pending.extend(split_words(&text).into_iter().rev());
    }
    Ok(out)
}

/// The file's bytes, `None` if it cannot be opened (left literal, as gcc does).
fn read(full: &Path, shown: &Path) -> Result<Option<Vec<u8>>, ResponseFileError> {
    let Ok(mut file) = File::open(full) else {
        return Ok(None);
    };
    let error = |source| ResponseFileError::Read {
        path: shown.to_owned(),
        source,
    };
    if file.metadata().map_err(error)?.is_dir() {
        return Err(ResponseFileError::Directory {
            path: shown.to_owned(),
        });
    }
    let mut text = Vec::new();
    file.read_to_end(&mut text).map_err(error)?;
    Ok(Some(text))
}

/// libiberty's `buildargv`: whitespace-separated words with quotes and backslash escapes.
pub(super) fn split_words(text: &[u8]) -> Vec<OsString> {
    let mut words = Vec::new();
    let mut bytes = text.iter().copied().peekable();
    loop {
        while bytes
            .next_if(|b| b.is_ascii_whitespace() || *b == 0x0b)
            .is_some()
        {}
        if bytes.peek().is_none() {
            return words;
        }
        let (mut word, mut squote, mut dquote) = (Vec::new(), false, false);
        while let Some(b) = bytes.next() {
            match b {
                b'\\' => word.extend(bytes.next()),
                b'\'' if !dquote => squote = !squote,
                b'"' if !squote => dquote = !dquote,
                b if (b.is_ascii_whitespace() || b == 0x0b) && !squote && !dquote => break,
                b => word.push(b),
            }
        }
        words.push(OsString::from_vec(word));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(text: &str) -> Vec<String> {
        split_words(text.as_bytes())
            .into_iter()
            .map(|w| w.into_string().unwrap())
            .collect()
    }

    fn os(words: &[&str]) -> Vec<OsString> {
        words.iter().map(OsString::from).collect()
    }

    #[test]
    fn splitting_follows_gcc() {
        // Each expectation is what gcc 12 passed to cc1 for the same file.
        assert_eq!(words("-DA=1 \"-DB=two words\""), ["-DA=1", "-DB=two words"]);
        assert_eq!(words(r"'-DC=it\'s'"), ["-DC=it's"]);
        assert_eq!(
            words(r"-DD=back\\slash -DF=a\ b"),
            [r"-DD=back\slash", "-DF=a b"]
        );
        assert_eq!(words(r#"-DE="q\"q""#), [r#"-DE=q"q"#]);
        assert_eq!(words("-DG='x y'z\t-DH=\"\""), ["-DG=x yz", "-DH="]);
        assert_eq!(words(r#"-DX="a'b" -DY='a"b'"#), ["-DX=a'b", r#"-DY=a"b"#]);
        assert_eq!(words("-c '' t.c"), ["-c", "", "t.c"]);
        assert_eq!(words("a\\\nb"), ["a\nb"]);
    }

    #[test]
    fn empty_and_blank_files_give_no_words() {
        assert!(words("").is_empty());
        assert!(words("  \n\n\t").is_empty());
    }

    #[test]
    fn nested_files_resolve_against_the_working_directory() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("sub")).unwrap();
        std::fs::write(dir.path().join("outer.rsp"), "-DOUTER @sub/inner.rsp -c").unwrap();
        std::fs::write(dir.path().join("sub/inner.rsp"), "-DINNER @inner2.rsp").unwrap();
        std::fs::write(dir.path().join("sub/inner2.rsp"), "-DWRONG").unwrap();
        std::fs::write(dir.path().join("inner2.rsp"), "-DCWD").unwrap();
        let got = expand_response_files(&os(&["@outer.rsp", "a.c"]), dir.path()).unwrap();
        assert_eq!(got, os(&["-DOUTER", "-DINNER", "-DCWD", "-c", "a.c"]));
    }

    #[test]
    fn a_missing_file_stays_literal() {
        let dir = tempfile::tempdir().unwrap();
        let args = os(&["-c", "@missing.rsp", "a.c"]);
        assert_eq!(expand_response_files(&args, dir.path()).unwrap(), args);
    }

    #[test]
    fn a_directory_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("d")).unwrap();
        let err = expand_response_files(&os(&["@d"]), dir.path()).unwrap_err();
        assert!(matches!(err, ResponseFileError::Directory { .. }), "{err}");
    }

    #[test]
    fn a_cycle_is_an_error_not_a_hang() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("self.rsp"), "-c @self.rsp").unwrap();
        let err = expand_response_files(&os(&["@self.rsp"]), dir.path()).unwrap_err();
        assert!(matches!(err, ResponseFileError::TooMany { .. }), "{err}");
    }

    #[test]
    fn words_after_expansion_keep_their_place() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("f.rsp"), "-O2 -g").unwrap();
        let got = expand_response_files(&os(&["-c", "@f.rsp", "-o", "a.o"]), dir.path()).unwrap();
        assert_eq!(got, os(&["-c", "-O2", "-g", "-o", "a.o"]));
    }
}
