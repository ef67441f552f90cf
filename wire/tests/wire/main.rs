//! Integration tests of the wire crate: exact encodings, and hostile bytes.

mod frames;
mod golden;
