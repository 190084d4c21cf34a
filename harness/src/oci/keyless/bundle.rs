//! The Rekor bundle of a `.sig` layer (`dev.sigstore.cosign/bundle`), as
//! sigstore-rs 0.13's `cosign/bundle.rs` checks it: the `SignedEntryTimestamp`
//! is a signature, by the trust root's Rekor key named by `Payload.logID`,
//! over the canonical JSON of `Payload` (`body`, `integratedTime`, `logID`,
//! `logIndex`, keys sorted, no spaces, only `"` and `\` escaped, as
//! olpc-cjson writes it). The `body` itself is never read by the host.

use std::collections::BTreeMap;

use anyhow::{anyhow, ensure, Context as _, Result};
use base64::Engine as _;
use serde::{Deserialize, Serialize};

use crate::oci::cosign::CosignKey;

/// The bundle annotation's JSON.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Bundle {
    /// Standard base64 of Rekor's signature over the canonical payload.
    pub signed_entry_timestamp: String,
    /// What Rekor signed.
    pub payload: Payload,
}

/// The signed part of a bundle.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Payload {
    /// Standard base64 of the Rekor entry (a `hashedrekord`).
    pub body: String,
    /// When Rekor integrated the entry (seconds since the epoch).
    pub integrated_time: i64,
    /// The entry's index in the log.
    pub log_index: i64,
    /// Hex of the log's key id (SHA-256 of its DER public key).
    #[serde(rename = "logID")]
    pub log_id: String,
}

/// A JSON string as olpc-cjson writes it.
fn canonical_string(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        if c == '"' || c == '\\' {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
}

impl Payload {
    /// The canonical JSON Rekor signs.
    pub fn canonical(&self) -> Vec<u8> {
        let mut out = String::from("{\"body\":");
        canonical_string(&mut out, &self.body);
        out.push_str(&format!(
            ",\"integratedTime\":{},\"logID\":",
            self.integrated_time
        ));
        canonical_string(&mut out, &self.log_id);
        out.push_str(&format!(",\"logIndex\":{}}}", self.log_index));
        out.into_bytes()
    }
}

impl Bundle {
    /// Parses the annotation and verifies its signed entry timestamp
    /// (`Bundle::new_verified`).
    ///
    /// # Errors
    /// Not a bundle, no key for its `logID`, or a signature that does not verify.
    pub fn verified(raw: &str, rekor_keys: &BTreeMap<String, CosignKey>) -> Result<Self> {
        let bundle: Bundle = serde_json::from_str(raw).context("the bundle is not Rekor's JSON")?;
        let key = rekor_keys.get(&bundle.payload.log_id).ok_or_else(|| {
            anyhow!(
                "no Rekor key of the trust root has the bundle's logID {}",
                crate::oci::cosign::shown(&bundle.payload.log_id)
            )
        })?;
        let signature = base64::engine::general_purpose::STANDARD
            .decode(&bundle.signed_entry_timestamp)
            .map_err(|_| anyhow!("the SignedEntryTimestamp is not base64"))?;
        ensure!(
            key.verifies(&bundle.payload.canonical(), &signature),
            "the bundle's SignedEntryTimestamp does not verify with the Rekor key"
        );
        Ok(bundle)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonical_form() {
        let p = Payload {
            body: "a\"b\\c\n".to_owned(),
            integrated_time: 1,
            log_index: -2,
            log_id: "ff".to_owned(),
        };
        assert_eq!(
            String::from_utf8(p.canonical()).unwrap(),
            "{\"body\":\"a\\\"b\\\\c\n\",\"integratedTime\":1,\"logID\":\"ff\",\"logIndex\":-2}"
        );
    }

    #[test]
    fn unverifiable_bundles() {
        let keys = BTreeMap::new();
        assert!(Bundle::verified("{}", &keys).is_err());
        let raw = r#"{"SignedEntryTimestamp":"AA==","Payload":{"body":"","integratedTime":1,"logIndex":1,"logID":"ab"}}"#;
        let e = Bundle::verified(raw, &keys).unwrap_err();
        assert!(e.to_string().contains("logID"), "{e}");
    }
}
