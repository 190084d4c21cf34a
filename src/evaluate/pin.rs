//! Pinning: the admitted object, re-read as a JSON value, with each tag
//! image the policy verified by digest rewritten to `repo:tag@digest`.
//! Separate because it is the only step that writes the object.

use serde_json::value::RawValue;

use crate::workload::{self, Shape};

/// Pins each resolved image to its digest (`repo:tag@sha256:…`) wherever a
/// container or image volume uses it. Images written with a digest are never
/// touched.
pub(super) fn pin(
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
