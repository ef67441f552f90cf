fn main() -> std::process::ExitCode {
    meshcc::cli::main()
}
