//! X.509 certificates: those a certificate authority is configured with,
//! and those keyless signature layers carry (Fulcio's short-lived leaf
//! certificates). Parsed with RustCrypto's `x509-cert`; only the subject
//! public key is used here: chains, validity and identities are the host's
//! checks.

use core::fmt;

use x509_cert::der::{Decode as _, Encode as _};

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
    x509_cert::Certificate::from_der(der)
        .map(|_| ())
        .map_err(|_| CertificateError::NotX509)
}

/// The public key a certificate certifies.
///
/// # Errors
/// A [`CertificateError`] when the certificate or its key does not parse.
pub fn public_key(der: &[u8]) -> Result<PublicKey, CertificateError> {
    let cert = x509_cert::Certificate::from_der(der).map_err(|_| CertificateError::NotX509)?;
    let spki = cert
        .tbs_certificate()
        .subject_public_key_info()
        .to_der()
        .map_err(|_| CertificateError::NotX509)?;
    keys::parse_spki(&spki).map_err(CertificateError::Key)
}
