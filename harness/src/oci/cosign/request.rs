//! The payload of `oci`/`v2/verify` (`SigstorePubKeyVerify`) and its answer.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::error::VerifyError;
use super::format::PUB_KEY_VERIFY;
use super::text::shown;

/// The payload of `oci`/`v2/verify` with `"type": "SigstorePubKeyVerify"`
/// (kubewarden-policy-sdk's `SigstoreVerificationInputV2`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PubKeyVerify {
    /// The image, as the policy sees it (tag or digest).
    pub image: String,
    /// SPKI PEM public keys; each must have signed the image.
    pub pub_keys: Vec<String>,
    /// Annotations every accepted signature must carry in `optional`.
    #[serde(default)]
    pub annotations: Option<BTreeMap<String, String>>,
}

/// The answer of a successful verification (the SDK's `VerificationResponse`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VerificationResponse {
    /// Always `true` in an answer: a failure is a host error.
    pub is_trusted: bool,
    /// The verified manifest digest.
    pub digest: String,
}

/// Parses a `v2/verify` payload; only `SigstorePubKeyVerify` is served.
///
/// # Errors
/// Not JSON, no `type`, another type, or fields of the wrong shape.
pub fn parse_request(payload: &[u8]) -> Result<PubKeyVerify, VerifyError> {
    let value: Value = serde_json::from_slice(payload)
        .map_err(|e| VerifyError::BadRequest(format!("not JSON: {e}")))?;
    match value.get("type").and_then(Value::as_str) {
        Some(PUB_KEY_VERIFY) => {}
        Some(other) => return Err(VerifyError::UnsupportedType(shown(other))),
        None => {
            return Err(VerifyError::BadRequest(
                "no \"type\" (expected \"SigstorePubKeyVerify\")".to_owned(),
            ))
        }
    }
    serde_json::from_value(value).map_err(|e| VerifyError::BadRequest(e.to_string()))
}
#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests() {
        let ok = parse_request(
            br#"{"type":"SigstorePubKeyVerify","image":"a:1","pub_keys":["k"],"annotations":null}"#,
        )
        .unwrap();
        assert_eq!(ok.image, "a:1");
        assert_eq!(ok.annotations, None);
        let no_annotations =
            parse_request(br#"{"type":"SigstorePubKeyVerify","image":"a:1","pub_keys":[]}"#)
                .unwrap();
        assert_eq!(no_annotations.annotations, None);
        let e = parse_request(br#"{"type":"SigstoreKeylessVerify","image":"a"}"#).unwrap_err();
        assert!(
            e.to_string().contains("not served by policy-harness"),
            "{e}"
        );
        for bad in [
            &b"nope"[..],
            br#"{"image":"a"}"#,
            br#"{"type":"SigstorePubKeyVerify","image":1,"pub_keys":[]}"#,
        ] {
            let e = parse_request(bad).unwrap_err();
            assert!(matches!(e, VerifyError::BadRequest(_)), "{e}");
        }
    }
}
