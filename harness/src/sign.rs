//! `policy-harness sign`: produces an attestation in the format the policy
//! verifies (a Kritis/Binary Authorization style "atomic container
//! signature" over SIMPLE_SIGNING_JSON), or the payload of a cosign
//! signature ([`cosign_payload`]; the registry side is `oci::cosign`).
//! [`attach`] writes an attestation into a manifest's pod template.

pub mod attach;

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use anyhow::{anyhow, bail, Context, Result};
use base64::Engine as _;
use serde::Serialize;

/// Signature scheme for RSA keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RsaScheme {
    /// RSASSA-PKCS1-v1_5 with SHA-256.
    #[default]
    Pkcs1,
    /// RSASSA-PSS with SHA-256, MGF1-SHA-256, salt length 32.
    Pss,
}

impl FromStr for RsaScheme {
    type Err = anyhow::Error;

    fn from_str(s: &str) -> Result<Self> {
        match s {
            "pkcs1" => Ok(RsaScheme::Pkcs1),
            "pss" => Ok(RsaScheme::Pss),
            other => bail!("unknown signature scheme {other:?} (expected `pkcs1` or `pss`)"),
        }
    }
}

impl fmt::Display for RsaScheme {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            RsaScheme::Pkcs1 => "pkcs1",
            RsaScheme::Pss => "pss",
        })
    }
}

/// PSS salt length, in bytes.
pub const PSS_SALT_LEN: usize = 32;

/// A parsed `REPO@sha256:HEX` image reference.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DigestReference {
    /// Everything before `@`, as written.
    pub name: String,
    /// `sha256:<64 lowercase hex>`.
    pub digest: String,
}

impl DigestReference {
    /// Parses `REPO@sha256:HEX`.
    pub fn parse(image: &str) -> Result<Self> {
        let (name, digest) = image
            .split_once('@')
            .ok_or_else(|| anyhow!("image {image:?} has no digest: expected REPO@sha256:HEX"))?;
        if name.is_empty() {
            bail!("image {image:?} has an empty repository before `@`");
        }
        let hex = digest
            .strip_prefix("sha256:")
            .ok_or_else(|| anyhow!("image {image:?}: the digest must start with `sha256:`"))?;
        if hex.len() != 64
            || !hex
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        {
            bail!(
                "image {image:?}: the digest must be `sha256:` followed by 64 lowercase hex digits"
            );
        }
        Ok(Self {
            name: name.to_owned(),
            digest: digest.to_owned(),
        })
    }

    /// The repository: the name with any `:tag` of the last path component
    /// removed (a registry port such as `host:5000/x` is kept).
    pub fn repository(&self) -> &str {
        let last_start = self.name.rfind('/').map_or(0, |i| i + 1);
        match self.name[last_start..].find(':') {
            Some(colon) => &self.name[..last_start + colon],
            None => &self.name,
        }
    }
}

#[derive(Serialize)]
struct Payload<'a> {
    critical: Critical<'a>,
}

#[derive(Serialize)]
struct Critical<'a> {
    identity: Identity<'a>,
    image: Image<'a>,
    #[serde(rename = "type")]
    kind: &'a str,
}

#[derive(Serialize)]
struct Identity<'a> {
    #[serde(rename = "docker-reference")]
    docker_reference: &'a str,
}

#[derive(Serialize)]
struct Image<'a> {
    #[serde(rename = "docker-manifest-digest")]
    docker_manifest_digest: &'a str,
}

/// The exact payload bytes (compact JSON, fixed key order) for `image`,
/// with `identity` as docker-reference (default: the image's repository).
pub fn payload_for(image: &DigestReference, identity: Option<&str>) -> Result<Vec<u8>> {
    let payload = Payload {
        critical: Critical {
            identity: Identity {
                docker_reference: identity.unwrap_or_else(|| image.repository()),
            },
            image: Image {
                docker_manifest_digest: &image.digest,
            },
            kind: "atomic container signature",
        },
    };
    serde_json::to_vec(&payload).context("cannot serialize the payload")
}

/// The payload `cosign sign` signs, byte for byte as cosign (Go's
/// `encoding/json`) writes it:
/// `{"critical":{"identity":{"docker-reference":REPO},"image":{"docker-manifest-digest":DIGEST},"type":"cosign container image signature"},"optional":ANNOTATIONS}`,
/// where `optional` is `null` without annotations, else the annotations as a
/// JSON object with sorted keys; `<`, `>`, `&`, U+2028 and U+2029 are escaped
/// as `\u003c`… as Go does.
///
/// # Errors
/// `digest` is not `sha256:` + 64 lowercase hex digits.
pub fn cosign_payload(
    docker_reference: &str,
    digest: &str,
    annotations: &BTreeMap<String, String>,
) -> Result<Vec<u8>> {
    #[derive(Serialize)]
    struct CosignPayload<'a> {
        critical: Critical<'a>,
        optional: Option<&'a BTreeMap<String, String>>,
    }
    // Validates the digest the same way as attestations.
    DigestReference::parse(&format!("x@{digest}"))?;
    let payload = CosignPayload {
        critical: Critical {
            identity: Identity { docker_reference },
            image: Image {
                docker_manifest_digest: digest,
            },
            kind: "cosign container image signature",
        },
        optional: (!annotations.is_empty()).then_some(annotations),
    };
    let json = serde_json::to_string(&payload).context("cannot serialize the payload")?;
    // These characters only occur inside JSON strings, where Go escapes them.
    let mut out = String::with_capacity(json.len());
    for c in json.chars() {
        match c {
            '<' => out.push_str("\\u003c"),
            '>' => out.push_str("\\u003e"),
            '&' => out.push_str("\\u0026"),
            '\u{2028}' => out.push_str("\\u2028"),
            '\u{2029}' => out.push_str("\\u2029"),
            c => out.push(c),
        }
    }
    Ok(out.into_bytes())
}

/// A private key usable for signing.
pub enum SigningKey {
    /// RSA (PKCS#8 or PKCS#1).
    Rsa(Box<rsa::PrivateKey>),
    /// EC P-256 (PKCS#8 or SEC1).
    P256(p256::ecdsa::SigningKey),
    /// EC P-384 (PKCS#8 or SEC1).
    P384(p384::ecdsa::SigningKey),
}

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Never print key material.
        f.write_str(match self {
            SigningKey::Rsa(_) => "SigningKey::Rsa(..)",
            SigningKey::P256(_) => "SigningKey::P256(..)",
            SigningKey::P384(_) => "SigningKey::P384(..)",
        })
    }
}

/// Returns the first `-----BEGIN <label>-----` … `-----END <label>-----` block
/// whose label is a private key (skipping e.g. `EC PARAMETERS`).
fn private_key_block(pem: &str) -> Result<(&str, &str)> {
    const LABELS: [&str; 4] = [
        "PRIVATE KEY",
        "RSA PRIVATE KEY",
        "EC PRIVATE KEY",
        "ENCRYPTED PRIVATE KEY",
    ];
    let mut rest = pem;
    while let Some(start) = rest.find("-----BEGIN ") {
        let after = &rest[start + "-----BEGIN ".len()..];
        let Some(label_end) = after.find("-----") else {
            break;
        };
        let label = &after[..label_end];
        let end_marker = format!("-----END {label}-----");
        let Some(end) = rest[start..].find(&end_marker) else {
            bail!("PEM block `{label}` has no `{end_marker}` line");
        };
        let block = &rest[start..start + end + end_marker.len()];
        if LABELS.contains(&label) {
            return Ok((label, block));
        }
        rest = &rest[start + end + end_marker.len()..];
    }
    bail!(
        "no private key found: expected a PEM block `PRIVATE KEY` (PKCS#8), `RSA PRIVATE KEY` (PKCS#1) \
         or `EC PRIVATE KEY` (SEC1)"
    )
}

impl SigningKey {
    /// Parses a PEM private key: RSA (PKCS#8, PKCS#1) or EC P-256/P-384
    /// (PKCS#8, SEC1).
    pub fn from_pem(pem: &str) -> Result<Self> {
        use p256::pkcs8::DecodePrivateKey as _;
        use rsa::pkcs1::DecodeRsaPrivateKey as _;

        let (label, block) = private_key_block(pem)?;
        match label {
            "PRIVATE KEY" => {
                let rsa_err = match rsa::PrivateKey::from_pkcs8_pem(block) {
                    Ok(key) => return Ok(SigningKey::Rsa(Box::new(key))),
                    Err(e) => e,
                };
                if let Ok(key) = p256::ecdsa::SigningKey::from_pkcs8_pem(block) {
                    return Ok(SigningKey::P256(key));
                }
                if let Ok(key) = p384::ecdsa::SigningKey::from_pkcs8_pem(block) {
                    return Ok(SigningKey::P384(key));
                }
                bail!(
                    "unsupported PKCS#8 private key: not RSA ({rsa_err}), not EC P-256, not EC P-384"
                )
            }
            "RSA PRIVATE KEY" => rsa::PrivateKey::from_pkcs1_pem(block)
                .map(|k| SigningKey::Rsa(Box::new(k)))
                .map_err(|e| anyhow!("invalid PKCS#1 RSA private key: {e}")),
            "EC PRIVATE KEY" => {
                let p256_err = match p256::SecretKey::from_sec1_pem(block) {
                    Ok(key) => return Ok(SigningKey::P256(key.into())),
                    Err(e) => e,
                };
                match p384::SecretKey::from_sec1_pem(block) {
                    Ok(key) => Ok(SigningKey::P384(key.into())),
                    Err(_) => bail!(
                        "unsupported SEC1 EC private key (only P-256 and P-384 are supported): {p256_err}"
                    ),
                }
            }
            "ENCRYPTED PRIVATE KEY" => bail!("encrypted private keys are not supported"),
            other => bail!("unsupported PEM block `{other}`"),
        }
    }

    /// Short description, e.g. `RSA-2048` or `EC P-256`.
    pub fn describe(&self) -> String {
        use rsa::traits::PublicKeyParts as _;
        match self {
            SigningKey::Rsa(key) => format!("RSA-{}", key.size() * 8),
            SigningKey::P256(_) => "EC P-256".to_owned(),
            SigningKey::P384(_) => "EC P-384".to_owned(),
        }
    }

    /// The public key as DER SubjectPublicKeyInfo, byte for byte what
    /// `openssl pkey -pubout -outform DER` writes (RSA with NULL parameters,
    /// EC with the named curve and the uncompressed point).
    pub fn public_key_der(&self) -> Result<Vec<u8>> {
        use p256::pkcs8::EncodePublicKey as _;
        let der = match self {
            SigningKey::Rsa(key) => rsa::PublicKey::from(key.as_ref()).to_public_key_der(),
            SigningKey::P256(key) => key.verifying_key().to_public_key_der(),
            SigningKey::P384(key) => key.verifying_key().to_public_key_der(),
        }
        .map_err(|e| anyhow!("cannot encode the public key: {e}"))?;
        Ok(der.as_bytes().to_vec())
    }

    /// kritis's default key id for this key, the id the policy gives an
    /// authority written without `publicKeyId`: `ni:///sha-256;` + the
    /// unpadded base64url SHA-256 of the DER SubjectPublicKeyInfo (the
    /// policy's `keys::default_key_id`, and the openssl pipeline of docs/walkthrough.md).
    pub fn default_key_id(&self) -> Result<String> {
        use sha2::Digest as _;
        let hash = sha2::Sha256::digest(self.public_key_der()?);
        Ok(format!(
            "ni:///sha-256;{}",
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(hash)
        ))
    }

    /// Signs `message`. `scheme` selects the RSA scheme; `pss` is refused for
    /// EC keys.
    pub fn sign(&self, message: &[u8], scheme: Option<RsaScheme>) -> Result<Vec<u8>> {
        use rsa::signature::{SignatureEncoding as _, Signer as _};
        match self {
            SigningKey::Rsa(key) => match scheme.unwrap_or_default() {
                RsaScheme::Pkcs1 => {
                    let signer = rsa::pkcs1v15::SigningKey::<sha2::Sha256>::new((**key).clone());
                    let signature = signer
                        .try_sign(message)
                        .map_err(|e| anyhow!("RSA PKCS#1 v1.5 signing failed: {e}"))?;
                    Ok(signature.to_vec())
                }
                RsaScheme::Pss => {
                    let signer = rsa::pss::SigningKey::<sha2::Sha256>::new_with_salt_len(
                        (**key).clone(),
                        PSS_SALT_LEN,
                    );
                    let signature = signer
                        .try_sign(message)
                        .map_err(|e| anyhow!("RSA-PSS signing failed: {e}"))?;
                    Ok(signature.to_vec())
                }
            },
            SigningKey::P256(key) => {
                reject_scheme(scheme, "EC P-256")?;
                let signature: p256::ecdsa::Signature = key
                    .try_sign(message)
                    .map_err(|e| anyhow!("ECDSA P-256 signing failed: {e}"))?;
                Ok(signature.to_der().as_bytes().to_vec())
            }
            SigningKey::P384(key) => {
                reject_scheme(scheme, "EC P-384")?;
                let signature: p384::ecdsa::Signature = key
                    .try_sign(message)
                    .map_err(|e| anyhow!("ECDSA P-384 signing failed: {e}"))?;
                Ok(signature.to_der().as_bytes().to_vec())
            }
        }
    }
}

/// `pkcs1` is the default and means "the key's usual scheme"; `pss` only
/// exists for RSA.
fn reject_scheme(scheme: Option<RsaScheme>, key: &str) -> Result<()> {
    match scheme {
        Some(RsaScheme::Pss) => {
            bail!("--scheme pss applies to RSA keys only; this is an {key} key (signed with ECDSA)")
        }
        None | Some(RsaScheme::Pkcs1) => Ok(()),
    }
}

/// One signature of an attestation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct KeySignature {
    /// The key id the policy's settings know the key by.
    #[serde(rename = "publicKeyId")]
    pub public_key_id: String,
    /// Standard base64 of the raw signature.
    pub signature: String,
}

/// An attestation, in the JSON format the policy reads.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SignedAttestation {
    /// Always `SIMPLE_SIGNING_JSON`.
    #[serde(rename = "contentType")]
    pub content_type: String,
    /// Standard base64 of the payload bytes.
    #[serde(rename = "serializedPayload")]
    pub serialized_payload: String,
    /// The signatures.
    pub signatures: Vec<KeySignature>,
}

/// Signs `payload` with `key` and wraps it as an attestation.
pub fn attest(
    key: &SigningKey,
    key_id: &str,
    payload: &[u8],
    scheme: Option<RsaScheme>,
) -> Result<SignedAttestation> {
    let signature = key.sign(payload, scheme)?;
    let b64 = base64::engine::general_purpose::STANDARD;
    Ok(SignedAttestation {
        content_type: "SIMPLE_SIGNING_JSON".to_owned(),
        serialized_payload: b64.encode(payload),
        signatures: vec![KeySignature {
            public_key_id: key_id.to_owned(),
            signature: b64.encode(signature),
        }],
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEX: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    #[test]
    fn parses_images_and_derives_repositories() {
        for (image, repo) in [
            ("ghcr.io/org/app@sha256:", "ghcr.io/org/app"),
            ("ghcr.io/org/app:1.2@sha256:", "ghcr.io/org/app"),
            ("localhost:5000/app@sha256:", "localhost:5000/app"),
            ("localhost:5000/app:v1@sha256:", "localhost:5000/app"),
            ("busybox:latest@sha256:", "busybox"),
        ] {
            let parsed = DigestReference::parse(&format!("{image}{HEX}")).expect(image);
            assert_eq!(parsed.repository(), repo, "{image}");
            assert_eq!(parsed.digest, format!("sha256:{HEX}"));
        }
        for bad in [
            "ghcr.io/org/app".to_owned(),
            format!("@sha256:{HEX}"),
            format!("a@sha512:{HEX}"),
            "a@sha256:abc".to_owned(),
            format!("a@sha256:{}", HEX.to_uppercase()),
        ] {
            assert!(DigestReference::parse(&bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn payload_is_exact() {
        let image =
            DigestReference::parse(&format!("ghcr.io/org/app:1@sha256:{HEX}")).expect("image");
        let payload = payload_for(&image, None).expect("payload");
        assert_eq!(
            String::from_utf8(payload).expect("utf8"),
            format!(
                r#"{{"critical":{{"identity":{{"docker-reference":"ghcr.io/org/app"}},"image":{{"docker-manifest-digest":"sha256:{HEX}"}},"type":"atomic container signature"}}}}"#
            )
        );
        let other = payload_for(&image, Some("evil.io/x")).expect("payload");
        assert!(String::from_utf8_lossy(&other).contains(r#""docker-reference":"evil.io/x""#));
    }

    #[test]
    fn cosign_payload_is_exact() {
        let digest = format!("sha256:{HEX}");
        let none = cosign_payload("ghcr.io/org/app", &digest, &BTreeMap::new()).expect("payload");
        assert_eq!(
            String::from_utf8(none).expect("utf8"),
            format!(
                r#"{{"critical":{{"identity":{{"docker-reference":"ghcr.io/org/app"}},"image":{{"docker-manifest-digest":"sha256:{HEX}"}},"type":"cosign container image signature"}},"optional":null}}"#
            )
        );
        let annotations = BTreeMap::from([
            ("z".to_owned(), "1".to_owned()),
            ("a".to_owned(), "<b>&\u{2028}\"".to_owned()),
        ]);
        let some = cosign_payload("r", &digest, &annotations).expect("payload");
        assert!(String::from_utf8(some)
            .expect("utf8")
            .ends_with(r#""optional":{"a":"\u003cb\u003e\u0026\u2028\"","z":"1"}}"#));
        assert!(cosign_payload("r", "sha256:abc", &BTreeMap::new()).is_err());
    }

    #[test]
    fn rejects_non_keys() {
        assert!(SigningKey::from_pem("hello").is_err());
        assert!(SigningKey::from_pem(
            "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"
        )
        .is_err());
        assert!(SigningKey::from_pem(
            "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"
        )
        .is_err());
    }
}
