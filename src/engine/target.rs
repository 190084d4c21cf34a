//! What an image needs before any proof is looked at: admitted by an
//! allowlist, or in a namespace no policy covers; refused for its reference
//! or its tag; else a repository and digest to verify (a tag resolved through
//! the host first). Separate from the proofs because nothing here reads an
//! attestation or names an authority.

use std::borrow::Cow;

use super::{Decisions, Engine};
use crate::allowlist;
use crate::clock;
use crate::image::{Digest, ImageRef, Repository};
use crate::text::Quoted;
use crate::verdict::Reason;

/// What remains to do for an image once allowlists, namespaces and tags are
/// dealt with.
pub(super) enum Target<'i> {
    /// Allowlisted (with a warning when the pattern expires soon), or not
    /// enforced in this namespace.
    Admitted(Option<String>),
    /// Refused before any attestation is looked at.
    Failed(Reason),
    /// Needs proofs for this repository and digest.
    Verify {
        repository: Repository<'i>,
        /// `None`: a tag the registry source is to verify (and so resolve).
        digest: Option<Cow<'i, str>>,
        /// The digest comes from the host (the image is a tag): pin it.
        resolved: bool,
    },
}

impl Engine<'_> {
    /// Whether an allowlist admits `image`: `Some(None)` by a pattern that
    /// does not expire, `Some(Some(warning))` by one that expires within
    /// the warning window, `None` when no live pattern matches. An expiring
    /// pattern matches only while the host's clock says it has not expired:
    /// without a clock it matches nothing.
    fn allowlisted(&self, image: &str) -> Option<Option<String>> {
        let mut expiring: Option<(i64, &str, &str)> = None;
        for p in self.allowlists.iter().flat_map(|l| &l.patterns) {
            if !(p.namespace.as_deref().is_none_or(|n| n == self.namespace)
                && allowlist::matches(&p.name_pattern, image))
            {
                continue;
            }
            let Some(expires) = p.expires.as_deref() else {
                return Some(None);
            };
            let (Ok(at), Some(now)) = (clock::parse_rfc3339(expires), self.now()) else {
                continue;
            };
            if now < at && expiring.is_none_or(|(best, _, _)| at > best) {
                expiring = Some((at, &p.name_pattern, expires));
            }
        }
        let (at, pattern, expires) = expiring?;
        let now = self.now()?;
        Some((at - now <= self.expiry_window).then(|| {
            format!(
                "image {} is admitted by allowlist pattern {} only until {} ({}): sign it, or \
                 extend the exception",
                Quoted(image),
                Quoted(pattern),
                Quoted(expires),
                clock::remaining(at - now)
            )
        }))
    }

    pub(super) fn target<'i>(&self, image: &'i str, decisions: &mut Decisions<'i>) -> Target<'i> {
        if let Some(note) = self.allowlisted(image) {
            return Target::Admitted(note);
        }
        // As in kritis, a namespace no policy covers is not enforced.
        if self.policies.is_empty() {
            return Target::Admitted(None);
        }
        let reference = match ImageRef::parse(image) {
            Ok(r) => r,
            Err(e) => return Target::Failed(Reason::Reference(e)),
        };
        let digest = match reference.digest {
            Some(d) => Cow::Borrowed(d.as_str()),
            None if self.resolve_tags => {
                let key = (reference.repository, reference.tag);
                let answer = decisions
                    .resolved
                    .entry(key)
                    .or_insert_with(|| self.resolve(image));
                match answer {
                    Ok(d) => Cow::Owned(d.clone()),
                    Err(reason) => return Target::Failed(reason.clone()),
                }
            }
            None if self.sources.registry => {
                return Target::Verify {
                    repository: reference.repository,
                    digest: None,
                    resolved: true,
                }
            }
            None => {
                return Target::Failed(Reason::Tag {
                    tag: reference.tag.map(str::to_owned),
                    name: reference.name.to_owned(),
                })
            }
        };
        Target::Verify {
            repository: reference.repository,
            digest: Some(digest),
            resolved: reference.digest.is_none(),
        }
    }

    /// Resolves a tag through the host (one lookup per normalised tag per
    /// request, within the request's budget of host calls).
    fn resolve(&self, image: &str) -> Result<String, Reason> {
        let resolved = self
            .calls
            .manifest_digest(image)
            .map_err(Reason::Resolution)?;
        if Digest::parse(&resolved).is_err() {
            return Err(Reason::ResolvedDigest(resolved));
        }
        Ok(resolved)
    }
}
