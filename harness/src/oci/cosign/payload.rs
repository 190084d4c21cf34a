//! The simple-signing payload a signature layer carries, and the rule for
//! its annotations. A leaf.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::Value;

/// The simple-signing payload, in the shape sigstore-rs 0.13 requires (every
/// `critical` field present and a string; `optional` absent, null or an
/// object whose `creator`/`timestamp`, when present, are a string/an integer).
#[derive(Debug, Deserialize)]
pub(crate) struct SimpleSigning {
    pub(crate) critical: Critical,
    #[serde(default)]
    pub(crate) optional: Option<Optional>,
}

#[derive(Debug, Deserialize)]
pub(crate) struct Critical {
    #[allow(dead_code)] // required, not compared (as in the real host)
    identity: Identity,
    pub(crate) image: Image,
    #[serde(rename = "type")]
    #[allow(dead_code)] // required, not compared (as in the real host)
    kind: String,
}

#[derive(Debug, Deserialize)]
pub(crate) struct Identity {
    #[serde(rename = "docker-reference")]
    #[allow(dead_code)]
    docker_reference: String,
}

#[derive(Debug, Deserialize)]
pub(crate) struct Image {
    #[serde(rename = "docker-manifest-digest")]
    pub(crate) docker_manifest_digest: String,
}

#[derive(Debug, Deserialize)]
pub(crate) struct Optional {
    #[serde(default)]
    #[allow(dead_code)]
    creator: Option<String>,
    #[serde(default)]
    #[allow(dead_code)]
    timestamp: Option<i64>,
    #[serde(flatten)]
    pub(super) extra: BTreeMap<String, Value>,
}

/// The requested annotations a payload's `optional` lacks (sigstore-rs's
/// rule: strings compare as they are, numbers and booleans by their JSON
/// text; `creator` and `timestamp` are not annotations).
pub(crate) fn missing_annotations(
    optional: Option<&Optional>,
    wanted: &BTreeMap<String, String>,
) -> Vec<(String, String)> {
    wanted
        .iter()
        .filter(|(k, v)| {
            let present = optional.and_then(|o| o.extra.get(*k));
            let matches = match present {
                Some(Value::String(s)) => s == *v,
                Some(Value::Number(n)) => n.to_string() == **v,
                Some(Value::Bool(b)) => b.to_string() == **v,
                _ => false,
            };
            !matches
        })
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}
#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn annotations_follow_sigstore_rules() {
        let optional: Optional = serde_json::from_value(serde_json::json!({
            "env": "prod", "n": 3, "b": true, "creator": "me", "o": {"x": 1}
        }))
        .unwrap();
        let want = |pairs: &[(&str, &str)]| -> BTreeMap<String, String> {
            pairs
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect()
        };
        assert!(missing_annotations(Some(&optional), &want(&[])).is_empty());
        assert!(missing_annotations(None, &want(&[])).is_empty());
        assert!(missing_annotations(
            Some(&optional),
            &want(&[("env", "prod"), ("n", "3"), ("b", "true")])
        )
        .is_empty());
        assert_eq!(
            missing_annotations(
                Some(&optional),
                &want(&[("env", "dev"), ("creator", "me"), ("o", "x")])
            ),
            vec![
                ("creator".to_owned(), "me".to_owned()),
                ("env".to_owned(), "dev".to_owned()),
                ("o".to_owned(), "x".to_owned())
            ]
        );
        assert_eq!(missing_annotations(None, &want(&[("a", "b")])).len(), 1);
    }
}
