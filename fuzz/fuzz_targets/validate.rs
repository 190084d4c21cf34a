//! Arbitrary bytes as a whole `validate` payload (`{"request":…,"settings":…}`):
//! the evaluation and the building of Kubewarden's response must never panic.
//! Tags are resolved (when the settings say `resolveTags`) by a fake host that
//! answers a digest, garbage or an error depending on the image, and which
//! counts its calls: no input may make more than `MAX_HOST_CALLS` of them
//! (issue 25), nor more than the work counters say.
#![no_main]

use std::cell::Cell;

use kritis_attestation_policy::evaluate::validate_counting;
use kritis_attestation_policy::host::{Identity, MAX_HOST_CALLS};
use kritis_attestation_policy::{Host, Verified};
use libfuzzer_sys::fuzz_target;

#[derive(Default)]
struct FakeHost {
    calls: Cell<u32>,
}

impl FakeHost {
    fn call(&self) {
        self.calls.set(self.calls.get() + 1);
    }
}

impl Host for FakeHost {
    fn manifest_digest(&self, image: &str) -> Result<String, String> {
        self.call();
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
        self.call();
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

    fn verify_identity(
        &self,
        image: &str,
        identity: &Identity<'_>,
        annotations: Option<std::collections::BTreeMap<String, String>>,
    ) -> Result<Verified, String> {
        let _ = identity;
        self.verify_pub_key(image, String::new(), annotations)
    }

    fn oci_manifest(&self, image: &str) -> Result<Vec<u8>, String> {
        self.call();
        Ok(format!(r#"{{"layers":[{{"digest":"{image}","annotations":{{}}}}]}}"#).into_bytes())
    }
}

fuzz_target!(|data: &[u8]| {
    let host = FakeHost::default();
    let (verdict, work) = validate_counting(data, &host);
    assert!(
        host.calls.get() <= MAX_HOST_CALLS,
        "{} host calls",
        host.calls.get()
    );
    assert_eq!(host.calls.get(), work.host_calls());
    let response = verdict.into_response();
    let _ = serde_json::to_vec(&response);
});
