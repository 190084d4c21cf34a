//! A Kubewarden policy that admits only container images attested by trusted
//! authorities, with the semantics of kritis / ACK's kritis-validation-hook.
//!
//! This file is the waPC glue only: register the functions, hand the bytes to
//! the core, encode the answer. Everything else builds and tests natively.
#![deny(unsafe_code)]
#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]

pub mod allowlist;
pub mod attestation;
mod b64;
pub mod certificate;
pub mod clock;
mod cluster;
mod engine;
pub mod evaluate;
pub mod host;
pub mod image;
mod index;
mod json_path;
mod keyring;
pub mod keys;
pub mod kritis;
pub mod modexp;
pub mod p256_verify;
pub mod p384_verify;
mod radix;
pub mod rsassa;
pub mod settings;
pub mod sources;
pub mod text;
pub mod verdict;
pub mod verify;
pub mod workload;

#[cfg(test)]
mod testkeys;
#[cfg(test)]
mod tests;

use std::collections::BTreeMap;

use kubewarden_policy_sdk::settings::SettingsValidationResponse;
use kubewarden_policy_sdk::wapc_guest as guest;

pub use evaluate::{validate, Host, Verified};
pub use host::Identity;

/// The `validate_settings` answer for a settings document.
#[must_use]
pub fn validate_settings(payload: &[u8]) -> SettingsValidationResponse {
    let result = settings::Settings::from_slice(payload).and_then(|s| s.validate());
    SettingsValidationResponse {
        valid: result.is_ok(),
        message: result.err(),
    }
}

/// Kubewarden's host capabilities, through the SDK: `oci/v1/manifest_digest`
/// and `oci/v2/verify`.
struct SdkHost;

impl Host for SdkHost {
    fn manifest_digest(&self, image: &str) -> Result<String, String> {
        kubewarden_policy_sdk::host_capabilities::oci::get_manifest_digest(image)
            .map(|r| r.digest)
            .map_err(host_reason)
    }

    fn verify_pub_key(
        &self,
        image: &str,
        pub_key: String,
        annotations: Option<BTreeMap<String, String>>,
    ) -> Result<Verified, String> {
        kubewarden_policy_sdk::host_capabilities::verification::verify_pub_keys_image(
            image,
            vec![pub_key],
            annotations,
        )
        .map(|r| Verified {
            is_trusted: r.is_trusted,
            digest: r.digest,
        })
        .map_err(host_reason)
    }

    fn verify_identity(
        &self,
        image: &str,
        identity: &Identity<'_>,
        annotations: Option<BTreeMap<String, String>>,
    ) -> Result<Verified, String> {
        SdkHost::identity_request(image, identity, annotations)
    }

    fn list_resources_by_namespace(
        &self,
        api_version: &str,
        kind: &str,
        namespace: &str,
    ) -> Result<Vec<u8>, String> {
        let request = ListRequest {
            api_version,
            kind,
            namespace: Some(namespace),
            label_selector: None,
            field_selector: None,
            field_masks: None,
        };
        raw_host_call("kubernetes", "list_resources_by_namespace", &request)
    }

    fn list_resources_all(&self, api_version: &str, kind: &str) -> Result<Vec<u8>, String> {
        let request = ListRequest {
            api_version,
            kind,
            namespace: None,
            label_selector: None,
            field_selector: None,
            field_masks: None,
        };
        raw_host_call("kubernetes", "list_resources_all", &request)
    }

    /// `oci`/`v1/oci_manifest`, called directly rather than through the
    /// SDK's `get_manifest`, which would deserialise the whole OCI manifest
    /// into owned `oci-spec` types; the policy reads three annotations of
    /// each layer, borrowed from these bytes.
    fn oci_manifest(&self, image: &str) -> Result<Vec<u8>, String> {
        raw_host_call("oci", "v1/oci_manifest", &image)
    }
}

/// `ListResourcesByNamespaceRequest` (with `namespace`) and
/// `ListAllResourcesRequest` (without) as the SDK 0.17 serialises them.
/// Written here because the SDK's types sit behind its `cluster-context`
/// feature, which builds `k8s-openapi` into the module for two structs.
#[derive(serde::Serialize)]
struct ListRequest<'r> {
    api_version: &'r str,
    kind: &'r str,
    #[serde(skip_serializing_if = "Option::is_none")]
    namespace: Option<&'r str>,
    label_selector: Option<&'r str>,
    field_selector: Option<&'r str>,
    field_masks: Option<&'r [&'r str]>,
}

/// A host call whose answer the policy reads itself, borrowing from the
/// bytes: the request serialised as the SDK serialises it (same types), the
/// answer not deserialised into the SDK's owned types (`oci-spec`
/// manifests, `k8s-openapi` lists of unknown kinds).
fn raw_host_call<T: serde::Serialize + ?Sized>(
    namespace: &str,
    operation: &str,
    request: &T,
) -> Result<Vec<u8>, String> {
    let payload = serde_json::to_vec(request).map_err(|e| e.to_string())?;
    guest::host_call("kubewarden", namespace, operation, &payload).map_err(|e| {
        let text = e.to_string();
        match text.strip_prefix("Host error: ") {
            Some(reason) => reason.to_owned(),
            None => text,
        }
    })
}

impl SdkHost {
    fn identity_request(
        image: &str,
        identity: &Identity<'_>,
        annotations: Option<BTreeMap<String, String>>,
    ) -> Result<Verified, String> {
        use kubewarden_policy_sdk::host_capabilities::verification as v;
        let answer = match *identity {
            Identity::Keyless { issuer, subject } => v::verify_keyless_exact_match(
                image,
                vec![v::KeylessInfo {
                    issuer: issuer.to_owned(),
                    subject: subject.to_owned(),
                }],
                annotations,
            ),
            Identity::KeylessPrefix { issuer, url_prefix } => v::verify_keyless_prefix_match(
                image,
                vec![v::KeylessPrefixInfo {
                    issuer: issuer.to_owned(),
                    url_prefix: url_prefix.to_owned(),
                }],
                annotations,
            ),
            Identity::GithubActions { owner, repo } => v::verify_keyless_github_actions(
                image,
                owner.to_owned(),
                repo.map(str::to_owned),
                annotations,
            ),
            Identity::Certificate {
                certificate,
                chain,
                require_rekor_bundle,
            } => v::verify_certificate(
                image,
                certificate.to_owned(),
                chain.map(<[String]>::to_vec),
                require_rekor_bundle,
                annotations,
            ),
        };
        answer
            .map(|r| Verified {
                is_trusted: r.is_trusted,
                digest: r.digest,
            })
            .map_err(host_reason)
    }
}

/// The host's own words: the SDK wraps them as `error invoking host
/// capability …: Host error: <reason>`, which says nothing to an operator.
fn host_reason(e: kubewarden_policy_sdk::error::Error) -> String {
    let text = match &e {
        kubewarden_policy_sdk::error::Error::HostCall { source, .. } => source.to_string(),
        other => other.to_string(),
    };
    match text.strip_prefix("Host error: ") {
        Some(reason) => reason.to_owned(),
        None => text,
    }
}

fn validate_guest(payload: &[u8]) -> guest::CallResult {
    let response = validate(payload, &SdkHost).into_response();
    Ok(serde_json::to_vec(&response)?)
}

fn validate_settings_guest(payload: &[u8]) -> guest::CallResult {
    Ok(serde_json::to_vec(&validate_settings(payload))?)
}

/// waPC entry point: registers the functions Kubewarden calls.
#[allow(unsafe_code)] // `no_mangle` is how waPC finds its entry point.
#[unsafe(no_mangle)]
pub extern "C" fn wapc_init() {
    guest::register_function("validate", validate_guest);
    guest::register_function("validate_settings", validate_settings_guest);
    guest::register_function(
        "protocol_version",
        kubewarden_policy_sdk::protocol_version_guest,
    );
}
