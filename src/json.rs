//! The policy's one JSON reader: `serde_json`, where a struct is read only
//! from a JSON object.
//!
//! `serde_json` also reads a struct from an array, its fields in order:
//! `["ci-key", "<key>"]` passes for an authority. No settings, Kubernetes
//! object or host answer is written so, and the sequence visitor that
//! allows it was compiled into every one of the policy's derived readers:
//! about 52 KB, 7% of the module's code. [`Objects`] passes every call on
//! to `serde_json` unchanged but two. It asks for a map where serde's
//! derive asks for a struct: the sequence visitors are never instantiated,
//! and an array where a struct belongs is refused
//! (`invalid type: sequence, expected struct …`), with the same line and
//! column as any other error. And it reads an enum, a string everywhere in
//! the policy, as a string, so a value of the wrong type is named as for
//! any other field. No maintained crate adapts a deserializer this way;
//! `serde_path_to_error` and `serde_ignored` wrap one the same way for
//! other ends (and would compile every reader a second time).

use core::fmt;

use serde::de::{
    self, DeserializeSeed, Deserializer, EnumAccess, IntoDeserializer, MapAccess, SeqAccess,
    Visitor,
};

/// Reads `text` as a `T`, as `serde_json::from_str` does (trailing
/// whitespace only after the value), with structs read only from objects.
///
/// # Errors
/// `serde_json`'s error: its message and its position.
pub fn from_str<'a, T: de::Deserialize<'a>>(text: &'a str) -> Result<T, serde_json::Error> {
    from_str_seed(text, core::marker::PhantomData::<T>)
}

/// Reads `text` with `seed`, as [`from_str`] does.
///
/// # Errors
/// `serde_json`'s error: its message and its position.
pub fn from_str_seed<'a, S: DeserializeSeed<'a>>(
    text: &'a str,
    seed: S,
) -> Result<S::Value, serde_json::Error> {
    let mut de = serde_json::Deserializer::from_str(text);
    let value = seed.deserialize(Objects(&mut de))?;
    de.end()?;
    Ok(value)
}

/// A deserializer, visitor, seed or access of serde's, with every value
/// below it read through [`Objects`] too.
pub struct Objects<T>(T);

macro_rules! forward_deserialize {
    ($($method:ident)*) => {$(
        fn $method<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Self::Error> {
            self.0.$method(Objects(visitor))
        }
    )*};
}

impl<'de, D: Deserializer<'de>> Deserializer<'de> for Objects<D> {
    type Error = D::Error;

    forward_deserialize! {
        deserialize_any deserialize_bool
        deserialize_i8 deserialize_i16 deserialize_i32 deserialize_i64 deserialize_i128
        deserialize_u8 deserialize_u16 deserialize_u32 deserialize_u64 deserialize_u128
        deserialize_f32 deserialize_f64 deserialize_char deserialize_str deserialize_string
        deserialize_bytes deserialize_byte_buf deserialize_option deserialize_unit
        deserialize_seq deserialize_map deserialize_identifier deserialize_ignored_any
    }

    fn deserialize_unit_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        visitor: V,
    ) -> Result<V::Value, Self::Error> {
        self.0.deserialize_unit_struct(name, Objects(visitor))
    }

    /// `serde_json`'s `RawValue` is a newtype struct of a reserved name,
    /// which reaches `serde_json` unchanged.
    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        visitor: V,
    ) -> Result<V::Value, Self::Error> {
        self.0.deserialize_newtype_struct(name, Objects(visitor))
    }

    fn deserialize_tuple<V: Visitor<'de>>(
        self,
        len: usize,
        visitor: V,
    ) -> Result<V::Value, Self::Error> {
        self.0.deserialize_tuple(len, Objects(visitor))
    }

    fn deserialize_tuple_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        len: usize,
        visitor: V,
    ) -> Result<V::Value, Self::Error> {
        self.0.deserialize_tuple_struct(name, len, Objects(visitor))
    }

    /// Not passed on as it came: a struct is a map.
    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Self::Error> {
        self.0.deserialize_map(Objects(visitor))
    }

    /// The policy's enums are all strings (unit variants). `serde_json`
    /// would also take `{"all": null}` for `all`, and answers a number or a
    /// list with a bare `expected value`; read as a string, anything else is
    /// named (``invalid type: integer `1`, expected `all` or `any` ``). An
    /// enum with data would need `serde_json`'s own `deserialize_enum` back.
    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Self::Error> {
        self.0.deserialize_str(UnitVariant(visitor))
    }

    fn is_human_readable(&self) -> bool {
        self.0.is_human_readable()
    }
}

macro_rules! forward_visit {
    ($($method:ident($ty:ty))*) => {$(
        fn $method<E: de::Error>(self, v: $ty) -> Result<Self::Value, E> {
            self.0.$method(v)
        }
    )*};
}

/// Every method is passed on, the defaults included: a default would turn
/// `visit_borrowed_str` into `visit_str`, and a borrowed string into an
/// allocation.
impl<'de, V: Visitor<'de>> Visitor<'de> for Objects<V> {
    type Value = V::Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.expecting(f)
    }

    forward_visit! {
        visit_bool(bool)
        visit_i8(i8) visit_i16(i16) visit_i32(i32) visit_i64(i64) visit_i128(i128)
        visit_u8(u8) visit_u16(u16) visit_u32(u32) visit_u64(u64) visit_u128(u128)
        visit_f32(f32) visit_f64(f64) visit_char(char)
        visit_str(&str) visit_borrowed_str(&'de str) visit_string(String)
        visit_bytes(&[u8]) visit_borrowed_bytes(&'de [u8]) visit_byte_buf(Vec<u8>)
    }

    fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
        self.0.visit_none()
    }

    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        self.0.visit_unit()
    }

    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        self.0.visit_some(Objects(d))
    }

    fn visit_newtype_struct<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        self.0.visit_newtype_struct(Objects(d))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Self::Value, A::Error> {
        self.0.visit_seq(Objects(seq))
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
        self.0.visit_map(Objects(map))
    }

    /// Passed on as it comes: enums are read as strings
    /// ([`Objects::deserialize_enum`]), so `serde_json` never hands out an
    /// enum access here, and a unit variant holds no value to wrap.
    fn visit_enum<A: EnumAccess<'de>>(self, data: A) -> Result<Self::Value, A::Error> {
        self.0.visit_enum(data)
    }
}

/// An enum visitor fed a string: the string names a unit variant.
struct UnitVariant<V>(V);

impl<'de, V: Visitor<'de>> Visitor<'de> for UnitVariant<V> {
    type Value = V::Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.expecting(f)
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
        self.0.visit_enum(v.into_deserializer())
    }
}

impl<'de, S: DeserializeSeed<'de>> DeserializeSeed<'de> for Objects<S> {
    type Value = S::Value;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<S::Value, D::Error> {
        self.0.deserialize(Objects(d))
    }
}

impl<'de, A: SeqAccess<'de>> SeqAccess<'de> for Objects<A> {
    type Error = A::Error;

    fn next_element_seed<T: DeserializeSeed<'de>>(
        &mut self,
        seed: T,
    ) -> Result<Option<T::Value>, A::Error> {
        self.0.next_element_seed(Objects(seed))
    }

    fn size_hint(&self) -> Option<usize> {
        self.0.size_hint()
    }
}

impl<'de, A: MapAccess<'de>> MapAccess<'de> for Objects<A> {
    type Error = A::Error;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, A::Error> {
        self.0.next_key_seed(Objects(seed))
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, A::Error> {
        self.0.next_value_seed(Objects(seed))
    }

    fn size_hint(&self) -> Option<usize> {
        self.0.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use std::borrow::Cow;

    use serde::Deserialize;
    use serde_json::value::RawValue;

    use super::from_str;

    #[derive(Debug, Deserialize)]
    struct Authority<'a> {
        #[serde(borrow)]
        name: Cow<'a, str>,
        #[serde(default)]
        weight: Option<u32>,
        #[serde(borrow, default)]
        raw: Option<&'a RawValue>,
    }

    #[derive(Debug, Deserialize)]
    struct List<'a> {
        #[serde(borrow)]
        items: Vec<Authority<'a>>,
    }

    #[test]
    fn reads_objects_as_serde_json_does() {
        let text =
            r#"{"items": [{"name": "ci", "weight": 2, "raw": {"a": [1, 2]}}, {"name": "b\"q"}]}"#;
        let list: List<'_> = from_str(text).unwrap();
        let plain: List<'_> = serde_json::from_str(text).unwrap();
        let fields = |l: &List<'_>| {
            l.items
                .iter()
                .map(|a| {
                    (
                        a.name.to_string(),
                        a.weight,
                        a.raw.map(|r| r.get().to_owned()),
                    )
                })
                .collect::<Vec<_>>()
        };
        assert_eq!(fields(&list), fields(&plain));
        // Strings without escapes, and raw values, are borrowed, not copied.
        assert!(matches!(list.items[0].name, Cow::Borrowed("ci")));
        assert!(matches!(list.items[1].name, Cow::Owned(_)));
        assert_eq!(
            list.items[0].raw.map(RawValue::get),
            Some(r#"{"a": [1, 2]}"#)
        );
    }

    #[test]
    fn refuses_an_array_where_a_struct_belongs() {
        let text = r#"{"items": [["ci", 2, null]]}"#;
        // serde_json alone reads the array field by field.
        let plain: List<'_> = serde_json::from_str(text).unwrap();
        assert_eq!(plain.items[0].name, "ci");
        let e = from_str::<List<'_>>(text).unwrap_err();
        assert_eq!(
            e.to_string(),
            "invalid type: sequence, expected struct Authority at line 1 column 11"
        );
    }

    #[derive(Debug, Deserialize, PartialEq)]
    #[serde(rename_all = "lowercase", expecting = "`all` or `any`")]
    enum Require {
        All,
        Any,
    }

    #[test]
    fn reads_enums_from_strings_only() {
        assert_eq!(
            from_str::<Vec<Require>>(r#"["all", "an\u0079"]"#).unwrap(),
            [Require::All, Require::Any]
        );
        let message = |text| from_str::<Require>(text).unwrap_err().to_string();
        assert_eq!(
            message(r#""some""#),
            "unknown variant `some`, expected `all` or `any` at line 1 column 6"
        );
        assert_eq!(
            message("1"),
            "invalid type: integer `1`, expected `all` or `any` at line 1 column 1"
        );
        assert_eq!(
            message("[]"),
            "invalid type: sequence, expected `all` or `any` at line 1 column 0"
        );
        // serde_json alone: the map form passes, a number is "expected value".
        assert_eq!(
            serde_json::from_str::<Require>(r#"{"any": null}"#).unwrap(),
            Require::Any
        );
        assert!(
            message(r#"{"any": null}"#).starts_with("invalid type: map, expected `all` or `any`")
        );
        assert_eq!(
            serde_json::from_str::<Require>("1")
                .unwrap_err()
                .to_string(),
            "expected value at line 1 column 1"
        );
    }

    #[test]
    fn keeps_serde_json_errors_and_positions() {
        for text in [
            r#"{"items": [{"name": 1}]}"#,
            r#"{"items": [{"name": "a", "name": "b"}]}"#,
            r#"{"items": [{}]}"#,
            r#"{"items": [{"name": "a"}]} x"#,
            r#"{"items": [{"name": "a"}"#,
            r#"{"items": null}"#,
            "",
        ] {
            let ours = from_str::<List<'_>>(text).unwrap_err().to_string();
            let plain = serde_json::from_str::<List<'_>>(text)
                .unwrap_err()
                .to_string();
            assert_eq!(ours, plain, "{text}");
        }
    }
}
