//! The Sigstore trust root: kwctl 1.31's `--sigstore-trust-config FILE`, a
//! `ClientTrustConfig` JSON document whose `trustedRoot` lists the
//! certificate authorities (Fulcio) and the transparency logs (Rekor).
//!
//! As sigstore-rs 0.13's `SigstoreTrustRoot` reads it: every certificate of
//! every CA's `certChain` becomes a trust anchor (a CA whose `validFor` has
//! not started yet is left out; an expired one is kept, since it may have
//! been valid when a signature was made), and every tlog whose
//! `publicKey.validFor` covers now gives a Rekor key, named by the hex of its
//! `logId.keyId` (what a bundle's `logID` holds). A timestamp range without a
//! start is always valid.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::{ensure, Context as _, Result};
use base64::Engine as _;
use serde::Deserialize;

use super::certificate::{verifying_key, Anchor};
use crate::oci::cosign::CosignKey;

/// Largest trust-config file read.
pub const MAX_TRUST_CONFIG_BYTES: usize = 1 << 20;
/// At most this many certificates and this many logs are read.
pub const MAX_TRUST_ENTRIES: usize = 64;

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ClientTrustConfig {
    trusted_root: TrustedRoot,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct TrustedRoot {
    #[serde(default)]
    tlogs: Vec<Tlog>,
    #[serde(default)]
    certificate_authorities: Vec<CertificateAuthority>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Tlog {
    #[serde(default)]
    public_key: Option<PublicKey>,
    #[serde(default)]
    log_id: Option<LogId>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct PublicKey {
    #[serde(default)]
    raw_bytes: Option<String>,
    #[serde(default)]
    valid_for: Option<TimeRange>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct LogId {
    key_id: String,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct CertificateAuthority {
    #[serde(default)]
    cert_chain: Option<CertChain>,
    #[serde(default)]
    valid_for: Option<TimeRange>,
}

#[derive(Debug, Deserialize)]
struct CertChain {
    #[serde(default)]
    certificates: Vec<RawBytes>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawBytes {
    raw_bytes: String,
}

#[derive(Debug, Deserialize)]
struct TimeRange {
    #[serde(default)]
    start: Option<String>,
    #[serde(default)]
    end: Option<String>,
}

/// The anchors and Rekor keys keyless verification uses.
#[derive(Debug)]
pub struct TrustRoot {
    pub(super) anchors: Vec<Anchor>,
    pub(super) rekor_keys: BTreeMap<String, CosignKey>,
}

/// Seconds since the epoch, now.
pub(super) fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

/// sigstore-rs's `is_timerange_valid`.
fn in_range(range: Option<&TimeRange>, allow_expired: bool, now: i64) -> Result<bool> {
    let start = match range.and_then(|r| r.start.as_deref()) {
        Some(s) => Some(rfc3339_seconds(s)?),
        None => None,
    };
    let end = match range.and_then(|r| r.end.as_deref()) {
        Some(s) => Some(rfc3339_seconds(s)?),
        None => None,
    };
    Ok(match (start, end) {
        (None, _) => true,
        (Some(start), _) if now < start => false,
        _ if allow_expired => true,
        (_, None) => true,
        (_, Some(end)) => now <= end,
    })
}

/// `YYYY-MM-DDTHH:MM:SS[.fraction](Z|±HH:MM)` (protobuf JSON's Timestamp) as
/// seconds since the epoch (the fraction is dropped), by the host clock's
/// one RFC 3339 reader.
pub(super) fn rfc3339_seconds(text: &str) -> Result<i64> {
    crate::host::clock::parse_rfc3339(text)
        .map(|(seconds, _)| seconds)
        .with_context(|| format!("{text:?} is not an RFC 3339 timestamp"))
}

impl TrustRoot {
    /// Reads a `ClientTrustConfig` file.
    ///
    /// # Errors
    /// Unreadable, too large, not a trust config, or an unusable entry.
    pub fn from_file(path: &Path) -> Result<Self> {
        let bytes = std::fs::read(path)
            .with_context(|| format!("cannot read the Sigstore trust config {}", path.display()))?;
        Self::from_json(&bytes, now())
            .with_context(|| format!("invalid Sigstore trust config {}", path.display()))
    }

    /// Parses a `ClientTrustConfig` document, judging validity periods at `now`.
    ///
    /// # Errors
    /// Too large, not a trust config, or an unusable entry (named).
    pub fn from_json(bytes: &[u8], now: i64) -> Result<Self> {
        ensure!(
            bytes.len() <= MAX_TRUST_CONFIG_BYTES,
            "the file is {} bytes, more than {MAX_TRUST_CONFIG_BYTES}",
            bytes.len()
        );
        let config: ClientTrustConfig = serde_json::from_slice(bytes).context(
            "expected a ClientTrustConfig JSON document: {\"trustedRoot\": {\"certificateAuthorities\": […], \"tlogs\": […]}}",
        )?;
        let root = config.trusted_root;
        let b64 = base64::engine::general_purpose::STANDARD;
        let mut anchors = Vec::new();
        for (i, ca) in root.certificate_authorities.iter().enumerate() {
            if !in_range(ca.valid_for.as_ref(), true, now)
                .with_context(|| format!("certificateAuthorities[{i}].validFor"))?
            {
                continue;
            }
            for (j, cert) in ca
                .cert_chain
                .iter()
                .flat_map(|c| c.certificates.iter())
                .enumerate()
            {
                ensure!(
                    anchors.len() < MAX_TRUST_ENTRIES,
                    "more than {MAX_TRUST_ENTRIES} CA certificates"
                );
                let der = b64.decode(cert.raw_bytes.trim()).with_context(|| {
                    format!("certificateAuthorities[{i}].certChain.certificates[{j}].rawBytes is not base64")
                })?;
                anchors.push(Anchor::from_der(&der).with_context(|| {
                    format!("certificateAuthorities[{i}].certChain.certificates[{j}]")
                })?);
            }
        }
        let mut rekor_keys = BTreeMap::new();
        for (i, tlog) in root.tlogs.iter().enumerate() {
            ensure!(
                i < MAX_TRUST_ENTRIES,
                "more than {MAX_TRUST_ENTRIES} transparency logs"
            );
            let Some(public_key) = &tlog.public_key else {
                continue;
            };
            if !in_range(public_key.valid_for.as_ref(), false, now)
                .with_context(|| format!("tlogs[{i}].publicKey.validFor"))?
            {
                continue;
            }
            let (Some(raw), Some(log_id)) = (&public_key.raw_bytes, &tlog.log_id) else {
                continue;
            };
            let der = b64
                .decode(raw.trim())
                .with_context(|| format!("tlogs[{i}].publicKey.rawBytes is not base64"))?;
            let key_id = b64
                .decode(log_id.key_id.trim())
                .with_context(|| format!("tlogs[{i}].logId.keyId is not base64"))?;
            let key =
                verifying_key(&der).with_context(|| format!("tlogs[{i}].publicKey.rawBytes"))?;
            rekor_keys.insert(hex(&key_id), key);
        }
        Ok(Self {
            anchors,
            rekor_keys,
        })
    }

    /// Number of CA certificates (trust anchors) and Rekor keys in use.
    pub fn counts(&self) -> (usize, usize) {
        (self.anchors.len(), self.rekor_keys.len())
    }
}

/// Lower-case hex.
pub(super) fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(out, "{b:02x}");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps() {
        assert_eq!(rfc3339_seconds("1970-01-01T00:00:00Z").unwrap(), 0);
        assert_eq!(
            rfc3339_seconds("2021-03-07T03:20:29.000Z").unwrap(),
            1_615_087_229
        );
        assert_eq!(
            rfc3339_seconds("2021-03-07T04:20:29+01:00").unwrap(),
            1_615_087_229
        );
        for bad in [
            "",
            "2021-03-07",
            "2021-13-07T03:20:29Z",
            "2021-03-07T03:20:29",
        ] {
            assert!(rfc3339_seconds(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn ranges_as_sigstore_rs() {
        let r = |s: Option<&str>, e: Option<&str>| TimeRange {
            start: s.map(str::to_owned),
            end: e.map(str::to_owned),
        };
        let now = 1_000_000_000; // 2001-09-09
        let past = Some("2000-01-01T00:00:00Z");
        let future = Some("2002-01-01T00:00:00Z");
        assert!(in_range(None, false, now).unwrap());
        assert!(in_range(Some(&r(None, past)), false, now).unwrap());
        assert!(!in_range(Some(&r(future, None)), true, now).unwrap());
        assert!(in_range(Some(&r(past, past)), true, now).unwrap());
        assert!(!in_range(Some(&r(past, past)), false, now).unwrap());
        assert!(in_range(Some(&r(past, future)), false, now).unwrap());
    }

    #[test]
    fn rejects_bad_documents() {
        assert!(TrustRoot::from_json(b"{}", 0).is_err());
        assert!(TrustRoot::from_json(b"[]", 0).is_err());
        let empty = TrustRoot::from_json(br#"{"trustedRoot":{}}"#, 0).unwrap();
        assert_eq!(empty.counts(), (0, 0));
        let bad_cert = br#"{"trustedRoot":{"certificateAuthorities":[{"certChain":{"certificates":[{"rawBytes":"AAAA"}]}}]}}"#;
        assert!(TrustRoot::from_json(bad_cert, 0).is_err());
    }
}
