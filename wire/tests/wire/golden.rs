// Golden tests: the exact bytes of every message, so that a silent format change fails here.
// Each dump is annotated as CBOR (RFC 8949); `#` starts a comment.

use std::collections::BTreeMap;

use meshcc_wire::control::*;
use meshcc_wire::ids::{BlobHash, ToolchainId};
use meshcc_wire::job::*;
use meshcc_wire::mesh::*;
use meshcc_wire::{decode_body, encode};
use serde_bytes::ByteBuf;

/// Hex digits of an annotated dump, comments and spaces dropped.
fn golden(annotated: &str) -> Vec<u8> {
    let digits: String = annotated
        .lines()
        .map(|l| l.split('#').next().unwrap())
        .flat_map(|l| l.split_whitespace())
        .collect();
    (0..digits.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&digits[i..i + 2], 16).unwrap())
        .collect()
}

/// Encodes to exactly `annotated`, and decodes back to the same value.
fn check<T>(msg: T, annotated: &str)
where
    T: serde::Serialize + serde::de::DeserializeOwned + PartialEq + std::fmt::Debug,
{
    let bytes = encode(&msg).unwrap();
    if bytes != golden(annotated) {
        // Printed so a deliberate change can be re-annotated: `| scripts/cbor-annotate.py`.
        let hex: Vec<String> = bytes.iter().map(|b| format!("{b:02x}")).collect();
        eprintln!("new encoding: {}", hex.join(" "));
    }
    assert_eq!(bytes, golden(annotated), "encoding of {msg:?} changed");
    assert_eq!(decode_body::<T>(&bytes[4..]).unwrap(), msg);
}

fn status() -> NodeStatus {
    NodeStatus {
        seq: 7,
        agent_version: "0.1.0".into(),
        protocol_version: 1,
        arch: "x86_64".into(),
        os: "linux".into(),
        slots: 4,
        running: 1,
        queued: 0,
        load_permille: 250,
        speed: 1000,
        mem_free_mb: 2048,
        accepts_remote: true,
        toolchains: vec![ToolchainId([0xab; 32])],
    }
}

fn stats() -> StatsReport {
    StatsReport {
        uptime_secs: 60,
        peers_connected: 2,
        jobs_local: 3,
        jobs_remote: 4,
        jobs_served: 5,
        fallbacks: BTreeMap::from([("peer gone".to_string(), 2)]),
        toolchains_packaged: 1,
        toolchains_fetched: 0,
        gossip_messages_sent: 6,
        gossip_messages_received: 7,
        gossip_bytes_sent: 1200,
        gossip_bytes_received: 1400,
        bytes_sent: 0,
        bytes_received: 0,
        verified: 0,
        verify_mismatches: 0,
    }
}

fn peers() -> PeersReport {
    let mut local = status();
    local.toolchains.clear();
    PeersReport {
        local: PeerEntry {
            peer: PeerName("12D3KooWA".into()),
            addresses: vec!["/ip4/10.0.0.1/tcp/7070".into()],
            status: local,
            rtt_us: None,
            last_heard_ms: 0,
            untrusted: false,
        },
        peers: vec![],
        monitor: None,
        transfers: vec![],
    }
}

#[test]
fn golden_status() {
    check(
        status(),
        r#"
        00 00 00 c1                                       # frame length 193
        82                                                # array(2)
        01                                                #   1
        ad                                                #   map(13)
        63 73 65 71                                       #     key "seq"
        07                                                #       7
        6d 61 67 65 6e 74 5f 76 65 72 73 69 6f 6e         #     key "agent_version"
        65 30 2e 31 2e 30                                 #       "0.1.0"
        70 70 72 6f 74 6f 63 6f 6c 5f 76 65 72 73 69 6f 6e  #     key "protocol_version"
        01                                                #       1
        64 61 72 63 68                                    #     key "arch"
        66 78 38 36 5f 36 34                              #       "x86_64"
        62 6f 73                                          #     key "os"
        65 6c 69 6e 75 78                                 #       "linux"
        65 73 6c 6f 74 73                                 #     key "slots"
        04                                                #       4
        67 72 75 6e 6e 69 6e 67                           #     key "running"
        01                                                #       1
        66 71 75 65 75 65 64                              #     key "queued"
        00                                                #       0
        6d 6c 6f 61 64 5f 70 65 72 6d 69 6c 6c 65         #     key "load_permille"
        18 fa                                             #       250
        65 73 70 65 65 64                                 #     key "speed"
        19 03 e8                                          #       1000
        6b 6d 65 6d 5f 66 72 65 65 5f 6d 62               #     key "mem_free_mb"
        19 08 00                                          #       2048
        6e 61 63 63 65 70 74 73 5f 72 65 6d 6f 74 65      #     key "accepts_remote"
        f5                                                #       true
        6a 74 6f 6f 6c 63 68 61 69 6e 73                  #     key "toolchains"
        81                                                #       array(1)
        58 20 ab                                          #         bytes(32)
        ab ab ab ab ab ab ab ab ab ab ab ab ab ab ab ab
        ab ab ab ab ab ab ab ab ab ab ab ab ab ab ab
        "#,
    );
}

#[test]
fn golden_ack() {
    check(
        StatusAck {},
        r#"
        00 00 00 03                                       # frame length 3
        82                                                # array(2)
        01                                                #   1
        a0                                                #   map(0)
        "#,
    );
}

#[test]
fn golden_req_peers() {
    check(
        ControlRequest::Peers,
        r#"
        00 00 00 08                                       # frame length 8
        82                                                # array(2)
        01                                                #   1
        65 50 65 65 72 73                                 #   "Peers"
        "#,
    );
}

#[test]
fn golden_req_stats() {
    check(
        ControlRequest::Stats,
        r#"
        00 00 00 08                                       # frame length 8
        82                                                # array(2)
        01                                                #   1
        65 53 74 61 74 73                                 #   "Stats"
        "#,
    );
}

#[test]
fn golden_req_jobs() {
    check(
        ControlRequest::Jobs,
        r#"
        00 00 00 07                                       # frame length 7
        82                                                # array(2)
        01                                                #   1
        64 4a 6f 62 73                                    #   "Jobs"
        "#,
    );
}

#[test]
fn golden_resp_peers() {
    check(
        ControlResponse::Peers(peers()),
        r#"
        00 00 01 04                                       # frame length 260
        82                                                # array(2)
        01                                                #   1
        a1                                                #   map(1)
        65 50 65 65 72 73                                 #     key "Peers"
        a2                                                #       map(2)
        65 6c 6f 63 61 6c                                 #         key "local"
        a5                                                #           map(5)
        64 70 65 65 72                                    #             key "peer"
        69 31 32 44 33 4b 6f 6f 57 41                     #               "12D3KooWA"
        69 61 64 64 72 65 73 73 65 73                     #             key "addresses"
        81                                                #               array(1)
        76 2f 69                                          #                 "/ip4/10.0.0.1/tcp/7070"
        70 34 2f 31 30 2e 30 2e 30 2e 31 2f 74 63 70 2f
        37 30 37 30
        66 73 74 61 74 75 73                              #             key "status"
        ad                                                #               map(13)
        63 73 65 71                                       #                 key "seq"
        07                                                #                   7
        6d 61 67 65 6e 74 5f 76 65 72 73 69 6f 6e         #                 key "agent_version"
        65 30 2e 31 2e 30                                 #                   "0.1.0"
        70 70 72 6f 74 6f 63 6f 6c 5f 76 65 72 73 69 6f 6e  #                 key "protocol_version"
        01                                                #                   1
        64 61 72 63 68                                    #                 key "arch"
        66 78 38 36 5f 36 34                              #                   "x86_64"
        62 6f 73                                          #                 key "os"
        65 6c 69 6e 75 78                                 #                   "linux"
        65 73 6c 6f 74 73                                 #                 key "slots"
        04                                                #                   4
        67 72 75 6e 6e 69 6e 67                           #                 key "running"
        01                                                #                   1
        66 71 75 65 75 65 64                              #                 key "queued"
        00                                                #                   0
        6d 6c 6f 61 64 5f 70 65 72 6d 69 6c 6c 65         #                 key "load_permille"
        18 fa                                             #                   250
        65 73 70 65 65 64                                 #                 key "speed"
        19 03 e8                                          #                   1000
        6b 6d 65 6d 5f 66 72 65 65 5f 6d 62               #                 key "mem_free_mb"
        19 08 00                                          #                   2048
        6e 61 63 63 65 70 74 73 5f 72 65 6d 6f 74 65      #                 key "accepts_remote"
        f5                                                #                   true
        6a 74 6f 6f 6c 63 68 61 69 6e 73                  #                 key "toolchains"
        80                                                #                   array(0)
        66 72 74 74 5f 75 73                              #             key "rtt_us"
        f6                                                #               null
        6d 6c 61 73 74 5f 68 65 61 72 64 5f 6d 73         #             key "last_heard_ms"
        00                                                #               0
        65 70 65 65 72 73                                 #         key "peers"
        80                                                #           array(0)
        "#,
    );
}

#[test]
fn golden_resp_stats() {
    check(
        ControlResponse::Stats(stats()),
        r#"
        00 00 01 09                                       # frame length 265
        82                                                # array(2)
        01                                                #   1
        a1                                                #   map(1)
        65 53 74 61 74 73                                 #     key "Stats"
        ae                                                #       map(14)
        6b 75 70 74 69 6d 65 5f 73 65 63 73               #         key "uptime_secs"
        18 3c                                             #           60
        6f 70 65 65 72 73 5f 63 6f 6e 6e 65 63 74 65 64   #         key "peers_connected"
        02                                                #           2
        6a 6a 6f 62 73 5f 6c 6f 63 61 6c                  #         key "jobs_local"
        03                                                #           3
        6b 6a 6f 62 73 5f 72 65 6d 6f 74 65               #         key "jobs_remote"
        04                                                #           4
        6b 6a 6f 62 73 5f 73 65 72 76 65 64               #         key "jobs_served"
        05                                                #           5
        69 66 61 6c 6c 62 61 63 6b 73                     #         key "fallbacks"
        a1                                                #           map(1)
        69 70 65 65 72 20 67 6f 6e 65                     #             key "peer gone"
        02                                                #               2
        73 74 6f 6f 6c 63 68 61 69 6e 73 5f 70 61 63 6b 61 67 65 64  #         key "toolchains_packaged"
        01                                                #           1
        72 74 6f 6f 6c 63 68 61 69 6e 73 5f 66 65 74 63 68 65 64  #         key "toolchains_fetched"
        00                                                #           0
        74 67 6f                                          #         key "gossip_messages_sent"
        73 73 69 70 5f 6d 65 73 73 61 67 65 73 5f 73 65
        6e 74
        06                                                #           6
        78 18 67                                          #         key "gossip_messages_received"
        6f 73 73 69 70 5f 6d 65 73 73 61 67 65 73 5f 72
        65 63 65 69 76 65 64
        07                                                #           7
        71 67 6f 73 73 69 70 5f 62 79 74 65 73 5f 73 65 6e 74  #         key "gossip_bytes_sent"
        19 04 b0                                          #           1200
        75 67 6f                                          #         key "gossip_bytes_received"
        73 73 69 70 5f 62 79 74 65 73 5f 72 65 63 65 69
        76 65 64
        19 05 78                                          #           1400
        6a 62 79 74 65 73 5f 73 65 6e 74                  #         key "bytes_sent"
        00                                                #           0
        6e 62 79 74 65 73 5f 72 65 63 65 69 76 65 64      #         key "bytes_received"
        00                                                #           0
        "#,
    );
}

#[test]
fn golden_resp_jobs() {
    check(
        ControlResponse::Jobs(JobsReport { jobs: 9 }),
        r#"
        00 00 00 0f                                       # frame length 15
        82                                                # array(2)
        01                                                #   1
        a1                                                #   map(1)
        64 4a 6f 62 73                                    #     key "Jobs"
        a1                                                #       map(1)
        64 6a 6f 62 73                                    #         key "jobs"
        09                                                #           9
        "#,
    );
}

#[test]
fn golden_resp_error() {
    check(
        ControlResponse::Error("no".into()),
        r#"
        00 00 00 0c                                       # frame length 12
        82                                                # array(2)
        01                                                #   1
        a1                                                #   map(1)
        65 45 72 72 6f 72                                 #     key "Error"
        62 6e 6f                                          #       "no"
        "#,
    );
}

#[test]
fn golden_req_health() {
    check(
        ControlRequest::Health,
        r#"
        00 00 00 09           # frame length 9
        82                    # array(2)
        01                    #   1
        66 48 65 61 6c 74 68  #   "Health"
        "#,
    );
}

#[test]
fn golden_resp_health() {
    check(
        ControlResponse::Health(HealthReport {
            uptime_secs: 60,
            mdns: true,
            mdns_discovered: 2,
            static_peers: vec![],
            mesh_key: true,
            failures: vec![ConnectionFailure {
                kind: FailureKind::Handshake,
                address: "/ip4/10.0.0.2".into(),
                peer: None,
                detail: "eof".into(),
                count: 3,
                last_ms_ago: 1500,
            }],
        }),
        r#"
        00 00 00 9f                                      # frame length 159
        82                                               # array(2)
        01                                               #   1
        a1                                               #   map(1)
        66 48 65 61 6c 74 68                             #     key "Health"
        a6                                               #       map(6)
        6b 75 70 74 69 6d 65 5f 73 65 63 73              #         key "uptime_secs"
        18 3c                                            #           60
        64 6d 64 6e 73                                   #         key "mdns"
        f5                                               #           true
        6f 6d 64 6e 73 5f 64 69 73 63 6f 76 65 72 65 64  #         key "mdns_discovered"
        02                                               #           2
        6c 73 74 61 74 69 63 5f 70 65 65 72 73           #         key "static_peers"
        80                                               #           array(0)
        68 6d 65 73 68 5f 6b 65 79                       #         key "mesh_key"
        f5                                               #           true
        68 66 61 69 6c 75 72 65 73                       #         key "failures"
        81                                               #           array(1)
        a6                                               #             map(6)
        64 6b 69 6e 64                                   #               key "kind"
        69 48 61 6e 64 73 68 61 6b 65                    #                 "Handshake"
        67 61 64 64 72 65 73 73                          #               key "address"
        6d 2f 69 70 34 2f 31 30 2e 30 2e 30 2e 32        #                 "/ip4/10.0.0.2"
        64 70 65 65 72                                   #               key "peer"
        f6                                               #                 null
        66 64 65 74 61 69 6c                             #               key "detail"
        63 65 6f 66                                      #                 "eof"
        65 63 6f 75 6e 74                                #               key "count"
        03                                               #                 3
        6b 6c 61 73 74 5f 6d 73 5f 61 67 6f              #               key "last_ms_ago"
        19 05 dc                                         #                 1500
        "#,
    );
}

fn b(s: &str) -> ByteBuf {
    ByteBuf::from(s.as_bytes().to_vec())
}

fn compile() -> Compile {
    Compile {
        program: b("/usr/bin/gcc"),
        argv: vec![b("gcc"), b("-c"), b("a.c")],
        tu_hash: BlobHash([0x22; 32]),
        cwd: b("/w"),
        env: vec![(b("LANG"), b("C"))],
        inputs: vec![InputFile {
            path: b("/w/a.c"),
            hash: BlobHash([0x33; 32]),
        }],
        outputs: vec![b("/w/a.o")],
        tu_size: 0,
    }
}

fn job_request() -> JobRequest {
    JobRequest {
        job_id: 42,
        toolchain: ToolchainId([0x11; 32]),
        compile: compile(),
    }
}

fn job_done() -> JobResponse {
    JobResponse::Done(JobResult {
        exit: Exit::Code(0),
        stdout: b(""),
        stderr: b("warn"),
        outputs: vec![OutputFile {
            path: b("/w/a.o"),
            data: b("ELF"),
        }],
        fetch_ms: 3,
        compile_ms: 250,
    })
}

fn manifest() -> ToolchainManifest {
    ToolchainManifest {
        family: "gcc".into(),
        version: "gcc 12".into(),
        arch: "x86_64".into(),
        os: "linux".into(),
        driver: b("/usr/bin/gcc"),
        entries: vec![
            ToolchainEntry {
                path: b("/usr"),
                kind: EntryKind::Dir,
            },
            ToolchainEntry {
                path: b("/usr/bin/gcc"),
                kind: EntryKind::Symlink {
                    target: b("gcc-12"),
                },
            },
            ToolchainEntry {
                path: b("/usr/bin/gcc-12"),
                kind: EntryKind::File {
                    size: 5,
                    executable: true,
                    chunks: vec![BlobHash([0x44; 32])],
                },
            },
        ],
    }
}

#[test]
fn golden_job_request() {
    check(
        job_request(),
        r#"
        00 00 00 f1                                       # frame length 241
        82                                                # array(2)
        01                                                #   1
        a3                                                #   map(3)
        66 6a 6f 62 5f 69 64                              #     key "job_id"
        18 2a                                             #       42
        69 74 6f 6f 6c 63 68 61 69 6e                     #     key "toolchain"
        58 20 11                                          #       bytes(32)
        11 11 11 11 11 11 11 11 11 11 11 11 11 11 11 11
        11 11 11 11 11 11 11 11 11 11 11 11 11 11 11
        67 63 6f 6d 70 69 6c 65                           #     key "compile"
        a7                                                #       map(7)
        67 70 72 6f 67 72 61 6d                           #         key "program"
        4c 2f 75 73 72 2f 62 69 6e 2f 67 63 63            #           bytes(12) b"/usr/bin/gcc"
        64 61 72 67 76                                    #         key "argv"
        83                                                #           array(3)
        43 67 63 63                                       #             bytes(3) b"gcc"
        42 2d 63                                          #             bytes(2) b"-c"
        43 61 2e 63                                       #             bytes(3) b"a.c"
        67 74 75 5f 68 61 73 68                           #         key "tu_hash"
        58 20 22                                          #           bytes(32) b""""""""""""""""""""""""""""""""""
        22 22 22 22 22 22 22 22 22 22 22 22 22 22 22 22
        22 22 22 22 22 22 22 22 22 22 22 22 22 22 22
        63 63 77 64                                       #         key "cwd"
        42 2f 77                                          #           bytes(2) b"/w"
        63 65 6e 76                                       #         key "env"
        81                                                #           array(1)
        82                                                #             array(2)
        44 4c 41 4e 47                                    #               bytes(4) b"LANG"
        41 43                                             #               bytes(1) b"C"
        66 69 6e 70 75 74 73                              #         key "inputs"
        81                                                #           array(1)
        a2                                                #             map(2)
        64 70 61 74 68                                    #               key "path"
        46 2f 77 2f 61 2e 63                              #                 bytes(6) b"/w/a.c"
        64 68 61 73 68                                    #               key "hash"
        58 20 33                                          #                 bytes(32) b"33333333333333333333333333333333"
        33 33 33 33 33 33 33 33 33 33 33 33 33 33 33 33
        33 33 33 33 33 33 33 33 33 33 33 33 33 33 33
        67 6f 75 74 70 75 74 73                           #         key "outputs"
        81                                                #           array(1)
        46 2f 77 2f 61 2e 6f                              #             bytes(6) b"/w/a.o"
        "#,
    );
}

#[test]
fn golden_job_done() {
    check(
        job_done(),
        r#"
        00 00 00 5f                                       # frame length 95
        82                                                # array(2)
        01                                                #   1
        a1                                                #   map(1)
        64 44 6f 6e 65                                    #     key "Done"
        a6                                                #       map(6)
        64 65 78 69 74                                    #         key "exit"
        a1                                                #           map(1)
        64 43 6f 64 65                                    #             key "Code"
        00                                                #               0
        66 73 74 64 6f 75 74                              #         key "stdout"
        40                                                #           bytes(0)
        66 73 74 64 65 72 72                              #         key "stderr"
        44 77 61 72 6e                                    #           bytes(4) b"warn"
        67 6f 75 74 70 75 74 73                           #         key "outputs"
        81                                                #           array(1)
        a2                                                #             map(2)
        64 70 61 74 68                                    #               key "path"
        46 2f 77 2f 61 2e 6f                              #                 bytes(6) b"/w/a.o"
        64 64 61 74 61                                    #               key "data"
        43 45 4c 46                                       #                 bytes(3) b"ELF"
        68 66 65 74 63 68 5f 6d 73                        #         key "fetch_ms"
        03                                                #           3
        6a 63 6f 6d 70 69 6c 65 5f 6d 73                  #         key "compile_ms"
        18 fa                                             #           250
        "#,
    );
}

#[test]
fn golden_job_refused() {
    check(
        JobResponse::Refused(Refusal {
            kind: RefusalKind::OutOfMemory,
            message: "oom".into(),
        }),
        r#"
        00 00 00 29                                       # frame length 41
        82                                                # array(2)
        01                                                #   1
        a1                                                #   map(1)
        67 52 65 66 75 73 65 64                           #     key "Refused"
        a2                                                #       map(2)
        64 6b 69 6e 64                                    #         key "kind"
        6b 4f 75 74 4f 66 4d 65 6d 6f 72 79               #           "OutOfMemory"
        67 6d 65 73 73 61 67 65                           #         key "message"
        63 6f 6f 6d                                       #           "oom"
        "#,
    );
}

#[test]
fn golden_blob_request() {
    check(
        BlobRequest {
            hashes: vec![BlobHash([0x55; 32])],
        },
        r#"
        00 00 00 2d                                       # frame length 45
        82                                                # array(2)
        01                                                #   1
        a1                                                #   map(1)
        66 68 61 73 68 65 73                              #     key "hashes"
        81                                                #       array(1)
        58 20 55                                          #         bytes(32) b"UUUUUUUUUUUUUUUUUUUUUUUUUUUUUUUU"
        55 55 55 55 55 55 55 55 55 55 55 55 55 55 55 55
        55 55 55 55 55 55 55 55 55 55 55 55 55 55 55
        "#,
    );
}

#[test]
fn golden_blob_response() {
    check(
        BlobResponse {
            blobs: vec![Blob {
                hash: BlobHash([0x66; 32]),
                zstd: b("z"),
            }],
            missing: vec![],
        },
        r#"
        00 00 00 42                                       # frame length 66
        82                                                # array(2)
        01                                                #   1
        a2                                                #   map(2)
        65 62 6c 6f 62 73                                 #     key "blobs"
        81                                                #       array(1)
        a2                                                #         map(2)
        64 68 61 73 68                                    #           key "hash"
        58 20 66                                          #             bytes(32) b"ffffffffffffffffffffffffffffffff"
        66 66 66 66 66 66 66 66 66 66 66 66 66 66 66 66
        66 66 66 66 66 66 66 66 66 66 66 66 66 66 66
        64 7a 73 74 64                                    #           key "zstd"
        41 7a                                             #             bytes(1) b"z"
        67 6d 69 73 73 69 6e 67                           #     key "missing"
        80                                                #       array(0)
        "#,
    );
}

#[test]
fn golden_manifest() {
    check(
        manifest(),
        r#"
        00 00 00 f1                                       # frame length 241
        82                                                # array(2)
        01                                                #   1
        a6                                                #   map(6)
        66 66 61 6d 69 6c 79                              #     key "family"
        63 67 63 63                                       #       "gcc"
        67 76 65 72 73 69 6f 6e                           #     key "version"
        66 67 63 63 20 31 32                              #       "gcc 12"
        64 61 72 63 68                                    #     key "arch"
        66 78 38 36 5f 36 34                              #       "x86_64"
        62 6f 73                                          #     key "os"
        65 6c 69 6e 75 78                                 #       "linux"
        66 64 72 69 76 65 72                              #     key "driver"
        4c 2f 75 73 72 2f 62 69 6e 2f 67 63 63            #       bytes(12) b"/usr/bin/gcc"
        67 65 6e 74 72 69 65 73                           #     key "entries"
        83                                                #       array(3)
        a2                                                #         map(2)
        64 70 61 74 68                                    #           key "path"
        44 2f 75 73 72                                    #             bytes(4) b"/usr"
        64 6b 69 6e 64                                    #           key "kind"
        63 44 69 72                                       #             "Dir"
        a2                                                #         map(2)
        64 70 61 74 68                                    #           key "path"
        4c 2f 75 73 72 2f 62 69 6e 2f 67 63 63            #             bytes(12) b"/usr/bin/gcc"
        64 6b 69 6e 64                                    #           key "kind"
        a1                                                #             map(1)
        67 53 79 6d 6c 69 6e 6b                           #               key "Symlink"
        a1                                                #                 map(1)
        66 74 61 72 67 65 74                              #                   key "target"
        46 67 63 63 2d 31 32                              #                     bytes(6) b"gcc-12"
        a2                                                #         map(2)
        64 70 61 74 68                                    #           key "path"
        4f 2f 75 73 72 2f 62 69 6e 2f 67 63 63 2d 31 32   #             bytes(15) b"/usr/bin/gcc-12"
        64 6b 69 6e 64                                    #           key "kind"
        a1                                                #             map(1)
        64 46 69 6c 65                                    #               key "File"
        a3                                                #                 map(3)
        64 73 69 7a 65                                    #                   key "size"
        05                                                #                     5
        6a 65 78 65 63 75 74 61 62 6c 65                  #                   key "executable"
        f5                                                #                     true
        66 63 68 75 6e 6b 73                              #                   key "chunks"
        81                                                #                     array(1)
        58 20 44                                          #                       bytes(32) b"DDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDD"
        44 44 44 44 44 44 44 44 44 44 44 44 44 44 44 44
        44 44 44 44 44 44 44 44 44 44 44 44 44 44 44
        "#,
    );
}

#[test]
fn golden_req_plan() {
    check(
        ControlRequest::Plan(PlanRequest {
            compiler: b("/usr/bin/gcc"),
            cwd: b("/w"),
        }),
        r#"
        00 00 00 26                                       # frame length 38
        82                                                # array(2)
        01                                                #   1
        a1                                                #   map(1)
        64 50 6c 61 6e                                    #     key "Plan"
        a2                                                #       map(2)
        68 63 6f 6d 70 69 6c 65 72                        #         key "compiler"
        4c 2f 75 73 72 2f 62 69 6e 2f 67 63 63            #           bytes(12) b"/usr/bin/gcc"
        63 63 77 64                                       #         key "cwd"
        42 2f 77                                          #           bytes(2) b"/w"
        "#,
    );
}

#[test]
fn golden_req_submit() {
    check(
        ControlRequest::Submit(compile()),
        r#"
        00 00 00 bb                                       # frame length 187
        82                                                # array(2)
        01                                                #   1
        a1                                                #   map(1)
        66 53 75 62 6d 69 74                              #     key "Submit"
        a7                                                #       map(7)
        67 70 72 6f 67 72 61 6d                           #         key "program"
        4c 2f 75 73 72 2f 62 69 6e 2f 67 63 63            #           bytes(12) b"/usr/bin/gcc"
        64 61 72 67 76                                    #         key "argv"
        83                                                #           array(3)
        43 67 63 63                                       #             bytes(3) b"gcc"
        42 2d 63                                          #             bytes(2) b"-c"
        43 61 2e 63                                       #             bytes(3) b"a.c"
        67 74 75 5f 68 61 73 68                           #         key "tu_hash"
        58 20 22                                          #           bytes(32) b""""""""""""""""""""""""""""""""""
        22 22 22 22 22 22 22 22 22 22 22 22 22 22 22 22
        22 22 22 22 22 22 22 22 22 22 22 22 22 22 22
        63 63 77 64                                       #         key "cwd"
        42 2f 77                                          #           bytes(2) b"/w"
        63 65 6e 76                                       #         key "env"
        81                                                #           array(1)
        82                                                #             array(2)
        44 4c 41 4e 47                                    #               bytes(4) b"LANG"
        41 43                                             #               bytes(1) b"C"
        66 69 6e 70 75 74 73                              #         key "inputs"
        81                                                #           array(1)
        a2                                                #             map(2)
        64 70 61 74 68                                    #               key "path"
        46 2f 77 2f 61 2e 63                              #                 bytes(6) b"/w/a.c"
        64 68 61 73 68                                    #               key "hash"
        58 20 33                                          #                 bytes(32) b"33333333333333333333333333333333"
        33 33 33 33 33 33 33 33 33 33 33 33 33 33 33 33
        33 33 33 33 33 33 33 33 33 33 33 33 33 33 33
        67 6f 75 74 70 75 74 73                           #         key "outputs"
        81                                                #           array(1)
        46 2f 77 2f 61 2e 6f                              #             bytes(6) b"/w/a.o"
        "#,
    );
}

#[test]
fn golden_req_finished() {
    check(
        ControlRequest::Finished(Finished { success: true }),
        r#"
        00 00 00 16                                       # frame length 22
        82                                                # array(2)
        01                                                #   1
        a1                                                #   map(1)
        68 46 69 6e 69 73 68 65 64                        #     key "Finished"
        a1                                                #       map(1)
        67 73 75 63 63 65 73 73                           #         key "success"
        f5                                                #           true
        "#,
    );
}

#[test]
fn golden_resp_plan_local() {
    check(
        ControlResponse::Plan(Plan::Local {
            reason: "busy".into(),
        }),
        r#"
        00 00 00 1c                                       # frame length 28
        82                                                # array(2)
        01                                                #   1
        a1                                                #   map(1)
        64 50 6c 61 6e                                    #     key "Plan"
        a1                                                #       map(1)
        65 4c 6f 63 61 6c                                 #         key "Local"
        a1                                                #           map(1)
        66 72 65 61 73 6f 6e                              #             key "reason"
        64 62 75 73 79                                    #               "busy"
        "#,
    );
}

#[test]
fn golden_resp_plan_remote() {
    check(
        ControlResponse::Plan(Plan::Remote {
            worker: PeerName("12D3KooWB".into()),
        }),
        r#"
        00 00 00 22                                       # frame length 34
        82                                                # array(2)
        01                                                #   1
        a1                                                #   map(1)
        64 50 6c 61 6e                                    #     key "Plan"
        a1                                                #       map(1)
        66 52 65 6d 6f 74 65                              #         key "Remote"
        a1                                                #           map(1)
        66 77 6f 72 6b 65 72                              #             key "worker"
        69 31 32 44 33 4b 6f 6f 57 42                     #               "12D3KooWB"
        "#,
    );
}

#[test]
fn golden_resp_fallback() {
    check(
        ControlResponse::Fallback("gone".into()),
        r#"
        00 00 00 11                                       # frame length 17
        82                                                # array(2)
        01                                                #   1
        a1                                                #   map(1)
        68 46 61 6c 6c 62 61 63 6b                        #     key "Fallback"
        64 67 6f 6e 65                                    #       "gone"
        "#,
    );
}

#[test]
fn golden_resp_ok() {
    check(
        ControlResponse::Ok,
        r#"
        00 00 00 05                                       # frame length 5
        82                                                # array(2)
        01                                                #   1
        62 4f 6b                                          #   "Ok"
        "#,
    );
}

/// A result check's report; an untrusted flag, a sampled `Compiled` and the check counters are
/// left out of the bytes when false or zero, so the frames above are unchanged by them.
#[test]
fn golden_req_checked() {
    check(
        ControlRequest::Checked(Checked {
            worker: PeerName("12D3KooWB".into()),
            same: false,
        }),
        r#"
        00 00 00 23                                       # frame length 35
        82                                                # array(2)
        01                                                #   1
        a1                                                #   map(1)
        67 43 68 65 63 6b 65 64                           #     key "Checked"
        a2                                                #       map(2)
        66 77 6f 72 6b 65 72                              #         key "worker"
        69 31 32 44 33 4b 6f 6f 57 42                     #           "12D3KooWB"
        64 73 61 6d 65                                    #         key "same"
        f4                                                #           false
        "#,
    );
}

/// A transfer as `ControlResponse::Peers` lists it (the list and the monitor URL are left out
/// of the encoding when empty, so older readers and `golden_resp_peers` see no change).
#[test]
fn golden_transfer_progress() {
    check(
        TransferProgress {
            kind: "fetch".into(),
            what: "toolchain abab".into(),
            done_bytes: 1 << 20,
            total_bytes: 4 << 20,
            done_items: 1,
            total_items: 4,
            elapsed_ms: 1500,
        },
        r#"
        00 00 00 6a                                   # frame length 106
        82                                            # array(2)
        01                                            #   1
        a7                                            #   map(7)
        64 6b 69 6e 64                                #     key "kind"
        65 66 65 74 63 68                             #       "fetch"
        64 77 68 61 74                                #     key "what"
        6e 74 6f 6f 6c 63 68 61 69 6e 20 61 62 61 62  #       "toolchain abab"
        6a 64 6f 6e 65 5f 62 79 74 65 73              #     key "done_bytes"
        1a 00 10 00 00                                #       1048576
        6b 74 6f 74 61 6c 5f 62 79 74 65 73           #     key "total_bytes"
        1a 00 40 00 00                                #       4194304
        6a 64 6f 6e 65 5f 69 74 65 6d 73              #     key "done_items"
        01                                            #       1
        6b 74 6f 74 61 6c 5f 69 74 65 6d 73           #     key "total_items"
        04                                            #       4
        6a 65 6c 61 70 73 65 64 5f 6d 73              #     key "elapsed_ms"
        19 05 dc                                      #       1500
        "#,
    );
}
