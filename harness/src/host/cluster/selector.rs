//! Label and field selectors of a list call.

use std::collections::BTreeMap;

use super::store::Stored;

/// A label selector, Kubernetes' syntax: comma-separated requirements
/// `key`, `!key`, `key=value`, `key==value`, `key!=value`, `key in (a,b)`,
/// `key notin (a,b)`; every one must hold. Hand-written: no crate of the
/// field parses selectors outside of a Kubernetes client.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(super) struct LabelSelector(Vec<(String, LabelTest)>);

#[derive(Debug, Clone, PartialEq, Eq)]
enum LabelTest {
    Exists,
    Absent,
    In(Vec<String>),
    NotIn(Vec<String>),
}

/// Splits at commas outside parentheses.
fn split_requirements(text: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let (mut depth, mut start) = (0usize, 0usize);
    for (i, c) in text.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => depth = depth.saturating_sub(1),
            ',' if depth == 0 => {
                out.push(&text[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    out.push(&text[start..]);
    out
}

fn valid_label_part(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 317
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '/'))
}

impl LabelSelector {
    pub(super) fn parse(text: &str) -> Result<Self, String> {
        let bad = |why: &str| format!("invalid label selector {text:?}: {why}");
        let mut out = Vec::new();
        if text.trim().is_empty() {
            return Ok(Self(out));
        }
        for requirement in split_requirements(text) {
            let r = requirement.trim();
            let (key, test) = if let Some(key) = r.strip_prefix('!') {
                (key.trim(), LabelTest::Absent)
            } else if let Some((key, value)) = r.split_once("!=") {
                (key.trim(), LabelTest::NotIn(vec![value.trim().to_owned()]))
            } else if let Some((key, value)) = r.split_once("==").or_else(|| r.split_once('=')) {
                (key.trim(), LabelTest::In(vec![value.trim().to_owned()]))
            } else if let Some((key, rest)) = set_operator(r, " notin ") {
                (
                    key,
                    LabelTest::NotIn(set_values(rest).ok_or_else(|| bad(r))?),
                )
            } else if let Some((key, rest)) = set_operator(r, " in ") {
                (key, LabelTest::In(set_values(rest).ok_or_else(|| bad(r))?))
            } else {
                (r, LabelTest::Exists)
            };
            if !valid_label_part(key) {
                return Err(bad(&format!("{key:?} is not a label key")));
            }
            if let LabelTest::In(values) | LabelTest::NotIn(values) = &test {
                if values.iter().any(|v| !v.is_empty() && !valid_label_part(v)) {
                    return Err(bad(&format!("a value of {key:?} is not a label value")));
                }
            }
            out.push((key.to_owned(), test));
        }
        Ok(Self(out))
    }

    pub(super) fn matches(&self, labels: &BTreeMap<String, String>) -> bool {
        self.0.iter().all(|(key, test)| match test {
            LabelTest::Exists => labels.contains_key(key),
            LabelTest::Absent => !labels.contains_key(key),
            LabelTest::In(values) => labels.get(key).is_some_and(|v| values.contains(v)),
            LabelTest::NotIn(values) => !labels.get(key).is_some_and(|v| values.contains(v)),
        })
    }
}

fn set_operator<'a>(requirement: &'a str, operator: &str) -> Option<(&'a str, &'a str)> {
    requirement
        .split_once(operator)
        .map(|(k, rest)| (k.trim(), rest.trim()))
}

fn set_values(text: &str) -> Option<Vec<String>> {
    let inner = text.strip_prefix('(')?.strip_suffix(')')?;
    Some(inner.split(',').map(|v| v.trim().to_owned()).collect())
}

/// A field selector: what the API server supports on custom resources,
/// `metadata.name` and `metadata.namespace` with `=`, `==` or `!=`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(super) struct FieldSelector(Vec<(String, bool, String)>);

impl FieldSelector {
    pub(super) fn parse(text: &str) -> Result<Self, String> {
        let mut out = Vec::new();
        if text.trim().is_empty() {
            return Ok(Self(out));
        }
        for requirement in text.split(',') {
            let r = requirement.trim();
            let (field, equal, value) = if let Some((f, v)) = r.split_once("!=") {
                (f, false, v)
            } else if let Some((f, v)) = r.split_once("==").or_else(|| r.split_once('=')) {
                (f, true, v)
            } else {
                return Err(format!(
                    "invalid field selector {text:?}: {r:?} has no operator"
                ));
            };
            let field = field.trim();
            if !matches!(field, "metadata.name" | "metadata.namespace") {
                return Err(format!("field label not supported: {field}"));
            }
            out.push((field.to_owned(), equal, value.trim().to_owned()));
        }
        Ok(Self(out))
    }

    pub(super) fn matches(&self, object: &Stored) -> bool {
        self.0.iter().all(|(field, equal, value)| {
            let actual = if field == "metadata.name" {
                object.name.as_str()
            } else {
                object.namespace.as_deref().unwrap_or_default()
            };
            (actual == value) == *equal
        })
    }
}

#[cfg(test)]
mod tests {
    use super::super::sample::cluster;
    use super::super::store::KRITIS_API_VERSION;

    #[test]
    fn selectors_filter_as_the_api_server_does() {
        let c = cluster();
        let list = |labels: Option<&str>, fields: Option<&str>| {
            c.list(
                KRITIS_API_VERSION,
                "GenericAttestationPolicy",
                None,
                labels,
                fields,
            )
            .map(|v| v["items"].as_array().map_or(0, Vec::len))
        };
        assert_eq!(list(Some("tier=prod"), None), Ok(1));
        assert_eq!(list(Some("tier in (dev, prod)"), None), Ok(1));
        assert_eq!(list(Some("tier notin (prod)"), None), Ok(0));
        assert_eq!(list(Some("tier!=prod"), None), Ok(0));
        assert_eq!(list(Some("!tier"), None), Ok(0));
        assert_eq!(list(Some("tier,tier==prod"), None), Ok(1));
        assert_eq!(list(None, Some("metadata.name=demo-gap")), Ok(1));
        assert_eq!(list(None, Some("metadata.namespace!=team-a")), Ok(0));
        assert!(list(None, Some("spec.x=1")).is_err());
        assert!(list(Some("tier in prod"), None).is_err());
    }
}
