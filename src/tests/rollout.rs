//! Issue 23: rolling out without breaking anyone — `warn` policies,
//! exceptions and break-glass that expire on the host's clock, and the
//! audit scanner's requests.

use serde_json::{json, Value};

use super::*;
use crate::clock::parse_rfc3339;
use crate::evaluate::WOULD_REJECT_AUDIT_KEY;

/// A host whose clock reads a fixed time (or has none), and which
/// resolves `REPO:v1` to `DIGEST`.
struct At(Option<i64>);

impl At {
    fn time(text: &str) -> At {
        At(Some(parse_rfc3339(text).unwrap()))
    }
}

impl Host for At {
    fn manifest_digest(&self, image: &str) -> Result<String, String> {
        if image == format!("{REPO}:v1") {
            Ok(DIGEST.to_owned())
        } else {
            Err(format!("manifest unknown: {image}"))
        }
    }

    fn now(&self) -> Option<i64> {
        self.0
    }
}

fn decide(req: Value, settings: Value, host: &At) -> Verdict {
    let payload = serde_json::to_vec(&json!({"request": req, "settings": settings})).unwrap();
    validate(&payload, host)
}

/// The admitted verdict's warnings and audit annotations.
#[track_caller]
fn warned(v: Verdict) -> (Vec<String>, Vec<(&'static str, String)>) {
    match v {
        Verdict::Admit {
            warnings,
            audit_annotations,
            ..
        } => (warnings, audit_annotations),
        Verdict::Reject(r) => panic!("rejected: {r}"),
    }
}

fn policies(list: Value) -> Value {
    let mut s = settings();
    s["attestationAuthorities"]
        .as_array_mut()
        .unwrap()
        .push(authority("qa", "qa-1", &testkeys::rsa_b()));
    s["attestationPolicies"] = list;
    s
}

fn unattested() -> Value {
    request(
        "",
        "Pod",
        pod(&[&img(DIGEST)], &[rsa_attest("nobody", DIGEST)]),
    )
}

#[test]
fn a_warn_only_failure_is_admitted_with_what_the_rejection_would_say() {
    let s = policies(
        json!([{"name": "prod", "attestationAuthorityNames": ["demo-aa"], "enforcement": "warn"}]),
    );
    let would = rejected(decide(
        unattested(),
        {
            let mut deny = s.clone();
            deny["attestationPolicies"][0]["enforcement"] = json!("deny");
            deny
        },
        &At(None),
    ));
    let (warnings, audit) = warned(decide(unattested(), s, &At(None)));
    assert_eq!(
        warnings,
        [format!(
            "enforcement is warn, so admitted; would reject: {would}"
        )]
    );
    assert_eq!(audit, [(WOULD_REJECT_AUDIT_KEY, would)]);
}

#[test]
fn a_failing_deny_policy_rejects_whatever_warn_policies_say() {
    let s = policies(json!([
        {"name": "strict", "attestationAuthorityNames": ["qa"]},
        {"name": "trial", "attestationAuthorityNames": ["demo-aa"], "enforcement": "warn"}
    ]));
    // Both failing: rejected, by the deny policy.
    let m = rejected(decide(unattested(), s.clone(), &At(None)));
    assert!(m.contains("policy strict requires authority qa"), "{m}");
    // The warn policy satisfied does not rescue it.
    let attested = request(
        "",
        "Pod",
        pod(&[&img(DIGEST)], &[rsa_attest("key-1", DIGEST)]),
    );
    let m = rejected(decide(attested, s, &At(None)));
    assert!(m.contains("policy strict requires authority qa"), "{m}");
}

#[test]
fn one_namespace_in_warn_while_the_cluster_enforces() {
    let s = policies(json!([
        {"name": "cluster", "attestationAuthorityNames": ["demo-aa"]},
        {"name": "trial", "namespace": "default", "attestationAuthorityNames": ["demo-aa"], "enforcement": "warn"}
    ]));
    let (warnings, _) = warned(decide(unattested(), s.clone(), &At(None)));
    assert_eq!(warnings.len(), 1);
    let mut elsewhere = unattested();
    elsewhere["namespace"] = json!("payments");
    let m = rejected(decide(elsewhere, s, &At(None)));
    assert!(
        m.contains("policy cluster requires authority demo-aa"),
        "{m}"
    );
}

#[test]
fn warnings_are_bounded_and_the_audit_annotation_lists_every_image() {
    let s = policies(
        json!([{"name": "prod", "attestationAuthorityNames": ["demo-aa"], "enforcement": "warn"}]),
    );
    let images: Vec<String> = (0..30).map(|i| format!("{REPO}-{i}:v{i}")).collect();
    let refs: Vec<&str> = images.iter().map(String::as_str).collect();
    let (warnings, audit) = warned(decide(request("", "Pod", pod(&refs, &[])), s, &At(None)));
    assert_eq!(warnings.len(), 21);
    assert!(warnings.iter().all(|w| w.len() <= 1024));
    assert_eq!(warnings[20], "enforcement is warn: 10 more images would be rejected (see the would-reject audit annotation)");
    assert_eq!(audit[0].1.matches("is not attested").count(), 30);
}

fn expiring(expires: &str) -> Value {
    let mut s = settings();
    s["admissionAllowlists"] = json!([{"name": "vendor", "patterns": [
        {"namePattern": "vendor.example.com/agent:*", "expires": expires}]}]);
    s
}

fn vendor_pod() -> Value {
    request("", "Pod", pod(&["vendor.example.com/agent:1.2"], &[]))
}

#[test]
fn an_exception_expires_and_warns_before_it_does() {
    let s = expiring("2026-12-31T00:00:00Z");
    // Long before: admitted, no warning.
    let (warnings, _) = warned(decide(
        vendor_pod(),
        s.clone(),
        &At::time("2026-12-01T00:00:00Z"),
    ));
    assert!(warnings.is_empty(), "{warnings:?}");
    // In the last 7 days: admitted with a warning naming pattern and date.
    let (warnings, _) = warned(decide(
        vendor_pod(),
        s.clone(),
        &At::time("2026-12-28T00:00:00Z"),
    ));
    assert_eq!(
        warnings,
        ["image vendor.example.com/agent:1.2 is admitted by allowlist pattern vendor.example.com/agent:* only until 2026-12-31T00:00:00Z (in 3 days): sign it, or extend the exception"]
    );
    // One second before: still admitted; at the time itself: not.
    warned(decide(
        vendor_pod(),
        s.clone(),
        &At::time("2026-12-30T23:59:59Z"),
    ));
    let m = rejected(decide(
        vendor_pod(),
        s.clone(),
        &At::time("2026-12-31T00:00:00Z"),
    ));
    assert!(
        m.contains("image vendor.example.com/agent:1.2 is not attested"),
        "{m}"
    );
    // A wider window (a setting).
    let mut wide = s;
    wide["expiryWarningDays"] = json!(30);
    let (warnings, _) = warned(decide(
        vendor_pod(),
        wide,
        &At::time("2026-12-05T00:00:00Z"),
    ));
    assert!(
        warnings[0].ends_with("(in 26 days): sign it, or extend the exception"),
        "{warnings:?}"
    );
}

#[test]
fn without_a_clock_an_expiring_exception_admits_nothing() {
    let s = expiring("2030-01-01T00:00:00Z");
    let m = rejected(decide(vendor_pod(), s.clone(), &At(None)));
    assert!(
        m.contains("image vendor.example.com/agent:1.2 is not attested"),
        "{m}"
    );
    // A pattern without expiry needs no clock.
    let mut forever = s;
    forever["admissionAllowlists"][0]["patterns"][0]
        .as_object_mut()
        .unwrap()
        .remove("expires");
    warned(decide(vendor_pod(), forever, &At(None)));
}

fn breakglass_settings(expires: &str) -> Value {
    let mut s = settings();
    s["allowBreakglass"] = json!(true);
    s["breakglassExpires"] = json!(expires);
    s
}

fn breakglass_pod() -> Value {
    let mut o = pod(&[&img(DIGEST)], &[]);
    o["metadata"]["annotations"] = json!({"kritis.grafeas.io/breakglass": "true"});
    request("", "Pod", o)
}

#[test]
fn break_glass_expires_too() {
    let s = breakglass_settings("2026-12-31T00:00:00Z");
    let (warnings, audit) = warned(decide(
        breakglass_pod(),
        s.clone(),
        &At::time("2026-12-01T00:00:00Z"),
    ));
    assert_eq!(warnings.len(), 1);
    assert_eq!(audit[0].0, "breakglass");
    let (warnings, _) = warned(decide(
        breakglass_pod(),
        s.clone(),
        &At::time("2026-12-30T00:00:00Z"),
    ));
    assert_eq!(warnings[1], "break-glass expires at 2026-12-31T00:00:00Z (in 1 day): after that, objects marked kritis.grafeas.io/breakglass are verified like any other");
    let m = rejected(decide(
        breakglass_pod(),
        s.clone(),
        &At::time("2027-01-01T00:00:00Z"),
    ));
    assert!(
        m.starts_with("break-glass is refused: it expired at 2026-12-31T00:00:00Z; image "),
        "{m}"
    );
    let m = rejected(decide(breakglass_pod(), s, &At(None)));
    assert!(m.starts_with("break-glass is refused: it expires at 2026-12-31T00:00:00Z and the host gives this policy no clock to tell"), "{m}");
}

#[test]
fn malformed_dates_are_refused_and_expired_ones_are_valid() {
    let check = |v: Value| -> Result<(), String> {
        let bytes = serde_json::to_vec(&v).unwrap();
        crate::settings::Settings::from_slice(&bytes)?.validate()
    };
    check(expiring("2020-01-01T00:00:00Z")).unwrap();
    check(breakglass_settings("2020-01-01T00:00:00Z")).unwrap();
    assert_eq!(
        check(expiring("2026-12-31")).unwrap_err(),
        "admissionAllowlists[0].patterns[0].expires: \"2026-12-31\" is not an RFC 3339 UTC time such as 2026-12-31T00:00:00Z"
    );
    assert_eq!(
        check(breakglass_settings("tomorrow")).unwrap_err(),
        "breakglassExpires: \"tomorrow\" is not an RFC 3339 UTC time such as 2026-12-31T00:00:00Z"
    );
    let mut s = settings();
    s["expiryWarningDays"] = json!(400);
    assert_eq!(check(s).unwrap_err(), "expiryWarningDays: at most 366 days");
    let e = check(policies(
        json!([{"name": "p", "attestationAuthorityNames": ["qa"], "enforcement": "audit"}]),
    ))
    .unwrap_err();
    assert!(e.starts_with("attestationPolicies[0].enforcement: unknown variant `audit`, expected `deny` or `warn`"), "{e}");
}

/// The audit scanner's request: CREATE, no oldObject, no userInfo.
fn audit_request(group: &str, kind: &str, object: Value) -> Value {
    json!({"uid": "audit", "kind": {"group": group, "version": "v1", "kind": kind},
           "operation": "CREATE", "namespace": "default", "object": object})
}

#[test]
fn audit_scanner_requests_get_the_admission_decision_for_every_kind() {
    for (group, kind) in [("", "Pod")].into_iter().chain(TEMPLATE_KINDS) {
        let object = |images: &[&str], atts: &[Value]| {
            let p = pod(images, atts);
            match kind {
                "Pod" => p,
                "CronJob" => {
                    json!({"kind": kind, "metadata": {"name": "x"}, "spec": {"jobTemplate": {"spec": {"template": {"metadata": p["metadata"], "spec": p["spec"]}}}}})
                }
                _ => {
                    json!({"kind": kind, "metadata": {"name": "x"}, "spec": {"template": {"metadata": p["metadata"], "spec": p["spec"]}}})
                }
            }
        };
        let attested = object(&[&img(DIGEST)], &[rsa_attest("key-1", DIGEST)]);
        let unsigned = object(&[&img(DIGEST)], &[rsa_attest("nobody", DIGEST)]);
        for (o, admit) in [(attested, true), (unsigned, false)] {
            let audit = decide(audit_request(group, kind, o.clone()), settings(), &At(None));
            let admission = decide(request(group, kind, o), settings(), &At(None));
            match (&audit, &admission, admit) {
                (Verdict::Admit { .. }, Verdict::Admit { .. }, true) => {}
                (Verdict::Reject(a), Verdict::Reject(b), false) => {
                    assert_eq!(a.message(), b.message(), "{kind}")
                }
                other => panic!("{kind}: {other:?}"),
            }
        }
        // A tag that admission would pin is judged the same in the audit.
        let tagged = object(&[&format!("{REPO}:v1")], &[rsa_attest("key-1", DIGEST)]);
        let mut pinning = settings();
        pinning["resolveTags"] = json!(true);
        let mut not_pinning = pinning.clone();
        not_pinning["mutateToDigest"] = json!(false);
        warned(decide(
            audit_request(group, kind, tagged.clone()),
            pinning,
            &At(None),
        ));
        warned(decide(
            audit_request(group, kind, tagged),
            not_pinning,
            &At(None),
        ));
    }
}
