//! Why an image is not attested: the reasons, per policy and per
//! authority, and the words an operator reads for each.

use core::fmt;

use super::listed::{capped, Listed};
use super::MAX_LISTED;
use crate::attestation::AnnotationError;
use crate::host::HostFailure;
use crate::image::ReferenceError;
use crate::keys::KeyError;
use crate::settings::Require;
use crate::text::Quoted;
use crate::verify::VerifyError;

/// Why an image is not attested.
#[derive(Debug, Clone)]
pub enum Reason {
    /// Referenced by tag (or by nothing), and tags are not resolved.
    Tag {
        /// The tag, `None` for an implicit `latest`.
        tag: Option<String>,
        /// The name without tag, for the suggested fix.
        name: String,
    },
    /// Not an image reference.
    Reference(ReferenceError),
    /// The host could not resolve the tag.
    Resolution(HostFailure),
    /// The host answered with something that is not a digest.
    ResolvedDigest(String),
    /// The annotation is unusable.
    Annotation(AnnotationError),
    /// No attestation names this digest.
    NoAttestation {
        /// The digest.
        digest: String,
        /// How many attestations the object carries (for other digests).
        carried: usize,
    },
    /// Attestations exist but no applicable policy is satisfied.
    Unsatisfied(Vec<PolicyMiss>),
}

/// Why one identity of an authority does not prove an image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IdentityMiss {
    /// The host did not verify it: its reason.
    Host(String),
    /// The host verified it, but the policy's own check of the signature
    /// layers failed (the host does not bind signatures to certificates).
    Unbound(String),
}

/// The annotations an authority's registry signatures must carry
/// (`registryAnnotations`), named in its reason: the host's own reason (which
/// kwctl's policy-evaluator words as the whole constraint, the PEM key
/// first) is cut before it reaches them, so without this an operator could
/// not tell a wrong key from a missing annotation.
pub type Required = std::collections::BTreeMap<String, String>;

/// A policy that an image does not satisfy.
#[derive(Debug, Clone)]
pub struct PolicyMiss {
    /// The policy's name; `None` for the implicit any-authority policy.
    pub policy: Option<String>,
    /// Its `require`.
    pub require: Require,
    /// The authorities that did not attest, with why.
    pub missing: Vec<(String, Miss)>,
}

/// Why an authority's attestation for an image is missing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Miss {
    /// No signature by any of its keys on an attestation for this digest.
    NoSignature {
        /// The authority's key ids.
        key_ids: Listed<String>,
        /// Distinct key ids that signed attestations for this digest, and
        /// whether they belong to any authority at all.
        signed_by: Listed<(String, bool)>,
    },
    /// The attestation for this digest names another repository.
    OtherRepository {
        /// What the payload names.
        named: String,
        /// The image's repository, normalised.
        expected: String,
    },
    /// A signature names its key but does not verify.
    BadSignature {
        /// The key id.
        key_id: String,
        /// How it failed.
        error: VerifyError,
    },
    /// The key a signature names cannot be decoded.
    BadKey {
        /// The key id.
        key_id: String,
        /// Why.
        error: KeyError,
    },
    /// Too many signatures failed in this request to check more.
    Budget,
    /// This request already ran the most verifications it may.
    VerificationBudget,
    /// The annotation source holds nothing for this digest.
    NotInAnnotation {
        /// The digest.
        digest: String,
        /// How many attestations the object carries (for other digests).
        carried: usize,
    },
    /// The annotation source is unusable.
    Annotation(AnnotationError),
    /// The annotation attests digests; a tag gives it nothing to check.
    TagOnly,
    /// No key of the authority verified a cosign signature in the registry:
    /// each key tried, with the host's answer.
    Registry {
        /// (key id, the host's reason), in key order.
        keys: Listed<(String, String)>,
        /// The authority's `registryAnnotations`, if any.
        required: Option<Required>,
    },
    /// No identity of the authority verified a signature in the registry
    /// (or one did, but its layers are not bound to their certificates):
    /// each identity tried, with why.
    Identities {
        /// (the identity as shown, why not, whether it is keyless), in order.
        identities: Listed<(String, IdentityMiss, bool)>,
        /// The authority's `registryAnnotations`, if any, when the host
        /// refused at least one identity.
        required: Option<Required>,
    },
    /// Neither source proves the authority.
    Both {
        /// Why the annotation does not.
        annotation: Box<Miss>,
        /// Why the registry does not.
        registry: Box<Miss>,
    },
}

impl Miss {
    /// How informative this reason is, to report the best one.
    pub(crate) fn rank(&self) -> u8 {
        match self {
            Miss::NoSignature { .. } => 0,
            Miss::OtherRepository { .. } => 1,
            Miss::BadSignature { .. } => 2,
            Miss::Budget | Miss::VerificationBudget => 3,
            Miss::BadKey { .. } => 4,
            Miss::NotInAnnotation { .. } | Miss::TagOnly => 0,
            Miss::Annotation(_)
            | Miss::Registry { .. }
            | Miss::Identities { .. }
            | Miss::Both { .. } => 5,
        }
    }
}

impl fmt::Display for Miss {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Miss::NoSignature { key_ids, signed_by } => {
                f.write_str("no valid signature by its keys (")?;
                capped(
                    f,
                    &key_ids.shown,
                    key_ids.more,
                    MAX_LISTED,
                    ", ",
                    "",
                    |f, id| write!(f, "{}", Quoted(id)),
                )?;
                f.write_str(")")?;
                if !signed_by.is_empty() {
                    f.write_str("; the attestations for this digest are signed by ")?;
                    capped(
                        f,
                        &signed_by.shown,
                        signed_by.more,
                        MAX_LISTED,
                        ", ",
                        " key ids",
                        |f, (id, known)| {
                            write!(f, "{}", Quoted(id))?;
                            if *known {
                                Ok(())
                            } else {
                                f.write_str(" (unknown key id)")
                            }
                        },
                    )?;
                }
                Ok(())
            }
            Miss::OtherRepository { named, expected } => write!(
                f,
                "the attestation for this digest names repository {}, not {}",
                Quoted(named),
                Quoted(expected)
            ),
            Miss::BadSignature { key_id, error } => {
                write!(f, "signature with key {} {error}", Quoted(key_id))
            }
            Miss::BadKey { key_id, error } => {
                write!(f, "key {} is unusable: {error}", Quoted(key_id))
            }
            Miss::Budget => {
                f.write_str("too many invalid signatures in this request to check more")
            }
            Miss::VerificationBudget => write!(
                f,
                "not checked: this request already spent the policy's budget of signature \
                 verifications (the cost of {} RSA-2048 checks)",
                crate::evaluate::MAX_VERIFICATION_COST
            ),
            Miss::NotInAnnotation { digest, carried } => {
                write!(f, "no attestation in the annotation names digest {}", Quoted(digest))?;
                if *carried > 0 {
                    write!(f, " (it carries {carried} attestation(s), for other digests)")?;
                }
                Ok(())
            }
            Miss::Annotation(e) => e.fmt(f),
            Miss::TagOnly => f.write_str(
                "the annotation can attest only a digest, and no registry signature verified one for this tag",
            ),
            Miss::Registry { keys, required } => {
                registry_keys(f, keys)?;
                must_carry(f, required.as_ref())
            }
            Miss::Identities {
                identities,
                required,
            } => {
                registry_identities(f, identities)?;
                must_carry(f, required.as_ref())
            }
            Miss::Both {
                annotation,
                registry,
            } => write!(f, "{annotation}; and {registry}"),
        }
    }
}

/// Why no key of an authority verified a cosign signature in the registry.
fn registry_keys(f: &mut fmt::Formatter<'_>, keys: &Listed<(String, String)>) -> fmt::Result {
    match (keys.shown.as_slice(), keys.more) {
        ([(id, why)], 0) => write!(
            f,
            "no cosign signature in the registry verifies with key {} (host: {})",
            Quoted(id),
            Quoted(why)
        ),
        (shown, more) => {
            f.write_str("no cosign signature in the registry verifies with its keys: ")?;
            capped(f, shown, more, MAX_LISTED, ", ", " keys", |f, (id, why)| {
                write!(f, "{} (host: {})", Quoted(id), Quoted(why))
            })
        }
    }
}

/// Why no identity of an authority proved a signature in the registry.
fn registry_identities(
    f: &mut fmt::Formatter<'_>,
    identities: &Listed<(String, IdentityMiss, bool)>,
) -> fmt::Result {
    match (identities.shown.as_slice(), identities.more) {
        ([(id, IdentityMiss::Host(why), keyless)], 0) => write!(
            f,
            "no {} in the registry by {id} (host: {})",
            if *keyless {
                "keyless signature"
            } else {
                "signature"
            },
            Quoted(why)
        ),
        ([(id, IdentityMiss::Unbound(why), _)], 0) => {
            write!(
                f,
                "the host verified a keyless signature by {id}, but {why}"
            )
        }
        (shown, more) => {
            f.write_str("no signature in the registry by any of its identities: ")?;
            capped(
                f,
                shown,
                more,
                MAX_LISTED,
                ", ",
                " identities",
                |f, (id, why, _)| match why {
                    IdentityMiss::Host(why) => write!(f, "{id} (host: {})", Quoted(why)),
                    IdentityMiss::Unbound(why) => {
                        write!(f, "{id} (verified by the host, but {why})")
                    }
                },
            )
        }
    }
}

/// `; its signatures must carry the registryAnnotations k=v, …` when the
/// authority has any (at most [`MAX_LISTED`] shown, each cut).
fn must_carry(f: &mut fmt::Formatter<'_>, required: Option<&Required>) -> fmt::Result {
    let Some(required) = required else {
        return Ok(());
    };
    f.write_str("; its signatures must carry the registryAnnotations ")?;
    for (i, (k, v)) in required.iter().take(MAX_LISTED).enumerate() {
        if i > 0 {
            f.write_str(", ")?;
        }
        write!(f, "{}={}", Quoted(k), Quoted(v))?;
    }
    match required.len().saturating_sub(MAX_LISTED) {
        0 => Ok(()),
        more => write!(f, ", … and {more} more annotations"),
    }
}

impl fmt::Display for PolicyMiss {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (&self.policy, self.require, self.missing.as_slice()) {
            (Some(p), Require::All, missing) => capped(
                f,
                missing,
                0,
                MAX_LISTED,
                "; ",
                " missing authorities",
                |f, (authority, why)| {
                    write!(
                        f,
                        "policy {} requires authority {}: {why}",
                        Quoted(p),
                        Quoted(authority)
                    )
                },
            ),
            (Some(p), Require::Any, [(authority, why)]) => {
                write!(
                    f,
                    "policy {} requires authority {}: {why}",
                    Quoted(p),
                    Quoted(authority)
                )
            }
            (policy, _, missing) => {
                match policy {
                    Some(p) => write!(
                        f,
                        "policy {} requires any one of its authorities: ",
                        Quoted(p)
                    )?,
                    None => f.write_str("no trusted authority attests it: ")?,
                }
                capped(
                    f,
                    missing,
                    0,
                    MAX_LISTED,
                    "; ",
                    " authorities",
                    |f, (authority, why)| write!(f, "authority {}: {why}", Quoted(authority)),
                )
            }
        }
    }
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Reason::Tag { tag: Some(tag), name } => write!(
                f,
                "it is referenced by tag {}, not by digest; only digests can be verified: deploy it by digest ({}@sha256:<digest>)",
                Quoted(tag),
                Quoted(name)
            ),
            Reason::Tag { tag: None, name } => write!(
                f,
                "it is referenced without a digest (implicitly :latest); only digests can be verified: deploy it by digest ({}@sha256:<digest>)",
                Quoted(name)
            ),
            Reason::Reference(e) => write!(f, "it is not a valid image reference: {e}"),
            Reason::Resolution(HostFailure::Host(e)) => write!(f, "its tag could not be resolved to a digest: {}", Quoted(e)),
            Reason::Resolution(budget) => write!(f, "its tag was not resolved to a digest: {budget}"),
            Reason::ResolvedDigest(d) => {
                write!(f, "its tag resolved to {}, which is not a valid digest", Quoted(d))
            }
            Reason::Annotation(e) => e.fmt(f),
            Reason::NoAttestation { digest, carried } => {
                write!(f, "no attestation for digest {}", Quoted(digest))?;
                if *carried > 0 {
                    write!(f, " (the object carries {carried} attestation(s), for other digests)")?;
                }
                Ok(())
            }
            Reason::Unsatisfied(misses) => capped(
                f,
                misses,
                0,
                MAX_LISTED,
                "; ",
                " unsatisfied policies",
                |f, m| m.fmt(f),
            ),
        }
    }
}
