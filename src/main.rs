//! The doorway: hands the arguments to `fetchpool::run` and returns its exit status.

fn main() -> std::process::ExitCode {
    fetchpool::run(std::env::args_os())
}
