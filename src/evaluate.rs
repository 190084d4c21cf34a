//! The decision: which images of an admitted object are attested.
//!
//! Every piece of work is bounded and done at most once per request:
//! distinct images are evaluated once however many containers or volumes use
//! them, and images naming the same (normalised repository, digest) share one
//! evaluation whatever their tags; the annotation is parsed once and indexed
//! by (digest, repository); a signature's key id is looked up in a hash map, never by
//! scanning the keys; a key is decoded only when a signature on an
//! attestation for an image under evaluation names it (and then once); and
//! each (attestation, signature, key) is verified at most once.

use std::borrow::Cow;
use std::cell::{Cell, OnceCell, RefCell};
use std::collections::hash_map::Entry;
use std::collections::{BTreeMap, HashMap, HashSet};

use serde::Deserialize;
use serde_json::value::RawValue;

use crate::allowlist;
use crate::attestation::{self, AnnotationError, Attestation};
use crate::image::{parse_repository, Digest, ImageRef, Repository};
use crate::keys::{self, KeyError, VerifyingKey};
use crate::settings::{AllowlistSpec, Require, Settings, Sources, Text};
use crate::verdict::{
    Failure, Listed, Miss, Place, PolicyMiss, Reason, Rejection, Verdict, VolumeProblem,
};
use crate::verify;
use crate::workload::{self, ImageField, Shape, Site, TypeMeta};

/// Largest `validate` payload evaluated. The API server caps requests at
/// 3 MiB; anything larger is refused before it is parsed.
pub const MAX_PAYLOAD: usize = 4 * 1024 * 1024;
/// Failed signature checks allowed in one request. Each costs a public-key
/// operation; past this many, further signatures count as failed unchecked,
/// so a flood of bogus signatures cannot stall the admission.
pub const MAX_FAILED_VERIFICATIONS: u32 = 64;
/// Registry verifications (host calls to `oci`/`v2/verify`) allowed in one
/// request: each is a registry round trip on a cold cache. Past this many,
/// further keys count as not verified, with this reason.
pub const MAX_REGISTRY_CALLS: u32 = 64;
/// Audit annotation (and warning prefix) recording break-glass use.
pub const BREAKGLASS_AUDIT_KEY: &str = "breakglass";
/// The prefix of kritis's default (PKIX) key ids: only such an id can name a
/// key configured without `publicKeyId`.
const DEFAULT_ID_PREFIX: &str = "ni:///sha-256;";

/// What the policy asks of Kubewarden's host. Production passes the SDK's
/// host calls (`lib.rs`); tests pass maps.
pub trait Host {
    /// The digest (`sha256:…`) of the manifest `image` names
    /// (`oci`/`v1/manifest_digest`).
    ///
    /// # Errors
    /// The host's reason, as text.
    fn manifest_digest(&self, image: &str) -> Result<String, String>;

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
    ) -> Result<Verified, String>;
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
/// costs work proportional to its size, not to its square.
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
    /// Registry verifications asked of the host.
    pub registry_calls: u32,
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
pub fn validate(payload: &[u8], host: &dyn Host) -> Verdict {
    validate_counting(payload, host).0
}

/// [`validate`], also saying how much work it did.
pub fn validate_counting(payload: &[u8], host: &dyn Host) -> (Verdict, Work) {
    let work = Cell::new(Work::default());
    let verdict = validate_inner(payload, host, &work);
    (verdict, work.get())
}

fn validate_inner(payload: &[u8], host: &dyn Host, work: &Cell<Work>) -> Verdict {
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
    evaluate_request(&p.request, &settings, host, work)
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
    host: &dyn Host,
    work: &Cell<Work>,
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
    let engine = Engine::new(settings, namespace, &w.attestations, host, work);

    let place = |u: &workload::ImageUse<'_>| Place {
        path: u.site.path(shape),
        name: u.name.as_deref().map(str::to_owned),
    };
    let mut failures = Vec::new();
    let mut pins: HashMap<&str, String> = HashMap::new();
    let mut seen: HashSet<&str> = HashSet::new();
    // Images naming the same repository and digest share one evaluation,
    // whatever their tags: `app:t1@D` and `app:t2@D` are the same content.
    let mut memo: HashMap<(Repository<'_>, Cow<'_, str>), Result<(), Reason>> = HashMap::new();
    for u in &w.images {
        let is_volume = matches!(u.site, Site::Volume(_));
        let image = match &u.image {
            ImageField::Text(t) if is_volume && t.is_empty() => {
                failures.push(Failure::VolumeReference {
                    place: place(u),
                    problem: VolumeProblem::Empty,
                });
                continue;
            }
            ImageField::Text(t) => t.as_ref(),
            ImageField::Missing if is_volume => {
                failures.push(Failure::VolumeReference {
                    place: place(u),
                    problem: VolumeProblem::Missing,
                });
                continue;
            }
            ImageField::Missing => {
                failures.push(Failure::NoImage(place(u)));
                continue;
            }
            ImageField::NotText(what) => {
                failures.push(Failure::VolumeReference {
                    place: place(u),
                    problem: VolumeProblem::NotText(what),
                });
                continue;
            }
        };
        if !seen.insert(image) {
            continue;
        }
        let result = match engine.target(image) {
            Target::Admitted => Ok(()),
            Target::Failed(reason) => Err(reason),
            Target::Verify {
                repository,
                digest,
                resolved,
            } => {
                // A tag with the registry source: the host verifies it and
                // says which digest it verified; everything else is judged
                // for that digest.
                let digest = match digest {
                    Some(d) => Ok(d),
                    None => engine.learn_digest(image).map(Cow::Owned),
                };
                match digest {
                    Err(reason) => Err(reason),
                    Ok(digest) => {
                        if resolved {
                            pins.insert(image, digest.to_string());
                        }
                        match memo.entry((repository, digest)) {
                            Entry::Occupied(e) => e.get().clone(),
                            Entry::Vacant(e) => {
                                let (repository, digest) = e.key();
                                let r = engine.check_digest(image, resolved, repository, digest);
                                e.insert(r).clone()
                            }
                        }
                    }
                }
            }
        };
        if let Err(reason) = result {
            failures.push(Failure::Image {
                image: image.to_owned(),
                reason,
                volume: is_volume.then(|| place(u)),
            });
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
        let text = rejection.message();
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
/// container or image volume uses it. Images written with a digest are never
/// touched.
fn pin(
    object: &RawValue,
    shape: Shape,
    w: &workload::Workload<'_>,
    pins: &HashMap<&str, String>,
) -> Result<serde_json::Value, String> {
    let mut value: serde_json::Value = serde_json::from_str(object.get())
        .map_err(|e| format!("the object cannot be re-read ({e})"))?;
    for u in &w.images {
        let Some(image) = u.text() else {
            continue;
        };
        let Some(digest) = pins.get(image) else {
            continue;
        };
        let pointer = u.site.pointer(shape);
        match value.pointer_mut(&pointer) {
            Some(slot) => *slot = serde_json::Value::String(format!("{image}@{digest}")),
            None => return Err(format!("cannot pin {pointer}")),
        }
    }
    Ok(value)
}

/// What remains to do for an image once allowlists, namespaces and tags are
/// dealt with.
enum Target<'i> {
    /// Allowlisted, or not enforced in this namespace.
    Admitted,
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
    /// The key as the host reads it (SPKI PEM), for the registry source.
    pem: OnceCell<Result<String, KeyError>>,
}

impl KeySlot<'_> {
    fn default_id(&self) -> Option<&str> {
        self.default_id
            .get_or_init(|| keys::default_key_id(self.data).ok())
            .as_deref()
    }

    fn display_id(&self) -> String {
        match self.id {
            Some(id) => id.to_owned(),
            None => self.default_id().unwrap_or("(undecodable key)").to_owned(),
        }
    }
}

/// The parsed annotation, with its attestations indexed by (digest,
/// normalised repository): finding the attestations for an image is a binary
/// search, so many images naming one digest under many repositories cannot
/// make every image scan every attestation.
struct Parsed {
    list: Vec<Attestation>,
    /// The normalised repository each payload names (`None`: not a valid
    /// repository, which no image can match).
    repositories: Vec<Option<String>>,
    /// Indices into `list`, sorted by digest, then repository, then position.
    index: Vec<usize>,
}

/// The attestations naming an image's digest.
struct Candidates<'p> {
    /// Those that also name its repository, in order.
    matching: &'p [usize],
    /// One that names the digest for another repository, if any.
    other: Option<usize>,
}

impl Parsed {
    fn new(list: Vec<Attestation>) -> Self {
        let repositories: Vec<Option<String>> = list
            .iter()
            .map(|a| {
                parse_repository(&a.claims.docker_reference)
                    .ok()
                    .map(|r| r.to_string())
            })
            .collect();
        let mut index: Vec<usize> = (0..list.len()).collect();
        index.sort_by(|&a, &b| {
            (list[a].claims.digest.as_str(), repositories[a].as_deref())
                .cmp(&(list[b].claims.digest.as_str(), repositories[b].as_deref()))
        });
        Parsed {
            list,
            repositories,
            index,
        }
    }

    /// The attestations naming `digest`, split by whether they name
    /// `repository` (normalised). `None` when no attestation names `digest`.
    fn candidates(&self, digest: &str, repository: &str) -> Option<Candidates<'_>> {
        let d = |i: &usize| self.list[*i].claims.digest.as_str();
        let start = self.index.partition_point(|i| d(i) < digest);
        let len = self.index[start..].partition_point(|i| d(i) == digest);
        let same_digest = &self.index[start..start + len];
        let first = *same_digest.first()?;
        let r = |i: &usize| self.repositories[*i].as_deref();
        let from = same_digest.partition_point(|i| r(i) < Some(repository));
        let to = from + same_digest[from..].partition_point(|i| r(i) == Some(repository));
        let other = if from > 0 {
            Some(first)
        } else {
            same_digest.get(to).copied()
        };
        Some(Candidates {
            matching: &same_digest[from..to],
            other,
        })
    }
}

/// What a verification proves: (attestation, signature, key slot). The key
/// is part of it, so a result proven with one authority's key is never
/// reused for another key that has the same id.
type Proof = (usize, usize, usize);

struct Engine<'s> {
    authorities: Vec<&'s str>,
    keys: Vec<KeySlot<'s>>,
    /// Explicit key id → its slots (several only with settings that skipped
    /// `validate_settings`, which refuses duplicate ids).
    by_id: HashMap<&'s str, Vec<usize>>,
    /// Default (PKIX) id → slots of the keys without an explicit id, built
    /// the first time a signature names an `ni:` id.
    by_default_id: OnceCell<HashMap<String, Vec<usize>>>,
    has_default_ids: bool,
    policies: Vec<Policy<'s>>,
    /// Matched straight from the settings: no per-pattern work up front.
    allowlists: &'s [AllowlistSpec<'s>],
    namespace: &'s str,
    annotation_values: &'s [Text<'s>],
    attestations: OnceCell<Result<Parsed, AnnotationError>>,
    verified: RefCell<HashMap<Proof, Result<(), Miss>>>,
    failed: Cell<u32>,
    work: &'s Cell<Work>,
    sources: Sources,
    resolve_tags: bool,
    host: &'s dyn Host,
    /// Per authority, the annotations its registry signatures must carry.
    registry_annotations: Vec<Option<BTreeMap<String, String>>>,
    /// (image as sent, key slot) → the digest the host verified, or why not.
    registry: RefCell<HashMap<(String, usize), Result<String, String>>>,
}

impl<'s> Engine<'s> {
    fn new(
        settings: &'s Settings<'s>,
        namespace: &'s str,
        annotation_values: &'s [Text<'s>],
        host: &'s dyn Host,
        work: &'s Cell<Work>,
    ) -> Self {
        let authorities: Vec<&str> = settings
            .attestation_authorities
            .iter()
            .map(|a| a.name.as_ref())
            .collect();
        let mut keys = Vec::new();
        let mut by_id: HashMap<&str, Vec<usize>> = HashMap::new();
        for (i, a) in settings.attestation_authorities.iter().enumerate() {
            for k in a.keys() {
                if let Some(id) = k.id {
                    by_id.entry(id).or_default().push(keys.len());
                }
                keys.push(KeySlot {
                    authority: i,
                    id: k.id,
                    data: k.data,
                    algorithm: k.algorithm,
                    default_id: OnceCell::new(),
                    parsed: OnceCell::new(),
                    pem: OnceCell::new(),
                });
            }
        }
        let has_default_ids = keys.iter().any(|k| k.id.is_none());
        let policies = match &settings.attestation_policies {
            None => vec![Policy {
                name: None,
                require: Require::Any,
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
                        authorities: p
                            .attestation_authority_names
                            .iter()
                            .filter_map(|n| authorities.iter().position(|a| *a == n.as_ref()))
                            .collect(),
                    })
                    .collect()
            }
        };
        Engine {
            authorities,
            keys,
            by_id,
            by_default_id: OnceCell::new(),
            has_default_ids,
            policies,
            allowlists: &settings.admission_allowlists,
            namespace,
            annotation_values,
            attestations: OnceCell::new(),
            verified: RefCell::new(HashMap::new()),
            failed: Cell::new(0),
            work,
            sources: settings.sources(),
            resolve_tags: settings.resolve_tags,
            host,
            registry_annotations: settings
                .attestation_authorities
                .iter()
                .map(|a| {
                    a.registry_annotations.as_ref().map(|m| {
                        m.iter()
                            .map(|(k, v)| (k.to_string(), v.to_string()))
                            .collect()
                    })
                })
                .collect(),
            registry: RefCell::new(HashMap::new()),
        }
    }

    fn count(&self, f: impl FnOnce(&mut Work)) {
        let mut w = self.work.get();
        f(&mut w);
        self.work.set(w);
    }

    /// The key slots a signature's key id names, of any authority: a hash
    /// lookup, so thousands of signatures with unknown ids cost thousands of
    /// lookups, not thousands of scans of the keys.
    fn keys_named(&self, key_id: &str) -> impl Iterator<Item = usize> + '_ {
        let explicit = self.by_id.get(key_id).map_or(&[][..], Vec::as_slice);
        let default = if self.has_default_ids && key_id.starts_with(DEFAULT_ID_PREFIX) {
            let map = self.by_default_id.get_or_init(|| {
                let mut map: HashMap<String, Vec<usize>> = HashMap::new();
                for (i, k) in self.keys.iter().enumerate() {
                    if k.id.is_none() {
                        if let Some(id) = k.default_id() {
                            map.entry(id.to_owned()).or_default().push(i);
                        }
                    }
                }
                map
            });
            map.get(key_id).map_or(&[][..], Vec::as_slice)
        } else {
            &[][..]
        };
        explicit.iter().chain(default).copied()
    }

    fn target<'i>(&self, image: &'i str) -> Target<'i> {
        let allowlisted = self.allowlists.iter().flat_map(|l| &l.patterns).any(|p| {
            p.namespace.as_deref().is_none_or(|n| n == self.namespace)
                && allowlist::matches(&p.name_pattern, image)
        });
        if allowlisted {
            return Target::Admitted;
        }
        // As in kritis, a namespace no policy covers is not enforced.
        if self.policies.is_empty() {
            return Target::Admitted;
        }
        let reference = match ImageRef::parse(image) {
            Ok(r) => r,
            Err(e) => return Target::Failed(Reason::Reference(e)),
        };
        let digest = match reference.digest {
            Some(d) => Cow::Borrowed(d.as_str()),
            None if self.resolve_tags => {
                let resolved = match self.host.manifest_digest(image) {
                    Ok(d) => d,
                    Err(e) => return Target::Failed(Reason::Resolution(e)),
                };
                if Digest::parse(&resolved).is_err() {
                    return Target::Failed(Reason::ResolvedDigest(resolved));
                }
                Cow::Owned(resolved)
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

    fn attestations(&self) -> &Result<Parsed, AnnotationError> {
        self.attestations.get_or_init(|| {
            attestation::parse_all(self.annotation_values.iter().map(AsRef::as_ref))
                .map(Parsed::new)
        })
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
            let parsed = self.attestations().as_ref();
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
                Ok((parsed, Some(candidates))) => {
                    self.check_authority(a, &parsed.list, candidates, repository)
                }
            });
            let annotation_miss = match from_annotation {
                Some(Ok(())) => return Ok(()),
                Some(Err(miss)) => Some(miss),
                None => None,
            };
            if !self.sources.registry {
                return Err(annotation_miss.unwrap_or(Miss::TagOnly));
            }
            let registry_miss = match self.registry_check(a, &registry_image, Some(digest)) {
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
        let mut misses = Vec::new();
        for policy in &self.policies {
            let mut missing = Vec::new();
            let mut satisfied_any = false;
            for &a in &policy.authorities {
                let result = memo[a].get_or_insert_with(|| check(a)).clone();
                match result {
                    Ok(()) => {
                        satisfied_any = true;
                        if policy.require == Require::Any {
                            break;
                        }
                    }
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
        Err(misses)
    }

    /// For a tag under the registry source: asks the host to verify it
    /// with the keys of the authorities the applicable policies name, in
    /// order, until one verifies; the digest it verified is the image's
    /// digest from then on.
    fn learn_digest(&self, image: &str) -> Result<String, Reason> {
        for policy in &self.policies {
            for &a in &policy.authorities {
                for k in self.keys_of(a) {
                    if let Ok(digest) = self.registry_verify(image, k, None) {
                        // The pinned form is what later calls send: the
                        // same key needs no second call for it.
                        self.registry
                            .borrow_mut()
                            .insert((format!("{image}@{digest}"), k), Ok(digest.clone()));
                        return Ok(digest);
                    }
                }
            }
        }
        let annotation = self.sources.annotation;
        let misses = self
            .judge(|a| {
                let registry = self
                    .registry_check(a, image, None)
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

    /// The key slots of authority `a`.
    fn keys_of(&self, a: usize) -> impl Iterator<Item = usize> + '_ {
        self.keys
            .iter()
            .enumerate()
            .filter(move |(_, k)| k.authority == a)
            .map(|(i, _)| i)
    }

    /// Does a cosign signature in the registry verify `image` with one of
    /// authority `a`'s keys (and, when given, for `digest`)?
    fn registry_check(&self, a: usize, image: &str, digest: Option<&str>) -> Result<(), Miss> {
        let mut keys = Listed::default();
        for k in self.keys_of(a) {
            match self.registry_verify(image, k, digest) {
                Ok(_) => return Ok(()),
                Err(why) => keys.push_with(|| (self.keys[k].display_id(), why)),
            }
        }
        Err(Miss::Registry { keys })
    }

    /// One host call per (image, key) per request: the digest the host
    /// verified, or why not. With `expected`, an answer for another digest
    /// (the tag moved during the admission) is a failure.
    fn registry_verify(
        &self,
        image: &str,
        k: usize,
        expected: Option<&str>,
    ) -> Result<String, String> {
        let key = (image.to_owned(), k);
        let cached = self.registry.borrow().get(&key).cloned();
        let result = match cached {
            Some(r) => r,
            None => {
                let r = self.ask_registry(image, k);
                self.registry.borrow_mut().insert(key, r.clone());
                r
            }
        };
        match (result, expected) {
            (Ok(d), Some(e)) if d != e => Err(format!(
                "the host verified {d} instead of the digest judged (did the tag move?)"
            )),
            (r, _) => r,
        }
    }

    fn ask_registry(&self, image: &str, k: usize) -> Result<String, String> {
        if self.work.get().registry_calls >= MAX_REGISTRY_CALLS {
            return Err(format!(
                "not asked: more than {MAX_REGISTRY_CALLS} registry verifications in this request"
            ));
        }
        let slot = &self.keys[k];
        let pem = match slot.pem.get_or_init(|| keys::spki_pem(slot.data)) {
            Ok(pem) => pem.clone(),
            Err(e) => return Err(format!("the key is unusable: {e}")),
        };
        self.count(|w| w.registry_calls += 1);
        let annotations = self.registry_annotations[slot.authority].clone();
        match self.host.verify_pub_key(image, pem, annotations) {
            Err(e) => Err(e),
            Ok(v) if !v.is_trusted => Err("the host does not trust the image".to_owned()),
            Ok(v) if Digest::parse(&v.digest).is_err() => Err(format!(
                "the host answered {:?}, which is not a digest",
                v.digest
            )),
            Ok(v) => Ok(v.digest),
        }
    }

    /// Does authority `a` attest `repository` in one of the `candidates`
    /// (the attestations naming the digest)? On failure, the most telling
    /// reason found.
    fn check_authority(
        &self,
        a: usize,
        attestations: &[Attestation],
        candidates: &Candidates<'_>,
        repository: &Repository<'_>,
    ) -> Result<(), Miss> {
        let mut best: Option<Miss> = None;
        let mut note = |m: Miss| {
            if best.as_ref().is_none_or(|b| m.rank() > b.rank()) {
                best = Some(m);
            }
        };
        let mut signed_by: Listed<(String, bool)> = Listed::default();
        let mut seen_ids: HashSet<&str> = HashSet::new();
        if let Some(other) = candidates.other {
            note(Miss::OtherRepository {
                named: attestations[other].claims.docker_reference.clone(),
                expected: repository.to_string(),
            });
        }
        for &ai in candidates.matching {
            let att = &attestations[ai];
            self.count(|w| {
                w.attestations_examined += 1;
                w.signatures_examined += att.signatures.len() as u64;
            });
            for (si, sig) in att.signatures.iter().enumerate() {
                let mut known = false;
                let mut ours = false;
                for k in self.keys_named(&sig.key_id) {
                    known = true;
                    if self.keys[k].authority != a {
                        continue;
                    }
                    ours = true;
                    match self.verify(ai, si, att, k) {
                        Ok(()) => return Ok(()),
                        Err(m) => note(m),
                    }
                }
                if !ours && seen_ids.insert(&sig.key_id) {
                    signed_by.push_with(|| (sig.key_id.clone(), known));
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

    /// Verifies signature `si` of attestation `ai` with key slot `k`.
    fn verify(&self, ai: usize, si: usize, att: &Attestation, k: usize) -> Result<(), Miss> {
        if let Some(r) = self.verified.borrow().get(&(ai, si, k)) {
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
                    self.count(|w| w.verifications += 1);
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
        self.verified
            .borrow_mut()
            .insert((ai, si, k), result.clone());
        result
    }
}
