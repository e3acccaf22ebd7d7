//! The `deskready` binary: arguments in, exit code out. Everything else is library code.

fn main() -> std::process::ExitCode {
    deskready::cli::main()
}
