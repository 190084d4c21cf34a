//! Judging images: allowlists, the policies that apply in the namespace,
//! and the proofs of each authority from the enabled sources (the
//! annotation, verified here; the registry, verified by the host).
//!
//! This module holds the engine, what it is built from (the applicable
//! policies) and what it decides per image; the steps of a decision live in
//! their own files:
//! - `target`: what an image needs before any proof (allowlists, a namespace
//!   no policy covers, tags to resolve);
//! - `proofs`: each authority's proof for a digest, from the sources;
//! - `judge`: the policies' rules over those proofs, and the misses of the
//!   policies not satisfied.

mod judge;
mod proofs;
mod target;
#[cfg(test)]
mod tests;

use std::borrow::Cow;
use std::cell::OnceCell;
use std::collections::hash_map::Entry;
use std::collections::HashMap;

use crate::host::Calls;
use crate::image::Repository;
use crate::keyring::Keyring;
use crate::settings::{AllowlistSpec, Enforcement, Require, Settings, Sources, Text};
use crate::sources::annotation::Annotation;
use crate::sources::registry_identities::Identities;
use crate::sources::registry_keys::Registry;
use crate::verdict::Reason;
use target::Target;

/// Images naming the same repository and digest share one evaluation,
/// whatever their tags: `app:t1@D` and `app:t2@D` are the same content.
pub(crate) type Memo<'i> = HashMap<(Repository<'i>, Cow<'i, str>), Result<(), Reason>>;

/// What one request has decided so far, shared by its images.
#[derive(Default)]
pub(crate) struct Decisions<'i> {
    /// Verdicts per (repository, digest).
    pub memo: Memo<'i>,
    /// Tag images to pin, with their digest.
    pub pins: HashMap<&'i str, String>,
    /// Tags resolved through the host, per normalised (repository, tag):
    /// `nginx:1`, `docker.io/nginx:1` and `docker.io/library/nginx:1` are
    /// one lookup.
    pub resolved: HashMap<(Repository<'i>, Option<&'i str>), Result<String, Reason>>,
}

/// What a request decides about one image.
pub(crate) enum Decision {
    /// Admitted.
    Admitted,
    /// Admitted by an allowlist pattern that expires soon: the warning.
    Expiring(String),
    /// Would be rejected, but every applicable policy is `warn`.
    Warned(Reason),
    /// Rejected.
    Rejected(Reason),
}

/// An applicable policy: a name (none for the implicit one), its rule and
/// its authorities as indices.
struct Policy<'s> {
    name: Option<&'s str>,
    require: Require,
    enforcement: Enforcement,
    authorities: Vec<usize>,
}

pub(crate) struct Engine<'s> {
    keyring: Keyring<'s>,
    policies: Vec<Policy<'s>>,
    /// Matched straight from the settings: no per-pattern work up front.
    allowlists: &'s [AllowlistSpec<'s>],
    namespace: &'s str,
    annotation: Annotation<'s>,
    sources: Sources,
    resolve_tags: bool,
    calls: Calls<'s>,
    settings: &'s Settings<'s>,
    /// The registry sources, built on first use: only the registry source
    /// uses them, and each holds something per authority.
    registry: OnceCell<Registry<'s>>,
    identities: OnceCell<Identities<'s>>,
    /// Every applicable policy is `warn`: failures are warnings.
    warn_only: bool,
    now: OnceCell<Option<i64>>,
    /// Seconds before an expiry during which a warning is given.
    expiry_window: i64,
}

impl<'s> Engine<'s> {
    pub fn new(
        settings: &'s Settings<'s>,
        namespace: &'s str,
        annotation_values: &'s [Text<'s>],
        calls: Calls<'s>,
    ) -> Self {
        let authorities = &settings.attestation_authorities;
        let policies = match &settings.attestation_policies {
            // Live mode with `whenNoPolicy: admit` and no settings
            // authority: nothing covers a namespace without its own policy.
            None if authorities.is_empty() => Vec::new(),
            None => vec![Policy {
                name: None,
                require: Require::Any,
                enforcement: Enforcement::Deny,
                authorities: (0..authorities.len()).collect(),
            }],
            Some(list) => {
                // Most specific wins: a namespace with policies of its own is
                // governed by those alone, so they can tighten (or loosen)
                // the cluster-wide ones; elsewhere the cluster-wide apply.
                let own = list
                    .iter()
                    .any(|p| p.namespace.as_deref() == Some(namespace));
                list.iter()
                    .filter(|p| match p.namespace.as_deref() {
                        Some(n) => own && n == namespace,
                        None => !own,
                    })
                    .map(|p| Policy {
                        name: Some(p.name.as_ref()),
                        require: p.require,
                        enforcement: p.enforcement,
                        authorities: p
                            .attestation_authority_names
                            .iter()
                            .filter_map(|n| authorities.iter().position(|a| a.name == *n))
                            .collect(),
                    })
                    .collect()
            }
        };
        // A `deny` policy that fails rejects whatever `warn` policies say:
        // where any applies, only they are judged; where all are `warn`,
        // they are judged and their failures are warnings.
        let (deny, warn): (Vec<Policy<'s>>, Vec<Policy<'s>>) = policies
            .into_iter()
            .partition(|p| p.enforcement == Enforcement::Deny);
        let warn_only = deny.is_empty() && !warn.is_empty();
        let policies = if warn_only { warn } else { deny };
        Engine {
            warn_only,
            now: OnceCell::new(),
            expiry_window: settings.expiry_warning_seconds(),
            keyring: Keyring::new(settings),
            policies,
            allowlists: &settings.admission_allowlists,
            namespace,
            annotation: Annotation::new(annotation_values, calls),
            sources: settings.sources(),
            resolve_tags: settings.resolve_tags,
            calls,
            settings,
            registry: OnceCell::new(),
            identities: OnceCell::new(),
        }
    }

    fn registry(&self) -> &Registry<'s> {
        self.registry
            .get_or_init(|| Registry::new(self.settings, self.calls))
    }

    fn identities(&self) -> &Identities<'s> {
        self.identities
            .get_or_init(|| Identities::new(self.settings, self.calls))
    }

    fn count(&self, f: impl FnOnce(&mut crate::host::Work)) {
        self.calls.count(f);
    }

    /// The host's clock, read once per request.
    fn now(&self) -> Option<i64> {
        *self.now.get_or_init(|| self.calls.now())
    }

    /// Decides one distinct image; records in `decisions.pins` the digest a
    /// tag is to be pinned to. In a namespace whose applicable policies are
    /// all `warn`, what would reject is a warning.
    pub fn decide<'i>(&self, image: &'i str, decisions: &mut Decisions<'i>) -> Decision {
        match self.judge_image(image, decisions) {
            Ok(None) => Decision::Admitted,
            Ok(Some(note)) => Decision::Expiring(note),
            Err(reason) if self.warn_only => Decision::Warned(reason),
            Err(reason) => Decision::Rejected(reason),
        }
    }

    fn judge_image<'i>(
        &self,
        image: &'i str,
        decisions: &mut Decisions<'i>,
    ) -> Result<Option<String>, Reason> {
        let (repository, digest, resolved) = match self.target(image, decisions) {
            Target::Admitted(note) => return Ok(note),
            Target::Failed(reason) => return Err(reason),
            Target::Verify {
                repository,
                digest,
                resolved,
            } => (repository, digest, resolved),
        };
        // A tag with the registry source: the host verifies it and says which
        // digest it verified; everything else is judged for that digest.
        let digest = match digest {
            Some(d) => d,
            None => Cow::Owned(self.learn_digest(image, &repository)?),
        };
        if resolved {
            decisions.pins.insert(image, digest.to_string());
        }
        match decisions.memo.entry((repository, digest)) {
            Entry::Occupied(e) => e.get().clone().map(|()| None),
            Entry::Vacant(e) => {
                let (repository, digest) = e.key();
                let r = self.check_digest(image, resolved, repository, digest);
                e.insert(r).clone().map(|()| None)
            }
        }
    }
}
