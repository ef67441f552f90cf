//! Control-socket messages (the `meshcc` command and its agent).
#![no_main]

use libfuzzer_sys::fuzz_target;
use meshcc_wire::control::{ControlRequest, ControlResponse};

fuzz_target!(|body: &[u8]| {
    let _ = meshcc_wire::decode_body::<ControlRequest>(body);
    let _ = meshcc_wire::decode_body::<ControlResponse>(body);
});
