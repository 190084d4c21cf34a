//! Attestations as the admitted object carries them: the annotation
//! `kritis.grafeas.io/attestations`, a JSON array in the Grafeas / Binary
//! Authorization shape, each holding a simple-signing payload and its
//! signatures.
//!
//! Nothing read here is trusted: a payload's claims are used only to find
//! which attestations could concern an image; an attestation counts only once
//! one of its signatures has verified over the exact payload bytes those
//! claims were read from (see `evaluate`).

use core::fmt;

use serde::Deserialize;
use sha2::{Digest as _, Sha256};

use crate::settings::Text;

/// The annotation holding the attestations.
pub const ANNOTATION: &str = "kritis.grafeas.io/attestations";
/// The only content type understood: Red Hat / Docker simple signing.
pub const SIMPLE_SIGNING_JSON: &str = "SIMPLE_SIGNING_JSON";

/// One attestation, decoded.
#[derive(Debug)]
pub struct Attestation {
    /// The payload bytes exactly as signed.
    pub payload: Vec<u8>,
    /// SHA-256 of the payload, shared by every signature check.
    pub payload_sha256: [u8; 32],
    /// What the payload claims (unverified until a signature checks out).
    pub claims: Claims,
    /// The signatures over the payload.
    pub signatures: Vec<Signature>,
}

/// One signature and the key id it names.
#[derive(Debug)]
pub struct Signature {
    /// The `publicKeyId`, matched exactly against the authorities' keys.
    pub key_id: String,
    /// The raw signature bytes.
    pub bytes: Vec<u8>,
}

/// The claims of a simple-signing payload that the decision uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Claims {
    /// `critical.identity.docker-reference`: the repository signed for.
    pub docker_reference: String,
    /// `critical.image.docker-manifest-digest`: the digest signed for.
    pub digest: String,
}

/// Why the annotation cannot be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AnnotationError {
    /// Not a JSON array of attestation objects.
    Json(String),
    /// One attestation is unusable.
    Attestation {
        /// Its position in the array (object's own annotation first).
        index: usize,
        /// What is wrong with it.
        what: AttestationError,
    },
}

/// What is wrong with one attestation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AttestationError {
    /// A `contentType` other than `SIMPLE_SIGNING_JSON`.
    ContentType(String),
    /// `serializedPayload` is not base64.
    PayloadBase64,
    /// The payload is not a simple-signing document (or is ambiguous).
    Payload(String),
    /// No signatures.
    NoSignatures,
    /// A signature is not base64.
    SignatureBase64(usize),
}

impl fmt::Display for AnnotationError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "annotation {ANNOTATION} is malformed: ")?;
        match self {
            AnnotationError::Json(e) => write!(f, "not a JSON array of attestations ({e})"),
            AnnotationError::Attestation { index, what } => {
                write!(f, "attestation [{index}]: ")?;
                match what {
                    AttestationError::ContentType(t) => write!(
                        f,
                        "contentType {} is not supported (only {SIMPLE_SIGNING_JSON})",
                        crate::text::Quoted(t)
                    ),
                    AttestationError::PayloadBase64 => {
                        f.write_str("serializedPayload is not valid base64")
                    }
                    AttestationError::Payload(e) => {
                        write!(
                            f,
                            "serializedPayload is not a simple-signing JSON document ({e})"
                        )
                    }
                    AttestationError::NoSignatures => f.write_str("it has no signatures"),
                    AttestationError::SignatureBase64(i) => {
                        write!(f, "signatures[{i}].signature is not valid base64")
                    }
                }
            }
        }
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawAttestation<'a> {
    #[serde(borrow, default)]
    content_type: Option<Text<'a>>,
    #[serde(borrow)]
    serialized_payload: Text<'a>,
    #[serde(borrow, default)]
    signatures: Vec<RawSignature<'a>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawSignature<'a> {
    #[serde(borrow)]
    public_key_id: Text<'a>,
    #[serde(borrow)]
    signature: Text<'a>,
}

// The payload's shape. Unknown fields (`optional`…) are allowed, but a
// known field given twice is an error: derived `Deserialize` refuses
// duplicates, so an ambiguous payload can never be read two ways.
#[derive(Deserialize)]
struct Payload {
    critical: Critical,
}

#[derive(Deserialize)]
struct Critical {
    identity: Identity,
    image: Image,
    // Carried but not checked, as in kritis; declared so it cannot be doubled.
    #[serde(rename = "type", default)]
    _kind: Option<String>,
}

#[derive(Deserialize)]
struct Identity {
    #[serde(rename = "docker-reference")]
    docker_reference: String,
}

#[derive(Deserialize)]
struct Image {
    #[serde(rename = "docker-manifest-digest")]
    docker_manifest_digest: String,
}

/// Parses the claims of a payload.
///
/// # Errors
/// The JSON error: not an object of the simple-signing shape, a field given
/// twice, trailing bytes.
pub fn parse_claims(payload: &[u8]) -> Result<Claims, String> {
    let text = std::str::from_utf8(payload).map_err(|e| e.to_string())?;
    let p: Payload = crate::json::from_str(text).map_err(|e| e.to_string())?;
    Ok(Claims {
        docker_reference: p.critical.identity.docker_reference,
        digest: p.critical.image.docker_manifest_digest,
    })
}

/// Parses every attestation of the given annotation values (the object's own
/// and its pod template's), in order.
///
/// # Errors
/// [`AnnotationError`] for the first value or attestation that is unusable:
/// a garbled trust annotation fails the images it was meant to vouch for.
pub fn parse_all<'v>(
    values: impl IntoIterator<Item = &'v str>,
) -> Result<Vec<Attestation>, AnnotationError> {
    let mut out = Vec::new();
    for value in values {
        let raw: Vec<RawAttestation<'_>> =
            crate::json::from_str(value).map_err(|e| AnnotationError::Json(e.to_string()))?;
        for r in raw {
            let index = out.len();
            let fail = |what| AnnotationError::Attestation { index, what };
            if let Some(t) = &r.content_type {
                if t != SIMPLE_SIGNING_JSON {
                    return Err(fail(AttestationError::ContentType(t.to_string())));
                }
            }
            let payload = crate::b64::decode(&r.serialized_payload)
                .map_err(|_| fail(AttestationError::PayloadBase64))?;
            let claims = parse_claims(&payload).map_err(|e| fail(AttestationError::Payload(e)))?;
            if r.signatures.is_empty() {
                return Err(fail(AttestationError::NoSignatures));
            }
            let mut signatures = Vec::with_capacity(r.signatures.len());
            for (i, s) in r.signatures.into_iter().enumerate() {
                let bytes = crate::b64::decode(&s.signature)
                    .map_err(|_| fail(AttestationError::SignatureBase64(i)))?;
                signatures.push(Signature {
                    key_id: s.public_key_id.into_owned(),
                    bytes,
                });
            }
            let payload_sha256 = Sha256::digest(&payload).into();
            out.push(Attestation {
                payload,
                payload_sha256,
                claims,
                signatures,
            });
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine as _;

    fn b64(b: &[u8]) -> String {
        base64::engine::general_purpose::STANDARD.encode(b)
    }

    const PAYLOAD: &str = r#"{"critical":{"identity":{"docker-reference":"registry.example.com/app"},"image":{"docker-manifest-digest":"sha256:aa"},"type":"atomic container signature"},"optional":{"creator":"x"}}"#;

    fn annotation(payload: &str, sig: &str) -> String {
        format!(
            r#"[{{"contentType":"SIMPLE_SIGNING_JSON","serializedPayload":"{}","signatures":[{{"publicKeyId":"k1","signature":"{sig}"}}]}}]"#,
            b64(payload.as_bytes())
        )
    }

    #[test]
    fn parses_the_grafeas_shape() {
        let a = parse_all([annotation(PAYLOAD, "AAEC").as_str()]).unwrap();
        assert_eq!(a.len(), 1);
        assert_eq!(a[0].claims.docker_reference, "registry.example.com/app");
        assert_eq!(a[0].claims.digest, "sha256:aa");
        assert_eq!(a[0].signatures[0].key_id, "k1");
        assert_eq!(a[0].signatures[0].bytes, [0, 1, 2]);
        assert_eq!(a[0].payload, PAYLOAD.as_bytes());
    }

    #[test]
    fn both_sources_are_read_in_order() {
        let one = annotation(PAYLOAD, "AAEC");
        let two = annotation(&PAYLOAD.replace("sha256:aa", "sha256:bb"), "AAEC");
        let a = parse_all([one.as_str(), two.as_str()]).unwrap();
        assert_eq!(a[1].claims.digest, "sha256:bb");
    }

    fn err(value: &str) -> AnnotationError {
        parse_all([value]).unwrap_err()
    }

    #[test]
    fn malformed_annotations_say_which_part() {
        assert!(matches!(err("{not json"), AnnotationError::Json(_)));
        assert!(matches!(err("{}"), AnnotationError::Json(_)));
        assert!(matches!(
            err(r#"[{"signatures":[]}]"#),
            AnnotationError::Json(_)
        ));
        let e = err(&annotation(PAYLOAD, "!!!"));
        assert_eq!(
            e,
            AnnotationError::Attestation {
                index: 0,
                what: AttestationError::SignatureBase64(0)
            }
        );
        assert!(e
            .to_string()
            .contains("attestation [0]: signatures[0].signature is not valid base64"));
        let e = err(r#"[{"serializedPayload":"***","signatures":[]}]"#);
        assert_eq!(
            e,
            AnnotationError::Attestation {
                index: 0,
                what: AttestationError::PayloadBase64
            }
        );
        let no_sigs = format!(
            r#"[{{"serializedPayload":"{}","signatures":[]}}]"#,
            b64(PAYLOAD.as_bytes())
        );
        assert_eq!(
            err(&no_sigs),
            AnnotationError::Attestation {
                index: 0,
                what: AttestationError::NoSignatures
            }
        );
        let other_type = annotation(PAYLOAD, "AA").replace("SIMPLE_SIGNING_JSON", "PGP");
        assert!(matches!(
            err(&other_type),
            AnnotationError::Attestation {
                what: AttestationError::ContentType(_),
                ..
            }
        ));
    }

    #[test]
    fn ambiguous_payloads_are_refused() {
        let doubled = r#"{"critical":{"identity":{"docker-reference":"a"},"image":{"docker-manifest-digest":"sha256:aa","docker-manifest-digest":"sha256:bb"}}}"#;
        let e = parse_claims(doubled.as_bytes()).unwrap_err();
        assert!(
            e.contains("duplicate field `docker-manifest-digest`"),
            "{e}"
        );
        let twice = r#"{"critical":{"identity":{"docker-reference":"a"},"image":{"docker-manifest-digest":"sha256:aa"}},"critical":{}}"#;
        assert!(parse_claims(twice.as_bytes())
            .unwrap_err()
            .contains("duplicate field `critical`"));
        let trailing = format!("{PAYLOAD} x");
        assert!(parse_claims(trailing.as_bytes())
            .unwrap_err()
            .contains("trailing characters"));
        assert!(parse_claims(b"[]").is_err());
        assert!(parse_claims(br#"{"critical":{"identity":{},"image":{}}}"#).is_err());
    }
}
