//! Image references: parsing, the `.sig` tag of a digest, `docker-reference`,
//! and the image a signature is for ([`ResolvedImage`]).

use anyhow::{anyhow, bail, ensure, Result};
use oci_client::Reference;

use super::format::is_sha256_digest;
use super::store::SignatureStore;
use super::text::shown;

/// `sha256-HEX.sig`, the tag of the signatures of `digest`.
///
/// # Errors
/// `digest` is not `sha256:` + 64 lowercase hex digits.
pub fn signature_tag(digest: &str) -> Result<String> {
    ensure!(
        is_sha256_digest(digest),
        "digest {} is not sha256:<64 hex digits>",
        shown(digest)
    );
    Ok(format!("{}.sig", digest.replace(':', "-")))
}

/// The reference of the `.sig` manifest of `digest` in `image`'s repository.
///
/// # Errors
/// See [`signature_tag`].
pub fn signature_reference(image: &Reference, digest: &str) -> Result<Reference> {
    Ok(Reference::with_tag(
        image.registry().to_owned(),
        image.repository().to_owned(),
        signature_tag(digest)?,
    ))
}

/// `docker-reference` as cosign writes it (go-containerregistry's
/// `Repository.Name()`: `HOST/REPO`, Docker Hub as `index.docker.io`).
pub fn docker_reference(image: &Reference) -> String {
    let registry = match image.registry() {
        "docker.io" => "index.docker.io",
        other => other,
    };
    format!("{registry}/{}", image.repository())
}

/// Parses an image reference (Docker Hub short names expanded, as
/// policy-server does).
///
/// # Errors
/// Not a valid reference.
pub fn parse_image(image: &str) -> Result<Reference> {
    image
        .parse::<Reference>()
        .map_err(|e| anyhow!("invalid image reference {}: {e}", shown(image)))
}

/// The image a signature is for: its reference and manifest digest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResolvedImage {
    /// The reference as given (tag and/or digest).
    pub reference: Reference,
    /// `sha256:…`.
    pub digest: String,
}

impl ResolvedImage {
    /// `HOST/REPO@sha256:…`.
    pub fn pinned(&self) -> String {
        format!(
            "{}/{}@{}",
            self.reference.registry(),
            self.reference.repository(),
            self.digest
        )
    }
}

/// Parses `REPO[:TAG]@sha256:HEX` or, with a `store`, resolves `REPO:TAG`.
///
/// # Errors
/// Invalid reference, a tag without a store, or the registry's error.
pub fn resolve_image(image: &str, store: Option<&dyn SignatureStore>) -> Result<ResolvedImage> {
    let reference = parse_image(image)?;
    let digest = match (reference.digest(), store) {
        (Some(d), _) => d.to_owned(),
        (None, Some(store)) => store
            .resolve(&reference)
            .map_err(|e| anyhow!("cannot resolve {}: {e}", reference.whole()))?,
        (None, None) => bail!(
            "image {image:?} has no digest: give REPO@sha256:HEX, or --push to resolve the tag"
        ),
    };
    ensure!(
        is_sha256_digest(&digest),
        "digest {digest:?} is not sha256:<64 hex digits>"
    );
    Ok(ResolvedImage { reference, digest })
}
#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_and_references() {
        let d = format!("sha256:{}", "ab".repeat(32));
        assert_eq!(
            signature_tag(&d).unwrap(),
            format!("sha256-{}.sig", "ab".repeat(32))
        );
        assert!(signature_tag("sha512:00").is_err());
        let r = parse_image("127.0.0.1:5000/team/app:v1").unwrap();
        assert_eq!(
            signature_reference(&r, &d).unwrap().whole(),
            format!("127.0.0.1:5000/team/app:sha256-{}.sig", "ab".repeat(32))
        );
        assert_eq!(docker_reference(&r), "127.0.0.1:5000/team/app");
        let hub = parse_image("busybox").unwrap();
        assert_eq!(docker_reference(&hub), "index.docker.io/library/busybox");
    }
}
