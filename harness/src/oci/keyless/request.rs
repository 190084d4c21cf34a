//! The keyless `oci`/`v2/verify` payloads, in kubewarden-policy-sdk 0.17's
//! `SigstoreVerificationInputV2` shapes (`#[serde(tag = "type")]`).

use std::collections::BTreeMap;

use serde::Deserialize;

/// `keyless: [{issuer, subject}]`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct KeylessInfo {
    /// Exact OIDC issuer.
    pub issuer: String,
    /// Exact subject (e-mail or URI).
    pub subject: String,
}

/// `keyless_prefix: [{issuer, url_prefix}]`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct KeylessPrefixInfo {
    /// Exact OIDC issuer.
    pub issuer: String,
    /// URL the subject must start with (a `/` is forced onto its end).
    pub url_prefix: String,
}

/// A keyless or certificate `v2/verify` request.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(tag = "type")]
pub enum KeylessRequest {
    /// Every listed issuer/subject signed the image.
    SigstoreKeylessVerify {
        /// The image (tag or digest).
        image: String,
        /// Identities, all required.
        keyless: Vec<KeylessInfo>,
        /// Annotations the same layer's payload must carry.
        #[serde(default)]
        annotations: Option<BTreeMap<String, String>>,
    },
    /// Every listed issuer/URL prefix signed the image.
    SigstoreKeylessPrefixVerify {
        /// The image (tag or digest).
        image: String,
        /// Identities, all required.
        keyless_prefix: Vec<KeylessPrefixInfo>,
        /// Annotations the same layer's payload must carry.
        #[serde(default)]
        annotations: Option<BTreeMap<String, String>>,
    },
    /// A GitHub Actions workflow of `owner` (and `repo`) signed the image.
    SigstoreGithubActionsVerify {
        /// The image (tag or digest).
        image: String,
        /// Repository owner.
        owner: String,
        /// Repository name, if it matters.
        #[serde(default)]
        repo: Option<String>,
        /// Annotations the same layer's payload must carry.
        #[serde(default)]
        annotations: Option<BTreeMap<String, String>>,
    },
    /// A key certified by `certificate` signed the image.
    SigstoreCertificateVerify {
        /// The image (tag or digest).
        image: String,
        /// PEM bytes.
        certificate: Vec<u8>,
        /// PEM bytes of each CA, all trusted as anchors.
        #[serde(default)]
        certificate_chain: Option<Vec<Vec<u8>>>,
        /// Refuse a layer without a Rekor bundle.
        require_rekor_bundle: bool,
        /// Annotations some layer's payload must carry.
        #[serde(default)]
        annotations: Option<BTreeMap<String, String>>,
    },
}

/// The `v2/verify` types served here.
pub const KEYLESS_TYPES: [&str; 4] = [
    "SigstoreKeylessVerify",
    "SigstoreKeylessPrefixVerify",
    "SigstoreGithubActionsVerify",
    "SigstoreCertificateVerify",
];

/// `true` when `payload` is a `v2/verify` request of one of [`KEYLESS_TYPES`].
pub fn is_keyless_request(payload: &[u8]) -> bool {
    #[derive(Deserialize)]
    struct Tag {
        #[serde(rename = "type")]
        kind: String,
    }
    serde_json::from_slice::<Tag>(payload).is_ok_and(|t| KEYLESS_TYPES.contains(&t.kind.as_str()))
}

impl KeylessRequest {
    /// The image.
    pub fn image(&self) -> &str {
        match self {
            Self::SigstoreKeylessVerify { image, .. }
            | Self::SigstoreKeylessPrefixVerify { image, .. }
            | Self::SigstoreGithubActionsVerify { image, .. }
            | Self::SigstoreCertificateVerify { image, .. } => image,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sdk_shapes() {
        let r: KeylessRequest = serde_json::from_str(
            r#"{"type":"SigstoreKeylessVerify","image":"a:1","keyless":[{"issuer":"i","subject":"s"}],"annotations":null}"#,
        )
        .unwrap();
        assert_eq!(r.image(), "a:1");
        let r: KeylessRequest = serde_json::from_str(
            r#"{"type":"SigstoreCertificateVerify","image":"a:1","certificate":[45,45],"certificate_chain":null,"require_rekor_bundle":true,"annotations":null}"#,
        )
        .unwrap();
        assert!(matches!(
            r,
            KeylessRequest::SigstoreCertificateVerify {
                require_rekor_bundle: true,
                ..
            }
        ));
        assert!(is_keyless_request(
            br#"{"type":"SigstoreGithubActionsVerify","image":"a","owner":"o","repo":null}"#
        ));
        assert!(!is_keyless_request(
            br#"{"type":"SigstorePubKeyVerify","image":"a","pub_keys":[]}"#
        ));
        assert!(!is_keyless_request(b"nope"));
    }
}
