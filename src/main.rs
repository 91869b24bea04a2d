//! The `flowc` binary: everything is in `flowc::cli`.

fn main() {
    std::process::exit(flowc::cli::main());
}
