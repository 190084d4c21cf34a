//! What the policy asks of Kubewarden's host, and the one budget every
//! such call spends.
//!
//! Every host capability the policy uses reaches a registry (or the
//! cluster's API server) chosen by whoever submits the object: a Pod with 2,000 distinct
//! tags must not become 2,000 sequential registry requests from the
//! policy-server. So calls go through `Calls`, which counts them against
//! [`MAX_HOST_CALLS`] per request and refuses past it with a reason that
//! says what to do. This module imports nothing else of the policy: the
//! engine and every proof source depend on it, never the reverse.

use core::fmt;
use std::cell::Cell;
use std::collections::BTreeMap;

/// Host calls (registry lookups, registry verifications, signature
/// manifests) allowed in one request. Each is a registry round trip on a
/// cold cache; an image that would need one more is rejected with
/// [`HostFailure::Budget`].
pub const MAX_HOST_CALLS: u32 = 64;

/// An identity a keyless (or certificate) authority accepts, as the host
/// checks it: one per `oci`/`v2/verify` call, since the host demands that
/// every identity of one request matches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Identity<'s> {
    /// Exact OIDC issuer and certificate subject (`SigstoreKeylessVerify`).
    Keyless {
        /// The OIDC issuer URL.
        issuer: &'s str,
        /// The certificate's subject (email or URI SAN).
        subject: &'s str,
    },
    /// The subject starts with a URL prefix (`SigstoreKeylessPrefixVerify`).
    KeylessPrefix {
        /// The OIDC issuer URL.
        issuer: &'s str,
        /// The prefix, ending in `/` (settings refuse any other).
        url_prefix: &'s str,
    },
    /// A GitHub Actions workflow of an owner, optionally of one repository
    /// (`SigstoreGithubActionsVerify`).
    GithubActions {
        /// The GitHub owner (user or organisation).
        owner: &'s str,
        /// The repository, without the owner.
        repo: Option<&'s str>,
    },
    /// A key certified by a given certificate (`SigstoreCertificateVerify`).
    Certificate {
        /// The certificate, PEM.
        certificate: &'s str,
        /// The CAs it must chain to, PEM each; `None`: the certificate
        /// itself is trusted.
        chain: Option<&'s [String]>,
        /// Whether the signature layer must carry a Rekor bundle.
        require_rekor_bundle: bool,
    },
}

impl Identity<'_> {
    /// Whether the host's check of this identity leaves the signature
    /// unbound to the certificate (Kubewarden 1.31's keyless path never
    /// verifies a layer's signature with its certificate's key), so the
    /// policy must check the layers itself.
    #[must_use]
    pub fn needs_binding_check(&self) -> bool {
        !matches!(self, Identity::Certificate { .. })
    }
}

impl fmt::Display for Identity<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use crate::text::Quoted;
        match self {
            Identity::Keyless { issuer, subject } => {
                write!(f, "subject {} (issuer {})", Quoted(subject), Quoted(issuer))
            }
            Identity::KeylessPrefix { issuer, url_prefix } => write!(
                f,
                "subject prefix {} (issuer {})",
                Quoted(url_prefix),
                Quoted(issuer)
            ),
            Identity::GithubActions { owner, repo: None } => {
                write!(f, "GitHub Actions workflows of owner {}", Quoted(owner))
            }
            Identity::GithubActions {
                owner,
                repo: Some(repo),
            } => write!(
                f,
                "GitHub Actions workflows of {}/{}",
                Quoted(owner),
                Quoted(repo)
            ),
            Identity::Certificate { .. } => f.write_str("the authority's certificate"),
        }
    }
}

/// What the policy asks of Kubewarden's host. Production passes the SDK's
/// host calls (`lib.rs`) and answers every one; tests pass maps. A call a
/// host does not provide fails, and the policy then rejects what depended
/// on it: every call has that refusal as its default, so a test host names
/// only what it answers. The engine never calls a `Host` directly: it goes
/// through `Calls`, which keeps the budget.
pub trait Host {
    /// The digest (`sha256:…`) of the manifest `image` names
    /// (`oci`/`v1/manifest_digest`).
    ///
    /// # Errors
    /// The host's reason, as text.
    fn manifest_digest(&self, image: &str) -> Result<String, String> {
        Err(format!("this host cannot resolve {image}"))
    }

    /// Verifies the cosign signatures of `image` in its registry with one
    /// public key (`oci`/`v2/verify`, `SigstorePubKeyVerify`): the host
    /// demands that every key it is given verifies, so the policy gives one
    /// key per call.
    ///
    /// # Errors
    /// The host's reason, as text (no signature, none verifies, registry
    /// unreachable…).
    fn verify_pub_key(
        &self,
        image: &str,
        pub_key: String,
        annotations: Option<BTreeMap<String, String>>,
    ) -> Result<Verified, String> {
        let _ = (pub_key, annotations);
        Err(format!("this host cannot verify the signatures of {image}"))
    }

    /// Verifies the signatures of `image` in its registry for one identity
    /// (`oci`/`v2/verify`, one of the keyless or certificate requests).
    ///
    /// # Errors
    /// The host's reason, as text. A host that cannot verify identities
    /// says so, and the identity counts as not verified.
    fn verify_identity(
        &self,
        image: &str,
        identity: &Identity<'_>,
        annotations: Option<BTreeMap<String, String>>,
    ) -> Result<Verified, String> {
        let _ = (image, identity, annotations);
        Err("this host cannot verify keyless signatures".to_owned())
    }

    /// The OCI manifest `image` names, as the registry stored it
    /// (`oci`/`v1/oci_manifest`).
    ///
    /// # Errors
    /// The host's reason, as text.
    fn oci_manifest(&self, image: &str) -> Result<Vec<u8>, String> {
        Err(format!("this host cannot read the manifest of {image}"))
    }

    /// The host's wall clock, in seconds since the Unix epoch, or `None`
    /// when it gives none (expiring exceptions then match nothing).
    /// Kubewarden's host gives WASI's realtime clock; tests give a fixed one.
    fn now(&self) -> Option<i64> {
        crate::clock::system_now()
    }

    /// The resources of one kind in a namespace, as a Kubernetes list
    /// (`kubernetes`/`list_resources_by_namespace`; context-aware policies).
    ///
    /// # Errors
    /// The host's reason, as text.
    fn list_resources_by_namespace(
        &self,
        api_version: &str,
        kind: &str,
        namespace: &str,
    ) -> Result<Vec<u8>, String> {
        let _ = (api_version, namespace);
        Err(format!("this host cannot list {kind} resources"))
    }

    /// The resources of one cluster-scoped kind, as a Kubernetes list
    /// (`kubernetes`/`list_resources_all`).
    ///
    /// # Errors
    /// The host's reason, as text.
    fn list_resources_all(&self, api_version: &str, kind: &str) -> Result<Vec<u8>, String> {
        let _ = api_version;
        Err(format!("this host cannot list {kind} resources"))
    }
}

/// The host's answer to a registry verification.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    /// Whether the host trusts the image.
    pub is_trusted: bool,
    /// The digest it verified.
    pub digest: String,
}

/// How much work one evaluation did: lets tests assert that hostile input
/// costs work proportional to its size, not to its square, and that no
/// request makes more host calls than [`MAX_HOST_CALLS`].
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Work {
    /// (repository, digest) pairs evaluated against the attestations.
    pub digest_checks: u32,
    /// Attestations looked at for an image (they name its digest and its
    /// repository).
    pub attestations_examined: u64,
    /// Signature entries looked at (key id looked up).
    pub signatures_examined: u64,
    /// Public-key signature verifications run.
    pub verifications: u32,
    /// Their cost, in RSA-2048 verifications (see
    /// [`crate::evaluate::MAX_VERIFICATION_COST`]).
    pub verification_cost: u32,
    /// Registry verifications asked of the host (`v2/verify`, keys and
    /// identities).
    pub registry_calls: u32,
    /// Tag lookups asked of the host (`v1/manifest_digest`).
    pub digest_lookups: u32,
    /// Signature manifests read through the host (`v1/oci_manifest`).
    pub manifest_reads: u32,
    /// Cluster lists read through the host (`kubernetes`/`list_resources_*`).
    pub cluster_reads: u32,
}

impl Work {
    /// Every host call made: what [`MAX_HOST_CALLS`] bounds.
    #[must_use]
    pub fn host_calls(&self) -> u32 {
        self.registry_calls + self.digest_lookups + self.manifest_reads + self.cluster_reads
    }
}

/// Why a host call gave no answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HostFailure {
    /// Not asked: the request's budget of host calls is spent.
    Budget,
    /// The host's reason.
    Host(String),
}

impl fmt::Display for HostFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HostFailure::Budget => write!(
                f,
                "not asked: this admission already made {MAX_HOST_CALLS} registry calls, the \
                 policy's limit per request; deploy the image by digest (or allowlist it)"
            ),
            HostFailure::Host(reason) => f.write_str(reason),
        }
    }
}

impl From<HostFailure> for String {
    fn from(f: HostFailure) -> String {
        match f {
            HostFailure::Host(reason) => reason,
            budget => budget.to_string(),
        }
    }
}

/// The host, behind the request's budget: every call is counted in
/// [`Work`] and none is made past [`MAX_HOST_CALLS`].
#[derive(Clone, Copy)]
pub(crate) struct Calls<'h> {
    host: &'h dyn Host,
    work: &'h Cell<Work>,
}

impl<'h> Calls<'h> {
    pub fn new(host: &'h dyn Host, work: &'h Cell<Work>) -> Self {
        Calls { host, work }
    }

    /// The request's work so far.
    pub fn work(&self) -> Work {
        self.work.get()
    }

    /// Adds to the request's work counters.
    pub fn count(&self, f: impl FnOnce(&mut Work)) {
        let mut w = self.work.get();
        f(&mut w);
        self.work.set(w);
    }

    /// Spends one call of the budget, counted by `kind`.
    fn spend(&self, kind: impl FnOnce(&mut Work)) -> Result<(), HostFailure> {
        if self.work.get().host_calls() >= MAX_HOST_CALLS {
            return Err(HostFailure::Budget);
        }
        self.count(kind);
        Ok(())
    }

    /// `oci`/`v1/manifest_digest`.
    pub fn manifest_digest(&self, image: &str) -> Result<String, HostFailure> {
        self.spend(|w| w.digest_lookups += 1)?;
        self.host.manifest_digest(image).map_err(HostFailure::Host)
    }

    /// `oci`/`v2/verify` with one public key.
    pub fn verify_pub_key(
        &self,
        image: &str,
        pub_key: String,
        annotations: Option<BTreeMap<String, String>>,
    ) -> Result<Verified, HostFailure> {
        self.spend(|w| w.registry_calls += 1)?;
        self.host
            .verify_pub_key(image, pub_key, annotations)
            .map_err(HostFailure::Host)
    }

    /// `oci`/`v2/verify` for one identity.
    pub fn verify_identity(
        &self,
        image: &str,
        identity: &Identity<'_>,
        annotations: Option<BTreeMap<String, String>>,
    ) -> Result<Verified, HostFailure> {
        self.spend(|w| w.registry_calls += 1)?;
        self.host
            .verify_identity(image, identity, annotations)
            .map_err(HostFailure::Host)
    }

    /// The host's clock (not a call: WASI, not waPC).
    pub fn now(&self) -> Option<i64> {
        self.host.now()
    }

    /// `kubernetes`/`list_resources_by_namespace`.
    pub fn list_resources_by_namespace(
        &self,
        api_version: &str,
        kind: &str,
        namespace: &str,
    ) -> Result<Vec<u8>, HostFailure> {
        self.spend(|w| w.cluster_reads += 1)?;
        self.host
            .list_resources_by_namespace(api_version, kind, namespace)
            .map_err(HostFailure::Host)
    }

    /// `kubernetes`/`list_resources_all`.
    pub fn list_resources_all(
        &self,
        api_version: &str,
        kind: &str,
    ) -> Result<Vec<u8>, HostFailure> {
        self.spend(|w| w.cluster_reads += 1)?;
        self.host
            .list_resources_all(api_version, kind)
            .map_err(HostFailure::Host)
    }

    /// `oci`/`v1/oci_manifest`.
    pub fn oci_manifest(&self, image: &str) -> Result<Vec<u8>, HostFailure> {
        self.spend(|w| w.manifest_reads += 1)?;
        self.host.oci_manifest(image).map_err(HostFailure::Host)
    }
}
