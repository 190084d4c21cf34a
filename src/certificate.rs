//! X.509 certificates: those a certificate authority is configured with,
//! and those keyless signature layers carry (Fulcio's short-lived leaf
//! certificates). Only the subject public key is used here: chains,
//! validity and identities are the host's checks.
//!
//! Written by hand on the `der` crate (as RustCrypto's `spki` is) rather
//! than with `x509-cert`: decoding whole certificates (names, extensions)
//! added 170 KB to a module instantiated afresh for every admission, to
//! read one field. The walk follows RFC 5280 §4.1 and checks the outer
//! structure, so anything that is not a certificate is refused.

use core::fmt;

use spki::der::asn1::AnyRef;
use spki::der::{Decode as _, Encode as _, Reader as _, SliceReader, Tag, TagNumber, Tagged as _};

use crate::keys::{self, KeyError, PublicKey};

/// Why a certificate cannot be used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CertificateError {
    /// Neither a PEM block nor base64 of one.
    NotPem,
    /// A PEM block of another kind.
    Label(String),
    /// The DER does not parse as an X.509 certificate.
    NotX509,
    /// The certificate's public key cannot be read.
    Key(KeyError),
}

impl fmt::Display for CertificateError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CertificateError::NotPem => f.write_str("not a PEM certificate, nor base64 of one"),
            CertificateError::Label(l) => {
                write!(f, "the PEM block is {l:?}, expected \"CERTIFICATE\"")
            }
            CertificateError::NotX509 => {
                f.write_str("the PEM block does not hold a valid X.509 certificate")
            }
            CertificateError::Key(e) => write!(f, "its public key is unusable: {e}"),
        }
    }
}

/// The DER of a certificate given as PEM or base64 of PEM (one block).
///
/// # Errors
/// A [`CertificateError`] when it is not one PEM `CERTIFICATE` block.
pub fn der(text: &str) -> Result<Vec<u8>, CertificateError> {
    let (label, der) = keys::pem_der(text).map_err(|_| CertificateError::NotPem)?;
    if label != "CERTIFICATE" {
        return Err(CertificateError::Label(label));
    }
    Ok(der)
}

/// The certificate as PEM text, the form Kubewarden's host reads.
///
/// # Errors
/// A [`CertificateError`] when it is not one PEM `CERTIFICATE` block.
pub fn pem(text: &str) -> Result<String, CertificateError> {
    let der = der(text)?;
    pem_rfc7468::encode_string("CERTIFICATE", pem_rfc7468::LineEnding::LF, &der)
        .map_err(|_| CertificateError::NotX509)
}

/// Checks that `der` is an X.509 certificate.
///
/// # Errors
/// [`CertificateError::NotX509`] when it does not parse.
pub fn check(der: &[u8]) -> Result<(), CertificateError> {
    subject_public_key_info(der).map(|_| ())
}

/// The public key a certificate certifies.
///
/// # Errors
/// A [`CertificateError`] when the certificate or its key does not parse.
pub fn public_key(der: &[u8]) -> Result<PublicKey, CertificateError> {
    let spki = subject_public_key_info(der)?;
    keys::parse_spki(&spki).map_err(CertificateError::Key)
}

/// The DER SubjectPublicKeyInfo of a certificate (RFC 5280 §4.1):
/// `Certificate ::= SEQUENCE { tbsCertificate, signatureAlgorithm,
/// signatureValue }`, `TBSCertificate ::= SEQUENCE { [0] version OPTIONAL,
/// serialNumber, signature, issuer, validity, subject,
/// subjectPublicKeyInfo, … }`.
fn subject_public_key_info(der: &[u8]) -> Result<Vec<u8>, CertificateError> {
    let not_x509 = |_| CertificateError::NotX509;
    let expect = |any: &AnyRef<'_>, tag: Tag| {
        if any.tag() == tag {
            Ok(())
        } else {
            Err(CertificateError::NotX509)
        }
    };
    let certificate = AnyRef::from_der(der).map_err(not_x509)?;
    expect(&certificate, Tag::Sequence)?;
    let mut outer = SliceReader::new(certificate.value()).map_err(not_x509)?;
    let tbs = outer.decode::<AnyRef<'_>>().map_err(not_x509)?;
    expect(&tbs, Tag::Sequence)?;
    expect(
        &outer.decode::<AnyRef<'_>>().map_err(not_x509)?,
        Tag::Sequence,
    )?;
    expect(
        &outer.decode::<AnyRef<'_>>().map_err(not_x509)?,
        Tag::BitString,
    )?;
    outer.finish().map_err(not_x509)?;

    let mut fields = SliceReader::new(tbs.value()).map_err(not_x509)?;
    let mut next = fields.decode::<AnyRef<'_>>().map_err(not_x509)?;
    let version = Tag::ContextSpecific {
        constructed: true,
        number: TagNumber(0),
    };
    if next.tag() == version {
        next = fields.decode::<AnyRef<'_>>().map_err(not_x509)?;
    }
    expect(&next, Tag::Integer)?; // serialNumber
    for _ in 0..4 {
        // signature, issuer, validity, subject
        expect(
            &fields.decode::<AnyRef<'_>>().map_err(not_x509)?,
            Tag::Sequence,
        )?;
    }
    let spki = fields.decode::<AnyRef<'_>>().map_err(not_x509)?;
    expect(&spki, Tag::Sequence)?;
    spki.to_der().map_err(not_x509)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testkeys;

    #[test]
    fn the_leaf_certifies_its_p256_key_and_the_rsa_leaf_an_rsa_key() {
        let (_, leaf) = testkeys::sigstore_leaf();
        assert!(matches!(
            public_key(&der(leaf).unwrap()),
            Ok(PublicKey::P256(_))
        ));
        let rsa = der(testkeys::SIGSTORE_LEAF_RSA).unwrap();
        assert!(matches!(public_key(&rsa), Ok(PublicKey::Rsa(_))));
        check(&der(testkeys::SIGSTORE_CA).unwrap()).unwrap();
    }

    #[test]
    fn anything_else_is_refused() {
        let (_, leaf) = testkeys::sigstore_leaf();
        let good = der(leaf).unwrap();
        // Truncated, trailing bytes, a public key instead.
        assert_eq!(
            check(&good[..good.len() - 1]),
            Err(CertificateError::NotX509)
        );
        let mut long = good.clone();
        long.push(0);
        assert_eq!(check(&long), Err(CertificateError::NotX509));
        let (_, spki) = keys::pem_der(&testkeys::p256().spki_pem).unwrap();
        assert_eq!(check(&spki), Err(CertificateError::NotX509));
        assert_eq!(
            der(&testkeys::p256().spki_pem),
            Err(CertificateError::Label("PUBLIC KEY".to_owned()))
        );
        assert_eq!(der("bm90IGEgY2VydA=="), Err(CertificateError::NotPem));
    }
}
