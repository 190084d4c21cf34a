//! Arbitrary bytes as a whole `validate` payload (`{"request":…,"settings":…}`):
//! the evaluation and the building of Kubewarden's response must never panic.
//! Tags are resolved (when the settings say `resolveTags`) by a fake host that
//! answers a digest, garbage or an error depending on the image.
#![no_main]

use kritis_attestation_policy::{validate, Host, Verified};
use libfuzzer_sys::fuzz_target;

struct FakeHost;

impl Host for FakeHost {
    fn manifest_digest(&self, image: &str) -> Result<String, String> {
        match image.len() % 3 {
            0 => Ok(
                "sha256:ddba4d27a7ffc3f86dd6c2f92041af252a1f23a8e742c90e6e1297bfa1bc0c45"
                    .to_owned(),
            ),
            1 => Ok(format!("not a digest for {image}")),
            _ => Err(format!("manifest unknown: {image}")),
        }
    }

    fn verify_pub_key(
        &self,
        image: &str,
        _pub_key: String,
        _annotations: Option<std::collections::BTreeMap<String, String>>,
    ) -> Result<Verified, String> {
        match image.len() % 3 {
            0 => Ok(Verified {
                is_trusted: true,
                digest: "sha256:ddba4d27a7ffc3f86dd6c2f92041af252a1f23a8e742c90e6e1297bfa1bc0c45"
                    .to_owned(),
            }),
            1 => Ok(Verified {
                is_trusted: image.len() % 2 == 0,
                digest: format!("not a digest for {image}"),
            }),
            _ => Err(format!("no signature for {image}")),
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let verdict = validate(data, &FakeHost);
    let response = verdict.into_response();
    let _ = serde_json::to_vec(&response);
});
