//! Blob requests and answers from peers.
#![no_main]

use libfuzzer_sys::fuzz_target;
use meshcc_wire::job::{BlobRequest, BlobResponse};

fuzz_target!(|body: &[u8]| {
    let _ = meshcc_wire::decode_body::<BlobRequest>(body);
    let _ = meshcc_wire::decode_body::<BlobResponse>(body);
});
