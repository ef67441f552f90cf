//! The sandbox helper on its own, for this crate's tests; the agent uses `meshcc __sandbox`.

fn main() -> std::process::ExitCode {
    meshcc_sandbox::helper_main()
}
