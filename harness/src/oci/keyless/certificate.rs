//! X.509 for keyless signatures: trust anchors, the leaf certificate's
//! checks as sigstore-rs 0.13 makes them (`crypto/certificate_pool.rs`
//! through webpki, `crypto/certificate.rs`), and the identity it carries
//! (`cosign/signature_layers.rs`).

use anyhow::{anyhow, bail, ensure, Context as _, Result};
use base64::Engine as _;
use x509_cert::der::oid::ObjectIdentifier;
use x509_cert::der::{Decode as _, DecodePem as _, Encode as _};
use x509_cert::ext::pkix::name::GeneralName;
use x509_cert::ext::pkix::{BasicConstraints, ExtendedKeyUsage, KeyUsage, SubjectAltName};
use x509_cert::{Certificate, Version};

use crate::oci::cosign::CosignKey;

/// Sigstore's legacy OIDC-issuer extension (the raw issuer string as the
/// extension's value, as Fulcio writes it): the only one sigstore-rs reads.
pub const OIDC_ISSUER_OID: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.4.1.57264.1.1");
/// GitHub workflow trigger (`push`).
pub const GITHUB_WORKFLOW_TRIGGER_OID: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("1.3.6.1.4.1.57264.1.2");
/// GitHub workflow commit SHA.
pub const GITHUB_WORKFLOW_SHA_OID: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("1.3.6.1.4.1.57264.1.3");
/// GitHub workflow name.
pub const GITHUB_WORKFLOW_NAME_OID: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("1.3.6.1.4.1.57264.1.4");
/// GitHub workflow repository (`owner/repo`).
pub const GITHUB_WORKFLOW_REPOSITORY_OID: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("1.3.6.1.4.1.57264.1.5");
/// GitHub workflow ref (`refs/heads/main`).
pub const GITHUB_WORKFLOW_REF_OID: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("1.3.6.1.4.1.57264.1.6");

const CODE_SIGNING: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.5.5.7.3.3");
const ECDSA_SHA256: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.4.3.2");
const ECDSA_SHA384: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.4.3.3");
const RSA_SHA256: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.11");
/// Extensions webpki understands; any other one marked critical is refused.
const KNOWN_CRITICAL: [ObjectIdentifier; 5] = [
    ObjectIdentifier::new_unwrap("2.5.29.15"), // keyUsage
    ObjectIdentifier::new_unwrap("2.5.29.17"), // subjectAltName
    ObjectIdentifier::new_unwrap("2.5.29.19"), // basicConstraints
    ObjectIdentifier::new_unwrap("2.5.29.30"), // nameConstraints
    ObjectIdentifier::new_unwrap("2.5.29.37"), // extKeyUsage
];

/// A public key in SPKI DER form, usable to verify signatures.
///
/// # Errors
/// Not an RSA, EC P-256 or EC P-384 public key.
pub fn verifying_key(spki_der: &[u8]) -> Result<CosignKey> {
    CosignKey::from_pem(&pem("PUBLIC KEY", spki_der))
        .map_err(|e| anyhow!("unsupported public key: {e}"))
}

/// DER as PEM text.
pub fn pem(label: &str, der: &[u8]) -> String {
    let b64 = base64::engine::general_purpose::STANDARD.encode(der);
    let mut out = format!("-----BEGIN {label}-----\n");
    for line in b64.as_bytes().chunks(64) {
        out.push_str(&String::from_utf8_lossy(line));
        out.push('\n');
    }
    out.push_str(&format!("-----END {label}-----\n"));
    out
}

/// A trust anchor, as webpki keeps one: the subject name and the key. Its
/// own validity, key usage and constraints are not looked at.
#[derive(Debug)]
pub struct Anchor {
    subject: Vec<u8>,
    key: CosignKey,
}

impl Anchor {
    /// An anchor from a DER certificate.
    ///
    /// # Errors
    /// Not a certificate, or a key of an unsupported kind.
    pub fn from_der(der: &[u8]) -> Result<Self> {
        let cert = Certificate::from_der(der).context("not a DER X.509 certificate")?;
        Ok(Self {
            subject: cert.tbs_certificate().subject().to_der()?,
            key: verifying_key(&cert.tbs_certificate().subject_public_key_info().to_der()?)?,
        })
    }

    /// An anchor from a PEM certificate.
    ///
    /// # Errors
    /// Not a certificate, or a key of an unsupported kind.
    pub fn from_pem(pem_text: &[u8]) -> Result<Self> {
        let cert = Certificate::from_pem(pem_text).context("not a PEM X.509 certificate")?;
        Self::from_der(&cert.to_der()?)
    }
}

/// The subject of a keyless certificate: the first e-mail or URI of its SAN.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Subject {
    /// An `rfc822Name`.
    Email(String),
    /// A `uniformResourceIdentifier`.
    Uri(String),
}

impl Subject {
    /// The subject's text, whatever its kind.
    pub fn as_str(&self) -> &str {
        match self {
            Self::Email(s) | Self::Uri(s) => s,
        }
    }
}

/// A parsed leaf certificate.
#[derive(Debug)]
pub struct Leaf {
    cert: Certificate,
    /// Its public key.
    pub key: CosignKey,
}

/// What a trusted keyless certificate says (sigstore-rs's `CertificateSignature`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    /// SAN e-mail or URI.
    pub subject: Subject,
    /// The legacy OIDC-issuer extension, if any.
    pub issuer: Option<String>,
    /// The workflow-repository extension (`owner/repo`), if any.
    pub github_workflow_repository: Option<String>,
}

impl Leaf {
    /// Parses a PEM certificate (the `dev.sigstore.cosign/certificate`
    /// annotation, or the certificate of a `SigstoreCertificateVerify`).
    ///
    /// # Errors
    /// Not a PEM certificate, or its key is not usable.
    pub fn from_pem(pem_text: &[u8]) -> Result<Self> {
        let cert = Certificate::from_pem(pem_text).context("not a PEM X.509 certificate")?;
        let key = verifying_key(&cert.tbs_certificate().subject_public_key_info().to_der()?)
            .context("the certificate's key")?;
        Ok(Self { cert, key })
    }

    /// `notBefore` and `notAfter`, seconds since the epoch.
    pub fn validity(&self) -> (i64, i64) {
        let v = self.cert.tbs_certificate().validity();
        let secs = |t: x509_cert::time::Time| {
            i64::try_from(t.to_unix_duration().as_secs()).unwrap_or(i64::MAX)
        };
        (secs(v.not_before), secs(v.not_after))
    }

    /// webpki's `verify_for_usage` with these anchors, no intermediate, the
    /// code-signing EKU, at `time`: a v3 certificate that is not a CA, with no
    /// critical extension webpki does not know, valid at `time`, whose issuer
    /// is an anchor's subject and whose signature that anchor's key verifies.
    /// An intermediate CA that is not itself an anchor cannot help: the
    /// leaf must be issued directly by a certificate of the trust root.
    ///
    /// # Errors
    /// The first check that fails.
    pub fn verify_issued_by(&self, anchors: &[Anchor], time: i64) -> Result<()> {
        let tbs = self.cert.tbs_certificate();
        ensure!(tbs.version() == Version::V3, "not an X.509 v3 certificate");
        for ext in tbs.extensions().into_iter().flatten() {
            ensure!(
                !ext.critical || KNOWN_CRITICAL.contains(&ext.extn_id),
                "unsupported critical extension {}",
                ext.extn_id
            );
        }
        if let Some((_, bc)) = tbs
            .get_extension::<BasicConstraints>()
            .map_err(|e| anyhow!("bad basicConstraints: {e}"))?
        {
            ensure!(!bc.ca, "a CA certificate cannot sign images");
        }
        let eku = tbs
            .get_extension::<ExtendedKeyUsage>()
            .map_err(|e| anyhow!("bad extKeyUsage: {e}"))?;
        ensure!(
            eku.is_some_and(|(_, eku)| eku.0.contains(&CODE_SIGNING)),
            "no code-signing extended key usage"
        );
        let (not_before, not_after) = self.validity();
        ensure!(
            not_before <= time && time <= not_after,
            "not valid at {time} (valid from {not_before} to {not_after})"
        );
        let issuer = tbs.issuer().to_der()?;
        let tbs_der = tbs.to_der()?;
        let signature = self
            .cert
            .signature()
            .as_bytes()
            .ok_or_else(|| anyhow!("the signature is not a whole number of bytes"))?;
        let algorithm = self.cert.signature_algorithm().oid;
        for anchor in anchors.iter().filter(|a| a.subject == issuer) {
            let usable = matches!(
                (&anchor.key, algorithm),
                (CosignKey::P256(_), ECDSA_SHA256)
                    | (CosignKey::P384(_), ECDSA_SHA384)
                    | (CosignKey::Rsa(_), RSA_SHA256)
            );
            if usable && anchor.key.verifies(&tbs_der, signature) {
                return Ok(());
            }
        }
        bail!("not issued by a certificate authority of the trust root")
    }

    /// sigstore-rs's `verify_key_usages`: a keyUsage extension (its
    /// digitalSignature bit test passes for every certificate Fulcio issues)
    /// and the code-signing extended key usage.
    ///
    /// # Errors
    /// One is missing.
    pub fn check_key_usages(&self) -> Result<()> {
        let tbs = self.cert.tbs_certificate();
        ensure!(
            matches!(tbs.get_extension::<KeyUsage>(), Ok(Some(_))),
            "no keyUsage extension"
        );
        let eku = tbs
            .get_extension::<ExtendedKeyUsage>()
            .map_err(|e| anyhow!("bad extKeyUsage: {e}"))?;
        ensure!(
            eku.is_some_and(|(_, eku)| eku.0.contains(&CODE_SIGNING)),
            "no code-signing extended key usage"
        );
        Ok(())
    }

    /// A SAN extension is present (`verify_has_san`).
    ///
    /// # Errors
    /// There is none.
    pub fn check_has_san(&self) -> Result<()> {
        ensure!(
            matches!(
                self.cert
                    .tbs_certificate()
                    .get_extension::<SubjectAltName>(),
                Ok(Some(_))
            ),
            "no subjectAltName extension"
        );
        Ok(())
    }

    /// `verify_validity`: not issued in the future.
    ///
    /// # Errors
    /// `notBefore` is after `now`.
    pub fn check_not_before(&self, now: i64) -> Result<()> {
        let (not_before, _) = self.validity();
        ensure!(now >= not_before, "not valid before {not_before}");
        Ok(())
    }

    /// `verify_expiration`: `integrated_time` within the validity.
    ///
    /// # Errors
    /// Outside it.
    pub fn check_integrated_time(&self, integrated_time: i64) -> Result<()> {
        let (not_before, not_after) = self.validity();
        ensure!(
            integrated_time >= not_before,
            "the certificate expired before the signature was submitted to Rekor"
        );
        ensure!(
            integrated_time <= not_after,
            "the certificate was issued after the signature was submitted to Rekor"
        );
        Ok(())
    }

    /// The identity: subject from the first e-mail or URI of the SAN, issuer
    /// and workflow repository from the Sigstore extensions (their raw value
    /// bytes as UTF-8, as sigstore-rs reads them).
    ///
    /// # Errors
    /// No extensions, no SAN e-mail/URI, or a Sigstore extension that is not UTF-8.
    pub fn identity(&self) -> Result<Identity> {
        let tbs = self.cert.tbs_certificate();
        let extensions = tbs
            .extensions()
            .ok_or_else(|| anyhow!("the certificate has no extension"))?;
        let extension = |oid: ObjectIdentifier, name: &str| -> Result<Option<String>> {
            extensions
                .iter()
                .find(|e| e.extn_id == oid)
                .map(|e| {
                    String::from_utf8(e.extn_value.as_bytes().to_vec())
                        .map_err(|_| anyhow!("the Sigstore {name} extension is not UTF-8"))
                })
                .transpose()
        };
        let issuer = extension(OIDC_ISSUER_OID, "issuer")?;
        for (oid, name) in [
            (GITHUB_WORKFLOW_TRIGGER_OID, "GitHub workflow trigger"),
            (GITHUB_WORKFLOW_SHA_OID, "GitHub workflow sha"),
            (GITHUB_WORKFLOW_NAME_OID, "GitHub workflow name"),
            (GITHUB_WORKFLOW_REF_OID, "GitHub workflow ref"),
        ] {
            extension(oid, name)?;
        }
        let github_workflow_repository =
            extension(GITHUB_WORKFLOW_REPOSITORY_OID, "GitHub workflow repository")?;
        let (_, san) = tbs
            .get_extension::<SubjectAltName>()
            .map_err(|e| anyhow!("bad subjectAltName: {e}"))?
            .ok_or_else(|| anyhow!("no subjectAltName extension"))?;
        let subject = san
            .0
            .iter()
            .find_map(|name| match name {
                GeneralName::Rfc822Name(n) => Some(Subject::Email(n.to_string())),
                GeneralName::UniformResourceIdentifier(u) => Some(Subject::Uri(u.to_string())),
                _ => None,
            })
            .ok_or_else(|| anyhow!("the subjectAltName has no e-mail and no URI"))?;
        Ok(Identity {
            subject,
            issuer,
            github_workflow_repository,
        })
    }
}
