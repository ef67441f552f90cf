// Framing under bad input: every failure is an error value, never a panic or a huge allocation.

use std::io::Cursor;

use meshcc_wire::control::{ControlRequest, ControlResponse};
use meshcc_wire::job::{BlobRequest, BlobResponse, JobRequest, JobResponse, ToolchainManifest};
use meshcc_wire::mesh::NodeStatus;
use meshcc_wire::{decode_body, encode, read_msg, write_msg, FrameError, MAX_MESSAGE_SIZE};
use proptest::prelude::*;

#[test]
fn clean_end_of_stream_is_none() {
    let got: Option<ControlRequest> = read_msg(&mut Cursor::new(Vec::new())).unwrap();
    assert_eq!(got, None);
}

#[test]
fn several_messages_on_one_stream() {
    let mut buf = Vec::new();
    write_msg(&mut buf, &ControlRequest::Peers).unwrap();
    write_msg(&mut buf, &ControlRequest::Jobs).unwrap();
    let mut r = Cursor::new(buf);
    assert_eq!(read_msg(&mut r).unwrap(), Some(ControlRequest::Peers));
    assert_eq!(read_msg(&mut r).unwrap(), Some(ControlRequest::Jobs));
    assert_eq!(read_msg::<_, ControlRequest>(&mut r).unwrap(), None);
}

#[test]
fn oversized_length_is_refused_before_reading() {
    let mut frame = ((MAX_MESSAGE_SIZE + 1) as u32).to_be_bytes().to_vec();
    frame.extend_from_slice(b"whatever");
    let err = read_msg::<_, ControlRequest>(&mut Cursor::new(frame)).unwrap_err();
    assert!(matches!(err, FrameError::TooLarge { len, .. } if len == MAX_MESSAGE_SIZE + 1));
}

#[test]
fn absurd_length_with_little_data_is_a_truncation_not_an_allocation() {
    // Announces 60 MiB and sends 3 bytes: must fail on end of stream.
    let mut frame = (60u32 << 20).to_be_bytes().to_vec();
    frame.extend_from_slice(&[0x82, 0x01, 0x65]);
    let err = read_msg::<_, ControlRequest>(&mut Cursor::new(frame)).unwrap_err();
    assert!(matches!(err, FrameError::Io(e) if e.kind() == std::io::ErrorKind::UnexpectedEof));
}

#[test]
fn truncated_prefix_is_an_error() {
    let err = read_msg::<_, ControlRequest>(&mut Cursor::new(vec![0, 0])).unwrap_err();
    assert!(matches!(err, FrameError::Io(_)));
}

#[test]
fn other_version_that_does_not_decode_says_so() {
    // [99, "NoSuchRequest"]
    let body = [
        0x82, 0x18, 0x63, 0x6d, b'N', b'o', b'S', b'u', b'c', b'h', b'R', b'e', b'q', b'u', b'e',
        b's', b't',
    ];
    let err = decode_body::<ControlRequest>(&body).unwrap_err();
    assert!(
        matches!(
            err,
            FrameError::VersionMismatch {
                ours: 1,
                theirs: 99
            }
        ),
        "{err}"
    );
    assert!(err.to_string().contains("version 99"));
}

#[test]
fn same_version_garbage_is_malformed() {
    let body = [0x82, 0x01, 0x65, b'P', b'e', b'e', b'r', b'z'];
    let err = decode_body::<ControlRequest>(&body).unwrap_err();
    assert!(matches!(err, FrameError::Malformed(_)), "{err}");
}

#[test]
fn newer_peer_with_extra_fields_still_decodes() {
    // A version-2 NodeStatus with one more field: fields are added compatibly.
    #[derive(serde::Serialize)]
    struct Newer {
        seq: u64,
        agent_version: &'static str,
        protocol_version: u32,
        arch: &'static str,
        os: &'static str,
        slots: u32,
        running: u32,
        queued: u32,
        load_permille: u32,
        speed: u32,
        mem_free_mb: u64,
        accepts_remote: bool,
        toolchains: Vec<u8>,
        gpu: bool,
    }
    let newer = Newer {
        seq: 1,
        agent_version: "0.2.0",
        protocol_version: 2,
        arch: "x86_64",
        os: "linux",
        slots: 1,
        running: 0,
        queued: 0,
        load_permille: 0,
        speed: 1000,
        mem_free_mb: 1,
        accepts_remote: true,
        toolchains: vec![],
        gpu: true,
    };
    let mut body = Vec::new();
    ciborium::into_writer(&(2u32, &newer), &mut body).unwrap();
    let got: NodeStatus = decode_body(&body).unwrap();
    assert_eq!(got.agent_version, "0.2.0");
}

#[test]
fn encoding_a_message_over_the_limit_fails() {
    let huge = ControlResponse::Error("x".repeat(MAX_MESSAGE_SIZE));
    assert!(matches!(encode(&huge), Err(FrameError::TooLarge { .. })));
}

proptest! {
    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        let _ = read_msg::<_, ControlRequest>(&mut Cursor::new(&bytes));
        let _ = read_msg::<_, ControlResponse>(&mut Cursor::new(&bytes));
        let _ = read_msg::<_, NodeStatus>(&mut Cursor::new(&bytes));
        let _ = decode_body::<ControlResponse>(&bytes);
        let _ = decode_body::<NodeStatus>(&bytes);
        let _ = decode_body::<JobRequest>(&bytes);
        let _ = decode_body::<JobResponse>(&bytes);
        let _ = decode_body::<BlobRequest>(&bytes);
        let _ = decode_body::<BlobResponse>(&bytes);
        let _ = decode_body::<ToolchainManifest>(&bytes);
    }

    #[test]
    fn mutated_valid_frames_never_panic(flip in 4usize..200, to in any::<u8>()) {
        let mut frame = encode(&ControlResponse::Error("a reason".into())).unwrap();
        let i = flip % frame.len();
        frame[i] = to;
        let _ = read_msg::<_, ControlResponse>(&mut Cursor::new(&frame));
    }
}
