//! The `phonecheck` command: see `phonecheck --help` and the crate docs.

fn main() {
    std::process::exit(phonecheck_linux::cli::main());
}
