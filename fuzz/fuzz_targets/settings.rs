//! Arbitrary bytes as the policy's settings document: parsing, the cheap
//! structural checks run on every request, and the full `validate_settings`
//! check (every key decoded) must never panic, and must agree with each other.
#![no_main]

use kritis_attestation_policy::settings::Settings;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let parsed = Settings::from_slice(data);
    if let Ok(settings) = &parsed {
        let structural = settings.structural_errors();
        let full = settings.validate();
        // The full check includes the structural one.
        assert!(
            structural.is_empty() || full.is_err(),
            "validate() accepted settings with structural errors: {structural:?}"
        );
        let _ = settings.mutate();
        for a in &settings.attestation_authorities {
            for _ in a.keys() {}
        }
    }
    let response = kritis_attestation_policy::validate_settings(data);
    let expected = parsed.and_then(|s| s.validate()).is_ok();
    assert_eq!(
        response.valid, expected,
        "validate_settings disagrees with Settings::validate"
    );
    assert_eq!(response.valid, response.message.is_none());
    let _ = serde_json::to_vec(&response);
});
