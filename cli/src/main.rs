//! The `laaster` binary; everything lives in the `laaster_cli` library.

fn main() -> std::process::ExitCode {
    laaster_cli::run_from_env()
}
