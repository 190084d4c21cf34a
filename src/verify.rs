//! Signature verification over the exact payload bytes.

use core::fmt;

use sha2::{Digest as _, Sha256, Sha384, Sha512};

use crate::{p256_verify, p384_verify, rsassa};

use crate::keys::{Algorithm, PublicKey, Schemes, VerifyingKey};

/// Why a signature does not verify. Deliberately says nothing about the
/// cryptographic detail (padding, salt…): an operator needs to know which key
/// failed, an attacker needs no oracle.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VerifyError {
    /// The signature is not valid for this key, scheme and payload.
    Invalid,
    /// The signature is empty.
    Empty,
    /// An ECDSA signature that is not DER but has exactly the length of a
    /// raw `r‖s` pair (IEEE P1363), as some KMS APIs return it.
    RawEcdsa(usize),
}

impl fmt::Display for VerifyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            VerifyError::Invalid => f.write_str("does not verify"),
            VerifyError::Empty => f.write_str("is empty"),
            VerifyError::RawEcdsa(len) => write!(
                f,
                "is not DER-encoded: its {len} bytes look like a raw r||s ECDSA signature (as some \
                 KMS return); ECDSA signatures must be DER (openssl dgst -sign makes DER)"
            ),
        }
    }
}

/// Verifies `signature` over `payload` with `key`, under the schemes the key
/// allows. `payload_sha256` is the payload's SHA-256, computed once by the
/// caller for all the signatures over that payload.
///
/// # Errors
/// [`VerifyError`] when no allowed scheme verifies.
pub fn verify(
    key: &VerifyingKey,
    payload: &[u8],
    payload_sha256: &[u8; 32],
    signature: &[u8],
) -> Result<Algorithm, VerifyError> {
    if signature.is_empty() {
        return Err(VerifyError::Empty);
    }
    let ok = |alg: Algorithm, r: bool| {
        if r {
            Ok(alg)
        } else {
            Err(VerifyError::Invalid)
        }
    };
    match (&key.key, key.schemes) {
        (PublicKey::Rsa(rsa), schemes) => {
            // One public operation, then each allowed padding is checked on it.
            let Some(em) = rsa.modulus.pow(signature, rsa.e) else {
                return Err(VerifyError::Invalid);
            };
            let bits = rsa.modulus.bits();
            let check = |alg: Algorithm| match alg {
                Algorithm::RsaPkcs1Sha256 => rsassa::pkcs1_v15(&em, payload_sha256),
                Algorithm::RsaPkcs1Sha384 => rsassa::pkcs1_v15(&em, &Sha384::digest(payload)),
                Algorithm::RsaPkcs1Sha512 => rsassa::pkcs1_v15(&em, &Sha512::digest(payload)),
                Algorithm::RsaPssSha256 => rsassa::pss::<Sha256>(&em, bits, payload_sha256),
                Algorithm::RsaPssSha384 => {
                    rsassa::pss::<Sha384>(&em, bits, &Sha384::digest(payload))
                }
                Algorithm::RsaPssSha512 => {
                    rsassa::pss::<Sha512>(&em, bits, &Sha512::digest(payload))
                }
                Algorithm::EcdsaSha256 | Algorithm::EcdsaSha384 => false,
            };
            let candidates: &[Algorithm] = match &schemes {
                // PKCS#1 v1.5 first: what KMS and `openssl dgst -sign` make by default.
                Schemes::RsaDefault => &[Algorithm::RsaPkcs1Sha256, Algorithm::RsaPssSha256],
                Schemes::Only(alg) => std::slice::from_ref(alg),
            };
            candidates
                .iter()
                .copied()
                .find(|&a| check(a))
                .ok_or(VerifyError::Invalid)
        }
        (PublicKey::P256(ec), Schemes::Only(Algorithm::EcdsaSha256)) => {
            let Some(sig) = p256_verify::Signature::from_der(signature) else {
                return Err(not_der(signature, 64));
            };
            ok(
                Algorithm::EcdsaSha256,
                p256_verify::verify_prehash(ec, payload_sha256, &sig),
            )
        }
        (PublicKey::P384(ec), Schemes::Only(Algorithm::EcdsaSha384)) => {
            let Some(sig) = p384_verify::Signature::from_der(signature) else {
                return Err(not_der(signature, 96));
            };
            ok(
                Algorithm::EcdsaSha384,
                p384_verify::verify_prehash(ec, &Sha384::digest(payload).into(), &sig),
            )
        }
        // Key parsing never pairs an EC key with another scheme; fail closed anyway.
        (PublicKey::P256(_) | PublicKey::P384(_), _) => Err(VerifyError::Invalid),
    }
}

/// Verifies an ECDSA P-256 (DER) `signature` over a SHA-256 `digest` that
/// the caller did not compute: a cosign signature layer's digest is the
/// SHA-256 of its payload, which is exactly what the signer signed.
///
/// # Errors
/// [`VerifyError`] when the signature is empty, not DER, or does not verify.
pub fn verify_p256_prehash(
    key: &p256_verify::Key,
    digest: &[u8; 32],
    signature: &[u8],
) -> Result<(), VerifyError> {
    if signature.is_empty() {
        return Err(VerifyError::Empty);
    }
    let Some(sig) = p256_verify::Signature::from_der(signature) else {
        return Err(not_der(signature, 64));
    };
    if p256_verify::verify_prehash(key, digest, &sig) {
        Ok(())
    } else {
        Err(VerifyError::Invalid)
    }
}

/// Why an ECDSA signature did not parse as DER: a hint when it has the
/// length of a raw `r‖s` pair for the curve (`raw_len` bytes). The raw form
/// is never verified: the attestation must say what it means.
fn not_der(signature: &[u8], raw_len: usize) -> VerifyError {
    if signature.len() == raw_len {
        VerifyError::RawEcdsa(raw_len)
    } else {
        VerifyError::Invalid
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::parse_key;
    use crate::testkeys::{self, TestKey};

    const MSG: &[u8] = br#"{"critical":{"identity":{"docker-reference":"a"},"image":{"docker-manifest-digest":"sha256:00"},"type":"atomic container signature"}}"#;

    fn sha(m: &[u8]) -> [u8; 32] {
        Sha256::digest(m).into()
    }

    fn check(key: &VerifyingKey, sig: &[u8]) -> Result<Algorithm, VerifyError> {
        verify(key, MSG, &sha(MSG), sig)
    }

    fn tampered(sig: &[u8]) -> Vec<u8> {
        let mut s = sig.to_vec();
        let mid = s.len() / 2;
        s[mid] ^= 1;
        s
    }

    #[test]
    fn rsa_every_size_both_schemes() {
        for bits in [2048, 3072, 4096] {
            let k: TestKey = testkeys::rsa(bits);
            let key = parse_key(&k.spki_pem, None).unwrap();
            let pkcs1 = k.sign_pkcs1(MSG);
            assert_eq!(check(&key, &pkcs1), Ok(Algorithm::RsaPkcs1Sha256), "{bits}");
            for salt in [32, TestKey::max_salt(bits)] {
                let pss = k.sign_pss(MSG, salt);
                assert_eq!(
                    check(&key, &pss),
                    Ok(Algorithm::RsaPssSha256),
                    "{bits} salt {salt}"
                );
                assert_eq!(check(&key, &tampered(&pss)), Err(VerifyError::Invalid));
            }
            assert_eq!(check(&key, &tampered(&pkcs1)), Err(VerifyError::Invalid));
            // Right signature, other payload.
            assert_eq!(
                verify(&key, b"other", &sha(b"other"), &pkcs1),
                Err(VerifyError::Invalid)
            );
        }
    }

    #[test]
    fn scheme_restriction_is_enforced() {
        let k = testkeys::rsa(2048);
        let pkcs1_only = parse_key(&k.spki_pem, Some("RSA_PKCS1_SHA_256")).unwrap();
        let pss_only = parse_key(&k.spki_pem, Some("RSA_PSS_SHA_256")).unwrap();
        let pkcs1 = k.sign_pkcs1(MSG);
        let pss = k.sign_pss(MSG, 32);
        assert!(check(&pkcs1_only, &pkcs1).is_ok());
        assert_eq!(check(&pkcs1_only, &pss), Err(VerifyError::Invalid));
        assert!(check(&pss_only, &pss).is_ok());
        assert_eq!(check(&pss_only, &pkcs1), Err(VerifyError::Invalid));
    }

    #[test]
    fn malformed_signatures() {
        let k = testkeys::rsa(2048);
        let key = parse_key(&k.spki_pem, None).unwrap();
        let sig = k.sign_pkcs1(MSG);
        assert_eq!(check(&key, &[]), Err(VerifyError::Empty));
        assert_eq!(check(&key, &sig[..255]), Err(VerifyError::Invalid));
        assert_eq!(
            check(&key, &[sig.as_slice(), &[0]].concat()),
            Err(VerifyError::Invalid)
        );
        assert_eq!(check(&key, &[0u8; 256]), Err(VerifyError::Invalid));
        assert_eq!(check(&key, &[0xffu8; 256]), Err(VerifyError::Invalid));
        assert_eq!(check(&key, &vec![7u8; 4096]), Err(VerifyError::Invalid));
    }

    #[test]
    fn wrong_key() {
        let sig = testkeys::rsa(2048).sign_pkcs1(MSG);
        let other = parse_key(&testkeys::rsa_b().spki_pem, None).unwrap();
        assert_eq!(check(&other, &sig), Err(VerifyError::Invalid));
    }

    #[test]
    fn p256() {
        let k = testkeys::p256();
        let key = parse_key(&k.spki_pem, None).unwrap();
        let sig = k.sign_p256(MSG);
        assert_eq!(check(&key, &sig), Ok(Algorithm::EcdsaSha256));
        assert_eq!(check(&key, &tampered(&sig)), Err(VerifyError::Invalid));
        assert_eq!(check(&key, &[0x30, 0x00]), Err(VerifyError::Invalid));
        // The same signature as a raw r||s pair (what some KMS return): refused
        // with a hint, never verified in that form.
        let der = p256::ecdsa::Signature::from_der(&sig).unwrap();
        let raw = der.to_bytes();
        assert_eq!(raw.len(), 64);
        let e = check(&key, &raw).unwrap_err();
        assert_eq!(e, VerifyError::RawEcdsa(64));
        assert_eq!(
            e.to_string(),
            "is not DER-encoded: its 64 bytes look like a raw r||s ECDSA signature (as some KMS \
             return); ECDSA signatures must be DER (openssl dgst -sign makes DER)"
        );
        assert_eq!(check(&key, &raw[..63]), Err(VerifyError::Invalid));
        // DER-shaped, 64 bytes, but r = 0 (and s longer than 32 bytes):
        // refused like any non-DER input, with the hint.
        let mut zero_r = vec![0x30, 62, 0x02, 0x01, 0x00, 0x02, 57];
        zero_r.extend_from_slice(&[0x01; 57]);
        assert_eq!(zero_r.len(), 64);
        assert_eq!(check(&key, &zero_r), Err(VerifyError::RawEcdsa(64)));
        // The same through the keyless path's prehash entry point.
        let PublicKey::P256(ec) = &key.key else {
            panic!("a P-256 key");
        };
        let digest = sha(MSG);
        assert_eq!(verify_p256_prehash(ec, &digest, &sig), Ok(()));
        assert_eq!(
            verify_p256_prehash(ec, &digest, &tampered(&sig)),
            Err(VerifyError::Invalid)
        );
        assert_eq!(
            verify_p256_prehash(ec, &digest, &raw),
            Err(VerifyError::RawEcdsa(64))
        );
        assert_eq!(
            verify_p256_prehash(ec, &digest, &[]),
            Err(VerifyError::Empty)
        );
    }

    /// P-384 through the in-house verifier: signatures by the `p384` crate,
    /// tampered ones, and the raw `r‖s` hint at 96 bytes, which also covers a
    /// 96-byte DER-shaped input the DER rules refuse (as before).
    #[test]
    fn p384() {
        use p384::ecdsa::signature::Signer as _;
        let sk = p384::ecdsa::SigningKey::from_bytes(&[0x42; 48].into()).unwrap();
        let point = p384::elliptic_curve::sec1::ToSec1Point::to_sec1_point(
            sk.verifying_key().as_affine(),
            false,
        );
        let key = VerifyingKey {
            key: PublicKey::P384(p384_verify::Key::from_sec1_bytes(point.as_bytes()).unwrap()),
            schemes: Schemes::Only(Algorithm::EcdsaSha384),
        };
        let sig: p384::ecdsa::Signature = sk.sign(MSG);
        let der = sig.to_der().as_bytes().to_vec();
        assert_eq!(check(&key, &der), Ok(Algorithm::EcdsaSha384));
        assert_eq!(check(&key, &tampered(&der)), Err(VerifyError::Invalid));
        assert_eq!(
            verify(&key, b"other", &sha(b"other"), &der),
            Err(VerifyError::Invalid)
        );
        assert_eq!(check(&key, &[0x30, 0x00]), Err(VerifyError::Invalid));
        let raw = sig.to_bytes();
        assert_eq!(check(&key, &raw), Err(VerifyError::RawEcdsa(96)));
        assert_eq!(check(&key, &raw[..95]), Err(VerifyError::Invalid));
        // DER syntax, 96 bytes, but r = 0: refused like any non-DER input.
        let mut zero_r = vec![0x30, 94, 0x02, 0x01, 0x00, 0x02, 89];
        zero_r.extend_from_slice(&[0x01; 89]);
        assert_eq!(zero_r.len(), 96);
        assert_eq!(check(&key, &zero_r), Err(VerifyError::RawEcdsa(96)));
        // An RSA scheme on a P-384 key never verifies.
        let wrong = VerifyingKey {
            key: PublicKey::P384(p384_verify::Key::from_sec1_bytes(point.as_bytes()).unwrap()),
            schemes: Schemes::Only(Algorithm::EcdsaSha256),
        };
        assert_eq!(check(&wrong, &der), Err(VerifyError::Invalid));
    }

    /// Signatures made by `openssl dgst` (testdata/openssl), not by this crate.
    #[test]
    fn openssl_interop() {
        let payload = include_bytes!("../testdata/openssl/payload.json");
        let cases: [(&str, &[u8], Algorithm); 6] = [
            (
                include_str!("../testdata/keys/rsa2048.pub.pem"),
                include_bytes!("../testdata/openssl/rsa2048.pkcs1.sig"),
                Algorithm::RsaPkcs1Sha256,
            ),
            (
                include_str!("../testdata/keys/rsa2048.pub.pem"),
                include_bytes!("../testdata/openssl/rsa2048.pss-default.sig"),
                Algorithm::RsaPssSha256,
            ),
            (
                include_str!("../testdata/keys/rsa3072.pub.pem"),
                include_bytes!("../testdata/openssl/rsa3072.pss32.sig"),
                Algorithm::RsaPssSha256,
            ),
            (
                include_str!("../testdata/keys/rsa4096.pub.pem"),
                include_bytes!("../testdata/openssl/rsa4096.pss-max.sig"),
                Algorithm::RsaPssSha256,
            ),
            (
                include_str!("../testdata/keys/p256.pub.pem"),
                include_bytes!("../testdata/openssl/p256.sig"),
                Algorithm::EcdsaSha256,
            ),
            (
                include_str!("../testdata/keys/p384.pub.pem"),
                include_bytes!("../testdata/openssl/p384.sig"),
                Algorithm::EcdsaSha384,
            ),
        ];
        for (pem, sig, want) in cases {
            let key = parse_key(pem, None).unwrap();
            assert_eq!(verify(&key, payload, &sha(payload), sig), Ok(want));
            assert_eq!(
                verify(&key, b"x", &sha(b"x"), sig),
                Err(VerifyError::Invalid)
            );
        }
    }
}
