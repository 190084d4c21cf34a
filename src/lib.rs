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
pub mod ecdsa;
mod engine;
pub mod evaluate;
pub mod host;
pub mod image;
mod index;
pub mod jacobian;
pub mod json;
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
mod wnaf;
pub mod workload;

#[cfg(test)]
mod testkeys;
#[cfg(test)]
mod testrng;
#[cfg(test)]
mod tests;

use std::collections::BTreeMap;

use kubewarden_policy_sdk::host_capabilities::SigstoreVerificationInputV2;
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

/// Kubewarden's host capabilities: `oci/v1/manifest_digest`, `oci/v2/verify`,
/// `oci/v1/oci_manifest` and the `kubernetes` lists. Requests are the SDK's
/// own types (so the wire shape is the SDK's); every answer is read by the
/// policy from text ([`answer`]), so the module carries one JSON reader
/// rather than a second one for the SDK's `from_slice` calls.
struct SdkHost;

impl Host for SdkHost {
    fn manifest_digest(&self, image: &str) -> Result<String, String> {
        let bytes = raw_host_call("oci", "v1/manifest_digest", &image)?;
        answer::<DigestAnswer<'_>>(&bytes).map(|a| a.digest.into_owned())
    }

    fn verify_pub_key(
        &self,
        image: &str,
        pub_key: String,
        annotations: Option<BTreeMap<String, String>>,
    ) -> Result<Verified, String> {
        verify_call(&SigstoreVerificationInputV2::SigstorePubKeyVerify {
            image: image.to_owned(),
            pub_keys: vec![pub_key],
            annotations,
        })
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
        let image = image.to_owned();
        let input = match *identity {
            Identity::Keyless { issuer, subject } => {
                SigstoreVerificationInputV2::SigstoreKeylessVerify {
                    image,
                    keyless: vec![v::KeylessInfo {
                        issuer: issuer.to_owned(),
                        subject: subject.to_owned(),
                    }],
                    annotations,
                }
            }
            Identity::KeylessPrefix { issuer, url_prefix } => {
                SigstoreVerificationInputV2::SigstoreKeylessPrefixVerify {
                    image,
                    keyless_prefix: vec![v::KeylessPrefixInfo {
                        issuer: issuer.to_owned(),
                        url_prefix: url_prefix.to_owned(),
                    }],
                    annotations,
                }
            }
            Identity::GithubActions { owner, repo } => {
                SigstoreVerificationInputV2::SigstoreGithubActionsVerify {
                    image,
                    owner: owner.to_owned(),
                    repo: repo.map(str::to_owned),
                    annotations,
                }
            }
            Identity::Certificate {
                certificate,
                chain,
                require_rekor_bundle,
            } => SigstoreVerificationInputV2::SigstoreCertificateVerify {
                image,
                // The SDK sends PEM text as an array of its bytes.
                certificate: certificate.as_bytes().to_vec(),
                certificate_chain: chain
                    .map(|c| c.iter().map(|pem| pem.as_bytes().to_vec()).collect()),
                require_rekor_bundle,
                annotations,
            },
        };
        verify_call(&input)
    }
}

/// `oci/v2/verify` with one of the SDK's requests.
fn verify_call(input: &SigstoreVerificationInputV2) -> Result<Verified, String> {
    let bytes = raw_host_call("oci", "v2/verify", input)?;
    answer::<VerifyAnswer<'_>>(&bytes).map(|a| Verified {
        is_trusted: a.is_trusted,
        digest: a.digest.into_owned(),
    })
}

/// The SDK's `ManifestDigestResponse`, borrowed.
#[derive(serde::Deserialize)]
struct DigestAnswer<'a> {
    #[serde(borrow)]
    digest: text::Text<'a>,
}

/// The SDK's `VerificationResponse`, borrowed.
#[derive(serde::Deserialize)]
struct VerifyAnswer<'a> {
    is_trusted: bool,
    #[serde(borrow)]
    digest: text::Text<'a>,
}

/// Reads a host's JSON answer.
///
/// # Errors
/// The answer is not UTF-8 or not of the expected shape: the host's answer
/// is not what the protocol says, and the caller fails closed.
fn answer<'a, T: serde::Deserialize<'a>>(bytes: &'a [u8]) -> Result<T, String> {
    let text = std::str::from_utf8(bytes).map_err(|e| format!("unreadable host answer: {e}"))?;
    json::from_str(text).map_err(|e| format!("unreadable host answer: {e}"))
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
