//! YAML files as JSON values: one document or several (`---`), JSON too.

use std::path::Path;

use anyhow::{bail, Context, Result};
use serde::Deserialize;
use serde_json::Value;

/// Every non-empty document of `text` as JSON. JSON text is read as JSON
/// first, so numbers keep their exact form.
///
/// # Errors
/// Text that is not YAML, or a document that cannot be JSON (a map with
/// non-string keys, a YAML tag).
pub fn documents_from_str(text: &str) -> Result<Vec<Value>> {
    if let Ok(value) = serde_json::from_str::<Value>(text) {
        return Ok(vec![value]);
    }
    let mut out = Vec::new();
    for (index, document) in serde_yaml::Deserializer::from_str(text).enumerate() {
        let yaml = serde_yaml::Value::deserialize(document)
            .with_context(|| format!("document {index} is not valid YAML"))?;
        if yaml.is_null() {
            continue;
        }
        let json = serde_json::to_value(yaml)
            .with_context(|| format!("document {index} cannot be read as JSON"))?;
        out.push(json);
    }
    Ok(out)
}

/// [`documents_from_str`] of a file; `what` names it in errors.
///
/// # Errors
/// An unreadable or invalid file, naming it.
pub fn read_documents(path: &Path, what: &str) -> Result<Vec<Value>> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read {what} {}", path.display()))?;
    documents_from_str(&text).with_context(|| format!("{what} {}", path.display()))
}

/// The one document of a file (`None` when empty); `what` names it in
/// errors.
///
/// # Errors
/// As [`read_documents`], or a file of several documents.
pub fn single_document(path: &Path, what: &str) -> Result<Option<Value>> {
    let mut documents = read_documents(path, what)?;
    match documents.len() {
        0 => Ok(None),
        1 => Ok(documents.pop()),
        n => bail!(
            "{what} {} holds {n} documents, expected one",
            path.display()
        ),
    }
}

/// One step of a settings path: `a.b[0].c`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PathStep {
    /// A mapping key.
    Key(String),
    /// A list index.
    Index(usize),
}

/// Parses `a.b[0].c` (the paths this project's policy puts before its
/// settings messages); `None` for anything else.
#[must_use]
pub fn parse_path(text: &str) -> Option<Vec<PathStep>> {
    let mut steps = Vec::new();
    for part in text.split('.') {
        let (key, mut rest) = part.split_once('[').map_or((part, ""), |(k, r)| (k, r));
        if key.is_empty() && steps.is_empty() {
            return None;
        }
        if !key.is_empty() {
            steps.push(PathStep::Key(key.to_owned()));
        }
        if !rest.is_empty() {
            rest = rest.strip_suffix(']')?;
            for index in rest.split("][") {
                steps.push(PathStep::Index(index.parse().ok()?));
            }
        }
    }
    (!steps.is_empty()).then_some(steps)
}

/// Marker of the probe's own error (see [`yaml_line`]).
const FOUND: &str = "policy-harness: node found";

/// Walks a YAML document to `path` and fails there on purpose, so that
/// serde_yaml's error carries the node's position (serde_yaml keeps
/// positions only in errors: its `Value` has none). Written here because no
/// crate of the field maps a path to a line.
struct Probe<'a>(&'a [PathStep]);

impl<'de> serde::de::DeserializeSeed<'de> for Probe<'_> {
    type Value = ();
    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        if self.0.is_empty() {
            // Fail inside the node's own deserialization: serde_yaml marks
            // the error with that node's position.
            return d.deserialize_any(Found);
        }
        d.deserialize_any(self)
    }
}

impl<'de> serde::de::Visitor<'de> for Probe<'_> {
    type Value = ();
    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("any YAML node")
    }
    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let [PathStep::Key(wanted), rest @ ..] = self.0 else {
            while map
                .next_entry::<serde::de::IgnoredAny, serde::de::IgnoredAny>()?
                .is_some()
            {}
            return Ok(());
        };
        while let Some(key) = map.next_key::<serde_yaml::Value>()? {
            if key.as_str() == Some(wanted.as_str()) {
                return map.next_value_seed(Probe(rest));
            }
            map.next_value::<serde::de::IgnoredAny>()?;
        }
        Ok(())
    }
    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let [PathStep::Index(wanted), rest @ ..] = self.0 else {
            while seq.next_element::<serde::de::IgnoredAny>()?.is_some() {}
            return Ok(());
        };
        let mut index = 0;
        loop {
            if index == *wanted {
                return seq.next_element_seed(Probe(rest)).map(|_| ());
            }
            if seq.next_element::<serde::de::IgnoredAny>()?.is_none() {
                return Ok(());
            }
            index += 1;
        }
    }
    fn visit_bool<E>(self, _: bool) -> Result<(), E> {
        Ok(())
    }
    fn visit_i64<E>(self, _: i64) -> Result<(), E> {
        Ok(())
    }
    fn visit_u64<E>(self, _: u64) -> Result<(), E> {
        Ok(())
    }
    fn visit_f64<E>(self, _: f64) -> Result<(), E> {
        Ok(())
    }
    fn visit_str<E>(self, _: &str) -> Result<(), E> {
        Ok(())
    }
    fn visit_unit<E>(self) -> Result<(), E> {
        Ok(())
    }
    fn visit_enum<A: serde::de::EnumAccess<'de>>(self, _: A) -> Result<(), A::Error> {
        Ok(())
    }
}

/// The visitor of the node sought: fails on whatever it is.
struct Found;

impl<'de> serde::de::Visitor<'de> for Found {
    type Value = ();
    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(FOUND)
    }
    fn visit_bool<E: serde::de::Error>(self, _: bool) -> Result<(), E> {
        Err(E::custom(FOUND))
    }
    fn visit_i64<E: serde::de::Error>(self, _: i64) -> Result<(), E> {
        Err(E::custom(FOUND))
    }
    fn visit_u64<E: serde::de::Error>(self, _: u64) -> Result<(), E> {
        Err(E::custom(FOUND))
    }
    fn visit_f64<E: serde::de::Error>(self, _: f64) -> Result<(), E> {
        Err(E::custom(FOUND))
    }
    fn visit_str<E: serde::de::Error>(self, _: &str) -> Result<(), E> {
        Err(E::custom(FOUND))
    }
    fn visit_unit<E: serde::de::Error>(self) -> Result<(), E> {
        Err(E::custom(FOUND))
    }
    fn visit_map<A: serde::de::MapAccess<'de>>(self, _: A) -> Result<(), A::Error> {
        Err(serde::de::Error::custom(FOUND))
    }
    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, _: A) -> Result<(), A::Error> {
        Err(serde::de::Error::custom(FOUND))
    }
    fn visit_enum<A: serde::de::EnumAccess<'de>>(self, _: A) -> Result<(), A::Error> {
        Err(serde::de::Error::custom(FOUND))
    }
}

/// The 1-based line of the node at `path` in document `document` of the
/// YAML (or JSON) `text`; `None` when there is no such node.
#[must_use]
pub fn yaml_line(text: &str, document: usize, path: &[PathStep]) -> Option<usize> {
    use serde::de::DeserializeSeed;
    let doc = serde_yaml::Deserializer::from_str(text).nth(document)?;
    match Probe(path).deserialize(doc) {
        // serde_yaml puts the node's path before the message.
        Err(e) if e.to_string().contains(FOUND) => e.location().map(|l| l.line()),
        _ => None,
    }
}

/// Strips the ` at line N column M` serde_json puts at the end of a
/// message: a position in the compact JSON the settings were turned into
/// for the policy, which is no place in the user's file.
#[must_use]
pub fn strip_json_position(message: &str) -> &str {
    let Some(at) = message.rfind(" at line ") else {
        return message;
    };
    let tail = &message[at + " at line ".len()..];
    let Some((line, column)) = tail.split_once(" column ") else {
        return message;
    };
    let digits = |t: &str| !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit());
    if digits(line) && digits(column) {
        &message[..at]
    } else {
        message
    }
}

/// Where settings were written, to give a settings message's line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SettingsSource {
    /// The file.
    pub file: std::path::PathBuf,
    /// Which document of it.
    pub document: usize,
    /// Where the settings are in that document (`spec.settings`, `settings`).
    pub prefix: Vec<PathStep>,
}

impl SettingsSource {
    /// Rewrites a policy's settings message (`path: message; path: message`
    /// as this project's policy writes it): every JSON position dropped,
    /// and ` (FILE line N)` added where the path is found in the file.
    #[must_use]
    pub fn locate(&self, message: &str) -> String {
        let text = std::fs::read_to_string(&self.file).ok();
        message
            .split("; ")
            .map(|part| {
                let part = strip_json_position(part);
                match text.as_deref().and_then(|t| self.line_of(t, part)) {
                    Some(line) => format!("{part} ({} line {line})", self.file.display()),
                    None => part.to_owned(),
                }
            })
            .collect::<Vec<_>>()
            .join("; ")
    }

    /// The line, in `text` (the file's), of the setting one part of a
    /// message (`path: message`) is about.
    #[must_use]
    pub fn line_of(&self, text: &str, part: &str) -> Option<usize> {
        let (path, _) = part.split_once(": ")?;
        let mut full = self.prefix.clone();
        full.extend(parse_path(path)?);
        yaml_line(text, self.document, &full)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn settings_messages_get_the_yaml_line_not_the_json_position() {
        let text = "# settings\nattestationAuthorities:\n  - name: a\n    publicKeyId: k\n    bogus: 1\nresolveTags: \"yes\"\n";
        let key = |k: &str| PathStep::Key(k.to_owned());
        assert_eq!(yaml_line(text, 0, &[key("resolveTags")]), Some(6));
        assert_eq!(
            yaml_line(
                text,
                0,
                &parse_path("attestationAuthorities[0].bogus").expect("path")
            ),
            Some(5)
        );
        assert_eq!(yaml_line(text, 0, &[key("nope")]), None);
        assert_eq!(
            yaml_line(
                text,
                0,
                &parse_path("attestationAuthorities[3]").expect("p")
            ),
            None
        );
        let two = "a: 1\n---\nspec:\n  settings:\n    x: [1, 2]\n";
        assert_eq!(
            yaml_line(
                two,
                1,
                &[key("spec"), key("settings"), key("x"), PathStep::Index(1)]
            ),
            Some(5)
        );
        assert_eq!(strip_json_position("bad at line 1 column 78"), "bad");
        assert_eq!(strip_json_position("at line one"), "at line one");
        assert_eq!(parse_path("a[0][1].b").expect("p").len(), 4);
        assert_eq!(parse_path("not a path"), Some(vec![key("not a path")]));
    }

    #[test]
    fn several_documents_empty_ones_skipped() {
        let docs = documents_from_str("---\na: 1\n---\n---\nb: [x]\n...\n").expect("yaml");
        assert_eq!(docs, vec![json!({"a": 1}), json!({"b": ["x"]})]);
        assert_eq!(
            documents_from_str("{\"n\": 1.50}").expect("json"),
            vec![json!({"n": 1.5})]
        );
        assert!(documents_from_str("").expect("empty").is_empty());
        assert!(documents_from_str("a: [\n").is_err());
    }
}
