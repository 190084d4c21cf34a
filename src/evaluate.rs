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

use std::cell::Cell;
use std::collections::HashSet;

use serde::de::{self, DeserializeSeed, IgnoredAny, MapAccess, Visitor};
use serde::Deserialize;
use serde_json::value::RawValue;

use crate::cluster;
use crate::engine::{Decision, Decisions, Engine};
use crate::host::Calls;
use crate::settings::{Settings, Text};
use crate::verdict::{Failure, Place, Rejection, Verdict, VolumeProblem};
use crate::workload::{self, ImageField, Shape, Site, TypeMeta, Workload};

/// Largest `validate` payload evaluated. The API server caps requests at
/// 3 MiB; anything larger is refused before it is parsed.
pub const MAX_PAYLOAD: usize = 4 * 1024 * 1024;
/// Failed signature checks allowed in one request. Each costs a public-key
/// operation (up to about 0.3 ms for RSA-4096 in the module); past this
/// many, further signatures count as failed unchecked, so a flood of bogus
/// signatures cannot stall the admission.
pub const MAX_FAILED_VERIFICATIONS: u32 = 16;
/// Signature verifications of any outcome allowed in one request
/// (annotation signatures and keyless signature layers), weighed by their
/// cost in RSA-2048 verifications (`VerifyingKey::cost`: P-256 2, RSA-4096
/// 4, P-384 5, a keyless layer 2): replayed valid signatures cost as much
/// as bogus ones, so this bounds the request's public-key work at about
/// 64 RSA-2048 checks (~6 ms in the module) whatever the keys. 32 images
/// each proven by two RSA-2048 authorities fit.
pub const MAX_VERIFICATION_COST: u32 = 64;
pub use crate::host::{Host, Verified, Work, MAX_HOST_CALLS};
/// Distinct images (and containers or volumes without a usable image)
/// judged in one object. Judging one costs a few microseconds and a reason
/// (a 3 MiB Pod can name 12,000 distinct images, about 100 ms); past this
/// many, the rest are counted and rejected unjudged.
pub const MAX_JUDGED_IMAGES: usize = 256;
/// Audit annotation (and warning prefix) recording break-glass use.
pub const BREAKGLASS_AUDIT_KEY: &str = "breakglass";

// One pass over the payload: the settings are deserialised in place, not
// skipped and parsed again (with thousands of allowlist patterns, the
// settings are most of the bytes), and so is the request's object when the
// request's kind, which the API server writes before it, says its shape
// (see [`Request`]).
#[derive(Deserialize)]
struct OnePass<'a> {
    #[serde(borrow)]
    request: Request<'a>,
    #[serde(borrow)]
    settings: Settings<'a>,
}

// The same payload with the object kept as text: read when the one pass
// fails (to name the problem as before, at its place in the object), and
// for the object's text when an admitted object is pinned.
#[derive(Deserialize)]
struct Payload<'a> {
    #[serde(borrow)]
    request: TextRequest<'a>,
    #[serde(borrow)]
    settings: Settings<'a>,
}

#[derive(Deserialize)]
struct TextRequest<'a> {
    #[serde(borrow, default)]
    kind: Option<Gvk<'a>>,
    #[serde(borrow, default)]
    operation: Option<Text<'a>>,
    #[serde(borrow, default)]
    namespace: Option<Text<'a>>,
    #[serde(borrow, default)]
    object: Option<&'a RawValue>,
}

/// What the policy reads of an AdmissionRequest.
struct Request<'a> {
    kind: Option<Gvk<'a>>,
    operation: Option<Text<'a>>,
    namespace: Option<Text<'a>>,
    object: Object<'a>,
}

/// The request's object as the payload's pass left it.
enum Object<'a> {
    /// Absent or `null`.
    Absent,
    /// Kept as text: the request's kind did not come first (or is empty),
    /// or the operation (DELETE, CONNECT) runs no image.
    Text(&'a RawValue),
    /// Read in the pass, in the shape the request's kind gives.
    Read(Shape, Workload<'a>),
    /// An object of a kind that embeds no pod spec: skipped.
    NoPodSpec,
}

impl Request<'_> {
    fn runs_no_image(&self) -> bool {
        matches!(self.operation.as_deref(), Some("DELETE" | "CONNECT"))
    }
}

impl<'a> From<TextRequest<'a>> for Request<'a> {
    fn from(r: TextRequest<'a>) -> Self {
        Request {
            kind: r.kind,
            operation: r.operation,
            namespace: r.namespace,
            object: match r.object {
                Some(o) if o.get() != "null" => Object::Text(o),
                _ => Object::Absent,
            },
        }
    }
}

/// Reads the request's fields in the order they come. A 3 MiB Pod is most
/// of its payload: scanning it as raw text and then parsing that text again
/// doubled the cost of the largest requests. Anything this reader refuses
/// (a field given twice, an object that does not have its kind's shape) is
/// read again by [`Payload`], which names the problem as before.
impl<'de: 'a, 'a> Deserialize<'de> for Request<'a> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_map(RequestVisitor)
    }
}

struct RequestVisitor;

impl<'de> Visitor<'de> for RequestVisitor {
    type Value = Request<'de>;

    fn expecting(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("an AdmissionRequest")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Request<'de>, A::Error> {
        let mut r = Request {
            kind: None,
            operation: None,
            namespace: None,
            object: Object::Absent,
        };
        let mut seen = [false; 4];
        let mut once = |i: usize, name: &'static str| {
            if std::mem::replace(&mut seen[i], true) {
                Err(de::Error::duplicate_field(name))
            } else {
                Ok(())
            }
        };
        while let Some(key) = map.next_key::<Text<'de>>()? {
            match key.as_ref() {
                "kind" => {
                    once(0, "kind")?;
                    r.kind = map.next_value()?;
                }
                "operation" => {
                    once(1, "operation")?;
                    r.operation = map.next_value()?;
                }
                "namespace" => {
                    once(2, "namespace")?;
                    r.namespace = map.next_value()?;
                }
                "object" => {
                    once(3, "object")?;
                    let shape = r
                        .kind
                        .as_ref()
                        .filter(|k| !k.kind.is_empty() && !r.runs_no_image())
                        .map(|k| Shape::of(&k.group, &k.kind));
                    r.object = match shape {
                        Some(Some(shape)) => match map.next_value_seed(MaybeWorkload(shape))? {
                            Some(w) => Object::Read(shape, w),
                            None => Object::Absent,
                        },
                        Some(None) => match map.next_value::<Option<IgnoredAny>>()? {
                            Some(_) => Object::NoPodSpec,
                            None => Object::Absent,
                        },
                        None => match map.next_value::<Option<&'de RawValue>>()? {
                            Some(o) if o.get() != "null" => Object::Text(o),
                            _ => Object::Absent,
                        },
                    };
                }
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(r)
    }
}

/// An object of a known shape, or `null`.
struct MaybeWorkload(Shape);

impl<'de> DeserializeSeed<'de> for MaybeWorkload {
    type Value = Option<Workload<'de>>;

    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_option(self)
    }
}

impl<'de> Visitor<'de> for MaybeWorkload {
    type Value = Option<Workload<'de>>;

    fn expecting(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("an object")
    }

    fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_some<D: serde::Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        workload::Seed(self.0).deserialize(d).map(Some)
    }
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
    // JSON is UTF-8: checked once here (word at a time), so the parser's
    // strings need no validation each (a third of its time on thousands of
    // allowlist patterns). Nothing is spent on naming fields unless
    // something failed.
    let Ok(text) = std::str::from_utf8(payload) else {
        return reject(Rejection::Request(
            "not a Kubewarden validation request (not UTF-8 text)".to_owned(),
        ));
    };
    let (request, settings) = match crate::json::from_str::<OnePass<'_>>(text) {
        Ok(p) => (p.request, p.settings),
        Err(_) => match crate::json::from_str::<Payload<'_>>(text) {
            Ok(p) => (Request::from(p.request), p.settings),
            Err(_) => return reject(payload_error(text)),
        },
    };
    let errors = settings.structural_errors();
    if !errors.is_empty() {
        return reject(Rejection::Settings(errors.join("; ")));
    }
    // The object's text, for pinning an object the pass read in place.
    let object_text = || {
        crate::json::from_str::<Payload<'_>>(text)
            .ok()
            .and_then(|p| p.request.object)
    };
    evaluate_request(request, &object_text, settings, host, work)
}

/// Why a payload does not deserialise. When the settings are at fault,
/// they are deserialised again on their own, as `validate_settings` does,
/// so the message names the field at the error's position.
fn payload_error(payload: &str) -> Rejection {
    #[derive(Deserialize)]
    struct Parts<'a> {
        #[serde(borrow)]
        settings: &'a RawValue,
    }
    let request_error = |e: serde_json::Error| {
        Rejection::Request(format!("not a Kubewarden validation request ({e})"))
    };
    match crate::json::from_str::<Parts<'_>>(payload) {
        Err(e) => request_error(e),
        Ok(parts) => match Settings::from_str(parts.settings.get()) {
            Err(e) => Rejection::Settings(e),
            // The settings are fine: the request is what does not fit.
            Ok(_) => match crate::json::from_str::<Payload<'_>>(payload) {
                Err(e) => request_error(e),
                // Unreachable with the same input; fail closed anyway.
                Ok(_) => Rejection::Request("not a Kubewarden validation request".to_owned()),
            },
        },
    }
}

fn admit() -> Verdict {
    Verdict::Admit {
        warnings: Vec::new(),
        audit_annotations: Vec::new(),
        mutated_object: None,
    }
}

fn evaluate_request<'a>(
    req: Request<'a>,
    object_text: &dyn Fn() -> Option<&'a RawValue>,
    settings: Settings<'_>,
    host: &dyn Host,
    work: &Cell<Work>,
) -> Verdict {
    let reject = |e: String| Verdict::Reject(Rejection::Request(e));
    // Deleting or connecting runs no new image.
    if req.runs_no_image() {
        return admit();
    }
    let (kind, shape, w, text) = match req.object {
        Object::Absent => return reject("the request has no object".to_owned()),
        // A kind that embeds no pod spec runs no image.
        Object::NoPodSpec => return admit(),
        Object::Read(shape, w) => {
            let kind = req
                .kind
                .as_ref()
                .map(|k| k.kind.to_string())
                .unwrap_or_default();
            (kind, shape, w, None)
        }
        Object::Text(object) => {
            let (group, kind) = match group_kind(req.kind.as_ref(), object) {
                Ok(gk) => gk,
                Err(e) => return reject(e),
            };
            let Some(shape) = Shape::of(&group, &kind) else {
                return admit();
            };
            match workload::read(object, shape) {
                Ok(w) => (kind, shape, w, Some(object)),
                Err(e) => return reject(format!("the object is not a valid {kind} ({e})")),
            }
        }
    };
    if let Some((path, bytes)) = w.oversized_annotations {
        return reject(format!(
            "the {kind}'s {path} total {bytes} bytes, more than Kubernetes' limit of {} bytes \
             (256 KiB) for one object's annotations: the API server would refuse it, and this \
             policy does not read its attestations",
            workload::MAX_ANNOTATION_BYTES
        ));
    }
    let namespace = req
        .namespace
        .as_deref()
        .filter(|n| !n.is_empty())
        .or(w.namespace.as_deref())
        .unwrap_or("");
    let calls = Calls::new(host, work);
    // Live mode: the cluster's kritis resources join the settings for this
    // request (read only when there is an image to judge).
    let fetched = match &settings.kritis_resources {
        Some(k) if !w.images.is_empty() => match cluster::fetch(calls, namespace, k) {
            Ok(f) => Some(f),
            Err(e) => return reject(e),
        },
        _ => None,
    };
    let mut settings = settings;
    if let (Some(f), Some(k)) = (&fetched, settings.kritis_resources) {
        if let Err(e) = cluster::extend(&mut settings, f, namespace, &k) {
            return reject(e);
        }
    }
    let settings = &settings;
    let engine = Engine::new(settings, namespace, &w.attestations, calls);

    let place = |u: &workload::ImageUse<'_>| Place {
        path: u.site.path(shape),
        name: u.name.as_deref().map(str::to_owned),
    };
    let mut failures = Vec::new();
    // Images only `warn` policies reject, and notes of expiring exceptions.
    let mut warned = Vec::new();
    let mut notes = Vec::new();
    let mut decisions = Decisions::default();
    let mut seen: HashSet<&str> = HashSet::new();
    // Containers or volumes that name no usable image, judged so far.
    let mut unusable = 0usize;
    // Past MAX_JUDGED_IMAGES: counted, never judged.
    let mut unjudged = 0usize;
    for u in &w.images {
        if seen.len() + unusable >= MAX_JUDGED_IMAGES {
            if u.text().is_none_or(|t| !seen.contains(t)) {
                unjudged += 1;
            }
            continue;
        }
        let image = match image_text(u, || place(u)) {
            Ok(image) => image,
            Err(failure) => {
                unusable += 1;
                failures.push(failure);
                continue;
            }
        };
        if !seen.insert(image) {
            continue;
        }
        let failure = |reason| Failure::Image {
            image: image.to_owned(),
            reason,
            volume: matches!(u.site, Site::Volume(_)).then(|| place(u)),
        };
        match engine.decide(image, &mut decisions) {
            Decision::Admitted => {}
            Decision::Expiring(note) => notes.push(note),
            Decision::Warned(reason) => warned.push(failure(reason)),
            Decision::Rejected(reason) => failures.push(failure(reason)),
        }
    }

    if unjudged > 0 {
        failures.insert(0, Failure::Unjudged(unjudged));
    }
    if !failures.is_empty() && w.misplaced_attestations {
        failures.insert(
            0,
            Failure::MisplacedAttestations {
                kind: kind.clone(),
                path: shape.attestations_path(),
            },
        );
    }
    if failures.is_empty() {
        let mutated_object = if settings.mutate() && !decisions.pins.is_empty() {
            let Some(object) = text.or_else(object_text) else {
                return reject("the object cannot be re-read".to_owned());
            };
            match pin(object, shape, &w, &decisions.pins) {
                Ok(v) => Some(v),
                Err(e) => return reject(e),
            }
        } else {
            None
        };
        let (mut warnings, audit_annotations) = warn_mode(warned);
        warnings.extend(notes.into_iter().map(|n| cut(n, MAX_WARNING)));
        return Verdict::Admit {
            warnings,
            audit_annotations,
            mutated_object,
        };
    }
    if settings.allow_breakglass && w.breakglass {
        match breakglass_expiry(settings, calls) {
            Ok(note) => {
                let text = Rejection::Images(failures).message();
                let mut warnings = vec![format!(
                    "break-glass: admitted without verification (kritis.grafeas.io/breakglass): {text}"
                )];
                warnings.extend(note);
                return Verdict::Admit {
                    warnings,
                    audit_annotations: vec![(BREAKGLASS_AUDIT_KEY, text)],
                    mutated_object: None,
                };
            }
            Err(refused) => failures.insert(0, Failure::BreakglassRefused(refused)),
        }
    }
    Verdict::Reject(Rejection::Images(failures))
}

/// Longest warning, in bytes: kubectl prints each on its own line.
const MAX_WARNING: usize = 1024;
/// Warnings given for images that `warn` policies reject; the rest are
/// counted in one more warning (the audit annotation lists them all).
const MAX_WARNED_IMAGES: usize = 20;
/// Audit annotation recording what `warn` policies would have rejected. The
/// API server prefixes it with the webhook's name (`<webhook>/would-reject`),
/// so it carries no `/` of its own, which would make that key invalid.
pub const WOULD_REJECT_AUDIT_KEY: &str = "would-reject";

/// `text` cut below `max` bytes, on a character boundary.
fn cut(mut text: String, max: usize) -> String {
    if text.len() > max {
        let mut end = max - 4;
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        text.truncate(end);
        text.push_str(" …");
    }
    text
}

/// One warning per image that only `warn` policies reject, saying what the
/// rejection would have said, and the audit annotation that records them.
fn warn_mode(warned: Vec<Failure>) -> (Vec<String>, Vec<(&'static str, String)>) {
    if warned.is_empty() {
        return (Vec::new(), Vec::new());
    }
    let mut warnings: Vec<String> = warned
        .iter()
        .take(MAX_WARNED_IMAGES)
        .map(|f| {
            cut(
                format!("enforcement is warn, so admitted; would reject: {f}"),
                MAX_WARNING,
            )
        })
        .collect();
    if warned.len() > MAX_WARNED_IMAGES {
        warnings.push(format!(
            "enforcement is warn: {} more images would be rejected (see the {WOULD_REJECT_AUDIT_KEY} audit annotation)",
            warned.len() - MAX_WARNED_IMAGES
        ));
    }
    let text = Rejection::Images(warned).message();
    (warnings, vec![(WOULD_REJECT_AUDIT_KEY, text)])
}

/// Whether break-glass may still be used: `Ok` with an optional warning when
/// it expires soon, `Err` with why it is refused (expired, or no clock to
/// tell).
fn breakglass_expiry(settings: &Settings<'_>, calls: Calls<'_>) -> Result<Option<String>, String> {
    let Some(expires) = settings.breakglass_expires.as_deref() else {
        return Ok(None);
    };
    let Ok(at) = crate::clock::parse_rfc3339(expires) else {
        return Err(format!("breakglassExpires {expires:?} is not a time"));
    };
    let Some(now) = calls.now() else {
        return Err(format!(
            "break-glass is refused: it expires at {expires} and the host gives this policy no clock to tell"
        ));
    };
    if now >= at {
        return Err(format!("break-glass is refused: it expired at {expires}"));
    }
    Ok((at - now <= settings.expiry_warning_seconds()).then(|| {
        format!(
            "break-glass expires at {expires} ({}): after that, objects marked kritis.grafeas.io/breakglass are verified like any other",
            crate::clock::remaining(at - now)
        )
    }))
}

/// The kind of the object: from the request, else from the object itself.
fn group_kind(kind: Option<&Gvk<'_>>, object: &RawValue) -> Result<(String, String), String> {
    match kind {
        Some(gvk) if !gvk.kind.is_empty() => Ok((gvk.group.to_string(), gvk.kind.to_string())),
        _ => match crate::json::from_str::<TypeMeta<'_>>(object.get()) {
            Ok(t) => {
                let api = t.api_version.as_deref().unwrap_or("");
                let group = api.rsplit_once('/').map_or("", |(g, _)| g);
                Ok((group.to_owned(), t.kind.as_deref().unwrap_or("").to_owned()))
            }
            Err(e) => Err(format!("the object is not a Kubernetes object ({e})")),
        },
    }
}

/// The image a container or image volume names, or why it names none: a
/// volume's reference that is missing, empty or not text fails closed.
fn image_text<'w>(
    u: &'w workload::ImageUse<'_>,
    place: impl Fn() -> Place,
) -> Result<&'w str, Failure> {
    let is_volume = matches!(u.site, Site::Volume(_));
    let volume = |problem| Failure::VolumeReference {
        place: place(),
        problem,
    };
    match &u.image {
        ImageField::Text(t) if is_volume && t.is_empty() => Err(volume(VolumeProblem::Empty)),
        ImageField::Text(t) => Ok(t.as_ref()),
        ImageField::Missing if is_volume => Err(volume(VolumeProblem::Missing)),
        ImageField::Missing => Err(Failure::NoImage(place())),
        ImageField::NotText(what) => Err(volume(VolumeProblem::NotText(what))),
    }
}

/// Pins each resolved image to its digest (`repo:tag@sha256:…`) wherever a
/// container or image volume uses it. Images written with a digest are never
/// touched.
fn pin(
    object: &RawValue,
    shape: Shape,
    w: &workload::Workload<'_>,
    pins: &std::collections::HashMap<&str, String>,
) -> Result<serde_json::Value, String> {
    let mut value: serde_json::Value = crate::json::from_str(object.get())
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
