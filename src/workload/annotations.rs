//! One metadata's annotations: the attestation annotation and the
//! break-glass mark read, every other value only measured, so that an object
//! over Kubernetes' size limit is refused before a single attestation is
//! read. Separate because it is its own streaming visitor with its own
//! bound.

use core::fmt;

use serde::de::{self, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::{Deserialize, Deserializer};

use crate::settings::Text;

/// Kubernetes' limit on the annotations of one object's metadata: the sum
/// of the lengths of every key and value (`TotalAnnotationSizeLimitB` in
/// apimachinery's `ValidateAnnotationsSize`). The API server enforces it
/// only after mutating webhooks have run, so a mutating deployment of this
/// policy can be sent more; the policy refuses such an object before
/// reading a single attestation.
pub const MAX_ANNOTATION_BYTES: usize = 256 * 1024;

const ATTESTATIONS_KEY: &str = "kritis.grafeas.io/attestations";
const BREAKGLASS_KEY: &str = "kritis.grafeas.io/breakglass";

/// One metadata's annotations: the two the policy reads, and the total size
/// of all of them as Kubernetes counts it.
#[derive(Default)]
pub(super) struct Annotations<'a> {
    pub(super) attestations: Option<Text<'a>>,
    pub(super) breakglass: bool,
    /// Sum of the lengths of every key and (string) value.
    pub(super) bytes: usize,
}

impl<'de: 'a, 'a> Deserialize<'de> for Annotations<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_map(AnnotationsVisitor)
    }
}

struct AnnotationsVisitor;

impl<'de> Visitor<'de> for AnnotationsVisitor {
    type Value = Annotations<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a map of annotations")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut a = Annotations::default();
        let mut breakglass_seen = false;
        while let Some(key) = map.next_key::<Text<'de>>()? {
            a.bytes = a.bytes.saturating_add(key.len());
            match key.as_ref() {
                ATTESTATIONS_KEY => {
                    if a.attestations.is_some() {
                        return Err(de::Error::duplicate_field(ATTESTATIONS_KEY));
                    }
                    let value: Text<'de> = map.next_value()?;
                    a.bytes = a.bytes.saturating_add(value.len());
                    a.attestations = Some(value);
                }
                BREAKGLASS_KEY => {
                    if breakglass_seen {
                        return Err(de::Error::duplicate_field(BREAKGLASS_KEY));
                    }
                    breakglass_seen = true;
                    a.bytes = a.bytes.saturating_add(map.next_value::<ValueLength>()?.0);
                    a.breakglass = true;
                }
                _ => a.bytes = a.bytes.saturating_add(map.next_value::<ValueLength>()?.0),
            }
        }
        Ok(a)
    }
}

/// The length of an annotation value: a string's length, nothing for any
/// other JSON value (the API server accepts only strings).
struct ValueLength(usize);

impl<'de> Deserialize<'de> for ValueLength {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = ValueLength;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an annotation value")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<ValueLength, E> {
                Ok(ValueLength(v.len()))
            }
            fn visit_bool<E: de::Error>(self, _: bool) -> Result<ValueLength, E> {
                Ok(ValueLength(0))
            }
            fn visit_i64<E: de::Error>(self, _: i64) -> Result<ValueLength, E> {
                Ok(ValueLength(0))
            }
            fn visit_u64<E: de::Error>(self, _: u64) -> Result<ValueLength, E> {
                Ok(ValueLength(0))
            }
            fn visit_f64<E: de::Error>(self, _: f64) -> Result<ValueLength, E> {
                Ok(ValueLength(0))
            }
            fn visit_unit<E: de::Error>(self) -> Result<ValueLength, E> {
                Ok(ValueLength(0))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<ValueLength, A::Error> {
                while seq.next_element::<IgnoredAny>()?.is_some() {}
                Ok(ValueLength(0))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<ValueLength, A::Error> {
                while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
                Ok(ValueLength(0))
            }
        }
        d.deserialize_any(V)
    }
}
