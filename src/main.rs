//! The `boxoffice` binary: parse the command line, hand over to the library.

use clap::Parser;

fn main() -> std::process::ExitCode {
    boxoffice::cli::run(boxoffice::cli::Cli::parse())
}
