//! The outcome of an evaluation, and the one place it becomes Kubewarden's
//! `ValidationResponse`.
//!
//! Messages are bounded: every list in them shows at most a few items and
//! says how many more there are, and the whole message is cut below
//! [`MAX_MESSAGE`] bytes whatever the input, because the API server copies it
//! into events and audit logs.

use core::fmt;
use std::collections::HashMap;

use kubewarden_policy_sdk::response::ValidationResponse;

use crate::attestation::AnnotationError;
use crate::host::HostFailure;
use crate::image::ReferenceError;
use crate::keys::KeyError;
use crate::settings::Require;
use crate::text::Quoted;
use crate::verify::VerifyError;

/// Longest rejection message, in bytes (exclusive bound): the API server
/// stores the message in events and audit logs, so a hostile object must not
/// be able to make it large.
pub const MAX_MESSAGE: usize = 64 * 1024;
/// Items shown of a list inside a reason (key ids, signers, authorities,
/// policies); the rest are counted (`… and N more`).
pub const MAX_LISTED: usize = 8;
/// Failing images and containers shown in one rejection; the rest are counted.
pub const MAX_LISTED_FAILURES: usize = 100;
/// Appended when a message had to be cut at [`MAX_MESSAGE`].
const CUT_NOTE: &str = " … (message cut at 64 KiB)";

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

/// One failing image, container or image volume.
#[derive(Debug)]
pub enum Failure {
    /// An image that is not attested, and why.
    Image {
        /// The image as written.
        image: String,
        /// Why.
        reason: Reason,
        /// The image volume that mounts it, when that is where the image
        /// first appears (a container image needs no pointer: it is the
        /// image everyone looks for).
        volume: Option<Place>,
    },
    /// A container without an image.
    NoImage(Place),
    /// A controller whose attestations sit on its own metadata, where its
    /// Pods never see them (listed first: it is the fix for the rest).
    MisplacedAttestations {
        /// The object's kind, e.g. `Deployment`.
        kind: String,
        /// Where they belong, e.g. `spec.template.metadata.annotations`.
        path: &'static str,
    },
    /// Break-glass was asked for but is refused (expired, or no clock):
    /// listed first, before the images it would have admitted.
    BreakglassRefused(String),
    /// An image volume whose `image.reference` cannot be read as an image.
    VolumeReference {
        /// The volume.
        place: Place,
        /// What is wrong with its reference.
        problem: VolumeProblem,
    },
}

/// A container or volume of the object, for messages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Place {
    /// Its field path from the object's root, e.g. `spec.volumes[0]`.
    pub path: String,
    /// Its name, if it has one.
    pub name: Option<String>,
}

/// Why an image volume's reference is unusable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VolumeProblem {
    /// `image.reference` is absent or `null`.
    Missing,
    /// `image.reference` is the empty string.
    Empty,
    /// `image.reference` is not a string; what it is instead.
    NotText(&'static str),
}

/// At most [`MAX_LISTED`] items of a list, and how many more there were: a
/// hostile attestation can make a list as long as the request allows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listed<T> {
    /// The first items.
    pub shown: Vec<T>,
    /// How many more were not kept.
    pub more: usize,
}

impl<T> Default for Listed<T> {
    fn default() -> Self {
        Listed {
            shown: Vec::new(),
            more: 0,
        }
    }
}

impl<T> Listed<T> {
    /// Keeps `item` if there is room, else counts it.
    pub fn push(&mut self, item: T) {
        if self.shown.len() < MAX_LISTED {
            self.shown.push(item);
        } else {
            self.more += 1;
        }
    }

    /// Keeps the item `make` builds if there is room, else only counts it
    /// (nothing is built for items that would not be shown).
    pub fn push_with(&mut self, make: impl FnOnce() -> T) {
        if self.shown.len() < MAX_LISTED {
            self.shown.push(make());
        } else {
            self.more += 1;
        }
    }

    /// True when nothing was pushed.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.shown.is_empty() && self.more == 0
    }
}

impl<T> FromIterator<T> for Listed<T> {
    fn from_iter<I: IntoIterator<Item = T>>(iter: I) -> Self {
        let mut l = Listed::default();
        for item in iter {
            l.push(item);
        }
        l
    }
}

/// Writes at most `cap` of `items` separated by `sep`, then
/// `{sep}… and N more{noun}` for the `items.len() - cap + extra` left out.
fn capped<T>(
    f: &mut fmt::Formatter<'_>,
    items: &[T],
    extra: usize,
    cap: usize,
    sep: &str,
    noun: &str,
    mut each: impl FnMut(&mut fmt::Formatter<'_>, &T) -> fmt::Result,
) -> fmt::Result {
    for (i, item) in items.iter().take(cap).enumerate() {
        if i > 0 {
            f.write_str(sep)?;
        }
        each(f, item)?;
    }
    let more = items.len().saturating_sub(cap) + extra;
    if more > 0 {
        if items.is_empty() {
            write!(f, "{more} {}", noun.trim_start())
        } else {
            write!(f, "{sep}… and {more} more{noun}")
        }
    } else {
        Ok(())
    }
}

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
    },
    /// No identity of the authority verified a signature in the registry
    /// (or one did, but its layers are not bound to their certificates):
    /// each identity tried, with why.
    Identities {
        /// (the identity as shown, why not, whether it is keyless), in order.
        identities: Listed<(String, IdentityMiss, bool)>,
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
            Miss::Budget => 3,
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
            Miss::Registry { keys } => match (keys.shown.as_slice(), keys.more) {
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
            },
            Miss::Identities { identities } => match (identities.shown.as_slice(), identities.more) {
                ([(id, IdentityMiss::Host(why), keyless)], 0) => write!(
                    f,
                    "no {} in the registry by {id} (host: {})",
                    if *keyless { "keyless signature" } else { "signature" },
                    Quoted(why)
                ),
                ([(id, IdentityMiss::Unbound(why), _)], 0) => {
                    write!(f, "the host verified a keyless signature by {id}, but {why}")
                }
                (shown, more) => {
                    f.write_str("no signature in the registry by any of its identities: ")?;
                    capped(f, shown, more, MAX_LISTED, ", ", " identities", |f, (id, why, _)| {
                        match why {
                            IdentityMiss::Host(why) => write!(f, "{id} (host: {})", Quoted(why)),
                            IdentityMiss::Unbound(why) => {
                                write!(f, "{id} (verified by the host, but {why})")
                            }
                        }
                    })
                }
            },
            Miss::Both {
                annotation,
                registry,
            } => write!(f, "{annotation}; and {registry}"),
        }
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

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Failure::Image {
                image,
                reason,
                volume,
            } => {
                write!(f, "image {} is not attested: ", Quoted(image))?;
                if let Some(place) = volume {
                    write!(f, "image volume {place}: ")?;
                }
                reason.fmt(f)
            }
            Failure::NoImage(place) => write!(f, "container {place} has no image"),
            Failure::BreakglassRefused(why) => f.write_str(why),
            Failure::MisplacedAttestations { kind, path } => write!(
                f,
                "the {} carries kritis.grafeas.io/attestations on its own metadata.annotations, which \
                 its Pods never see, so they do not count: move them to {path}",
                Quoted(kind)
            ),
            Failure::VolumeReference { place, problem } => {
                write!(f, "image volume {place} has ")?;
                match problem {
                    VolumeProblem::Missing => f.write_str("no image.reference")?,
                    VolumeProblem::Empty => f.write_str("an empty image.reference")?,
                    VolumeProblem::NotText(what) => {
                        write!(f, "an image.reference that is not a string ({what})")?
                    }
                }
                f.write_str(", so the image it mounts cannot be verified")
            }
        }
    }
}

impl fmt::Display for Place {
    /// `tools (spec.volumes[0])`, or `(spec.volumes[0])` without a name.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(n) = &self.name {
            write!(f, "{} ", Quoted(n))?;
        }
        write!(f, "({})", self.path)
    }
}

impl fmt::Display for Rejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Rejection::Request(e) => write!(f, "cannot evaluate the request: {e}"),
            Rejection::Settings(e) => write!(f, "the policy settings are not valid: {e}"),
            Rejection::Images(failures) => capped(
                f,
                failures,
                0,
                MAX_LISTED_FAILURES,
                "; ",
                " failing images",
                |f, failure| failure.fmt(f),
            ),
        }
    }
}

/// A `String` that refuses to grow past its limit: formatting stops at the
/// first write that does not fit, so a huge message is never even built.
struct Bounded {
    buf: String,
    limit: usize,
    cut: bool,
}

impl fmt::Write for Bounded {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        let room = self.limit.saturating_sub(self.buf.len());
        if s.len() <= room {
            self.buf.push_str(s);
            return Ok(());
        }
        let mut end = room;
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        self.buf.push_str(&s[..end]);
        self.cut = true;
        Err(fmt::Error)
    }
}

impl Rejection {
    /// The message sent to the API server: the `Display` text, cut (with a
    /// note saying so) so that it is always shorter than [`MAX_MESSAGE`]
    /// bytes.
    #[must_use]
    pub fn message(&self) -> String {
        let mut w = Bounded {
            buf: String::new(),
            limit: MAX_MESSAGE - 1 - CUT_NOTE.len(),
            cut: false,
        };
        if fmt::write(&mut w, format_args!("{self}")).is_err() {
            // Only the limit makes a write fail; say the message was cut.
            w.buf.push_str(CUT_NOTE);
        }
        w.buf
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
                message: Some(rejection.message()),
                code: None,
                mutated_object: None,
                audit_annotations: None,
                warnings: None,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tag_failure(image: String) -> Failure {
        Failure::Image {
            reason: Reason::Tag {
                tag: Some("1".to_owned()),
                name: image.clone(),
            },
            image,
            volume: None,
        }
    }

    #[test]
    fn lists_are_capped_and_counted() {
        let l: Listed<u32> = (0..20).collect();
        assert_eq!((l.shown.len(), l.more), (MAX_LISTED, 12));
        let miss = Miss::NoSignature {
            key_ids: ["k1".to_owned()].into_iter().collect(),
            signed_by: (0..10).map(|i| (format!("s{i}"), i % 2 == 0)).collect(),
        };
        assert_eq!(
            miss.to_string(),
            "no valid signature by its keys (k1); the attestations for this digest are signed by s0, s1 (unknown key id), s2, s3 (unknown key id), s4, s5 (unknown key id), s6, s7 (unknown key id), … and 2 more key ids"
        );
        let p = PolicyMiss {
            policy: Some("p".to_owned()),
            require: Require::All,
            missing: (0..10).map(|i| (format!("a{i}"), Miss::Budget)).collect(),
        };
        let text = p.to_string();
        assert_eq!(
            text.matches("policy p requires authority").count(),
            MAX_LISTED
        );
        assert!(
            text.ends_with("; … and 2 more missing authorities"),
            "{text}"
        );
    }

    #[test]
    fn the_message_is_cut_on_a_character_boundary_below_the_limit() {
        // Multi-byte characters everywhere, so the cut lands inside one.
        let failures: Vec<Failure> = (0..MAX_LISTED_FAILURES)
            .map(|i| tag_failure(format!("{}{i}", "é".repeat(199))))
            .collect();
        let r = Rejection::Images(failures);
        assert!(r.to_string().len() > MAX_MESSAGE);
        let m = r.message();
        assert!(m.len() < MAX_MESSAGE);
        assert!(m.ends_with(CUT_NOTE));
        // Short messages are untouched.
        let r = Rejection::Images(vec![tag_failure("a".to_owned())]);
        assert_eq!(r.message(), r.to_string());
    }
}
