//! Shared helpers for the end-to-end tests live in `tests/tests/util.rs`; this crate has no library code.
