//! The compiler-argument model on any command line: NUL-separated arguments, the first one
//! naming the compiler.
#![no_main]

use std::ffi::{OsStr, OsString};
use std::os::unix::ffi::OsStrExt;

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut parts = data.split(|&b| b == 0);
    let name = String::from_utf8_lossy(parts.next().unwrap_or_default()).into_owned();
    let args: Vec<OsString> = parts.map(|a| OsStr::from_bytes(a).to_owned()).collect();
    if let Ok(invocation) = meshcc::args::parse(&name, &args) {
        let _ = meshcc::hermetic::preprocess_args(&invocation);
        let _ = invocation.compiler_args();
    }
});
