//! What the hostile peer sends: malformed frames, jobs that must be refused, toolchain
//! manifests that try to escape their tree, and the statuses it pretends to have.

use meshcc_wire::ids::{BlobHash, ToolchainId};
use meshcc_wire::job::{
    BlobRequest, Compile, EntryKind, InputFile, JobRequest, ToolchainEntry, ToolchainManifest,
};
use meshcc_wire::mesh::NodeStatus;
use meshcc_wire::PROTOCOL_VERSION;
use serde::Serialize;
use serde_bytes::ByteBuf;

/// Which protocol a malformed frame goes to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Protocol {
    Status,
    Job,
    Blob,
}

/// Malformed frames.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum WireAttack {
    /// A sane length prefix followed by random bytes.
    Garbage,
    /// A valid frame cut in half, then the stream closed.
    Truncated,
    /// A length prefix of 4 GiB.
    Oversized,
    /// A valid frame whose CBOR announces an array of 2^64-1 elements.
    AbsurdLength,
    /// A well-formed message with absurd counts (200 000 hashes, toolchains or inputs).
    AbsurdCount,
}

/// The bytes of `attack` on `protocol`, as they go on the stream.
pub fn malformed(protocol: Protocol, attack: WireAttack) -> Vec<u8> {
    match attack {
        WireAttack::Garbage => {
            let mut bytes = 256u32.to_be_bytes().to_vec();
            bytes.extend((0..256).map(|_| rand::random::<u8>()));
            bytes
        }
        WireAttack::Truncated => {
            let whole = valid(protocol);
            whole[..whole.len() / 2].to_vec()
        }
        WireAttack::Oversized => {
            let mut bytes = u32::MAX.to_be_bytes().to_vec();
            bytes.extend_from_slice(b"and then nothing much");
            bytes
        }
        WireAttack::AbsurdLength => {
            // [version, array(2^64-1) of…] and three bytes of elements.
            let body = [
                &[0x82, PROTOCOL_VERSION as u8, 0x9b][..],
                &[0xff; 8],
                &[0x01, 0x02, 0x03],
            ]
            .concat();
            let mut bytes = (body.len() as u32).to_be_bytes().to_vec();
            bytes.extend(body);
            bytes
        }
        WireAttack::AbsurdCount => {
            let hashes = (0..200_000u32).map(|i| BlobHash::of(&i.to_le_bytes()));
            match protocol {
                Protocol::Blob => frame(
                    PROTOCOL_VERSION,
                    &BlobRequest {
                        hashes: hashes.collect(),
                    },
                ),
                Protocol::Status => {
                    let toolchains = hashes.map(|h| ToolchainId(h.0)).collect();
                    frame(PROTOCOL_VERSION, &status(1, toolchains, 4, true))
                }
                Protocol::Job => {
                    let mut job = base_job(ToolchainId([0; 32]));
                    job.compile.inputs = hashes
                        .enumerate()
                        .map(|(i, hash)| InputFile {
                            path: bytes(&format!("/tmp/meshcc-hostile/h{i}.h")),
                            hash,
                        })
                        .collect();
                    frame(PROTOCOL_VERSION, &job)
                }
            }
        }
    }
}

fn valid(protocol: Protocol) -> Vec<u8> {
    match protocol {
        Protocol::Status => frame(PROTOCOL_VERSION, &status(1, Vec::new(), 4, true)),
        Protocol::Job => frame(PROTOCOL_VERSION, &base_job(ToolchainId([0; 32]))),
        Protocol::Blob => frame(
            PROTOCOL_VERSION,
            &BlobRequest {
                hashes: vec![BlobHash::of(b"x"); 20],
            },
        ),
    }
}

/// `msg` framed as protocol `version` would frame it.
pub fn frame<T: Serialize>(version: u32, msg: &T) -> Vec<u8> {
    let mut body = Vec::new();
    ciborium::into_writer(&(version, msg), &mut body).expect("encoding into memory");
    let mut out = (body.len() as u32).to_be_bytes().to_vec();
    out.extend(body);
    out
}

pub fn bytes(s: &str) -> ByteBuf {
    ByteBuf::from(s.as_bytes().to_vec())
}

/// The source every hostile job compiles.
pub const SOURCE: &[u8] = b"int main(void) { return 0; }\n";
const DIR: &str = "/tmp/meshcc-hostile";

/// A job that passes every check: `gcc -c x.c -o x.o` in [`DIR`].
pub fn base_job(toolchain: ToolchainId) -> JobRequest {
    JobRequest {
        job_id: rand::random(),
        toolchain,
        compile: Compile {
            program: bytes("/usr/bin/gcc"),
            argv: ["gcc", "-c", "x.c", "-o", "x.o"].map(bytes).to_vec(),
            tu_hash: BlobHash::of(b"not checked before the toolchain is there"),
            cwd: bytes(DIR),
            env: Vec::new(),
            inputs: vec![InputFile {
                path: bytes(&format!("{DIR}/x.c")),
                hash: BlobHash::of(SOURCE),
            }],
            outputs: vec![bytes(&format!("{DIR}/x.o"))],
            tu_size: 0,
        },
    }
}

/// Jobs a worker must refuse before fetching anything, by name.
pub fn forbidden_jobs() -> Vec<(&'static str, JobRequest)> {
    let with_args = |extra: &[&str]| {
        let mut job = base_job(ToolchainId([0; 32]));
        job.compile.argv.extend(extra.iter().map(|a| bytes(a)));
        job
    };
    let mut out = vec![
        ("-fplugin=", with_args(&["-fplugin=/tmp/evil.so"])),
        ("-specs=", with_args(&["-specs=/tmp/evil.specs"])),
        ("-B", with_args(&["-B/tmp/evil/"])),
        ("-wrapper", with_args(&["-wrapper", "/bin/sh,-c,id"])),
        ("@file", with_args(&["@/tmp/evil.rsp"])),
    ];
    let mut job = base_job(ToolchainId([0; 32]));
    job.compile.inputs[0].path = bytes(&format!("{DIR}/../../etc/passwd"));
    out.push(("input path with ..", job));
    let mut job = base_job(ToolchainId([0; 32]));
    job.compile.argv[4] = bytes("../x.o");
    job.compile.outputs = vec![bytes(&format!("{DIR}/../x.o"))];
    out.push(("output name with ..", job));
    let mut job = base_job(ToolchainId([0; 32]));
    job.compile.argv[4] = bytes("/");
    job.compile.outputs = vec![bytes("/")];
    out.push(("output name /", job));
    let mut job = base_job(ToolchainId([0; 32]));
    job.compile.argv[4] = bytes("obj/");
    job.compile.outputs = vec![bytes(&format!("{DIR}/obj"))];
    out.push(("output name ending in /", job));
    let mut job = base_job(ToolchainId([0; 32]));
    job.compile.env = vec![(bytes("LD_PRELOAD"), bytes("/tmp/evil.so"))];
    out.push(("LD_PRELOAD", job));
    let mut job = base_job(ToolchainId([0; 32]));
    job.compile.cwd = bytes("tmp/relative");
    out.push(("relative working directory", job));
    out
}

/// Toolchain manifests a worker must refuse to build, by name. The file entries all use the
/// one chunk `chunk`.
pub fn hostile_manifests(chunk: BlobHash) -> Vec<(&'static str, ToolchainManifest)> {
    let file = || EntryKind::File {
        size: SOURCE.len() as u64,
        executable: true,
        chunks: vec![chunk],
    };
    let link = |target: &str| EntryKind::Symlink {
        target: bytes(target),
    };
    let entry = |path: &str, kind| ToolchainEntry {
        path: bytes(path),
        kind,
    };
    vec![
        (
            "../ path",
            manifest(vec![
                entry("/usr", EntryKind::Dir),
                entry("/usr/../../../tmp/meshcc-escaped", file()),
            ]),
        ),
        (
            "relative path",
            manifest(vec![entry("tmp/meshcc-escaped", file())]),
        ),
        (
            "path with //",
            manifest(vec![entry("//tmp/meshcc-escaped", file())]),
        ),
        (
            "file through a symlink to /tmp",
            manifest(vec![
                entry("/l", link("/tmp")),
                entry("/l/meshcc-escaped", file()),
            ]),
        ),
        (
            "symlink climbing out of the tree",
            manifest(vec![
                entry("/usr", EntryKind::Dir),
                entry("/usr/evil", link("../../../../../../etc/shadow")),
            ]),
        ),
    ]
}

/// A manifest that builds (one directory), for jobs whose attack comes later.
pub fn harmless_manifest() -> ToolchainManifest {
    manifest(vec![ToolchainEntry {
        path: bytes("/meshcc-hostile"),
        kind: EntryKind::Dir,
    }])
}

fn manifest(entries: Vec<ToolchainEntry>) -> ToolchainManifest {
    ToolchainManifest {
        family: "gcc".into(),
        version: format!("hostile {}", rand::random::<u32>()),
        arch: std::env::consts::ARCH.into(),
        os: std::env::consts::OS.into(),
        driver: bytes("/usr/bin/gcc"),
        entries,
    }
}

/// A status of this protocol version, claiming `toolchains`.
pub fn status(
    seq: u64,
    toolchains: Vec<ToolchainId>,
    slots: u32,
    accepts_remote: bool,
) -> NodeStatus {
    NodeStatus {
        seq,
        agent_version: "0.1.0".into(),
        protocol_version: PROTOCOL_VERSION,
        arch: std::env::consts::ARCH.into(),
        os: std::env::consts::OS.into(),
        slots,
        running: 0,
        queued: 0,
        load_permille: 0,
        // Four times the reference machine, idle: the most attractive worker in any mesh.
        speed: 4000,
        mem_free_mb: 64 * 1024,
        accepts_remote,
        toolchains,
    }
}

/// What a future protocol version might send instead of a status or a job: same stream
/// protocols, other shapes.
#[derive(Serialize)]
pub struct FutureMessage {
    pub seq: u64,
    pub protocol_version: u32,
    pub capabilities: Vec<String>,
}
