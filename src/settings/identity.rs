//! The checks of an authority's identity kinds (keyless, githubActions,
//! certificate), part of the structural checks. Separate because they are
//! the longest of them and concern one field family of one authority.

use super::{AuthoritySpec, ProofKind};

/// Whether `url` is an `http(s)://` URL with a host.
fn is_http_url(url: &str) -> bool {
    let rest = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"));
    rest.is_some_and(|r| {
        let host = r.split(['/', '?', '#']).next().unwrap_or("");
        !host.is_empty() && !r.contains(char::is_whitespace)
    })
}

/// The checks of an authority's identity kinds (keyless, githubActions,
/// certificate): one kind at most, never beside keys, only with the
/// registry source, and well-formed. Cheap: runs on every request.
pub(super) fn identity_errors(
    a: &AuthoritySpec<'_>,
    at: &dyn Fn() -> String,
    registry: bool,
    errors: &mut Vec<String>,
) {
    // Runs on every request: the list is built only for the error.
    if a.proof_kinds().nth(1).is_some() {
        let fields: Vec<&str> = a.proof_kinds().map(ProofKind::field).collect();
        errors.push(format!(
            "{}: authority {:?} sets {}: an authority is proven by its keys or by exactly one identity kind (keyless, githubActions, certificate); split it into several authorities and list them in a policy",
            at(),
            a.name,
            fields.join(" and ")
        ));
    }
    let Some(kind) = a.proof_kinds().find(|k| *k != ProofKind::Keys) else {
        return;
    };
    let field = || format!("{}.{}", at(), kind.field());
    if !registry {
        errors.push(format!(
            "{}: authority {:?}: only the registry source can prove an identity (keyless and certificate signatures live next to the image in its registry); add \"registry\" to attestationSources",
            field(),
            a.name
        ));
    }
    if let Some(list) = &a.keyless {
        if list.is_empty() {
            errors.push(format!("{}: must list at least one identity", field()));
        }
        for (k, id) in list.iter().enumerate() {
            let at = || format!("{}[{k}]", field());
            if id.issuer.is_empty() {
                errors.push(format!("{}.issuer: must not be empty", at()));
            } else if !is_http_url(&id.issuer) {
                errors.push(format!(
                    "{}.issuer: {:?} is not an https:// (or http://) URL; OIDC issuers are URLs, e.g. https://token.actions.githubusercontent.com",
                    at(),
                    id.issuer
                ));
            }
            match (&id.subject, &id.subject_prefix) {
                (Some(_), Some(_)) => errors.push(format!(
                    "{}: set subject or subjectPrefix, not both",
                    at()
                )),
                (None, None) => errors.push(format!(
                    "{}: set subject (exact) or subjectPrefix (a URL prefix)",
                    at()
                )),
                (Some(s), None) if s.is_empty() => {
                    errors.push(format!("{}.subject: must not be empty", at()));
                }
                (None, Some(p)) if !is_http_url(p) => errors.push(format!(
                    "{}.subjectPrefix: {:?} is not an https:// (or http://) URL",
                    at(),
                    p
                )),
                (None, Some(p)) if !p.ends_with('/') => errors.push(format!(
                    "{}.subjectPrefix: {:?} must end with '/': Kubewarden's host appends one to a prefix that lacks it, so {:?} would also match {:?}; write the '/' so the setting means what it says",
                    at(),
                    p,
                    p,
                    format!("{p}-other/")
                )),
                _ => {}
            }
        }
    }
    if let Some(gh) = &a.github_actions {
        let at = || format!("{}.githubActions", at());
        if gh.owner.is_empty() {
            errors.push(format!("{}.owner: must not be empty", at()));
        } else if gh.owner.contains('/') {
            errors.push(format!(
                "{}.owner: {:?} must be a GitHub user or organisation, without '/'; put the repository in repo",
                at(),
                gh.owner
            ));
        }
        if let Some(repo) = &gh.repo {
            if repo.is_empty() {
                errors.push(format!(
                    "{}.repo: must not be empty; omit it for every repository of the owner",
                    at()
                ));
            } else if repo.contains('/') {
                errors.push(format!(
                    "{}.repo: {:?} must be the repository name alone, without the owner",
                    at(),
                    repo
                ));
            }
        }
    }
    if let Some(c) = &a.certificate {
        if c.certificate.is_empty() {
            errors.push(format!(
                "{}.certificate.certificate: must not be empty",
                at()
            ));
        }
        if c.certificate_chain.as_ref().is_some_and(Vec::is_empty) {
            errors.push(format!(
                "{}.certificate.certificateChain: must not be empty; omit it to trust the certificate itself",
                at()
            ));
        }
    }
}
