//! Public keys of attestation authorities: decoding, algorithm restrictions,
//! and kritis's default key ids.
//!
//! The algorithm a signature is checked with comes from the key's settings,
//! never from the attestation (an attacker must not pick the scheme).

use core::fmt;

use base64::Engine as _;
use sha2::{Digest as _, Sha256};
use spki::der::{Decode as _, Encode as _};

use crate::modexp::Modulus;

/// Smallest RSA modulus accepted: KMS's and NIST's floor (the `rsa` crate
/// itself goes down to 1024 bits).
pub const RSA_MIN_BITS: usize = 2048;
/// Largest RSA modulus accepted: bounds verification cost per signature.
pub const RSA_MAX_BITS: usize = 4096;

const OID_RSA: spki::ObjectIdentifier = spki::ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.1");
const OID_EC: spki::ObjectIdentifier = spki::ObjectIdentifier::new_unwrap("1.2.840.10045.2.1");
const OID_P256: spki::ObjectIdentifier = spki::ObjectIdentifier::new_unwrap("1.2.840.10045.3.1.7");
const OID_P384: spki::ObjectIdentifier = spki::ObjectIdentifier::new_unwrap("1.3.132.0.34");

/// A signature scheme, named as Alibaba Cloud KMS and kritis name them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Algorithm {
    /// RSASSA-PKCS1-v1_5 with SHA-256 (KMS `RSA_PKCS1_SHA_256`).
    RsaPkcs1Sha256,
    /// RSASSA-PKCS1-v1_5 with SHA-384.
    RsaPkcs1Sha384,
    /// RSASSA-PKCS1-v1_5 with SHA-512.
    RsaPkcs1Sha512,
    /// RSASSA-PSS with SHA-256 and MGF1-SHA-256, any salt length (KMS `RSA_PSS_SHA_256`).
    RsaPssSha256,
    /// RSASSA-PSS with SHA-384.
    RsaPssSha384,
    /// RSASSA-PSS with SHA-512.
    RsaPssSha512,
    /// ECDSA on P-256 with SHA-256, DER signature (KMS `ECDSA_SHA_256`).
    EcdsaSha256,
    /// ECDSA on P-384 with SHA-384, DER signature.
    EcdsaSha384,
}

impl Algorithm {
    const ALL: [(&'static str, Algorithm); 8] = [
        ("RSA_PKCS1_SHA_256", Algorithm::RsaPkcs1Sha256),
        ("RSA_PKCS1_SHA_384", Algorithm::RsaPkcs1Sha384),
        ("RSA_PKCS1_SHA_512", Algorithm::RsaPkcs1Sha512),
        ("RSA_PSS_SHA_256", Algorithm::RsaPssSha256),
        ("RSA_PSS_SHA_384", Algorithm::RsaPssSha384),
        ("RSA_PSS_SHA_512", Algorithm::RsaPssSha512),
        ("ECDSA_SHA_256", Algorithm::EcdsaSha256),
        ("ECDSA_SHA_384", Algorithm::EcdsaSha384),
    ];

    /// Parses a `signatureAlgorithm` setting.
    ///
    /// # Errors
    /// [`KeyError::UnknownAlgorithm`] for any other name (including
    /// `ECDSA_SHA_512`: P-521 keys are not supported).
    pub fn parse(name: &str) -> Result<Self, KeyError> {
        Self::ALL
            .iter()
            .find(|(n, _)| *n == name)
            .map(|&(_, a)| a)
            .ok_or(KeyError::UnknownAlgorithm)
    }

    /// The setting's name for this algorithm.
    #[must_use]
    pub fn name(self) -> &'static str {
        Self::ALL
            .iter()
            .find(|(_, a)| *a == self)
            .map_or("?", |(n, _)| n)
    }
}

/// An RSA public key, ready for the public operation.
#[derive(Debug, Clone)]
pub struct RsaKey {
    /// The modulus, prepared for Montgomery arithmetic.
    pub modulus: Modulus,
    /// The public exponent.
    pub e: u64,
}

/// Largest public exponent accepted (as `ring` and the `rsa` crate do):
/// huge exponents make verification arbitrarily slow.
pub const RSA_MAX_EXPONENT: u64 = (1 << 33) - 1;

/// The key material itself, ready to verify.
#[derive(Debug)]
pub enum PublicKey {
    /// RSA, 2048 to 4096 bits.
    Rsa(RsaKey),
    /// ECDSA P-256, a validated point ([`crate::p256_verify`]).
    P256(crate::p256_verify::Key),
    /// ECDSA P-384, a validated point ([`crate::p384_verify`]).
    P384(crate::p384_verify::Key),
}

/// Which schemes a key accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Schemes {
    /// An RSA key with no restriction: PKCS#1 v1.5 or PSS, both over SHA-256.
    RsaDefault,
    /// Exactly one scheme.
    Only(Algorithm),
}

/// A decoded authority key: the key and the schemes it may be used with.
#[derive(Debug)]
pub struct VerifyingKey {
    /// The key material.
    pub key: PublicKey,
    /// The schemes signatures by this key may use.
    pub schemes: Schemes,
}

impl VerifyingKey {
    /// What one verification with this key costs, in RSA-2048
    /// verifications (about 94 µs), rounded up (measured in the module:
    /// RSA-4096 about 3.4×, P-256 about 1.8×, P-384 about 4.3× with
    /// [`crate::p384_verify`], where the `p384` crate took about 25×).
    #[must_use]
    pub fn cost(&self) -> u32 {
        match &self.key {
            PublicKey::Rsa(k) if k.modulus.bits() <= 2048 => 1,
            PublicKey::Rsa(k) if k.modulus.bits() <= 3072 => 2,
            PublicKey::Rsa(_) => 4,
            PublicKey::P256(_) => 2,
            PublicKey::P384(_) => 5,
        }
    }
}

/// Why a configured key cannot be used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyError {
    /// Neither a PEM block nor base64 of one.
    NotPem,
    /// A PEM block of another kind (certificate, private key…).
    Label(String),
    /// The DER inside the PEM block does not parse.
    Der,
    /// A key type other than RSA, P-256 or P-384.
    Unsupported,
    /// An RSA modulus outside 2048..=4096 bits.
    RsaSize(usize),
    /// An RSA public exponent that is even, below 3 or above 2³³−1.
    RsaExponent,
    /// An unknown `signatureAlgorithm`.
    UnknownAlgorithm,
    /// A `signatureAlgorithm` that this key cannot produce.
    AlgorithmMismatch(&'static str, &'static str),
}

impl fmt::Display for KeyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KeyError::NotPem => f.write_str("not a PEM public key, nor base64 of one"),
            KeyError::Label(l) => write!(
                f,
                "the PEM block is {l:?}, expected \"PUBLIC KEY\" or \"RSA PUBLIC KEY\""
            ),
            KeyError::Der => f.write_str("the PEM block does not hold a valid public key"),
            KeyError::Unsupported => {
                f.write_str("unsupported key type: use RSA (2048 to 4096 bits), EC P-256 or EC P-384")
            }
            KeyError::RsaSize(bits) => write!(
                f,
                "the RSA key has {bits} bits; {RSA_MIN_BITS} to {RSA_MAX_BITS} bits are accepted"
            ),
            KeyError::RsaExponent => {
                f.write_str("the RSA public exponent must be odd, at least 3 and below 2^33")
            }
            KeyError::UnknownAlgorithm => f.write_str(
                "unknown signatureAlgorithm: use RSA_PKCS1_SHA_256, RSA_PSS_SHA_256, ECDSA_SHA_256 \
                 or their _384/_512 variants (ECDSA_SHA_384 for P-384)",
            ),
            KeyError::AlgorithmMismatch(alg, key) => {
                // "an RSA", "an EC P-256": every kind is read with a vowel sound.
                write!(f, "signatureAlgorithm {alg} does not fit an {key} key")
            }
        }
    }
}

/// Reads `publicKeyData`: a PEM block, or base64 (any alphabet, padded or
/// not, wrapped or not) of one. Returns the PEM label and the DER bytes.
pub(crate) fn pem_der(data: &str) -> Result<(String, Vec<u8>), KeyError> {
    let trimmed = data.trim();
    let decoded;
    let pem: &[u8] = if trimmed.starts_with("-----BEGIN") {
        trimmed.as_bytes()
    } else {
        // Wrapped base64 is unwrapped; the usual single line is decoded in place.
        let compact: std::borrow::Cow<'_, str> = if trimmed.bytes().any(|b| b.is_ascii_whitespace())
        {
            trimmed
                .chars()
                .filter(|c| !c.is_ascii_whitespace())
                .collect::<String>()
                .into()
        } else {
            trimmed.into()
        };
        decoded = crate::b64::decode(&compact).map_err(|_| KeyError::NotPem)?;
        decoded.trim_ascii()
    };
    if !pem.starts_with(b"-----BEGIN") {
        return Err(KeyError::NotPem);
    }
    if let Some((label, der)) = canonical_pem(pem) {
        return Ok((label.to_owned(), der));
    }
    let (label, der) = pem_rfc7468::decode_vec(pem).map_err(|_| KeyError::NotPem)?;
    Ok((label.to_owned(), der))
}

/// Canonical padded base64 (no unpadded or non-zero trailing bits): the
/// base64 of PEM's RFC 7468 strict grammar.
const PEM_BASE64: base64::engine::GeneralPurpose = base64::engine::GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    base64::engine::GeneralPurposeConfig::new()
        .with_decode_padding_mode(base64::engine::DecodePaddingMode::RequireCanonical)
        .with_decode_allow_trailing_bits(false),
);

/// A PEM block in the one form every tool writes (`-----BEGIN L-----`, LF
/// line ends, lines of exactly 64 base64 characters but the last, canonical
/// padding, `-----END L-----`), decoded with the `base64` crate; `None` for
/// anything else, which `pem_rfc7468` then decides.
///
/// Hand-written because `pem_rfc7468` decodes with `base64ct`, which is
/// constant-time: inside wasm it decodes about 4× slower than `base64`, and
/// a keyless signature layer carries a kilobyte of certificate (PEM here is
/// public data: keys and certificates). Everything this accepts is in RFC
/// 7468's strict grammar, which `pem_rfc7468` accepts with the same label
/// and bytes (base64 is one-to-one on canonical text); the `pem_fast_path`
/// tests check that on every one-byte change of real blocks.
fn canonical_pem(pem: &[u8]) -> Option<(&str, Vec<u8>)> {
    let rest = pem.strip_prefix(b"-----BEGIN ")?;
    let label_len = rest.iter().position(|&b| b == b'-')?;
    let (label, rest) = rest.split_at(label_len);
    // Uppercase words separated by single spaces (RFC 7468 labels, narrowed).
    if label.is_empty()
        || label.first() == Some(&b' ')
        || label.last() == Some(&b' ')
        || label.windows(2).any(|w| w == b"  ")
        || !label.iter().all(|&b| b.is_ascii_uppercase() || b == b' ')
    {
        return None;
    }
    let body = rest.strip_prefix(b"-----\n")?;
    let body = body.strip_suffix(b"-----")?;
    let body = body.strip_suffix(label)?;
    let body = body.strip_suffix(b"\n-----END ")?;
    // Lines of 64 characters and a line end, then a last line of 1 to 64:
    // a line end anywhere else is left in the text, where base64 refuses it.
    let mut text = Vec::with_capacity(body.len());
    let mut rest = body;
    while let Some((line, next)) = rest.split_at_checked(64) {
        match next.split_first() {
            Some((b'\n', next)) => {
                text.extend_from_slice(line);
                rest = next;
            }
            Some(_) => return None,
            None => break,
        }
    }
    if rest.is_empty() {
        return None;
    }
    text.extend_from_slice(rest);
    let der = PEM_BASE64.decode(&text).ok()?;
    Some((core::str::from_utf8(label).ok()?, der))
}

/// The DER SubjectPublicKeyInfo of a key given as PEM, as kritis hashes it.
fn spki_der(label: &str, der: Vec<u8>) -> Result<Vec<u8>, KeyError> {
    match label {
        "PUBLIC KEY" => Ok(der),
        "RSA PUBLIC KEY" => {
            let info = spki::SubjectPublicKeyInfoRef {
                algorithm: spki::AlgorithmIdentifierRef {
                    oid: OID_RSA,
                    parameters: Some(spki::der::asn1::AnyRef::NULL),
                },
                subject_public_key: spki::der::asn1::BitStringRef::from_bytes(&der)
                    .map_err(|_| KeyError::Der)?,
            };
            info.to_der().map_err(|_| KeyError::Der)
        }
        other => Err(KeyError::Label(other.to_owned())),
    }
}

/// kritis's default id for a key without `publicKeyId` (RFC 6920 `ni` URI):
/// `ni:///sha-256;` + unpadded base64url of the SHA-256 of the DER
/// SubjectPublicKeyInfo. Needs no big-number work.
///
/// # Errors
/// A [`KeyError`] when `publicKeyData` is not a PEM public key.
pub fn default_key_id(data: &str) -> Result<String, KeyError> {
    let (label, der) = pem_der(data)?;
    let spki = spki_der(&label, der)?;
    let hash = Sha256::digest(&spki);
    Ok(format!(
        "ni:///sha-256;{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(hash)
    ))
}

/// `publicKeyData` as a PEM `PUBLIC KEY` (SubjectPublicKeyInfo) block: the
/// form Kubewarden's host (sigstore) reads; PKCS#1 RSA keys are wrapped.
///
/// # Errors
/// A [`KeyError`] when `publicKeyData` is not a PEM public key.
pub fn spki_pem(data: &str) -> Result<String, KeyError> {
    let (label, der) = pem_der(data)?;
    let spki = spki_der(&label, der)?;
    pem_rfc7468::encode_string("PUBLIC KEY", pem_rfc7468::LineEnding::LF, &spki)
        .map_err(|_| KeyError::Der)
}

/// Why Kubewarden's host cannot verify registry signatures for this key as
/// its settings say, if it cannot: the host (sigstore) checks RSA with
/// PKCS#1 v1.5 and SHA-256 only, P-256 with SHA-256 and P-384 with SHA-384.
#[must_use]
pub fn registry_incompatibility(key: &VerifyingKey) -> Option<&'static str> {
    match key.schemes {
        Schemes::RsaDefault
        | Schemes::Only(
            Algorithm::RsaPkcs1Sha256 | Algorithm::EcdsaSha256 | Algorithm::EcdsaSha384,
        ) => None,
        Schemes::Only(
            Algorithm::RsaPssSha256 | Algorithm::RsaPssSha384 | Algorithm::RsaPssSha512,
        ) => Some(
            "Kubewarden's host verifies RSA signatures with PKCS#1 v1.5 and SHA-256 only, not PSS",
        ),
        Schemes::Only(Algorithm::RsaPkcs1Sha384 | Algorithm::RsaPkcs1Sha512) => {
            Some("Kubewarden's host verifies RSA signatures with SHA-256 only")
        }
    }
}

/// Decodes a DER SubjectPublicKeyInfo (of a `PUBLIC KEY` block, or of a
/// certificate): RSA, EC P-256 or EC P-384.
///
/// # Errors
/// A [`KeyError`] when the DER does not parse or the key is of another type.
pub fn parse_spki(der: &[u8]) -> Result<PublicKey, KeyError> {
    let info = spki::SubjectPublicKeyInfoRef::from_der(der).map_err(|_| KeyError::Der)?;
    if info.algorithm.oid == OID_RSA {
        rsa_key(info.subject_public_key.as_bytes().ok_or(KeyError::Der)?)
    } else if info.algorithm.oid == OID_EC {
        let curve = info
            .algorithm
            .parameters
            .and_then(|p| p.decode_as::<spki::ObjectIdentifier>().ok());
        match curve {
            Some(c) if c == OID_P256 => Ok(PublicKey::P256(
                crate::p256_verify::Key::from_sec1_bytes(info.subject_public_key.raw_bytes())
                    .ok_or(KeyError::Der)?,
            )),
            Some(c) if c == OID_P384 => Ok(PublicKey::P384(
                crate::p384_verify::Key::from_sec1_bytes(info.subject_public_key.raw_bytes())
                    .ok_or(KeyError::Der)?,
            )),
            _ => Err(KeyError::Unsupported),
        }
    } else {
        Err(KeyError::Unsupported)
    }
}

/// Decodes `publicKeyData` and applies an optional `signatureAlgorithm`.
///
/// # Errors
/// A [`KeyError`] naming what is wrong with the key or the algorithm.
pub fn parse_key(data: &str, algorithm: Option<&str>) -> Result<VerifyingKey, KeyError> {
    let (label, der) = pem_der(data)?;
    let key = match label.as_str() {
        "RSA PUBLIC KEY" => rsa_key(&der)?,
        "PUBLIC KEY" => parse_spki(&der)?,
        other => return Err(KeyError::Label(other.to_owned())),
    };
    let schemes = match algorithm {
        None => match key {
            PublicKey::Rsa(_) => Schemes::RsaDefault,
            PublicKey::P256(_) => Schemes::Only(Algorithm::EcdsaSha256),
            PublicKey::P384(_) => Schemes::Only(Algorithm::EcdsaSha384),
        },
        Some(name) => {
            let alg = Algorithm::parse(name)?;
            let fits = match (&key, alg) {
                (PublicKey::Rsa(_), a) => {
                    !matches!(a, Algorithm::EcdsaSha256 | Algorithm::EcdsaSha384)
                }
                (PublicKey::P256(_), a) => a == Algorithm::EcdsaSha256,
                (PublicKey::P384(_), a) => a == Algorithm::EcdsaSha384,
            };
            if !fits {
                return Err(KeyError::AlgorithmMismatch(alg.name(), key_kind(&key)));
            }
            Schemes::Only(alg)
        }
    };
    Ok(VerifyingKey { key, schemes })
}

fn key_kind(key: &PublicKey) -> &'static str {
    match key {
        PublicKey::Rsa(_) => "RSA",
        PublicKey::P256(_) => "EC P-256",
        PublicKey::P384(_) => "EC P-384",
    }
}

/// Reads a PKCS#1 `RSAPublicKey` and prepares it for verification.
fn rsa_key(pkcs1_der: &[u8]) -> Result<PublicKey, KeyError> {
    let key = pkcs1::RsaPublicKey::<pkcs1::UintRef<'_>>::from_der(pkcs1_der)
        .map_err(|_| KeyError::Der)?;
    let n = key.modulus.as_bytes();
    let modulus = Modulus::new(n).ok_or(KeyError::Der)?;
    let bits = modulus.bits();
    if !(RSA_MIN_BITS..=RSA_MAX_BITS).contains(&bits) {
        return Err(KeyError::RsaSize(bits));
    }
    let e_bytes = key.public_exponent.as_bytes();
    if e_bytes.len() > 8 {
        return Err(KeyError::RsaExponent);
    }
    let e = e_bytes
        .iter()
        .fold(0u64, |acc, &b| (acc << 8) | u64::from(b));
    if e < 3 || e.is_multiple_of(2) || e > RSA_MAX_EXPONENT {
        return Err(KeyError::RsaExponent);
    }
    Ok(PublicKey::Rsa(RsaKey { modulus, e }))
}

#[cfg(test)]
mod tests;
