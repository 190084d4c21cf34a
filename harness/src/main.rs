//! `policy-harness`: see the crate documentation and `README.md`.

fn main() -> std::process::ExitCode {
    policy_harness::cli::main()
}
