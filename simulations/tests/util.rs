//! Helpers shared by the simulations' integration tests.

use std::io::Write;
use std::path::PathBuf;

/// Whether the test may go on: true as root. Without root the test is skipped with a visible
/// message — except under CI (`CI` set), where a skipped lab test would hide a broken setup, so
/// it fails.
pub fn have_root(test: &str) -> bool {
    if nix::unistd::geteuid().is_root() {
        return true;
    }
    if std::env::var_os("CI").is_some() {
        panic!("{test}: needs root (lab tests create network namespaces), and CI is set");
    }
    // Straight to stderr: the test harness captures `eprintln!` of passing tests, and this must
    // be seen.
    let _ = writeln!(std::io::stderr(), "skipped: needs root ({test})");
    false
}

/// A lab name unique to this test and this test process, so that tests (and concurrent test
/// runs) never share a lab.
pub fn lab_name(test: &str) -> String {
    format!("{test}-{}", std::process::id())
}

/// The `mesh-lab` binary cargo built for these tests.
pub fn mesh_lab() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_mesh-lab"))
}
