fn main() -> std::process::ExitCode {
    rookery::cli::main()
}
