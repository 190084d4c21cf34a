//! The anonymous token exchange's challenge: what a registry's 401 asks for.

use reqwest::header::{HeaderMap, WWW_AUTHENTICATE};

/// A `WWW-Authenticate: Bearer realm="…",service="…",scope="…"` challenge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Challenge {
    pub(super) realm: String,
    pub(super) service: Option<String>,
}

/// Parses a `Bearer` challenge. Hand-written (about 30 lines) rather than
/// another crate: only `realm` and `service` are needed, as quoted or bare
/// `key=value` pairs separated by commas.
pub(super) fn bearer_challenge(headers: &HeaderMap) -> Option<Challenge> {
    let value = headers.get(WWW_AUTHENTICATE)?.to_str().ok()?.trim();
    let (scheme, params) = value.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("bearer") {
        return None;
    }
    let mut realm = None;
    let mut service = None;
    let mut rest = params.trim();
    while !rest.is_empty() {
        let (key, after) = rest.split_once('=')?;
        let key = key.trim().trim_start_matches(',').trim();
        let after = after.trim_start();
        let (val, remaining) = if let Some(quoted) = after.strip_prefix('"') {
            let end = quoted.find('"')?;
            (&quoted[..end], &quoted[end + 1..])
        } else {
            let end = after.find(',').unwrap_or(after.len());
            (after[..end].trim(), &after[end..])
        };
        match key.to_ascii_lowercase().as_str() {
            "realm" => realm = Some(val.to_owned()),
            "service" => service = Some(val.to_owned()),
            _ => {}
        }
        rest = remaining.trim_start().trim_start_matches(',').trim_start();
    }
    Some(Challenge {
        realm: realm?,
        service,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::HeaderValue;

    fn challenge(text: &str) -> Option<Challenge> {
        let mut headers = HeaderMap::new();
        headers.insert(WWW_AUTHENTICATE, HeaderValue::from_str(text).unwrap());
        bearer_challenge(&headers)
    }

    #[test]
    fn bearer_challenges() {
        assert_eq!(
            challenge(
                r#"Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/busybox:pull""#
            ),
            Some(Challenge {
                realm: "https://auth.docker.io/token".to_owned(),
                service: Some("registry.docker.io".to_owned()),
            })
        );
        assert_eq!(
            challenge(r#"bearer realm="https://ghcr.io/token""#),
            Some(Challenge {
                realm: "https://ghcr.io/token".to_owned(),
                service: None,
            })
        );
        assert_eq!(
            challenge("Bearer service=x, realm=http://127.0.0.1:1/t"),
            Some(Challenge {
                realm: "http://127.0.0.1:1/t".to_owned(),
                service: Some("x".to_owned()),
            })
        );
        assert_eq!(challenge(r#"Basic realm="x""#), None);
        assert_eq!(challenge(r#"Bearer service="x""#), None);
        assert_eq!(challenge(r#"Bearer realm="unterminated"#), None);
    }
}
