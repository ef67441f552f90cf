//! What a job asks for: the toolchain, the inputs, the command, the writable places, the limits.
//!
//! A [`JobSpec`] is built by the agent from a peer's request, so everything in it is checked by
//! [`JobSpec::validate`] before any file is touched, and again by the helper (which trusts no
//! one's checks but its own).

use std::collections::BTreeSet;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};
use serde_bytes::ByteBuf;

use crate::limits::Limits;
use crate::path::{host_path, JailPath, PathError};

/// Directories the sandbox makes itself; inputs and writable directories may not be there.
pub const RESERVED: &[&str] = &["/dev", "/proc"];

/// The most inputs, outputs or writable directories one job may name.
pub const MAX_ENTRIES: usize = 100_000;

/// One compile job, ready for the sandbox.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobSpec {
    /// Host directory holding the unpacked toolchain as a tree mirroring absolute paths
    /// (`<toolchain>/usr/bin/gcc`, `<toolchain>/lib64/ld-linux-x86-64.so.2`, …). It appears
    /// read-only at `/` of the jail, under the inputs.
    #[serde(with = "host_path")]
    pub toolchain: PathBuf,
    /// Host path of a directory that does not exist yet, on the same filesystem as the store
    /// the inputs come from. [`crate::run`] creates it, the helper hard-links the inputs into
    /// it, and [`crate::run`] removes it afterwards.
    #[serde(with = "host_path")]
    pub job_dir: PathBuf,
    /// Files placed read-only at their paths in the jail (or writable copies-on-write, under a
    /// writable directory).
    pub inputs: Vec<Input>,
    /// The working directory; always writable.
    pub cwd: JailPath,
    /// Further writable directories (outputs such as `-o ../obj/x.o`). `/tmp` is always
    /// writable and need not be listed.
    pub writable: Vec<JailPath>,
    /// The executable to run, by its path in the jail.
    pub program: JailPath,
    /// The argument list, `argv[0]` included, exactly as the compiler would see it locally.
    pub argv: Vec<ByteBuf>,
    /// The whole environment of the job; nothing is inherited.
    pub env: Vec<(ByteBuf, ByteBuf)>,
    /// Files to read back after the job, each inside a writable directory.
    pub outputs: Vec<JailPath>,
    /// Resource limits.
    pub limits: Limits,
    /// Which user ids the job runs as.
    pub identity: Identity,
}

/// One input file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Input {
    /// Where the file appears in the jail.
    pub path: JailPath,
    /// The host file holding its content (a blob in the agent's store). It is hard-linked, so
    /// it keeps its mode: a blob that must be executable in the jail must be executable here.
    #[serde(with = "host_path")]
    pub source: PathBuf,
}

/// Which user ids the job runs as.
///
/// The job runs in a user namespace as `inside_uid`/`inside_gid`, which maps to one outside
/// id: `unprivileged_uid`/`unprivileged_gid` when the helper starts as root (it switches to
/// them before creating the namespace), else the helper's own user.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Identity {
    /// Outside uid used when the helper runs as root.
    pub unprivileged_uid: u32,
    /// Outside gid used when the helper runs as root.
    pub unprivileged_gid: u32,
    /// The job's uid as it sees it; not 0, so `execve` leaves it no capabilities.
    pub inside_uid: u32,
    /// The job's gid as it sees it.
    pub inside_gid: u32,
}

impl Default for Identity {
    fn default() -> Self {
        Identity {
            unprivileged_uid: 65534,
            unprivileged_gid: 65534,
            inside_uid: 1000,
            inside_gid: 1000,
        }
    }
}

/// Why a spec was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SpecError {
    /// A path in the spec is malformed.
    #[error("{what}: {source}")]
    Path {
        /// Which field held it.
        what: &'static str,
        /// What is wrong with it.
        source: PathError,
    },
    /// A host path is not absolute.
    #[error("{what} {path:?} must be an absolute host path")]
    HostPathNotAbsolute {
        /// Which field held it.
        what: &'static str,
        /// The path.
        path: PathBuf,
    },
    /// A path lies where the sandbox mounts its own filesystems.
    #[error("{what} {path} lies under {reserved}, which the sandbox provides")]
    Reserved {
        /// Which field held it.
        what: &'static str,
        /// The path.
        path: JailPath,
        /// The reserved directory.
        reserved: &'static str,
    },
    /// `/` cannot be an input or a writable directory.
    #[error("{what} may not be /")]
    Root {
        /// Which field held it.
        what: &'static str,
    },
    /// The same input path is named twice.
    #[error("input {0} is named twice")]
    DuplicateInput(JailPath),
    /// An input is also the parent directory of another input.
    #[error("input {file} is a file, but input {below} lies below it")]
    InputIsParent {
        /// The input that is a file.
        file: JailPath,
        /// The input below it.
        below: JailPath,
    },
    /// An output is not strictly inside a writable directory.
    #[error("output {0} is not inside the working directory or a writable directory")]
    OutputNotWritable(JailPath),
    /// The same output is named twice.
    #[error("output {0} is named twice")]
    DuplicateOutput(JailPath),
    /// `argv` is empty.
    #[error("the command line is empty")]
    EmptyArgv,
    /// An argument or environment entry holds a NUL byte, or a name holds `=`.
    #[error("{what} number {index} holds a NUL byte or a misplaced '='")]
    BadString {
        /// `argv` or `env`.
        what: &'static str,
        /// Its index.
        index: usize,
    },
    /// More entries than [`MAX_ENTRIES`].
    #[error("{what} has {count} entries, more than {MAX_ENTRIES}")]
    TooMany {
        /// Which list.
        what: &'static str,
        /// How many it had.
        count: usize,
    },
    /// The job would be uid 0 inside its namespace.
    #[error("the job may not run as uid 0, even inside its namespace")]
    InsideRoot,
    /// A limit is zero or out of range.
    #[error("limit {name} = {value} is out of range: {why}")]
    Limit {
        /// The limit's field name.
        name: &'static str,
        /// Its value.
        value: u64,
        /// Why it cannot be used.
        why: &'static str,
    },
}

impl JobSpec {
    /// The writable directories in effect: the working directory, `/tmp` and
    /// [`JobSpec::writable`], without any that lie inside another, sorted.
    pub fn writable_dirs(&self) -> Vec<JailPath> {
        let tmp = JailPath::new("/tmp").expect("constant path");
        let all: BTreeSet<JailPath> = self
            .writable
            .iter()
            .chain([&self.cwd, &tmp])
            .cloned()
            .collect();
        all.iter()
            .filter(|d| !all.iter().any(|outer| d.is_below(outer)))
            .cloned()
            .collect()
    }

    /// Checks everything that can be checked without touching the filesystem.
    pub fn validate(&self) -> Result<(), SpecError> {
        for (what, path) in [("toolchain", &self.toolchain), ("job_dir", &self.job_dir)] {
            if !path.is_absolute() {
                return Err(SpecError::HostPathNotAbsolute {
                    what,
                    path: path.clone(),
                });
            }
        }
        for (what, count) in [
            ("inputs", self.inputs.len()),
            ("outputs", self.outputs.len()),
            ("writable", self.writable.len()),
            ("argv", self.argv.len()),
            ("env", self.env.len()),
        ] {
            if count > MAX_ENTRIES {
                return Err(SpecError::TooMany { what, count });
            }
        }
        for input in &self.inputs {
            not_reserved("input", &input.path)?;
            if !input.source.is_absolute() {
                return Err(SpecError::HostPathNotAbsolute {
                    what: "input source",
                    path: input.source.clone(),
                });
            }
        }
        check_input_tree(&self.inputs)?;
        for dir in self.writable.iter().chain([&self.cwd]) {
            not_reserved("writable directory", dir)?;
        }
        let writable = self.writable_dirs();
        let mut seen = BTreeSet::new();
        for out in &self.outputs {
            if !writable.iter().any(|w| out.is_below(w)) {
                return Err(SpecError::OutputNotWritable(out.clone()));
            }
            if !seen.insert(out) {
                return Err(SpecError::DuplicateOutput(out.clone()));
            }
        }
        if self.argv.is_empty() {
            return Err(SpecError::EmptyArgv);
        }
        for (index, arg) in self.argv.iter().enumerate() {
            if arg.contains(&0) {
                return Err(SpecError::BadString {
                    what: "argv",
                    index,
                });
            }
        }
        for (index, (name, value)) in self.env.iter().enumerate() {
            if name.is_empty() || name.contains(&0) || name.contains(&b'=') || value.contains(&0) {
                return Err(SpecError::BadString { what: "env", index });
            }
        }
        if self.identity.inside_uid == 0 {
            return Err(SpecError::InsideRoot);
        }
        self.limits.validate()
    }
}

fn not_reserved(what: &'static str, path: &JailPath) -> Result<(), SpecError> {
    if path.is_root() {
        return Err(SpecError::Root { what });
    }
    for reserved in RESERVED {
        let dir = JailPath::new(reserved).expect("constant path");
        if path.is_within(&dir) {
            return Err(SpecError::Reserved {
                what,
                path: path.clone(),
                reserved,
            });
        }
    }
    Ok(())
}

/// Inputs must form a tree: no path twice, no file that is another input's directory.
fn check_input_tree(inputs: &[Input]) -> Result<(), SpecError> {
    let mut paths: Vec<&JailPath> = inputs.iter().map(|i| &i.path).collect();
    // Paths order component by component, so a path's descendants follow it directly:
    // `/a/b` < `/a/b/c.h` < `/a/b.h`. Comparing neighbours is enough.
    paths.sort();
    for pair in paths.windows(2) {
        if pair[0] == pair[1] {
            return Err(SpecError::DuplicateInput(pair[0].clone()));
        }
        if pair[1].is_below(pair[0]) {
            return Err(SpecError::InputIsParent {
                file: pair[0].clone(),
                below: pair[1].clone(),
            });
        }
    }
    Ok(())
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub(crate) fn jp(s: &str) -> JailPath {
        JailPath::new(s).unwrap()
    }

    pub(crate) fn sample() -> JobSpec {
        JobSpec {
            toolchain: "/store/tc/abc".into(),
            job_dir: "/store/jobs/1".into(),
            inputs: vec![
                Input {
                    path: jp("/usr/include/stdio.h"),
                    source: "/store/blobs/ab/cd".into(),
                },
                Input {
                    path: jp("/home/u/p/foo.c"),
                    source: "/store/blobs/ef/01".into(),
                },
            ],
            cwd: jp("/home/u/p"),
            writable: vec![jp("/home/u/obj")],
            program: jp("/usr/bin/gcc"),
            argv: ["gcc", "-c", "foo.c", "-o", "../obj/foo.o"]
                .iter()
                .map(|a| ByteBuf::from(a.as_bytes().to_vec()))
                .collect(),
            env: vec![(ByteBuf::from(&b"PATH"[..]), ByteBuf::from(&b"/usr/bin"[..]))],
            outputs: vec![jp("/home/u/obj/foo.o")],
            limits: Limits::default(),
            identity: Identity::default(),
        }
    }

    #[test]
    fn sample_is_valid() {
        sample().validate().unwrap();
    }

    #[test]
    fn writable_dirs_include_cwd_and_tmp_without_nesting() {
        let mut s = sample();
        s.writable.push(jp("/home/u/p/sub"));
        s.writable.push(jp("/tmp/x"));
        assert_eq!(
            s.writable_dirs(),
            vec![jp("/home/u/obj"), jp("/home/u/p"), jp("/tmp")]
        );
    }

    #[test]
    fn output_outside_writable_dirs_is_refused() {
        let mut s = sample();
        s.outputs.push(jp("/usr/lib/evil.so"));
        assert_eq!(
            s.validate(),
            Err(SpecError::OutputNotWritable(jp("/usr/lib/evil.so")))
        );
        // A writable directory itself is not an output file.
        let mut s = sample();
        s.outputs = vec![jp("/home/u/obj")];
        assert!(matches!(s.validate(), Err(SpecError::OutputNotWritable(_))));
    }

    #[test]
    fn reserved_and_root_paths_are_refused() {
        let mut s = sample();
        s.inputs[0].path = jp("/proc/self/environ");
        assert!(matches!(s.validate(), Err(SpecError::Reserved { .. })));
        let mut s = sample();
        s.writable.push(jp("/dev"));
        assert!(matches!(s.validate(), Err(SpecError::Reserved { .. })));
        let mut s = sample();
        s.cwd = jp("/");
        assert!(matches!(s.validate(), Err(SpecError::Root { .. })));
    }

    #[test]
    fn duplicate_and_overlapping_inputs_are_refused() {
        let mut s = sample();
        s.inputs.push(s.inputs[0].clone());
        assert!(matches!(s.validate(), Err(SpecError::DuplicateInput(_))));
        let mut s = sample();
        let mut under = s.inputs[1].clone();
        under.path = jp("/home/u/p/foo.c/x.h");
        s.inputs.push(under);
        s.inputs.push(Input {
            path: jp("/home/u/p/foo.c0"),
            source: "/s".into(),
        });
        assert!(matches!(s.validate(), Err(SpecError::InputIsParent { .. })));
    }

    #[test]
    fn relative_host_paths_and_bad_strings_are_refused() {
        let mut s = sample();
        s.inputs[0].source = "blobs/ab".into();
        assert!(matches!(
            s.validate(),
            Err(SpecError::HostPathNotAbsolute { .. })
        ));
        let mut s = sample();
        s.argv.clear();
        assert_eq!(s.validate(), Err(SpecError::EmptyArgv));
        let mut s = sample();
        s.argv.push(ByteBuf::from(&b"a\0b"[..]));
        assert!(matches!(s.validate(), Err(SpecError::BadString { .. })));
        let mut s = sample();
        s.env
            .push((ByteBuf::from(&b"A=B"[..]), ByteBuf::from(&b"c"[..])));
        assert!(matches!(s.validate(), Err(SpecError::BadString { .. })));
    }

    #[test]
    fn hostile_paths_cannot_even_be_decoded() {
        // A peer sending `..` gets a decoding error, not a spec with a bad path in it.
        let bytes = encode_with_dotdot();
        let decoded: Result<JobSpec, _> = meshcc_wire::decode_body(&bytes);
        assert!(decoded.is_err());
    }

    /// The sample's CBOR with one input path overwritten by a same-length path holding `..`.
    fn encode_with_dotdot() -> Vec<u8> {
        let frame = meshcc_wire::encode(&sample()).unwrap();
        let body = &frame[4..];
        let needle = b"/home/u/p/foo.c";
        let pos = body
            .windows(needle.len())
            .position(|w| w == needle)
            .unwrap();
        let mut out = body.to_vec();
        out[pos..pos + needle.len()].copy_from_slice(b"/home/../foo.c0");
        out
    }
}
