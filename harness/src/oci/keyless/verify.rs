//! Keyless and certificate verification over the layers of a `.sig`
//! manifest, as policy-server 1.31 does it (policy-evaluator 0.30.4 →
//! policy-fetcher 0.11 → sigstore-rs 0.13), hole included: see the module
//! documentation of [`crate::oci::keyless`].

use std::collections::BTreeMap;

use anyhow::{anyhow, ensure, Result};
use base64::Engine as _;

use super::bundle::Bundle;
use super::certificate::{Anchor, Identity, Leaf, Subject};
use super::request::{KeylessPrefixInfo, KeylessRequest};
use super::trust::TrustRoot;
use crate::oci::cosign::{
    fetch_layers, missing_annotations, parse_image, shown, signature_reference, Fetched,
    SignatureLayer, SignatureStore, SimpleSigning, VerificationResponse, MAX_MANIFEST_BYTES,
    SIGNATURE_ANNOTATION,
};

/// Layer annotation: the signer's certificate (PEM).
pub const CERTIFICATE_ANNOTATION: &str = "dev.sigstore.cosign/certificate";
/// Layer annotation: the certificate's chain (PEM); never read by the host.
pub const CHAIN_ANNOTATION: &str = "dev.sigstore.cosign/chain";
/// Layer annotation: the Rekor bundle (JSON).
pub const BUNDLE_ANNOTATION: &str = "dev.sigstore.cosign/bundle";
/// The issuer GitHub Actions' OIDC tokens carry.
pub const GITHUB_ACTIONS_ISSUER: &str = "https://token.actions.githubusercontent.com";
/// At most this many identities in one request.
pub const MAX_IDENTITIES: usize = 64;
/// Most per-layer reasons quoted in a host error.
const MAX_REASONS: usize = 4;

/// A layer as sigstore-rs's `SignatureLayer::new` keeps it.
#[derive(Debug)]
pub struct TrustedLayer {
    /// The layer (blob digest-checked).
    pub layer: SignatureLayer,
    /// Its payload.
    payload: SimpleSigning,
    /// The layer's signature (base64, as annotated).
    signature: String,
    /// The bundle, when present and verified with the trust root's Rekor keys.
    pub bundle: Option<Bundle>,
    /// The certificate's identity, when the certificate chains to the trust
    /// root and fits the bundle (sigstore-rs's `certificate_signature`).
    pub identity: Option<Identity>,
    /// Why `identity` is `None` although a certificate is there.
    pub identity_error: Option<String>,
}

/// sigstore-rs's `CertificateSignature::from_certificate`: the certificate
/// issued directly by an anchor (webpki, at its own `notBefore`), then
/// `is_trusted` (key usages, a SAN, not from the future, integrated time
/// within its validity), then its identity. The signature of the layer is
/// NOT verified with the certificate's key, and the bundle's body is NOT
/// compared with anything.
fn certificate_identity(
    cert_pem: &str,
    anchors: &[Anchor],
    bundle: &Bundle,
    now: i64,
) -> Result<Identity> {
    let leaf = Leaf::from_pem(cert_pem.as_bytes())?;
    let (not_before, _) = leaf.validity();
    leaf.verify_issued_by(anchors, not_before)?;
    leaf.check_key_usages()?;
    leaf.check_has_san()?;
    leaf.check_not_before(now)?;
    leaf.check_integrated_time(bundle.payload.integrated_time)?;
    leaf.identity()
}

/// sigstore-rs's `build_signature_layers`: the layers naming `digest` with
/// a signature annotation and, when there is a bundle annotation and Rekor
/// keys, a bundle that verifies; each other layer is skipped (its reason
/// kept). Fails when no layer is left.
///
/// # Errors
/// Why each layer was skipped.
pub fn trusted_layers(
    layers: Vec<SignatureLayer>,
    digest: &str,
    trust: Option<&TrustRoot>,
    now: i64,
) -> std::result::Result<Vec<TrustedLayer>, Vec<String>> {
    let mut kept = Vec::new();
    let mut skipped = Vec::new();
    for (i, layer) in layers.into_iter().enumerate() {
        let payload: SimpleSigning = match serde_json::from_slice(&layer.blob) {
            Ok(p) => p,
            Err(e) => {
                skipped.push(format!("layer {i}: not a simple-signing payload: {e}"));
                continue;
            }
        };
        if payload.critical.image.docker_manifest_digest != digest {
            skipped.push(format!(
                "layer {i}: its payload names {}",
                shown(&payload.critical.image.docker_manifest_digest)
            ));
            continue;
        }
        let Some(signature) = layer.annotations.get(SIGNATURE_ANNOTATION).cloned() else {
            skipped.push(format!("layer {i}: no {SIGNATURE_ANNOTATION} annotation"));
            continue;
        };
        let rekor_keys = trust.map(|t| &t.rekor_keys).filter(|k| !k.is_empty());
        let bundle = match (layer.annotations.get(BUNDLE_ANNOTATION), rekor_keys) {
            (Some(raw), Some(keys)) => match Bundle::verified(raw, keys) {
                Ok(b) => Some(b),
                Err(e) => {
                    skipped.push(format!("layer {i}: {e:#}"));
                    continue;
                }
            },
            _ => None,
        };
        let anchors = trust.map(|t| &t.anchors).filter(|a| !a.is_empty());
        let (identity, identity_error) = match (
            layer.annotations.get(CERTIFICATE_ANNOTATION),
            anchors,
            &bundle,
        ) {
            (Some(cert), Some(anchors), Some(bundle)) => {
                match certificate_identity(cert, anchors, bundle, now) {
                    Ok(id) => (Some(id), None),
                    Err(e) => (None, Some(format!("layer {i}: certificate ignored: {e:#}"))),
                }
            }
            (Some(_), _, None) => (
                None,
                Some(format!(
                    "layer {i}: certificate ignored: no verified Rekor bundle"
                )),
            ),
            _ => (None, None),
        };
        kept.push(TrustedLayer {
            layer,
            payload,
            signature,
            bundle,
            identity,
            identity_error,
        });
    }
    if kept.is_empty() {
        Err(skipped)
    } else {
        Ok(kept)
    }
}

impl TrustedLayer {
    fn has_annotations(&self, wanted: Option<&BTreeMap<String, String>>) -> bool {
        wanted.is_none_or(|w| missing_annotations(self.payload.optional.as_ref(), w).is_empty())
    }
}

/// policy-fetcher's forced trailing `/` (an `url::Url` that does not end
/// with one gets one).
///
/// # Errors
/// Not an absolute URL (policy-evaluator would panic: here it is a host error).
pub fn normalized_prefix(prefix: &str) -> Result<String> {
    ensure!(
        prefix
            .split_once("://")
            .is_some_and(|(scheme, rest)| !scheme.is_empty() && !rest.is_empty()),
        "url_prefix {} is not an absolute URL",
        shown(prefix)
    );
    Ok(if prefix.ends_with('/') {
        prefix.to_owned()
    } else {
        format!("{prefix}/")
    })
}

/// policy-fetcher's `GitHubRepo::try_from`: a `github.com` URL's first two
/// path segments.
fn github_repo(url: &str) -> Option<(String, String)> {
    let (_, rest) = url.split_once("://")?;
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let authority = &rest[..end];
    let host = authority.rsplit('@').next()?;
    let host = host.split(':').next()?;
    if !host.eq_ignore_ascii_case("github.com") {
        return None;
    }
    let path = rest[end..].split(['?', '#']).next()?;
    let mut segments = path.strip_prefix('/')?.split('/');
    Some((segments.next()?.to_owned(), segments.next()?.to_owned()))
}

/// policy-fetcher's `GitHubVerifier` on one identity.
fn github_matches(identity: &Identity, owner: &str, repo: Option<&str>) -> bool {
    if identity.issuer.as_deref() != Some(GITHUB_ACTIONS_ISSUER) {
        return false;
    }
    let Subject::Uri(uri) = &identity.subject else {
        return false;
    };
    if github_repo(uri).is_none() {
        return false;
    }
    let Some(repository) = &identity.github_workflow_repository else {
        return false;
    };
    let Some((signed_owner, signed_repo)) =
        github_repo(&format!("https://github.com/{repository}"))
    else {
        return false;
    };
    signed_owner == owner && repo.is_none_or(|r| r == signed_repo)
}

/// The layers' identities that were ignored, for messages.
fn identity_notes(layers: &[TrustedLayer]) -> String {
    let notes: Vec<&str> = layers
        .iter()
        .filter_map(|l| l.identity_error.as_deref())
        .take(MAX_REASONS)
        .collect();
    let seen: Vec<String> = layers
        .iter()
        .filter_map(|l| l.identity.as_ref())
        .take(MAX_REASONS)
        .map(|id| {
            format!(
                "subject {} issuer {}",
                shown(id.subject.as_str()),
                id.issuer.as_deref().map_or("(none)".to_owned(), shown)
            )
        })
        .collect();
    let mut out = String::new();
    if !seen.is_empty() {
        out.push_str(&format!("; trusted certificates seen: {}", seen.join(", ")));
    }
    if !notes.is_empty() {
        out.push_str(&format!("; {}", notes.join("; ")));
    }
    out
}

/// Checks `request` against the digest-checked layers of the image's `.sig`
/// manifest (pure).
///
/// # Errors
/// Why the request is not satisfied, as the host error's text.
pub fn check_layers(
    request: &KeylessRequest,
    digest: &str,
    layers: Vec<SignatureLayer>,
    trust: Option<&TrustRoot>,
    now: i64,
) -> Result<()> {
    if !matches!(request, KeylessRequest::SigstoreCertificateVerify { .. }) && trust.is_none() {
        return Err(anyhow!(
            "keyless verification needs a Sigstore trust root: pass --sigstore-trust-config FILE \
             (policy-harness has no default trust root offline)"
        ));
    }
    let layers = trusted_layers(layers, digest, trust, now).map_err(|skipped| {
        anyhow!(
            "no signature layer can be verified: {}",
            skipped
                .iter()
                .take(MAX_REASONS)
                .cloned()
                .collect::<Vec<_>>()
                .join("; ")
        )
    })?;
    let unsatisfied = |what: String| {
        anyhow!(
            "image verification failed: no signature layer by {what}{}",
            identity_notes(&layers)
        )
    };
    match request {
        KeylessRequest::SigstoreKeylessVerify {
            keyless,
            annotations,
            ..
        } => {
            ensure!(!keyless.is_empty(), "Must provide keyless info");
            ensure!(
                keyless.len() <= MAX_IDENTITIES,
                "more than {MAX_IDENTITIES} identities"
            );
            for k in keyless {
                let ok = layers.iter().any(|l| {
                    l.identity.as_ref().is_some_and(|id| {
                        id.issuer.as_deref() == Some(k.issuer.as_str())
                            && id.subject.as_str() == k.subject
                    }) && l.has_annotations(annotations.as_ref())
                });
                if !ok {
                    return Err(unsatisfied(format!(
                        "subject {} issuer {}{}",
                        shown(&k.subject),
                        shown(&k.issuer),
                        if annotations.is_some() {
                            " with the annotations"
                        } else {
                            ""
                        }
                    )));
                }
            }
        }
        KeylessRequest::SigstoreKeylessPrefixVerify {
            keyless_prefix,
            annotations,
            ..
        } => {
            ensure!(!keyless_prefix.is_empty(), "Must provide keyless info");
            ensure!(
                keyless_prefix.len() <= MAX_IDENTITIES,
                "more than {MAX_IDENTITIES} identities"
            );
            for KeylessPrefixInfo { issuer, url_prefix } in keyless_prefix {
                let prefix = normalized_prefix(url_prefix)?;
                let ok = layers.iter().any(|l| {
                    l.identity.as_ref().is_some_and(|id| {
                        id.issuer.as_deref() == Some(issuer.as_str())
                            && id.subject.as_str().starts_with(&prefix)
                    }) && l.has_annotations(annotations.as_ref())
                });
                if !ok {
                    return Err(unsatisfied(format!(
                        "subject prefix {} issuer {}",
                        shown(&prefix),
                        shown(issuer)
                    )));
                }
            }
        }
        KeylessRequest::SigstoreGithubActionsVerify {
            owner,
            repo,
            annotations,
            ..
        } => {
            ensure!(!owner.is_empty(), "Must provide owner info");
            let ok = layers.iter().any(|l| {
                l.identity
                    .as_ref()
                    .is_some_and(|id| github_matches(id, owner, repo.as_deref()))
                    && l.has_annotations(annotations.as_ref())
            });
            if !ok {
                return Err(unsatisfied(format!(
                    "GitHub Actions of owner {}{}",
                    shown(owner),
                    repo.as_deref()
                        .map_or(String::new(), |r| format!(" repository {}", shown(r)))
                )));
            }
        }
        KeylessRequest::SigstoreCertificateVerify {
            certificate,
            certificate_chain,
            require_rekor_bundle,
            annotations,
            ..
        } => check_certificate(
            &layers,
            certificate,
            certificate_chain.as_deref(),
            *require_rekor_bundle,
            annotations.as_ref(),
            now,
        )?,
    }
    Ok(())
}

/// sigstore-rs's `CertificateVerifier` (plus `AnnotationVerifier` as a
/// separate constraint: some layer must carry the annotations, not
/// necessarily the signed one, as in policy-evaluator).
fn check_certificate(
    layers: &[TrustedLayer],
    certificate: &[u8],
    chain: Option<&[Vec<u8>]>,
    require_rekor_bundle: bool,
    annotations: Option<&BTreeMap<String, String>>,
    now: i64,
) -> Result<()> {
    let leaf = Leaf::from_pem(certificate).map_err(|e| anyhow!("the certificate: {e:#}"))?;
    leaf.check_key_usages()?;
    leaf.check_has_san()?;
    leaf.check_not_before(now)?;
    if let Some(chain) = chain {
        ensure!(
            chain.len() <= MAX_IDENTITIES,
            "more than {MAX_IDENTITIES} chain certificates"
        );
        let anchors = chain
            .iter()
            .enumerate()
            .map(|(i, pem)| {
                Anchor::from_pem(pem).map_err(|e| anyhow!("certificate_chain[{i}]: {e:#}"))
            })
            .collect::<Result<Vec<_>>>()?;
        leaf.verify_issued_by(&anchors, now)
            .map_err(|e| anyhow!("the certificate does not chain to the given CAs: {e:#}"))?;
    }
    let b64 = base64::engine::general_purpose::STANDARD;
    let signed = layers.iter().any(|l| {
        let verified = b64
            .decode(&l.signature)
            .is_ok_and(|s| leaf.key.verifies(&l.layer.blob, &s));
        verified
            && match &l.bundle {
                Some(bundle) => leaf
                    .check_integrated_time(bundle.payload.integrated_time)
                    .is_ok(),
                None => !require_rekor_bundle,
            }
    });
    ensure!(
        signed,
        "image verification failed: no signature layer signed by the certificate's key{}",
        if require_rekor_bundle {
            " with a verified Rekor bundle inside the certificate's validity"
        } else {
            ""
        }
    );
    ensure!(
        layers.iter().any(|l| l.has_annotations(annotations)),
        "image verification failed: no signature layer carries the requested annotations"
    );
    Ok(())
}

/// Verifies `request` against `store`: resolve the digest, read the `.sig`
/// manifest and its layers (bounded, digest-checked), then [`check_layers`].
///
/// # Errors
/// The host error's text.
pub fn verify_with(
    store: &dyn SignatureStore,
    request: &KeylessRequest,
    trust: Option<&TrustRoot>,
    now: i64,
) -> Result<VerificationResponse> {
    let image = request.image();
    let reference = parse_image(image).map_err(|e| anyhow!("image {}: {e:#}", shown(image)))?;
    let digest = match reference.digest() {
        Some(d) => d.to_owned(),
        None => store
            .resolve(&reference)
            .map_err(|e| anyhow!("image {}: cannot resolve its digest: {e}", shown(image)))?,
    };
    let signature_ref = signature_reference(&reference, &digest)?;
    let bytes = match store.manifest(&signature_ref, MAX_MANIFEST_BYTES) {
        Ok(Fetched::Found(bytes)) => bytes,
        Ok(Fetched::Absent(reason)) | Err(reason) => {
            return Err(anyhow!(
                "no signatures found for image: {} ({}: {reason})",
                shown(image),
                signature_ref.whole()
            ))
        }
    };
    let layers = fetch_layers(store, &signature_ref, &bytes).map_err(|e| anyhow!("{e}"))?;
    check_layers(request, &digest, layers, trust, now)?;
    Ok(VerificationResponse {
        is_trusted: true,
        digest,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixes_get_a_slash() {
        assert_eq!(
            normalized_prefix("https://github.com/acme").unwrap(),
            "https://github.com/acme/"
        );
        assert_eq!(
            normalized_prefix("https://github.com/acme/").unwrap(),
            "https://github.com/acme/"
        );
        assert!(normalized_prefix("github.com/acme").is_err());
    }

    #[test]
    fn github_urls() {
        assert_eq!(
            github_repo("https://github.com/acme/app/.github/workflows/r.yml@refs/heads/main"),
            Some(("acme".to_owned(), "app".to_owned()))
        );
        assert_eq!(
            github_repo("https://github.com/acme/app"),
            Some(("acme".to_owned(), "app".to_owned()))
        );
        assert_eq!(github_repo("https://github.com/acme"), None);
        assert_eq!(github_repo("https://gitlab.com/acme/app"), None);
        let id = |issuer: &str, uri: &str, repo: Option<&str>| Identity {
            subject: Subject::Uri(uri.to_owned()),
            issuer: Some(issuer.to_owned()),
            github_workflow_repository: repo.map(str::to_owned),
        };
        let uri = "https://github.com/acme/app/.github/workflows/r.yml@refs/heads/main";
        let good = id(GITHUB_ACTIONS_ISSUER, uri, Some("acme/app"));
        assert!(github_matches(&good, "acme", None));
        assert!(github_matches(&good, "acme", Some("app")));
        assert!(!github_matches(&good, "acme", Some("other")));
        assert!(!github_matches(&good, "acm", None));
        assert!(!github_matches(
            &id("https://other", uri, Some("acme/app")),
            "acme",
            None
        ));
        assert!(!github_matches(
            &id(GITHUB_ACTIONS_ISSUER, uri, None),
            "acme",
            None
        ));
        // The owner comes from the workflow-repository extension, not the SAN.
        assert!(github_matches(
            &id(GITHUB_ACTIONS_ISSUER, uri, Some("evil/app")),
            "evil",
            None
        ));
    }
}
