//! Reading a `validate` payload: the request's fields and the settings in
//! one pass over the bytes where the request allows it, else the object
//! kept as text; and, when nothing fits, why, with the settings' own paths.
//! Separate from the flow in `evaluate` because it is all serde plumbing:
//! what the policy reads, in which order, and nothing of what it decides.

use serde::de::{self, DeserializeSeed, IgnoredAny, MapAccess, Visitor};
use serde::Deserialize;
use serde_json::value::RawValue;

use crate::settings::{Settings, Text};
use crate::verdict::Rejection;
use crate::workload::{self, Shape, TypeMeta, Workload};

// One pass over the payload: the settings are deserialised in place, not
// skipped and parsed again (with thousands of allowlist patterns, the
// settings are most of the bytes), and so is the request's object when the
// request's kind, which the API server writes before it, says its shape
// (see [`Request`]).
#[derive(Deserialize)]
pub(super) struct OnePass<'a> {
    #[serde(borrow)]
    pub(super) request: Request<'a>,
    #[serde(borrow)]
    pub(super) settings: Settings<'a>,
}

// The same payload with the object kept as text: read when the one pass
// fails (to name the problem as before, at its place in the object), and
// for the object's text when an admitted object is pinned.
#[derive(Deserialize)]
pub(super) struct Payload<'a> {
    #[serde(borrow)]
    pub(super) request: TextRequest<'a>,
    #[serde(borrow)]
    pub(super) settings: Settings<'a>,
}

#[derive(Deserialize)]
pub(super) struct TextRequest<'a> {
    #[serde(borrow, default)]
    kind: Option<Gvk<'a>>,
    #[serde(borrow, default)]
    operation: Option<Text<'a>>,
    #[serde(borrow, default)]
    namespace: Option<Text<'a>>,
    #[serde(borrow, default)]
    pub(super) object: Option<&'a RawValue>,
}

/// What the policy reads of an AdmissionRequest.
pub(super) struct Request<'a> {
    pub(super) kind: Option<Gvk<'a>>,
    operation: Option<Text<'a>>,
    pub(super) namespace: Option<Text<'a>>,
    pub(super) object: Object<'a>,
}

/// The request's object as the payload's pass left it.
pub(super) enum Object<'a> {
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
    pub(super) fn runs_no_image(&self) -> bool {
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
pub(super) struct Gvk<'a> {
    #[serde(borrow, default)]
    group: Text<'a>,
    #[serde(borrow, default)]
    pub(super) kind: Text<'a>,
}

/// Why a payload does not deserialise. When the settings are at fault,
/// they are deserialised again on their own, as `validate_settings` does,
/// so the message names the field at the error's position.
pub(super) fn payload_error(payload: &str) -> Rejection {
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

/// The kind of the object: from the request, else from the object itself.
pub(super) fn group_kind(
    kind: Option<&Gvk<'_>>,
    object: &RawValue,
) -> Result<(String, String), String> {
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
