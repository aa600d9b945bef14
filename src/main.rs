//! The `boxoffice` binary: parse the command line, hand over to the library.

use clap::Parser;

/// mimalloc instead of glibc's malloc: under a sale the server allocates and
/// frees many small buffers across threads, where glibc spent a fifth of the
/// CPU and kept over a gigabyte resident (docs/BENCHMARKS.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    boxoffice::cli::run(boxoffice::cli::Cli::parse())
}
