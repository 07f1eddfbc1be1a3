//! `loadtest`: not yet a benchmark runner (see issue 5); it only says so.
fn main() {
    eprintln!("loadtest: the workloads are not implemented yet; see docs/benchmarks.md");
    std::process::exit(2);
}
