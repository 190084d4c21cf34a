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

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

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
