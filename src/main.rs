//! The `bromsync` binary: a thin shell over the library's command-line entry point.

fn main() -> std::process::ExitCode {
    bromsync::cli::main()
}
