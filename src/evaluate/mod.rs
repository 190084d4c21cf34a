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
//!
//! This module holds the request's bounds and its flow, from the payload to
//! the verdict; the parts of that flow that stand on their own live in
//! their own files:
//! - `request`: reading the payload (in one pass where it can), and naming
//!   what does not fit;
//! - `warnings`: the warnings of an admitted object (warn mode, cut to a
//!   length kubectl prints);
//! - `breakglass`: whether break-glass may still be used;
//! - `pin`: the admitted object with its tag images pinned to digests.

mod breakglass;
mod pin;
mod request;
mod warnings;

use std::cell::Cell;
use std::collections::HashSet;

use serde_json::value::RawValue;

use crate::cluster;
use crate::engine::{Decision, Decisions, Engine};
use crate::host::Calls;
use crate::settings::Settings;
use crate::verdict::{Failure, Place, Rejection, Verdict, VolumeProblem};
use crate::workload::{self, ImageField, Shape, Site};
use breakglass::breakglass_expiry;
use pin::pin;
use request::{group_kind, payload_error, Object, OnePass, Payload, Request};
pub use warnings::WOULD_REJECT_AUDIT_KEY;
use warnings::{cut, warn_mode, MAX_WARNING};

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
