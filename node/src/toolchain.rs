//! Toolchains by hash: a compiler and everything it needs to run, as a manifest of files whose
//! contents are blobs in the store.
//!
//! - [`package`]: the submitter lists what its compiler needs (driver, `cc1`/`cc1plus`, `as`,
//!   shared libraries, locale data, …) and stores each file as chunks; the manifest's own hash
//!   is the [`ToolchainId`].
//! - [`cache`]: which compiler has which id, so that packaging happens once per compiler and
//!   again only when one of its files changes.
//! - [`materialize`]: a worker builds the file tree from verified blobs, never writing outside
//!   its directory, for the sandbox to mount read-only.
//!
//! A manifest of blobs rather than one archive: chunks are fetched from several peers at once,
//! a lost peer costs one chunk, and toolchains that share files (gcc and g++, two versions of
//! one compiler) share their blobs.

pub mod cache;
pub mod materialize;
pub mod package;

use meshcc_wire::ids::{BlobHash, ToolchainId};
use meshcc_wire::job::ToolchainManifest;

/// The id of a manifest: the hash of its CBOR encoding.
pub fn encode_manifest(manifest: &ToolchainManifest) -> (ToolchainId, Vec<u8>) {
    let mut bytes = Vec::new();
    ciborium::into_writer(manifest, &mut bytes).expect("a manifest always encodes");
    (ToolchainId::of(&bytes), bytes)
}

/// The blob hash under which a toolchain's manifest is stored and fetched.
pub fn manifest_blob(id: &ToolchainId) -> BlobHash {
    BlobHash(id.0)
}

/// Decodes a manifest blob.
pub fn decode_manifest(bytes: &[u8]) -> Result<ToolchainManifest, String> {
    ciborium::from_reader(bytes).map_err(|e| format!("toolchain manifest does not decode: {e}"))
}

/// Every chunk a manifest's files are made of, sorted, each once.
pub fn chunks(manifest: &ToolchainManifest) -> Vec<BlobHash> {
    chunk_sizes(manifest).into_keys().collect()
}

/// Every chunk of a manifest with its size in bytes (a file's chunks are [`CHUNK_SIZE`] long
/// but for its last), for progress reports.
///
/// [`CHUNK_SIZE`]: meshcc_wire::job::CHUNK_SIZE
pub fn chunk_sizes(manifest: &ToolchainManifest) -> std::collections::BTreeMap<BlobHash, u64> {
    let chunk = meshcc_wire::job::CHUNK_SIZE as u64;
    let mut sizes = std::collections::BTreeMap::new();
    for entry in &manifest.entries {
        if let meshcc_wire::job::EntryKind::File { size, chunks, .. } = &entry.kind {
            for (i, hash) in chunks.iter().enumerate() {
                let start = i as u64 * chunk;
                sizes.insert(*hash, size.saturating_sub(start).min(chunk));
            }
        }
    }
    sizes
}
