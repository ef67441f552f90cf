//! Job requests and answers from peers; a request that decodes goes through the worker's
//! checks (paths, environment, the argument model), as an agent would run them.
#![no_main]

use libfuzzer_sys::fuzz_target;
use meshcc_wire::job::{JobRequest, JobResponse};

fuzz_target!(|body: &[u8]| {
    if let Ok(request) = meshcc_wire::decode_body::<JobRequest>(body) {
        let _ = meshcc::agent::worker::check(request);
    }
    let _ = meshcc_wire::decode_body::<JobResponse>(body);
});
