//! Toolchain manifests from peers: decoding, and the path checks every entry passes before a
//! worker builds anything from it.
#![no_main]

use libfuzzer_sys::fuzz_target;
use meshcc_wire::job::EntryKind;

fuzz_target!(|data: &[u8]| {
    let Ok(manifest) = meshcc::toolchain::decode_manifest(data) else {
        return;
    };
    let _ = meshcc::toolchain::chunks(&manifest);
    for entry in &manifest.entries {
        let _ = meshcc::safepath::plain_absolute(&entry.path);
        if let EntryKind::Symlink { target } = &entry.kind {
            let _ = meshcc::safepath::plain_absolute(target);
        }
    }
});
