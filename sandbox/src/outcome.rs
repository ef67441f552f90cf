//! What a job that ran left behind: status, streams, output files, usage, the limit it hit.
//!
//! Output files are read back by the supervisor from inside the jail, after every process of
//! the job is dead, so nothing can change them under it. They are read with `openat2` refusing
//! every symlink on the way (a job could otherwise point `x.o` at the supervisor's
//! `/proc/1/environ`), `O_NONBLOCK` so a FIFO cannot stall it, and an `fstat` check that the
//! file is regular, against one byte budget for all outputs.

use std::ffi::CString;
use std::fmt;
use std::fs::File;
use std::io::Read;
use std::os::fd::{FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;

use serde::{Deserialize, Serialize};
use serde_bytes::ByteBuf;

use crate::limits::LimitHit;
use crate::path::JailPath;

/// How the job's main process ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Termination {
    /// It exited with this status.
    Exited(i32),
    /// A signal killed it.
    Signaled(i32),
}

impl fmt::Display for Termination {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Termination::Exited(code) => write!(f, "exit status {code}"),
            Termination::Signaled(sig) => match nix::sys::signal::Signal::try_from(sig) {
                Ok(name) => write!(f, "killed by {name}"),
                Err(_) => write!(f, "killed by signal {sig}"),
            },
        }
    }
}

/// One of the job's two captured streams.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Stream {
    /// Standard output.
    Stdout,
    /// Standard error.
    Stderr,
}

impl fmt::Display for Stream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Stream::Stdout => "stdout",
            Stream::Stderr => "stderr",
        })
    }
}

/// A captured stream.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Captured {
    /// The bytes kept, at most [`crate::Limits::stream_bytes`].
    pub bytes: ByteBuf,
    /// The job wrote more than was kept.
    pub truncated: bool,
}

/// One output file as found after the job.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum OutputFile {
    /// A regular file with these contents.
    Present(ByteBuf),
    /// Nothing at that path (the job may have failed before writing it).
    Missing,
    /// Something that is not a regular file, or a path through a symlink.
    NotRegular,
    /// Larger than what was left of the output budget.
    TooLarge {
        /// Its size.
        size: u64,
        /// The budget left when it was reached.
        limit: u64,
    },
    /// It could not be read (errno).
    Unreadable(i32),
}

/// Resources the job used.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Usage {
    /// User CPU time of all the job's processes, milliseconds.
    pub user_ms: u64,
    /// System CPU time of all the job's processes, milliseconds.
    pub sys_ms: u64,
    /// Largest resident set of any one process, bytes.
    pub max_rss_bytes: u64,
    /// Wall-clock time from the job's start to its end, milliseconds.
    pub wall_ms: u64,
}

impl Usage {
    /// User plus system CPU time, milliseconds.
    pub fn cpu_ms(&self) -> u64 {
        self.user_ms + self.sys_ms
    }
}

/// The result of a job that ran. Whether it succeeded is the compiler's business.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobOutcome {
    /// How its main process ended.
    pub termination: Termination,
    /// Its standard output.
    pub stdout: Captured,
    /// Its standard error.
    pub stderr: Captured,
    /// The spec's outputs, in the spec's order.
    pub outputs: Vec<(JailPath, OutputFile)>,
    /// Resources used.
    pub usage: Usage,
    /// The limit that stopped it, if one did.
    pub stopped_by: Option<LimitHit>,
}

impl JobOutcome {
    /// The job exited 0 and no limit stopped it.
    pub fn success(&self) -> bool {
        self.termination == Termination::Exited(0) && self.stopped_by.is_none()
    }

    /// The named output's contents, if it was read back.
    pub fn output(&self, path: &JailPath) -> Option<&[u8]> {
        self.outputs.iter().find_map(|(p, file)| match file {
            OutputFile::Present(bytes) if p == path => Some(&bytes[..]),
            _ => None,
        })
    }
}

/// Reads the outputs, sharing `budget` bytes among them. Runs inside the jail.
pub(crate) fn read_outputs(paths: &[JailPath], mut budget: u64) -> Vec<(JailPath, OutputFile)> {
    paths
        .iter()
        .map(|path| {
            let file = read_output(path, &mut budget);
            (path.clone(), file)
        })
        .collect()
}

fn read_output(path: &JailPath, budget: &mut u64) -> OutputFile {
    let file = match open_no_symlinks(path) {
        Ok(file) => file,
        Err(errno) if errno == libc::ENOENT || errno == libc::ENOTDIR => {
            return OutputFile::Missing
        }
        Err(errno) if errno == libc::ELOOP || errno == libc::EXDEV => {
            return OutputFile::NotRegular
        }
        Err(errno) => return OutputFile::Unreadable(errno),
    };
    let meta = match file.metadata() {
        Ok(meta) => meta,
        Err(e) => return OutputFile::Unreadable(e.raw_os_error().unwrap_or(libc::EIO)),
    };
    if !meta.file_type().is_file() {
        return OutputFile::NotRegular;
    }
    if meta.len() > *budget {
        return OutputFile::TooLarge {
            size: meta.len(),
            limit: *budget,
        };
    }
    let mut bytes = Vec::with_capacity(meta.len() as usize);
    // The file cannot grow (every job process is dead), but read no more than the budget.
    match file.take(*budget).read_to_end(&mut bytes) {
        Ok(n) => {
            *budget -= n as u64;
            OutputFile::Present(ByteBuf::from(bytes))
        }
        Err(e) => OutputFile::Unreadable(e.raw_os_error().unwrap_or(libc::EIO)),
    }
}

/// Opens `path` for reading, refusing symlinks in every component.
fn open_no_symlinks(path: &JailPath) -> Result<File, i32> {
    let c_path = CString::new(path.as_path().as_os_str().as_bytes()).map_err(|_| libc::EINVAL)?;
    let flags = libc::O_RDONLY | libc::O_NONBLOCK | libc::O_CLOEXEC | libc::O_NOFOLLOW;
    let mut how: libc::open_how = unsafe { std::mem::zeroed() };
    how.flags = flags as u64;
    how.resolve = libc::RESOLVE_NO_SYMLINKS | libc::RESOLVE_NO_MAGICLINKS;
    // openat2(2): the only open that refuses symlinks in the middle of a path, not just the end.
    let fd = unsafe {
        libc::syscall(
            libc::SYS_openat2,
            libc::AT_FDCWD,
            c_path.as_ptr(),
            &how as *const libc::open_how,
            std::mem::size_of::<libc::open_how>(),
        )
    };
    if fd < 0 {
        return Err(nix::errno::Errno::last_raw());
    }
    Ok(File::from(unsafe { OwnedFd::from_raw_fd(fd as i32) }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    #[test]
    fn reads_regular_files_and_refuses_the_rest() {
        let dir = tempfile::tempdir().unwrap();
        let p = |name: &str| JailPath::new(dir.path().join(name)).unwrap();
        std::fs::write(dir.path().join("a.o"), b"object").unwrap();
        std::fs::write(dir.path().join("big.o"), vec![0u8; 100]).unwrap();
        symlink(dir.path().join("a.o"), dir.path().join("link.o")).unwrap();
        std::fs::create_dir(dir.path().join("sub")).unwrap();
        symlink(dir.path().join("sub"), dir.path().join("linkdir")).unwrap();
        std::fs::write(dir.path().join("sub/b.o"), b"b").unwrap();
        nix::unistd::mkfifo(&dir.path().join("fifo"), nix::sys::stat::Mode::S_IRWXU).unwrap();

        let paths = [
            "a.o",
            "missing.o",
            "link.o",
            "linkdir/b.o",
            "sub",
            "fifo",
            "big.o",
        ]
        .map(p);
        let got = read_outputs(&paths, 50);
        let files: Vec<&OutputFile> = got.iter().map(|(_, f)| f).collect();
        assert_eq!(
            files[0],
            &OutputFile::Present(ByteBuf::from(&b"object"[..]))
        );
        assert_eq!(files[1], &OutputFile::Missing);
        assert_eq!(files[2], &OutputFile::NotRegular);
        assert_eq!(files[3], &OutputFile::NotRegular);
        assert_eq!(files[4], &OutputFile::NotRegular);
        assert_eq!(files[5], &OutputFile::NotRegular);
        assert_eq!(
            files[6],
            &OutputFile::TooLarge {
                size: 100,
                limit: 44
            }
        );
    }
}
