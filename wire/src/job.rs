//! The job protocol: a submitter's agent asks a worker to compile, and the worker fetches what
//! it lacks by hash.
//!
//! Participants: the submitter's agent (S) and the worker's agent (W), over libp2p.
//!
//! Goals: W runs exactly the submitter's compiler on exactly the submitter's inputs, at the
//! same absolute paths, so the result is what S would have produced; W asks only for the
//! blobs it does not hold, from S or from any peer that holds them.
//!
//! Non-goals: trusting S. W checks every path and flag, runs the job in a sandbox, and verifies
//! every blob against its hash before use.
//!
//! Messages, in order:
//! 1. S → W `/meshcc/job/1` [`JobRequest`]. The stream stays open until W answers.
//! 2. W → S (or any peer) `/meshcc/blob/1` [`BlobRequest`] for the toolchain manifest
//!    (its hash is the [`ToolchainId`](crate::ids::ToolchainId)), the toolchain's file chunks
//!    and the inputs it lacks, answered by [`BlobResponse`]s; repeated until W holds them all.
//! 3. W → S [`JobResponse`]: the compiler's result, or a refusal saying why (S then retries
//!    elsewhere or compiles locally).

use serde::{Deserialize, Serialize};
use serde_bytes::ByteBuf;

use crate::ids::{BlobHash, ToolchainId};

/// libp2p protocol name of job requests.
pub const JOB_PROTOCOL: &str = "/meshcc/job/1";
/// libp2p protocol name of blob fetches.
pub const BLOB_PROTOCOL: &str = "/meshcc/blob/1";
/// Toolchain files are cut into chunks of at most this many bytes, each its own blob, so a
/// large compiler comes from several peers at once and a lost peer costs one chunk.
pub const CHUNK_SIZE: usize = 4 * 1024 * 1024;
/// The most raw bytes of blobs one [`BlobResponse`] carries; the rest come in later requests.
pub const MAX_BLOB_RESPONSE: usize = 24 * 1024 * 1024;

/// One input file of a job: a source or a header, placed at its absolute path.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InputFile {
    /// Absolute, normalised path as the compiler opens it on the submitter.
    pub path: ByteBuf,
    /// Its content.
    pub hash: BlobHash,
}

/// One compile, described by hashes: what the wrapper submits to its agent, and what a
/// worker runs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Compile {
    /// The compiler's absolute path (in the toolchain, on a worker).
    pub program: ByteBuf,
    /// The original command, `argv[0]` as the compiler saw it on the submitter.
    pub argv: Vec<ByteBuf>,
    /// The BLAKE3 hash of the submitter's preprocessed translation unit. The worker derives
    /// the preprocessing command from `argv` itself (the same code on both sides), runs it in
    /// the sandbox first, and refuses the job if the hashes differ.
    pub tu_hash: BlobHash,
    /// Absolute working directory.
    pub cwd: ByteBuf,
    /// Environment variables that change compiler output (locale, `SOURCE_DATE_EPOCH`, …).
    pub env: Vec<(ByteBuf, ByteBuf)>,
    /// Every file the compile reads besides the toolchain.
    pub inputs: Vec<InputFile>,
    /// Files the compile writes, absolute; read back after it.
    pub outputs: Vec<ByteBuf>,
    /// The preprocessed translation unit's length in bytes: how big a compile this is, so that
    /// a submitter with several jobs waiting for a worker sends the biggest first. Absent
    /// (zero) when unknown.
    #[serde(default, skip_serializing_if = "crate::control::is_zero")]
    pub tu_size: u64,
}

/// A compile for a worker.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobRequest {
    /// Chosen by the submitter; names the job in both agents' logs.
    pub job_id: u64,
    /// The toolchain to run.
    pub toolchain: ToolchainId,
    /// The compile.
    pub compile: Compile,
}

/// How the compiler ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Exit {
    /// It exited with this code.
    Code(i32),
    /// A signal ended it.
    Signal(i32),
}

/// A file the compile wrote.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutputFile {
    /// Absolute path, one of the request's `outputs`.
    pub path: ByteBuf,
    /// Its content.
    pub data: ByteBuf,
}

/// The compiler's result on the worker.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobResult {
    /// How it ended.
    pub exit: Exit,
    /// Its standard output.
    pub stdout: ByteBuf,
    /// Its standard error.
    pub stderr: ByteBuf,
    /// The outputs it wrote (missing ones are absent).
    pub outputs: Vec<OutputFile>,
    /// Milliseconds spent getting toolchain and inputs.
    pub fetch_ms: u64,
    /// Milliseconds spent compiling, the check included.
    pub compile_ms: u64,
}

/// Why a worker did not produce a result. None of these is the source's fault: the submitter
/// retries elsewhere or compiles locally.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum RefusalKind {
    /// No free slot and no room in the queue.
    Busy,
    /// The worker does not take jobs, or cannot run this architecture.
    NotAccepting,
    /// A flag, path or field the worker will not run.
    Forbidden,
    /// The toolchain could not be fetched or unpacked.
    Toolchain,
    /// An input could not be fetched.
    Inputs,
    /// The translation unit on the worker differs from the submitter's.
    TuMismatch,
    /// The job ran out of memory on the worker.
    OutOfMemory,
    /// Another limit (CPU, time, file size, processes) stopped the job.
    Limit,
    /// The sandbox could not be set up.
    Sandbox,
    /// Anything else on the worker.
    Internal,
}

/// A refusal, with a sentence for the logs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Refusal {
    /// What kind.
    pub kind: RefusalKind,
    /// What happened, in words.
    pub message: String,
}

/// The worker's answer to a [`JobRequest`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum JobResponse {
    /// The compiler ran.
    Done(JobResult),
    /// The job was not run, or not to the end.
    Refused(Refusal),
}

/// Asks for blobs by hash.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlobRequest {
    /// The blobs wanted, in order of preference.
    pub hashes: Vec<BlobHash>,
}

/// One blob, zstd-compressed for the wire.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Blob {
    /// Hash of the uncompressed content.
    pub hash: BlobHash,
    /// zstd frame of the content.
    pub zstd: ByteBuf,
}

/// Answer to a [`BlobRequest`]: what the peer has, up to [`MAX_BLOB_RESPONSE`] bytes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlobResponse {
    /// Blobs sent.
    pub blobs: Vec<Blob>,
    /// Requested blobs the peer does not hold.
    pub missing: Vec<BlobHash>,
}

/// What one path of a toolchain is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum EntryKind {
    /// A directory.
    Dir,
    /// A regular file, as the chunks that make it up.
    File {
        /// Size in bytes.
        size: u64,
        /// Whether it is executable.
        executable: bool,
        /// Its content, in [`CHUNK_SIZE`] pieces.
        chunks: Vec<BlobHash>,
    },
    /// A symbolic link.
    Symlink {
        /// Where it points, as stored on the submitter.
        target: ByteBuf,
    },
}

/// One path of a toolchain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ToolchainEntry {
    /// Absolute path on the submitter, and in the jail.
    pub path: ByteBuf,
    /// What it is.
    pub kind: EntryKind,
}

/// A compiler and everything it needs to run, as a list of paths. Its CBOR encoding is a blob;
/// the hash of that blob is the [`ToolchainId`]. Entries are sorted by path, so the same
/// compiler always has the same id.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ToolchainManifest {
    /// `gcc` or `clang`.
    pub family: String,
    /// The compiler's own version line.
    pub version: String,
    /// Architecture the binaries run on.
    pub arch: String,
    /// Operating system the binaries run on.
    pub os: String,
    /// The driver's absolute path.
    pub driver: ByteBuf,
    /// Every path, sorted.
    pub entries: Vec<ToolchainEntry>,
}
