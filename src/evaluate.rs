//! The decision: which images of an admitted object are attested.
//!
//! Everything is computed at most once per request: distinct images are
//! evaluated once however many containers use them, the annotation is parsed
//! once, a key is decoded only when a signature on an attestation for an
//! image under evaluation names it (and then once), and each signature is
//! verified at most once.

use std::cell::{Cell, OnceCell, RefCell};
use std::collections::HashMap;

use serde::Deserialize;
use serde_json::value::RawValue;

use crate::allowlist;
use crate::attestation::{self, AnnotationError, Attestation};
use crate::image::{parse_repository, Digest, ImageRef, Repository};
use crate::keys::{self, KeyError, VerifyingKey};
use crate::settings::{AllowlistSpec, Require, Settings, Text};
use crate::verdict::{Failure, Miss, PolicyMiss, Reason, Rejection, Verdict};
use crate::verify;
use crate::workload::{self, Shape, TypeMeta};

/// Largest `validate` payload evaluated. The API server caps requests at
/// 3 MiB; anything larger is refused before it is parsed.
pub const MAX_PAYLOAD: usize = 4 * 1024 * 1024;
/// Failed signature checks allowed in one request. Each costs a public-key
/// operation; past this many, further signatures count as failed unchecked,
/// so a flood of bogus signatures cannot stall the admission.
pub const MAX_FAILED_VERIFICATIONS: u32 = 64;
/// Audit annotation (and warning prefix) recording break-glass use.
pub const BREAKGLASS_AUDIT_KEY: &str = "breakglass";

/// Asks the host for the digest a tag currently points to
/// (Kubewarden's `oci/v1/manifest_digest`). Production passes the SDK call;
/// tests pass a map.
pub trait DigestResolver {
    /// The digest (`sha256:…`) of the manifest `image` names.
    ///
    /// # Errors
    /// The host's reason, as text.
    fn manifest_digest(&self, image: &str) -> Result<String, String>;
}

// One pass over the payload: the settings are deserialised in place, not
// skipped and parsed again (with thousands of allowlist patterns, the
// settings are most of the bytes).
#[derive(Deserialize)]
struct Payload<'a> {
    #[serde(borrow)]
    request: Request<'a>,
    #[serde(borrow)]
    settings: Settings<'a>,
}

#[derive(Deserialize)]
struct Request<'a> {
    #[serde(borrow, default)]
    kind: Option<Gvk<'a>>,
    #[serde(borrow, default)]
    operation: Option<Text<'a>>,
    #[serde(borrow, default)]
    namespace: Option<Text<'a>>,
    #[serde(borrow, default)]
    object: Option<&'a RawValue>,
}

#[derive(Deserialize)]
struct Gvk<'a> {
    #[serde(borrow, default)]
    group: Text<'a>,
    #[serde(borrow, default)]
    kind: Text<'a>,
}

/// Evaluates a `validate` payload (`{"request": …, "settings": …}`).
/// Never panics on input: anything unexpected is a rejection.
pub fn validate(payload: &[u8], resolver: &dyn DigestResolver) -> Verdict {
    let reject = |r| Verdict::Reject(r);
    if payload.len() > MAX_PAYLOAD {
        return reject(Rejection::Request(format!(
            "the request is {} bytes, more than the {MAX_PAYLOAD} bytes this policy evaluates",
            payload.len()
        )));
    }
    let mut de = serde_json::Deserializer::from_slice(payload);
    let p: Payload<'_> = match serde_path_to_error::deserialize(&mut de) {
        Ok(p) => match de.end() {
            Ok(()) => p,
            Err(e) => {
                return reject(Rejection::Request(format!(
                    "not a Kubewarden validation request ({e})"
                )))
            }
        },
        Err(e) => {
            let path = e.path().to_string();
            return match path.strip_prefix("settings") {
                Some(rest) => reject(Rejection::Settings(crate::settings::describe(
                    rest.trim_start_matches('.'),
                    e.inner(),
                ))),
                None => reject(Rejection::Request(format!(
                    "not a Kubewarden validation request ({})",
                    e.inner()
                ))),
            };
        }
    };
    let settings = p.settings;
    let errors = settings.structural_errors();
    if !errors.is_empty() {
        return reject(Rejection::Settings(errors.join("; ")));
    }
    evaluate_request(&p.request, &settings, resolver)
}

fn admit() -> Verdict {
    Verdict::Admit {
        warnings: Vec::new(),
        audit_annotations: Vec::new(),
        mutated_object: None,
    }
}

fn evaluate_request(
    req: &Request<'_>,
    settings: &Settings<'_>,
    resolver: &dyn DigestResolver,
) -> Verdict {
    let reject = |e: String| Verdict::Reject(Rejection::Request(e));
    // Deleting or connecting runs no new image.
    if matches!(req.operation.as_deref(), Some("DELETE" | "CONNECT")) {
        return admit();
    }
    let Some(object) = req.object.filter(|o| o.get() != "null") else {
        return reject("the request has no object".to_owned());
    };
    let (group, kind) = match &req.kind {
        Some(gvk) if !gvk.kind.is_empty() => (gvk.group.to_string(), gvk.kind.to_string()),
        _ => match serde_json::from_str::<TypeMeta<'_>>(object.get()) {
            Ok(t) => {
                let api = t.api_version.as_deref().unwrap_or("");
                let group = api.rsplit_once('/').map_or("", |(g, _)| g);
                (group.to_owned(), t.kind.as_deref().unwrap_or("").to_owned())
            }
            Err(e) => return reject(format!("the object is not a Kubernetes object ({e})")),
        },
    };
    let Some(shape) = Shape::of(&group, &kind) else {
        // A kind that embeds no pod spec runs no image.
        return admit();
    };
    let w = match workload::read(object, shape) {
        Ok(w) => w,
        Err(e) => return reject(format!("the object is not a valid {kind} ({e})")),
    };
    let namespace = req
        .namespace
        .as_deref()
        .filter(|n| !n.is_empty())
        .or(w.namespace.as_deref())
        .unwrap_or("");
    let engine = Engine::new(settings, namespace, &w.attestations);

    let mut failures = Vec::new();
    let mut pins: Vec<(&str, String)> = Vec::new();
    let mut seen: HashMap<&str, ()> = HashMap::new();
    for c in &w.containers {
        let Some(image) = c.image.as_deref() else {
            failures.push(Failure::NoImage {
                list: c.list,
                index: c.index,
                name: c.name.as_deref().map(str::to_owned),
            });
            continue;
        };
        if seen.insert(image, ()).is_some() {
            continue;
        }
        match engine.check_image(image, settings, resolver) {
            Outcome::Admitted => {}
            Outcome::Pinned(digest) => pins.push((image, digest)),
            Outcome::Failed(reason) => failures.push(Failure::Image {
                image: image.to_owned(),
                reason,
            }),
        }
    }

    if failures.is_empty() {
        let mutated_object = if settings.mutate() && !pins.is_empty() {
            match pin(object, shape, &w, &pins) {
                Ok(v) => Some(v),
                Err(e) => return reject(e),
            }
        } else {
            None
        };
        return Verdict::Admit {
            warnings: Vec::new(),
            audit_annotations: Vec::new(),
            mutated_object,
        };
    }
    let rejection = Rejection::Images(failures);
    if settings.allow_breakglass && w.breakglass {
        let text = rejection.to_string();
        return Verdict::Admit {
            warnings: vec![format!(
                "break-glass: admitted without verification (kritis.grafeas.io/breakglass): {text}"
            )],
            audit_annotations: vec![(BREAKGLASS_AUDIT_KEY, text)],
            mutated_object: None,
        };
    }
    Verdict::Reject(rejection)
}

/// Pins each resolved image to its digest (`repo:tag@sha256:…`) wherever a
/// container uses it. Images written with a digest are never touched.
fn pin(
    object: &RawValue,
    shape: Shape,
    w: &workload::Workload<'_>,
    pins: &[(&str, String)],
) -> Result<serde_json::Value, String> {
    let mut value: serde_json::Value = serde_json::from_str(object.get())
        .map_err(|e| format!("the object cannot be re-read ({e})"))?;
    for c in &w.containers {
        let Some(image) = c.image.as_deref() else {
            continue;
        };
        let Some((_, digest)) = pins.iter().find(|(i, _)| *i == image) else {
            continue;
        };
        let pointer = format!(
            "{}/{}/{}/image",
            shape.pod_spec_pointer(),
            c.list.field(),
            c.index
        );
        match value.pointer_mut(&pointer) {
            Some(slot) => *slot = serde_json::Value::String(format!("{image}@{digest}")),
            None => return Err(format!("cannot pin {pointer}")),
        }
    }
    Ok(value)
}

enum Outcome {
    Admitted,
    Pinned(String),
    Failed(Reason),
}

/// An applicable policy: a name (none for the implicit one), its rule and
/// its authorities as indices.
struct Policy<'s> {
    name: Option<&'s str>,
    require: Require,
    authorities: Vec<usize>,
}

/// A key of an authority, decoded on first use.
struct KeySlot<'s> {
    authority: usize,
    id: Option<&'s str>,
    data: &'s str,
    algorithm: Option<&'s str>,
    default_id: OnceCell<Option<String>>,
    parsed: OnceCell<Result<VerifyingKey, KeyError>>,
}

impl KeySlot<'_> {
    fn is_named(&self, key_id: &str) -> bool {
        match self.id {
            Some(id) => id == key_id,
            // Only an `ni:` id can be a default id: skip the hashing otherwise.
            None => {
                key_id.starts_with("ni:///sha-256;")
                    && self
                        .default_id
                        .get_or_init(|| keys::default_key_id(self.data).ok())
                        .as_deref()
                        == Some(key_id)
            }
        }
    }

    fn display_id(&self) -> String {
        match self.id {
            Some(id) => id.to_owned(),
            None => self
                .default_id
                .get_or_init(|| keys::default_key_id(self.data).ok())
                .clone()
                .unwrap_or_else(|| "(undecodable key)".to_owned()),
        }
    }
}

struct Engine<'s> {
    authorities: Vec<&'s str>,
    keys: Vec<KeySlot<'s>>,
    policies: Vec<Policy<'s>>,
    /// Matched straight from the settings: no per-pattern work up front.
    allowlists: &'s [AllowlistSpec<'s>],
    namespace: &'s str,
    annotation_values: &'s [Text<'s>],
    attestations: OnceCell<Result<Vec<Attestation>, AnnotationError>>,
    verified: RefCell<HashMap<(usize, usize), Result<(), Miss>>>,
    failed: Cell<u32>,
}

impl<'s> Engine<'s> {
    fn new(
        settings: &'s Settings<'s>,
        namespace: &'s str,
        annotation_values: &'s [Text<'s>],
    ) -> Self {
        let authorities: Vec<&str> = settings
            .attestation_authorities
            .iter()
            .map(|a| a.name.as_ref())
            .collect();
        let mut keys = Vec::new();
        for (i, a) in settings.attestation_authorities.iter().enumerate() {
            for k in a.keys() {
                keys.push(KeySlot {
                    authority: i,
                    id: k.id,
                    data: k.data,
                    algorithm: k.algorithm,
                    default_id: OnceCell::new(),
                    parsed: OnceCell::new(),
                });
            }
        }
        let policies = match &settings.attestation_policies {
            None => vec![Policy {
                name: None,
                require: Require::Any,
                authorities: (0..authorities.len()).collect(),
            }],
            Some(list) => list
                .iter()
                .filter(|p| p.namespace.as_deref().is_none_or(|n| n == namespace))
                .map(|p| Policy {
                    name: Some(p.name.as_ref()),
                    require: p.require,
                    authorities: p
                        .attestation_authority_names
                        .iter()
                        .filter_map(|n| authorities.iter().position(|a| *a == n.as_ref()))
                        .collect(),
                })
                .collect(),
        };
        Engine {
            authorities,
            keys,
            policies,
            allowlists: &settings.admission_allowlists,
            namespace,
            annotation_values,
            attestations: OnceCell::new(),
            verified: RefCell::new(HashMap::new()),
            failed: Cell::new(0),
        }
    }

    fn check_image(
        &self,
        image: &str,
        settings: &Settings<'_>,
        resolver: &dyn DigestResolver,
    ) -> Outcome {
        let allowlisted = self.allowlists.iter().flat_map(|l| &l.patterns).any(|p| {
            p.namespace.as_deref().is_none_or(|n| n == self.namespace)
                && allowlist::matches(&p.name_pattern, image)
        });
        if allowlisted {
            return Outcome::Admitted;
        }
        // As in kritis, a namespace no policy covers is not enforced.
        if self.policies.is_empty() {
            return Outcome::Admitted;
        }
        let reference = match ImageRef::parse(image) {
            Ok(r) => r,
            Err(e) => return Outcome::Failed(Reason::Reference(e)),
        };
        let resolved;
        let digest = match reference.digest {
            Some(d) => d,
            None if settings.resolve_tags => {
                resolved = match resolver.manifest_digest(image) {
                    Ok(d) => d,
                    Err(e) => return Outcome::Failed(Reason::Resolution(e)),
                };
                match Digest::parse(&resolved) {
                    Ok(d) => d,
                    Err(_) => return Outcome::Failed(Reason::ResolvedDigest(resolved.clone())),
                }
            }
            None => {
                return Outcome::Failed(Reason::Tag {
                    tag: reference.tag.map(str::to_owned),
                    name: reference.name.to_owned(),
                })
            }
        };
        match self.check_digest(&reference.repository, digest.as_str()) {
            Err(reason) => Outcome::Failed(reason),
            Ok(()) if reference.digest.is_none() => Outcome::Pinned(digest.as_str().to_owned()),
            Ok(()) => Outcome::Admitted,
        }
    }

    fn attestations(&self) -> &Result<Vec<Attestation>, AnnotationError> {
        self.attestations.get_or_init(|| {
            attestation::parse_all(self.annotation_values.iter().map(AsRef::as_ref))
        })
    }

    /// Admitted when at least one applicable policy is satisfied.
    fn check_digest(&self, repository: &Repository<'_>, digest: &str) -> Result<(), Reason> {
        let attestations = match self.attestations() {
            Ok(a) => a,
            Err(e) => return Err(Reason::Annotation(e.clone())),
        };
        if !attestations.iter().any(|a| a.claims.digest == digest) {
            return Err(Reason::NoAttestation {
                digest: digest.to_owned(),
                carried: attestations.len(),
            });
        }
        let mut memo: Vec<Option<Result<(), Miss>>> = vec![None; self.authorities.len()];
        let mut misses = Vec::new();
        for policy in &self.policies {
            let mut missing = Vec::new();
            let mut satisfied_any = false;
            for &a in &policy.authorities {
                let result = memo[a]
                    .get_or_insert_with(|| {
                        self.check_authority(a, attestations, repository, digest)
                    })
                    .clone();
                match result {
                    Ok(()) => satisfied_any = true,
                    Err(miss) => missing.push((self.authorities[a].to_owned(), miss)),
                }
            }
            let satisfied = match policy.require {
                Require::All => missing.is_empty() && !policy.authorities.is_empty(),
                Require::Any => satisfied_any,
            };
            if satisfied {
                return Ok(());
            }
            misses.push(PolicyMiss {
                policy: policy.name.map(str::to_owned),
                require: policy.require,
                missing,
            });
        }
        Err(Reason::Unsatisfied(misses))
    }

    /// Does authority `a` attest `repository@digest`? On failure, the most
    /// telling reason found.
    fn check_authority(
        &self,
        a: usize,
        attestations: &[Attestation],
        repository: &Repository<'_>,
        digest: &str,
    ) -> Result<(), Miss> {
        let mut best: Option<Miss> = None;
        let mut note = |m: Miss| {
            if best.as_ref().is_none_or(|b| m.rank() > b.rank()) {
                best = Some(m);
            }
        };
        let mut signed_by: Vec<(String, bool)> = Vec::new();
        for (ai, att) in attestations.iter().enumerate() {
            if att.claims.digest != digest {
                continue;
            }
            match parse_repository(&att.claims.docker_reference) {
                Ok(r) if r.same_as(repository) => {}
                _ => {
                    note(Miss::OtherRepository {
                        named: att.claims.docker_reference.clone(),
                        expected: repository.to_string(),
                    });
                    continue;
                }
            }
            for (si, sig) in att.signatures.iter().enumerate() {
                let Some(k) = self
                    .keys
                    .iter()
                    .position(|k| k.authority == a && k.is_named(&sig.key_id))
                else {
                    if !signed_by.iter().any(|(id, _)| *id == sig.key_id) {
                        let known = self.keys.iter().any(|k| k.is_named(&sig.key_id));
                        signed_by.push((sig.key_id.clone(), known));
                    }
                    continue;
                };
                match self.verify(ai, si, att, k) {
                    Ok(()) => return Ok(()),
                    Err(m) => note(m),
                }
            }
        }
        Err(best.unwrap_or_else(|| Miss::NoSignature {
            key_ids: self
                .keys
                .iter()
                .filter(|k| k.authority == a)
                .map(KeySlot::display_id)
                .collect(),
            signed_by,
        }))
    }

    fn verify(&self, ai: usize, si: usize, att: &Attestation, k: usize) -> Result<(), Miss> {
        if let Some(r) = self.verified.borrow().get(&(ai, si)) {
            return r.clone();
        }
        let slot = &self.keys[k];
        let result = if self.failed.get() >= MAX_FAILED_VERIFICATIONS {
            Err(Miss::Budget)
        } else {
            match slot
                .parsed
                .get_or_init(|| keys::parse_key(slot.data, slot.algorithm))
            {
                Err(e) => Err(Miss::BadKey {
                    key_id: slot.display_id(),
                    error: e.clone(),
                }),
                Ok(key) => {
                    let sig = &att.signatures[si];
                    verify::verify(key, &att.payload, &att.payload_sha256, &sig.bytes)
                        .map(|_| ())
                        .map_err(|error| {
                            self.failed.set(self.failed.get() + 1);
                            Miss::BadSignature {
                                key_id: sig.key_id.clone(),
                                error,
                            }
                        })
                }
            }
        };
        self.verified.borrow_mut().insert((ai, si), result.clone());
        result
    }
}
