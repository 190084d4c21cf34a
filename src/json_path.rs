//! Which field of a JSON document a `serde_json` error is about.
//!
//! `validate_settings` must name the field that does not fit
//! (`attestationAuthorities[0].publicKeyDta: unknown field …`). Tracking the
//! path while deserialising (`serde_path_to_error`) wraps every value of every
//! request and compiles the settings' deserialiser a second time, the largest
//! single piece of the module. A `serde_json` error already says where it
//! stopped (line and column), so the path is recovered here, only after a
//! failure, by walking the document down to that position with
//! `serde_json`'s own `RawValue` (no JSON is parsed by hand).

use std::borrow::Cow;
use std::fmt::Write as _;

use serde::de::{Deserializer as _, MapAccess, SeqAccess, Visitor};
use serde_json::value::RawValue;

/// Deepest nesting followed: the settings are four levels deep.
const MAX_DEPTH: usize = 16;

/// The path of the innermost value, or object key, at which `error` stopped
/// while deserialising `json`: empty for the document itself.
#[must_use]
pub fn path_of(json: &str, error: &serde_json::Error) -> String {
    let mut path = String::new();
    if let Some(at) = end_offset(json, error.line(), error.column()) {
        descend(json, json, at, 0, &mut path);
    }
    path
}

/// The byte just past the last one the deserialiser consumed: `serde_json`
/// reports a 1-based line and the 1-based column (in bytes) of that byte.
fn end_offset(json: &str, line: usize, column: usize) -> Option<usize> {
    let line_start = if line <= 1 {
        0
    } else {
        json.match_indices('\n').nth(line - 2)?.0 + 1
    };
    Some(line_start + column)
}

/// Where `part` (a slice of `whole`) starts and ends in `whole`.
fn span(whole: &str, part: &str) -> (usize, usize) {
    let start = (part.as_ptr() as usize).wrapping_sub(whole.as_ptr() as usize);
    (start, start + part.len())
}

fn descend(whole: &str, value: &str, at: usize, depth: usize, path: &mut String) {
    if depth == MAX_DEPTH {
        return;
    }
    let mut de = serde_json::Deserializer::from_str(value);
    let Ok(children) = de.deserialize_any(ChildrenVisitor) else {
        return;
    };
    for child in children {
        let (start, end) = span(whole, child.value.get());
        // A value refused on sight (an array where an object belongs) ends
        // the error just before its first byte: it is still the one named.
        if start <= at && at <= end {
            child.name.push_to(path);
            descend(whole, child.value.get(), at, depth + 1, path);
            return;
        }
        // An object key the deserialiser stopped on (an unknown field): the
        // error ends at its closing quote.
        if let Name::Key(Cow::Borrowed(key)) = child.name {
            let (start, end) = span(whole, key);
            if start <= at && at <= end + 1 {
                child.name.push_to(path);
                return;
            }
        }
    }
}

/// A member of an object or an element of an array.
struct Child<'a> {
    name: Name<'a>,
    value: &'a RawValue,
}

enum Name<'a> {
    /// An object key: borrowed from the document, or unescaped (and then
    /// with no place in the document).
    Key(Cow<'a, str>),
    /// An array index.
    Index(usize),
}

impl Name<'_> {
    fn push_to(&self, path: &mut String) {
        match self {
            Name::Key(key) => {
                if !path.is_empty() {
                    path.push('.');
                }
                path.push_str(key);
            }
            Name::Index(i) => {
                let _ = write!(path, "[{i}]");
            }
        }
    }
}

/// The children of an object or array; a scalar has none.
struct ChildrenVisitor;

impl<'de> Visitor<'de> for ChildrenVisitor {
    type Value = Vec<Child<'de>>;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut children = Vec::new();
        while let Some(key) = map.next_key::<Key<'de>>()? {
            children.push(Child {
                name: Name::Key(key.0),
                value: map.next_value()?,
            });
        }
        Ok(children)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut children = Vec::new();
        while let Some(value) = seq.next_element()? {
            children.push(Child {
                name: Name::Index(children.len()),
                value,
            });
        }
        Ok(children)
    }

    fn visit_bool<E>(self, _: bool) -> Result<Self::Value, E> {
        Ok(Vec::new())
    }
    fn visit_i64<E>(self, _: i64) -> Result<Self::Value, E> {
        Ok(Vec::new())
    }
    fn visit_u64<E>(self, _: u64) -> Result<Self::Value, E> {
        Ok(Vec::new())
    }
    fn visit_f64<E>(self, _: f64) -> Result<Self::Value, E> {
        Ok(Vec::new())
    }
    fn visit_str<E>(self, _: &str) -> Result<Self::Value, E> {
        Ok(Vec::new())
    }
    fn visit_unit<E>(self) -> Result<Self::Value, E> {
        Ok(Vec::new())
    }
}

/// An object key, borrowed when the document allows it.
struct Key<'a>(Cow<'a, str>);

impl<'de> serde::Deserialize<'de> for Key<'de> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct KeyVisitor;
        impl<'de> Visitor<'de> for KeyVisitor {
            type Value = Key<'de>;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("an object key")
            }
            fn visit_borrowed_str<E>(self, key: &'de str) -> Result<Self::Value, E> {
                Ok(Key(Cow::Borrowed(key)))
            }
            fn visit_str<E>(self, key: &str) -> Result<Self::Value, E> {
                Ok(Key(Cow::Owned(key.to_owned())))
            }
        }
        d.deserialize_str(KeyVisitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(serde::Deserialize, Debug)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Inner {
        name: String,
        #[serde(default)]
        v: Vec<u8>,
    }

    #[derive(serde::Deserialize, Debug)]
    #[allow(dead_code)]
    struct Outer {
        #[serde(default)]
        a: Vec<Inner>,
        #[serde(default)]
        b: Option<bool>,
    }

    fn path(json: &str) -> String {
        let e = serde_json::from_str::<Outer>(json).unwrap_err();
        path_of(json, &e)
    }

    #[test]
    fn names_the_field_whatever_went_wrong() {
        // Unknown field: the key itself.
        assert_eq!(path(r#"{"a": [{"name": "x", "bogus": 1}]}"#), "a[0].bogus");
        // Wrong type, wrong value: the value.
        assert_eq!(path(r#"{"a": [{"name": 5}]}"#), "a[0].name");
        assert_eq!(path(r#"{"a": [{"name":"x","v": [1, 300]}]}"#), "a[0].v[1]");
        assert_eq!(path(r#"{"b": "yes"}"#), "b");
        // Missing field: the object that lacks it.
        assert_eq!(path(r#"{"a": [{"name":"x"}, {"v": [1]}]}"#), "a[1]");
        // Across lines, and with escapes before the error.
        assert_eq!(
            path("{\"a\":\n [{\"name\":\"x\\n\",\n\"v\": \"s\"}]}"),
            "a[0].v"
        );
        // The document itself.
        assert_eq!(path("5"), "");
    }

    #[test]
    fn an_escaped_key_has_no_place_but_the_path_goes_on() {
        assert_eq!(path(r#"{"\u0061": [{"name": 5}]}"#), "a[0].name");
        assert_eq!(path(r#"{"a": [{"name": "x", "b\u006fgus": 1}]}"#), "a[0]");
    }

    #[test]
    fn positions_outside_the_document_are_ignored() {
        let e = serde_json::from_str::<Outer>(r#"{"b": 1}"#).unwrap_err();
        assert_eq!(path_of("", &e), "");
        assert_eq!(end_offset("x", 5, 1), None);
    }
}
