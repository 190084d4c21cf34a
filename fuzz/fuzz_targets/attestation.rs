//! Arbitrary text as the `kritis.grafeas.io/attestations` annotation, and
//! arbitrary bytes as a simple-signing payload: never panic.
#![no_main]

use kritis_attestation_policy::attestation::{parse_all, parse_claims};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = parse_claims(data);
    if let Ok(s) = std::str::from_utf8(data) {
        match parse_all([s]) {
            Ok(attestations) => {
                for a in &attestations {
                    // What was parsed must be what is hashed and verified.
                    assert_eq!(parse_claims(&a.payload).as_ref(), Ok(&a.claims));
                    assert!(!a.signatures.is_empty());
                }
            }
            Err(e) => {
                let _ = e.to_string();
            }
        }
        // Two values (object and pod template annotations) are read in order.
        let _ = parse_all([s, s]);
    }
});
