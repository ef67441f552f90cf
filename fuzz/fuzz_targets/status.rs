//! Status gossip from peers.
#![no_main]

use libfuzzer_sys::fuzz_target;
use meshcc_wire::mesh::{NodeStatus, StatusAck};

fuzz_target!(|body: &[u8]| {
    let _ = meshcc_wire::decode_body::<NodeStatus>(body);
    let _ = meshcc_wire::decode_body::<StatusAck>(body);
});
