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

use crate::text::Quoted;

mod listed;
mod reason;

use listed::capped;
pub use listed::Listed;
pub use reason::{IdentityMiss, Miss, PolicyMiss, Reason};

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
    /// More images than the policy judges in one object: how many were
    /// left unjudged (listed first: it explains the rest).
    Unjudged(usize),
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
            Failure::Unjudged(n) => write!(
                f,
                "the object names more than {} distinct images, the most this policy judges in one \
                 request: {n} more image uses were not judged",
                crate::evaluate::MAX_JUDGED_IMAGES
            ),
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
    use crate::settings::Require;

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
