//! Judging images: allowlists, the policies that apply in the namespace,
//! and the proofs of each authority from the enabled sources (the
//! annotation, verified here; the registry, verified by the host).

use std::borrow::Cow;
use std::cell::OnceCell;
use std::collections::hash_map::Entry;
use std::collections::HashMap;

use crate::allowlist;
use crate::clock;
use crate::host::Calls;
use crate::image::{Digest, ImageRef, Repository};
use crate::keyring::Keyring;
use crate::settings::{AllowlistSpec, Enforcement, Require, Settings, Sources, Text};
use crate::sources::annotation::Annotation;
use crate::sources::registry_identities::Identities;
use crate::sources::registry_keys::Registry;
use crate::text::Quoted;
use crate::verdict::{Miss, PolicyMiss, Reason};

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

/// What remains to do for an image once allowlists, namespaces and tags are
/// dealt with.
enum Target<'i> {
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

/// An applicable policy: a name (none for the implicit one), its rule and
/// its authorities as indices.
struct Policy<'s> {
    name: Option<&'s str>,
    require: Require,
    enforcement: Enforcement,
    authorities: Vec<usize>,
}

pub(crate) struct Engine<'s> {
    authorities: Vec<&'s str>,
    keyring: Keyring<'s>,
    policies: Vec<Policy<'s>>,
    /// Matched straight from the settings: no per-pattern work up front.
    allowlists: &'s [AllowlistSpec<'s>],
    namespace: &'s str,
    annotation: Annotation<'s>,
    sources: Sources,
    resolve_tags: bool,
    calls: Calls<'s>,
    registry: Registry<'s>,
    identities: Identities<'s>,
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
        let authorities: Vec<&str> = settings
            .attestation_authorities
            .iter()
            .map(|a| a.name.as_ref())
            .collect();
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
                            .filter_map(|n| authorities.iter().position(|a| *a == n.as_ref()))
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
            authorities,
            keyring: Keyring::new(settings),
            policies,
            allowlists: &settings.admission_allowlists,
            namespace,
            annotation: Annotation::new(annotation_values, calls),
            sources: settings.sources(),
            resolve_tags: settings.resolve_tags,
            calls,
            registry: Registry::new(settings, calls),
            identities: Identities::new(settings, calls),
        }
    }

    fn count(&self, f: impl FnOnce(&mut crate::host::Work)) {
        self.calls.count(f);
    }

    /// The host's clock, read once per request.
    fn now(&self) -> Option<i64> {
        *self.now.get_or_init(|| self.calls.now())
    }

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

    fn target<'i>(&self, image: &'i str, decisions: &mut Decisions<'i>) -> Target<'i> {
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

    /// Admitted when at least one applicable policy is satisfied. `image` is
    /// the image as written (`pinned`: a tag whose digest came from the
    /// host), for the registry source.
    fn check_digest(
        &self,
        image: &str,
        pinned: bool,
        repository: &Repository<'_>,
        digest: &str,
    ) -> Result<(), Reason> {
        self.count(|w| w.digest_checks += 1);
        let annotation = if self.sources.annotation {
            let parsed = self.annotation.index().as_ref();
            if !self.sources.registry {
                // Annotation only: today's reasons, for the whole image.
                let parsed = parsed.map_err(|e| Reason::Annotation(e.clone()))?;
                if parsed.candidates(digest, &repository.to_string()).is_none() {
                    return Err(Reason::NoAttestation {
                        digest: digest.to_owned(),
                        carried: parsed.list.len(),
                    });
                }
            }
            Some(parsed.map(|p| (p, p.candidates(digest, &repository.to_string()))))
        } else {
            None
        };
        // The registry is asked about the exact digest being judged.
        let registry_image: Cow<'_, str> = if pinned {
            Cow::Owned(format!("{image}@{digest}"))
        } else {
            Cow::Borrowed(image)
        };
        let check = |a: usize| -> Result<(), Miss> {
            let from_annotation = annotation.as_ref().map(|found| match found {
                Err(e) => Err(Miss::Annotation((*e).clone())),
                Ok((parsed, None)) => Err(Miss::NotInAnnotation {
                    digest: digest.to_owned(),
                    carried: parsed.list.len(),
                }),
                Ok((parsed, Some(candidates))) => self.annotation.check_authority(
                    &self.keyring,
                    a,
                    &parsed.list,
                    candidates,
                    repository,
                ),
            });
            let annotation_miss = match from_annotation {
                Some(Ok(())) => return Ok(()),
                Some(Err(miss)) => Some(miss),
                None => None,
            };
            if !self.sources.registry {
                return Err(annotation_miss.unwrap_or(Miss::TagOnly));
            }
            let registry_miss =
                match self.registry_check(a, &registry_image, repository, Some(digest)) {
                    Ok(()) => return Ok(()),
                    Err(miss) => miss,
                };
            Err(match annotation_miss {
                Some(annotation) => Miss::Both {
                    annotation: Box::new(annotation),
                    registry: Box::new(registry_miss),
                },
                None => registry_miss,
            })
        };
        self.judge(check).map_err(Reason::Unsatisfied)
    }

    /// Runs the applicable policies with `check` deciding each authority
    /// (at most once per authority): `Ok` as soon as one policy is
    /// satisfied, else every policy's misses. With `require: any` a policy
    /// stops at its first satisfied authority, so no further source (no
    /// further host call) is consulted.
    fn judge(&self, check: impl Fn(usize) -> Result<(), Miss>) -> Result<(), Vec<PolicyMiss>> {
        let mut memo: Vec<Option<Result<(), Miss>>> = vec![None; self.authorities.len()];
        // The policies not satisfied, with the authorities each misses: the
        // misses themselves are copied out of `memo` only if no policy is
        // satisfied, as an admitted image never shows them.
        let mut unsatisfied: Vec<(&Policy<'_>, Vec<usize>)> = Vec::new();
        for policy in &self.policies {
            let mut missing = Vec::new();
            let mut satisfied_any = false;
            for &a in &policy.authorities {
                match memo[a].get_or_insert_with(|| check(a)) {
                    Ok(()) => {
                        satisfied_any = true;
                        if policy.require == Require::Any {
                            break;
                        }
                    }
                    Err(_) => missing.push(a),
                }
            }
            let satisfied = match policy.require {
                Require::All => missing.is_empty() && !policy.authorities.is_empty(),
                Require::Any => satisfied_any,
            };
            if satisfied {
                return Ok(());
            }
            unsatisfied.push((policy, missing));
        }
        Err(unsatisfied
            .into_iter()
            .map(|(policy, missing)| PolicyMiss {
                policy: policy.name.map(str::to_owned),
                require: policy.require,
                missing: missing
                    .into_iter()
                    .filter_map(|a| match &memo[a] {
                        Some(Err(miss)) => Some((self.authorities[a].to_owned(), miss.clone())),
                        _ => None,
                    })
                    .collect(),
            })
            .collect())
    }

    /// Authority `a` proven by the registry: by its keys or its identities.
    fn registry_check(
        &self,
        a: usize,
        image: &str,
        repository: &Repository<'_>,
        digest: Option<&str>,
    ) -> Result<(), Miss> {
        if self.identities.has(a) {
            self.identities
                .check(a, image, repository, digest)
                .map(|_| ())
        } else {
            self.registry.check(&self.keyring, a, image, digest)
        }
    }

    /// For a tag under the registry source: asks the host to verify it
    /// with the keys (or identities) of the authorities the applicable
    /// policies name, in order, until one verifies; the digest it verified
    /// is the image's digest from then on.
    fn learn_digest(&self, image: &str, repository: &Repository<'_>) -> Result<String, Reason> {
        for policy in &self.policies {
            for &a in &policy.authorities {
                if self.identities.has(a) {
                    if let Some((i, digest)) = self.identities.learn(a, image) {
                        self.identities
                            .remember(format!("{image}@{digest}"), a, i, &digest);
                        return Ok(digest);
                    }
                    continue;
                }
                for k in self.keyring.of(a) {
                    if let Ok(digest) = self.registry.verify(&self.keyring, image, k, None) {
                        // The pinned form is what later calls send: the
                        // same key needs no second call for it.
                        self.registry
                            .remember(format!("{image}@{digest}"), k, &digest);
                        return Ok(digest);
                    }
                }
            }
        }
        let annotation = self.sources.annotation;
        let misses = self
            .judge(|a| {
                let registry = self
                    .registry_check(a, image, repository, None)
                    .err()
                    .unwrap_or(Miss::TagOnly);
                Err(if annotation {
                    Miss::Both {
                        annotation: Box::new(Miss::TagOnly),
                        registry: Box::new(registry),
                    }
                } else {
                    registry
                })
            })
            .err()
            .unwrap_or_default();
        Err(Reason::Unsatisfied(misses))
    }
}
