//! The outcome of an evaluation, and the one place it becomes Kubewarden's
//! `ValidationResponse`.

use core::fmt;
use std::collections::HashMap;

use kubewarden_policy_sdk::response::ValidationResponse;

use crate::attestation::AnnotationError;
use crate::image::ReferenceError;
use crate::keys::KeyError;
use crate::settings::Require;
use crate::text::Quoted;
use crate::verify::VerifyError;
use crate::workload::ContainerList;

/// The decision.
#[derive(Debug)]
pub enum Verdict {
    /// Admit, possibly with a mutated object (images pinned to digests).
    Admit {
        /// Warnings for the client (break-glass use).
        warnings: Vec<String>,
        /// Audit annotations (break-glass use).
        audit_annotations: Vec<(&'static str, String)>,
        /// The object with resolved tags pinned, when mutation is on.
        mutated_object: Option<serde_json::Value>,
    },
    /// Reject.
    Reject(Rejection),
}

/// Why a request is rejected.
#[derive(Debug)]
pub enum Rejection {
    /// The request itself cannot be read.
    Request(String),
    /// The settings the request carries are invalid.
    Settings(String),
    /// One or more images (or containers) fail; every one is listed.
    Images(Vec<Failure>),
}

/// One failing image or container.
#[derive(Debug)]
pub enum Failure {
    /// An image that is not attested, and why.
    Image {
        /// The image as written.
        image: String,
        /// Why.
        reason: Reason,
    },
    /// A container without an image.
    NoImage {
        /// Its list.
        list: ContainerList,
        /// Its index.
        index: usize,
        /// Its name.
        name: Option<String>,
    },
}

/// Why an image is not attested.
#[derive(Debug)]
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
    Resolution(String),
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

/// A policy that an image does not satisfy.
#[derive(Debug)]
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
        key_ids: Vec<String>,
        /// Key ids that signed attestations for this digest, and whether
        /// they belong to any authority at all.
        signed_by: Vec<(String, bool)>,
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
}

impl Miss {
    /// How informative this reason is, to report the best one.
    pub(crate) fn rank(&self) -> u8 {
        match self {
            Miss::NoSignature { .. } => 0,
            Miss::OtherRepository { .. } => 1,
            Miss::BadSignature { .. } => 2,
            Miss::Budget => 3,
            Miss::BadKey { .. } => 4,
        }
    }
}

impl fmt::Display for Miss {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Miss::NoSignature { key_ids, signed_by } => {
                f.write_str("no valid signature by its keys (")?;
                list(f, key_ids)?;
                f.write_str(")")?;
                if !signed_by.is_empty() {
                    f.write_str("; the attestations for this digest are signed by ")?;
                    for (i, (id, known)) in signed_by.iter().enumerate() {
                        if i > 0 {
                            f.write_str(", ")?;
                        }
                        write!(f, "{}", Quoted(id))?;
                        if !known {
                            f.write_str(" (unknown key id)")?;
                        }
                    }
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
        }
    }
}

fn list(f: &mut fmt::Formatter<'_>, items: &[String]) -> fmt::Result {
    for (i, s) in items.iter().enumerate() {
        if i > 0 {
            f.write_str(", ")?;
        }
        write!(f, "{}", Quoted(s))?;
    }
    Ok(())
}

impl fmt::Display for PolicyMiss {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (&self.policy, self.require, self.missing.as_slice()) {
            (Some(p), Require::All, missing) => {
                for (i, (authority, why)) in missing.iter().enumerate() {
                    if i > 0 {
                        f.write_str("; ")?;
                    }
                    write!(
                        f,
                        "policy {} requires authority {}: {why}",
                        Quoted(p),
                        Quoted(authority)
                    )?;
                }
                Ok(())
            }
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
                for (i, (authority, why)) in missing.iter().enumerate() {
                    if i > 0 {
                        f.write_str("; ")?;
                    }
                    write!(f, "authority {}: {why}", Quoted(authority))?;
                }
                Ok(())
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
            Reason::Resolution(e) => write!(f, "its tag could not be resolved to a digest: {}", Quoted(e)),
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
            Reason::Unsatisfied(misses) => {
                for (i, m) in misses.iter().enumerate() {
                    if i > 0 {
                        f.write_str("; ")?;
                    }
                    m.fmt(f)?;
                }
                Ok(())
            }
        }
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Failure::Image { image, reason } => {
                write!(f, "image {} is not attested: {reason}", Quoted(image))
            }
            Failure::NoImage { list, index, name } => {
                write!(f, "container ")?;
                if let Some(n) = name {
                    write!(f, "{} ", Quoted(n))?;
                }
                write!(f, "(spec.{}[{index}]) has no image", list.field())
            }
        }
    }
}

impl fmt::Display for Rejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Rejection::Request(e) => write!(f, "cannot evaluate the request: {e}"),
            Rejection::Settings(e) => write!(f, "the policy settings are not valid: {e}"),
            Rejection::Images(failures) => {
                for (i, failure) in failures.iter().enumerate() {
                    if i > 0 {
                        f.write_str("; ")?;
                    }
                    failure.fmt(f)?;
                }
                Ok(())
            }
        }
    }
}

impl Verdict {
    /// Kubewarden's response. Rejections carry no code, so the API server
    /// answers 403 Forbidden as for any denying webhook.
    #[must_use]
    pub fn into_response(self) -> ValidationResponse {
        match self {
            Verdict::Admit {
                warnings,
                audit_annotations,
                mutated_object,
            } => ValidationResponse {
                accepted: true,
                message: None,
                code: None,
                mutated_object,
                audit_annotations: (!audit_annotations.is_empty()).then(|| {
                    audit_annotations
                        .into_iter()
                        .map(|(k, v)| (k.to_owned(), v))
                        .collect::<HashMap<_, _>>()
                }),
                warnings: (!warnings.is_empty()).then_some(warnings),
            },
            Verdict::Reject(rejection) => ValidationResponse {
                accepted: false,
                message: Some(rejection.to_string()),
                code: None,
                mutated_object: None,
                audit_annotations: None,
                warnings: None,
            },
        }
    }
}
