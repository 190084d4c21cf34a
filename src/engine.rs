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
use crate::verdict::{Listed, Miss, PolicyMiss, Reason};

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

/// What deciding one authority for an image gave.
enum Outcome {
    /// It attests the image.
    Proven,
    /// It does not, and why.
    Missed(Miss),
    /// It does not (no signature names its keys); why is worked out only
    /// if the image is rejected.
    Deferred,
}

/// Where an authority stands in [`Engine::judge`].
#[derive(Clone, Copy, PartialEq, Eq)]
enum Judged {
    /// Not checked yet.
    Unknown,
    /// It attests the image.
    Proven,
    /// It does not: the index of why in the misses.
    Missed(usize),
    /// It does not; why is worked out only if the image is rejected.
    Deferred,
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
        // Annotation only: the authorities some signature on these
        // attestations names. Any other authority's check verifies nothing
        // and can only miss (no signature by its keys, or an attestation
        // for another repository), so it is deferred: its reason is built
        // only if the image is rejected, and an image one of 100
        // authorities attests costs one lookup per signature, not 100
        // misses with their key ids allocated and freed.
        let named: Option<Vec<bool>> = match &annotation {
            Some(Ok((parsed, Some(candidates)))) if !self.sources.registry => {
                let mut named = vec![false; self.settings.attestation_authorities.len()];
                for &ai in candidates.matching {
                    for sig in &parsed.list[ai].signatures {
                        for k in self.keyring.named(&sig.key_id) {
                            if let Some(flag) = named.get_mut(self.keyring.authority_of(k)) {
                                *flag = true;
                            }
                        }
                    }
                }
                Some(named)
            }
            _ => None,
        };
        // The registry is asked about the exact digest being judged.
        let registry_image: Cow<'_, str> = if pinned {
            Cow::Owned(format!("{image}@{digest}"))
        } else {
            Cow::Borrowed(image)
        };
        let check = |a: usize| -> Outcome {
            if named.as_ref().and_then(|n| n.get(a)) == Some(&false) {
                return Outcome::Deferred;
            }
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
                Some(Ok(())) => return Outcome::Proven,
                Some(Err(miss)) => Some(miss),
                None => None,
            };
            if !self.sources.registry {
                return Outcome::Missed(annotation_miss.unwrap_or(Miss::TagOnly));
            }
            let registry_miss =
                match self.registry_check(a, &registry_image, repository, Some(digest)) {
                    Ok(()) => return Outcome::Proven,
                    Err(miss) => miss,
                };
            Outcome::Missed(match annotation_miss {
                Some(annotation) => Miss::Both {
                    annotation: Box::new(annotation),
                    registry: Box::new(registry_miss),
                },
                None => registry_miss,
            })
        };
        // A deferred authority's reason: its check run now. Nothing names
        // its keys, so nothing is verified and it misses as it would have.
        let explain = |a: usize| -> Miss {
            let result = match &annotation {
                Some(Ok((parsed, Some(candidates)))) => self.annotation.check_authority(
                    &self.keyring,
                    a,
                    &parsed.list,
                    candidates,
                    repository,
                ),
                _ => Ok(()),
            };
            // Only a deferred authority is explained, and it cannot be
            // proven; should that ever change, the image still fails closed
            // (this is only its reason).
            result.err().unwrap_or_else(|| Miss::NoSignature {
                key_ids: self.keyring.ids_of(a).collect(),
                signed_by: Listed::default(),
            })
        };
        self.judge(check, explain).map_err(Reason::Unsatisfied)
    }

    /// Runs the applicable policies with `check` deciding each authority
    /// (at most once per authority): `Ok` as soon as one policy is
    /// satisfied, else every policy's misses, a deferred one explained by
    /// `explain` (at most once per authority). With `require: any` a policy
    /// stops at its first satisfied authority, so no further source (no
    /// further host call) is consulted.
    fn judge(
        &self,
        check: impl Fn(usize) -> Outcome,
        explain: impl Fn(usize) -> Miss,
    ) -> Result<(), Vec<PolicyMiss>> {
        // Each authority's state, small (a fresh instance fills it for every
        // authority of every image judged); the misses themselves apart.
        let mut judged: Vec<Judged> =
            vec![Judged::Unknown; self.settings.attestation_authorities.len()];
        let mut misses: Vec<Miss> = Vec::new();
        // The policies not satisfied, with the authorities each misses: the
        // misses themselves are copied out of `misses` only if no policy is
        // satisfied, as an admitted image never shows them.
        let mut unsatisfied: Vec<(&Policy<'_>, Vec<usize>)> = Vec::new();
        for policy in &self.policies {
            let mut missing = Vec::new();
            let mut satisfied_any = false;
            for &a in &policy.authorities {
                if judged[a] == Judged::Unknown {
                    judged[a] = match check(a) {
                        Outcome::Proven => Judged::Proven,
                        Outcome::Missed(miss) => {
                            misses.push(miss);
                            Judged::Missed(misses.len() - 1)
                        }
                        Outcome::Deferred => Judged::Deferred,
                    };
                }
                match judged[a] {
                    Judged::Proven => {
                        satisfied_any = true;
                        if policy.require == Require::Any {
                            break;
                        }
                    }
                    _ => missing.push(a),
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
        for (_, missing) in &unsatisfied {
            for &a in missing {
                if judged[a] == Judged::Deferred {
                    misses.push(explain(a));
                    judged[a] = Judged::Missed(misses.len() - 1);
                }
            }
        }
        Err(unsatisfied
            .into_iter()
            .map(|(policy, missing)| PolicyMiss {
                policy: policy.name.map(str::to_owned),
                require: policy.require,
                missing: missing
                    .into_iter()
                    .filter_map(|a| match judged[a] {
                        Judged::Missed(i) => Some((
                            String::from(&*self.settings.attestation_authorities[a].name),
                            misses[i].clone(),
                        )),
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
        if self.identities().has(a) {
            self.identities()
                .check(a, image, repository, digest)
                .map(|_| ())
        } else {
            self.registry().check(&self.keyring, a, image, digest)
        }
    }

    /// For a tag under the registry source: asks the host to verify it
    /// with the keys (or identities) of the authorities the applicable
    /// policies name, in order, until one verifies; the digest it verified
    /// is the image's digest from then on.
    fn learn_digest(&self, image: &str, repository: &Repository<'_>) -> Result<String, Reason> {
        for policy in &self.policies {
            for &a in &policy.authorities {
                if self.identities().has(a) {
                    if let Some((i, digest)) = self.identities().learn(a, image) {
                        self.identities()
                            .remember(format!("{image}@{digest}"), a, i, &digest);
                        return Ok(digest);
                    }
                    continue;
                }
                for k in self.keyring.of(a) {
                    if let Ok(digest) = self.registry().verify(&self.keyring, image, k, None) {
                        // The pinned form is what later calls send: the
                        // same key needs no second call for it.
                        self.registry()
                            .remember(format!("{image}@{digest}"), k, &digest);
                        return Ok(digest);
                    }
                }
            }
        }
        let annotation = self.sources.annotation;
        let miss = |a: usize| {
            let registry = self
                .registry_check(a, image, repository, None)
                .err()
                .unwrap_or(Miss::TagOnly);
            if annotation {
                Miss::Both {
                    annotation: Box::new(Miss::TagOnly),
                    registry: Box::new(registry),
                }
            } else {
                registry
            }
        };
        let misses = self
            .judge(|a| Outcome::Missed(miss(a)), miss)
            .err()
            .unwrap_or_default();
        Err(Reason::Unsatisfied(misses))
    }
}

#[cfg(test)]
mod tests {
    use base64::Engine as _;
    use serde_json::{json, Value};

    use crate::evaluate::{validate_counting, Host, Work};
    use crate::testkeys;
    use crate::verdict::Verdict;

    const DIGEST: &str = "sha256:ddba4d27a7ffc3f86dd6c2f92041af252a1f23a8e742c90e6e1297bfa1bc0c45";
    const REPO: &str = "registry.example.com/team/app";

    /// A host that is never asked anything on the annotation path.
    struct NoHost;

    impl Host for NoHost {}

    fn b64(b: &[u8]) -> String {
        base64::engine::general_purpose::STANDARD.encode(b)
    }

    /// An attestation for `repo` at `DIGEST`: (key id, signature) pairs.
    fn attestation(repo: &str, signatures: &[(&str, Vec<u8>)]) -> (Vec<u8>, Value) {
        let payload = format!(
            r#"{{"critical":{{"identity":{{"docker-reference":"{repo}"}},"image":{{"docker-manifest-digest":"{DIGEST}"}},"type":"atomic container signature"}}}}"#
        )
        .into_bytes();
        let sigs: Vec<Value> = signatures
            .iter()
            .map(|(id, sig)| json!({"publicKeyId": id, "signature": b64(sig)}))
            .collect();
        let value = json!({"contentType": "SIMPLE_SIGNING_JSON",
                           "serializedPayload": b64(&payload), "signatures": sigs});
        (payload, value)
    }

    fn run(settings: &Value, attestations: &[Value]) -> (Verdict, Work) {
        let pod = json!({"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": "p", "namespace": "default", "annotations": {
                "kritis.grafeas.io/attestations": Value::Array(attestations.to_vec()).to_string()}},
            "spec": {"containers": [{"name": "c", "image": format!("{REPO}@{DIGEST}")}]}});
        let request = json!({"uid": "u1", "kind": {"group": "", "version": "v1", "kind": "Pod"},
            "operation": "CREATE", "namespace": "default", "object": pod});
        let payload =
            serde_json::to_vec(&json!({"request": request, "settings": settings})).unwrap();
        validate_counting(&payload, &NoHost)
    }

    #[test]
    fn an_image_one_of_many_authorities_attests_examines_only_that_one() {
        let key = testkeys::rsa(2048);
        let authorities: Vec<Value> = (0..100)
            .map(|i| {
                json!({"name": format!("aa-{i}"), "publicKeyId": format!("key-{i}"),
                            "publicKeyData": key.spki_b64()})
            })
            .collect();
        let (payload, _) = attestation(REPO, &[]);
        let (_, att) = attestation(REPO, &[("key-99", key.sign_pkcs1(&payload))]);
        let (verdict, work) = run(&json!({"attestationAuthorities": authorities}), &[att]);
        assert!(matches!(verdict, Verdict::Admit { .. }));
        // The 99 authorities no signature names are neither examined nor
        // explained: the image is admitted.
        assert_eq!(
            work,
            Work {
                digest_checks: 1,
                attestations_examined: 1,
                signatures_examined: 1,
                verifications: 1,
                verification_cost: 1,
                ..Work::default()
            }
        );
    }

    #[test]
    fn deferred_authorities_are_explained_when_the_image_is_rejected() {
        let key = testkeys::rsa(2048);
        let other = testkeys::rsa_b();
        let authority = |name: &str, id: Option<&str>, k: &testkeys::TestKey| {
            let mut a = json!({"name": name, "publicKeyData": k.spki_b64()});
            if let Some(id) = id {
                a["publicKeyId"] = json!(id);
            }
            a
        };
        let settings = json!({
            "attestationAuthorities": [
                authority("a", Some("ka"), &key),
                authority("b", Some("kb"), &other),
                authority("c", None, &other),
                authority("d", Some("kd"), &key),
            ],
            "attestationPolicies": [
                {"name": "both", "attestationAuthorityNames": ["a", "b"]},
                {"name": "either", "attestationAuthorityNames": ["c", "b", "d"], "require": "any"},
            ]
        });
        let (payload, _) = attestation(REPO, &[]);
        // `ka` names authority a but is made by another key (a bad
        // signature); `kx` names no authority: b, c and d are deferred.
        let (_, att) = attestation(
            REPO,
            &[
                ("ka", other.sign_pkcs1(&payload)),
                ("kx", key.sign_pkcs1(&payload)),
            ],
        );
        let (verdict, work) = run(&settings, &[att]);
        let Verdict::Reject(r) = verdict else {
            panic!("admitted")
        };
        let c_id = crate::keys::default_key_id(&other.spki_b64()).unwrap();
        assert_eq!(
            r.message(),
            format!(
                "image {REPO}@{DIGEST} is not attested: policy both requires authority a: \
                 signature with key ka does not verify; policy both requires authority b: no \
                 valid signature by its keys (kb); the attestations for this digest are signed \
                 by ka, kx (unknown key id); policy either requires any one of its authorities: \
                 authority c: no valid signature by its keys ({c_id}); the attestations for this \
                 digest are signed by ka, kx (unknown key id); authority b: no valid signature by \
                 its keys (kb); the attestations for this digest are signed by ka, kx (unknown \
                 key id); authority d: no valid signature by its keys (kd); the attestations for \
                 this digest are signed by ka, kx (unknown key id)"
            )
        );
        // Each authority examined once (a when judged, b, c and d when
        // explained), one verification (a's).
        assert_eq!(
            work,
            Work {
                digest_checks: 1,
                attestations_examined: 4,
                signatures_examined: 8,
                verifications: 1,
                verification_cost: 1,
                ..Work::default()
            }
        );
    }
}
