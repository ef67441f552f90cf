// Golden tests: the exact bytes of every message, so that a silent format change fails here.
// Each dump is annotated as CBOR (RFC 8949); `#` starts a comment.

use std::collections::BTreeMap;

use meshcc_wire::control::*;
use meshcc_wire::ids::ToolchainId;
use meshcc_wire::mesh::*;
use meshcc_wire::{decode_body, encode};

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
        },
        peers: vec![],
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
