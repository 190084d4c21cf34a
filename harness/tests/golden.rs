//! Golden cases of the real policy: every folder of `e2e-tests/golden/`.
//!
//! The policy module is `$POLICY_WASM` if set, else
//! `../target/wasm32-wasip1/release/kritis_attestation_policy.wasm`, built with
//! `cargo build --release --target wasm32-wasip1` in the parent crate when
//! missing. The module is compiled once and reused for every case; all
//! failing cases are reported together.

use std::path::Path;

use policy_harness::golden::{discover, policy_module, run_dir};
use policy_harness::host::cache::CacheMode;
use policy_harness::{Limits, PolicyModule};

#[test]
fn golden_cases() {
    let golden = Path::new(env!("CARGO_MANIFEST_DIR")).join("../e2e-tests/golden");
    // Fail (not skip) before building anything when there is no case.
    let cases = discover(&golden).unwrap_or_else(|e| panic!("{e:#}"));
    eprintln!("golden: {} case(s) in {}", cases.len(), golden.display());

    let module = policy_module().unwrap_or_else(|e| panic!("{e:#}"));
    let policy = PolicyModule::load(&module, Limits::default(), &CacheMode::from_env())
        .unwrap_or_else(|e| panic!("{e:#}"));
    let report = run_dir(&policy, &golden).unwrap_or_else(|e| panic!("{e:#}"));
    eprintln!("{}", report.render());
    assert!(
        report.passed(),
        "{} golden case(s) failed:\n{}",
        report.failures.len(),
        report.render()
    );
}
