//! The frame reader on any byte stream: never panics, never allocates more than arrives.
#![no_main]

use libfuzzer_sys::fuzz_target;
use serde::de::IgnoredAny;

fuzz_target!(|data: &[u8]| {
    let mut reader = data;
    // Read frames until the stream ends or one is refused.
    while let Ok(Some(_)) = meshcc_wire::read_msg::<_, IgnoredAny>(&mut reader) {}
});
