//! The native side: [`FixtureHost`], the scenario's answers to the policy's
//! host calls, and `validate` called in-process as the waPC glue calls it.

use anyhow::Result;
use policy_harness::host::capabilities::Fixture;
use serde_json::Value;

use crate::scenarios::{RegistryAnswer, Scenario};

/// The native side's host: the scenario's registry answers and fixtures,
/// nothing else.
pub(super) struct FixtureHost<'s> {
    registry: &'s [RegistryAnswer],
    fixtures: &'s [Fixture],
}

impl<'s> FixtureHost<'s> {
    /// The answers of scenario `s`.
    #[must_use]
    pub(super) fn of(s: &'s Scenario) -> Self {
        Self {
            registry: &s.registry,
            fixtures: &s.fixtures,
        }
    }

    /// The fixture answering `operation` for `image` (the request itself
    /// for `v1/oci_manifest`, its `image` field for `v2/verify`).
    fn fixture(&self, operation: &str, image: &str) -> Result<&'s Value, String> {
        self.fixtures
            .iter()
            .find(|f| {
                f.namespace == "oci"
                    && f.operation == operation
                    && (f.request.as_str() == Some(image)
                        || f.request.get("image").and_then(Value::as_str) == Some(image))
            })
            .and_then(|f| f.response.as_ref())
            .ok_or_else(|| format!("no {operation} answer in the benchmark for {image}"))
    }
}

impl kritis_attestation_policy::Host for FixtureHost<'_> {
    fn manifest_digest(&self, _image: &str) -> std::result::Result<String, String> {
        Err("no tag resolution in the benchmark".to_owned())
    }

    fn verify_pub_key(
        &self,
        image: &str,
        pub_key: String,
        _annotations: Option<std::collections::BTreeMap<String, String>>,
    ) -> std::result::Result<kritis_attestation_policy::Verified, String> {
        self.registry
            .iter()
            .find(|a| a.image == image && a.pub_key == pub_key)
            .map(|a| kritis_attestation_policy::Verified {
                is_trusted: true,
                digest: a.digest.clone(),
            })
            .ok_or_else(|| format!("no registry answer in the benchmark for {image}"))
    }

    fn verify_identity(
        &self,
        image: &str,
        _identity: &kritis_attestation_policy::Identity<'_>,
        _annotations: Option<std::collections::BTreeMap<String, String>>,
    ) -> std::result::Result<kritis_attestation_policy::Verified, String> {
        let answer = self.fixture("v2/verify", image)?;
        Ok(kritis_attestation_policy::Verified {
            is_trusted: answer.get("is_trusted").and_then(Value::as_bool) == Some(true),
            digest: answer
                .get("digest")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned(),
        })
    }

    fn oci_manifest(&self, image: &str) -> std::result::Result<Vec<u8>, String> {
        let answer = self.fixture("v1/oci_manifest", image)?;
        serde_json::to_vec(answer).map_err(|e| e.to_string())
    }

    fn list_resources_by_namespace(
        &self,
        api_version: &str,
        kind: &str,
        namespace: &str,
    ) -> std::result::Result<Vec<u8>, String> {
        self.kubernetes(
            "list_resources_by_namespace",
            api_version,
            kind,
            Some(namespace),
        )
    }

    fn list_resources_all(
        &self,
        api_version: &str,
        kind: &str,
    ) -> std::result::Result<Vec<u8>, String> {
        self.kubernetes("list_resources_all", api_version, kind, None)
    }
}

impl FixtureHost<'_> {
    /// A `kubernetes` list fixture for (kind, namespace).
    fn kubernetes(
        &self,
        operation: &str,
        api_version: &str,
        kind: &str,
        namespace: Option<&str>,
    ) -> std::result::Result<Vec<u8>, String> {
        let field =
            |f: &Fixture, k: &str| f.request.get(k).and_then(Value::as_str).map(str::to_owned);
        self.fixtures
            .iter()
            .find(|f| {
                f.namespace == "kubernetes"
                    && f.operation == operation
                    && field(f, "api_version").as_deref() == Some(api_version)
                    && field(f, "kind").as_deref() == Some(kind)
                    && field(f, "namespace").as_deref() == namespace
            })
            .and_then(|f| f.response.as_ref())
            .ok_or_else(|| format!("no {operation} answer in the benchmark for {kind}"))
            .and_then(|v| serde_json::to_vec(v).map_err(|e| e.to_string()))
    }
}

/// What the waPC glue of the policy does natively: decide, encode.
pub(super) fn native_validate(payload: &[u8], host: &FixtureHost<'_>) -> Result<Vec<u8>> {
    let response = kritis_attestation_policy::validate(payload, host).into_response();
    Ok(serde_json::to_vec(&response)?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runner::accepted;

    /// The bench stops at the first scenario whose verdict is not the
    /// expected one. A policy change that moves a verdict (the verification
    /// budget did, to a 100-image scenario 4) fails here, in `make test`,
    /// rather than at the next `make bench`.
    #[test]
    fn every_scenario_answers_its_expected_verdict_natively() {
        let keys = crate::scenarios::Keys::load(&testkit::keys::KeyDir::default()).unwrap();
        for s in crate::scenarios::all(&keys).unwrap() {
            let answer = native_validate(&s.payload, &FixtureHost::of(&s)).unwrap();
            let text = String::from_utf8_lossy(&answer);
            assert_eq!(
                accepted(&answer).unwrap(),
                s.expect_allowed,
                "scenario {}: {}",
                s.id,
                &text[..text.floor_char_boundary(400)]
            );
        }
    }

    #[test]
    fn native_answer_is_a_validation_response() {
        let host = FixtureHost {
            registry: &[],
            fixtures: &[],
        };
        let answer = native_validate(b"not json", &host).unwrap();
        assert!(!accepted(&answer).unwrap());
    }
}
