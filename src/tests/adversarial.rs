//! Attempts to get an image admitted that should not be, or to crash or
//! stall the policy. Every case must end in a rejection with a clear reason
//! (or, for the resource cases, in a bounded answer).

use serde_json::{json, Value};

use super::*;

fn signed(payload_bytes: &[u8], key_id: &str) -> Value {
    let sig = testkeys::rsa(2048).sign_pkcs1(payload_bytes);
    json!({"serializedPayload": b64(payload_bytes), "signatures": [{"publicKeyId": key_id, "signature": b64(&sig)}]})
}

fn reject_pod(images: &[&str], attestations: &[Value]) -> String {
    rejected(run(
        request("", "Pod", pod(images, attestations)),
        settings(),
    ))
}

#[test]
fn digest_a_presented_for_digest_b() {
    let m = reject_pod(&[&img(DIGEST_B)], &[rsa_attest("key-1", DIGEST)]);
    assert!(
        m.contains(&format!("no attestation for digest {DIGEST_B}")),
        "{m}"
    );
}

#[test]
fn duplicate_keys_in_a_signed_payload_are_refused() {
    // Signed by the trusted key, but readable two ways: refused outright.
    let doubled = format!(
        r#"{{"critical":{{"identity":{{"docker-reference":"{REPO}"}},"image":{{"docker-manifest-digest":"{DIGEST_B}","docker-manifest-digest":"{DIGEST}"}},"type":"atomic container signature"}}}}"#
    );
    let m = reject_pod(&[&img(DIGEST)], &[signed(doubled.as_bytes(), "key-1")]);
    assert!(m.contains("attestation [0]: serializedPayload is not a simple-signing JSON document (duplicate field `docker-manifest-digest`"), "{m}");
}

#[test]
fn trailing_garbage_after_a_signed_payload() {
    let mut p = payload(REPO, DIGEST);
    p.extend_from_slice(b"\n{\"critical\":{}}");
    let m = reject_pod(&[&img(DIGEST)], &[signed(&p, "key-1")]);
    assert!(m.contains("trailing characters"), "{m}");
}

#[test]
fn truncated_zero_long_and_zero_signatures() {
    let p = payload(REPO, DIGEST);
    let good = testkeys::rsa(2048).sign_pkcs1(&p);
    let variants: Vec<(Vec<u8>, &str)> = vec![
        (good[..good.len() - 1].to_vec(), "does not verify"),
        (Vec::new(), "is empty"),
        ([good.as_slice(), &[0u8; 1]].concat(), "does not verify"),
        (vec![0u8; 256], "does not verify"),
        (vec![0u8; 1 << 16], "does not verify"),
    ];
    for (sig, want) in variants {
        let att = json!({"serializedPayload": b64(&p), "signatures": [{"publicKeyId": "key-1", "signature": b64(&sig)}]});
        let m = reject_pod(&[&img(DIGEST)], &[att]);
        assert!(
            m.contains(&format!("signature with key key-1 {want}")),
            "{m}"
        );
    }
}

#[test]
fn case_and_algorithm_games_with_digests() {
    // The payload names the digest in upper case: it is not the image's digest.
    let upper = format!("sha256:{}", DIGEST["sha256:".len()..].to_uppercase());
    let m = reject_pod(&[&img(DIGEST)], &[signed(&payload(REPO, &upper), "key-1")]);
    assert!(
        m.contains(&format!("no attestation for digest {DIGEST}")),
        "{m}"
    );
    // Upper-case, short and unknown-algorithm digests in the image are refused as references.
    for bad in [
        upper.as_str(),
        "sha256:abcd",
        "sha1:da39a3ee5e6b4b0d3255bfef95601890afd80709",
    ] {
        let m = reject_pod(&[&format!("{REPO}@{bad}")], &[]);
        assert!(
            m.contains("is not attested: it is not a valid image reference"),
            "{bad}: {m}"
        );
    }
    // sha512 works end to end when attested for exactly that digest.
    let d512 = format!("sha512:{}", "ab".repeat(64));
    admitted(run(
        request(
            "",
            "Pod",
            pod(&[&img(&d512)], &[signed(&payload(REPO, &d512), "key-1")]),
        ),
        settings(),
    ));
}

#[test]
fn reference_corner_cases_never_pass() {
    let att = rsa_attest("key-1", DIGEST);
    for image in [
        format!(" {REPO}@{DIGEST}"),
        format!("{REPO}@{DIGEST}\n"),
        format!("{REPO}@@{DIGEST}"),
        format!("{REPO}@{DIGEST}@{DIGEST}"),
        format!("registry.example.com/team/\u{0430}pp@{DIGEST}"), // Cyrillic 'а'
        format!("registry.example.com/team//app@{DIGEST}"),
        format!("registry.example.com:/team/app@{DIGEST}"),
        format!("registry.example.com/team/app:@{DIGEST}"),
        format!("REGISTRY.example.com/team/APP@{DIGEST}"),
    ] {
        let m = reject_pod(&[&image], std::slice::from_ref(&att));
        assert!(m.contains("is not attested"), "{image:?}: {m}");
    }
    // A port or IPv6 registry is a different repository from the attested one.
    for image in [
        format!("registry.example.com:443/team/app@{DIGEST}"),
        format!("[::1]:5000/team/app@{DIGEST}"),
    ] {
        let m = reject_pod(&[&image], std::slice::from_ref(&att));
        assert!(
            m.contains("names repository registry.example.com/team/app"),
            "{image}: {m}"
        );
    }
}

#[test]
fn allowlist_wildcards_do_not_cross_separators() {
    let mut s = settings();
    s["admissionAllowlists"] = json!([{"patterns": [
        {"namePattern": "registry.example.com/*/app*"},
        {"namePattern": "trusted*.example.com/app*"},
        {"namePattern": "*"},
        {"namePattern": "**.io/x"},
    ]}]);
    for image in [
        "registry.example.com/a/b/app:1",
        "trusted.evil.com/x.example.com/app:1",
        "trusted.x.example.com/app:1",
        "a.b.io/x",
        "a/b",
    ] {
        let m = rejected(run(request("", "Pod", pod(&[image], &[])), s.clone()));
        assert!(
            m.contains(&format!("image {image} is not attested")),
            "{image}: {m}"
        );
    }
    // `*` alone allowlists single-component names only ("nginx:1" has no '/'),
    // and a leading inner star matches one dot-free label.
    admitted(run(
        request("", "Pod", pod(&["nginx:1", "evil.io/x"], &[])),
        s,
    ));
}

#[test]
fn quadratic_pattern_against_a_long_near_miss_stays_fast() {
    let mut s = settings();
    s["admissionAllowlists"] =
        json!([{"patterns": [{"namePattern": format!("{}x", "*-".repeat(500))}]}]);
    let image = format!("{}y", "a-".repeat(2000));
    let start = std::time::Instant::now();
    let m = rejected(run(request("", "Pod", pod(&[&image], &[])), s));
    assert!(m.contains("is not attested"));
    // Not a benchmark: a backtracking matcher would take longer than the universe.
    assert!(start.elapsed().as_secs() < 10);
}

#[test]
fn big_annotations_and_many_containers() {
    // Nearly 256 KiB of attestations for other digests, plus the right one
    // last: admitted. Past Kubernetes' 256 KiB limit: refused unread.
    let annotated = |fillers: usize| {
        let mut atts: Vec<Value> = (0..fillers)
            .map(|i| signed(&payload(REPO, &format!("sha256:{i:064x}")), "key-x"))
            .collect();
        atts.push(rsa_attest("key-1", DIGEST));
        let o = pod(&[&img(DIGEST)], &atts);
        let len = o["metadata"]["annotations"]["kritis.grafeas.io/attestations"]
            .as_str()
            .unwrap()
            .len();
        (o, len)
    };
    let (o, len) = annotated(360);
    assert!(len > 240 * 1024 && len < 256 * 1024, "{len}");
    admitted(run(request("", "Pod", o), settings()));
    let (o, len) = annotated(400);
    assert!(len > 256 * 1024, "{len}");
    assert!(rejected(run(request("", "Pod", o), settings()))
        .contains("more than Kubernetes' limit of 262144 bytes (256 KiB)"));
    // 1,000 containers of the same attested image, and 1,000 distinct tags.
    let same: Vec<String> = (0..1000).map(|_| img(DIGEST)).collect();
    let refs: Vec<&str> = same.iter().map(String::as_str).collect();
    admitted(run(
        request("", "Pod", pod(&refs, &[rsa_attest("key-1", DIGEST)])),
        settings(),
    ));
    // 1,000 distinct tags: 256 are judged, the rest counted unjudged; the
    // first 100 failures are listed (the unjudged count first), the rest
    // counted.
    let tags: Vec<String> = (0..1000).map(|i| format!("app:{i}")).collect();
    let refs: Vec<&str> = tags.iter().map(String::as_str).collect();
    let m = rejected(run(request("", "Pod", pod(&refs, &[])), settings()));
    assert!(m.starts_with("the object names more than 256 distinct images, the most this policy judges in one request: 744 more image uses were not judged; image app:0 is not attested"), "{m}");
    assert_eq!(m.matches("is not attested").count(), 99);
    assert!(m.contains("image app:98 is not attested"), "{m}");
    assert!(m.ends_with("; … and 157 more failing images"), "{m}");
}

#[test]
fn deeply_nested_json_is_a_rejection_not_a_crash() {
    let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
    let payload = format!(
        r#"{{"request": {{"kind": {{"kind": "Pod"}}, "object": {deep}}}, "settings": {}}}"#,
        settings()
    );
    match validate(payload.as_bytes(), &Resolver::none()) {
        Verdict::Reject(r) => assert!(
            r.to_string().starts_with("cannot evaluate the request"),
            "{r}"
        ),
        Verdict::Admit { .. } => panic!("admitted"),
    }
    let mut o = pod(&[&img(DIGEST)], &[]);
    o["metadata"]["annotations"] = json!({"kritis.grafeas.io/attestations": deep});
    let m = rejected(run(request("", "Pod", o), settings()));
    assert!(
        m.contains("annotation kritis.grafeas.io/attestations is malformed"),
        "{m}"
    );
}

#[test]
fn breakglass_on_a_template_or_while_disabled_changes_nothing() {
    let mut o = pod(&["evil:1"], &[]);
    o["metadata"]["annotations"] = json!({"kritis.grafeas.io/breakglass": ""});
    let m = rejected(run(request("", "Pod", o), settings()));
    assert!(m.contains("image evil:1 is not attested"), "{m}");
}

/// A CREATE of the Pod `object`, written as raw text (for keys serde_json
/// would never write twice), with the usual settings.
fn raw_pod_payload(object: &str) -> String {
    format!(
        r#"{{"request":{{"kind":{{"kind":"Pod"}},"operation":"CREATE","object":{object}}},"settings":{}}}"#,
        settings()
    )
}

#[test]
fn duplicate_annotation_keys_in_the_object_are_refused() {
    let att = Value::Array(vec![rsa_attest("key-1", DIGEST)]).to_string();
    let object = format!(
        r#"{{"metadata":{{"annotations":{{"kritis.grafeas.io/attestations":{att:?},"kritis.grafeas.io/attestations":"[]"}}}},"spec":{{"containers":[{{"image":"{}"}}]}}}}"#,
        img(DIGEST)
    );
    match validate(raw_pod_payload(&object).as_bytes(), &Resolver::none()) {
        Verdict::Reject(r) => assert!(r.to_string().contains("duplicate field"), "{r}"),
        Verdict::Admit { .. } => panic!("admitted"),
    }
}

/// Issue 12 §3: one attestation for `app@sha256:D` with `signatures` entries
/// naming unknown key ids, and a Pod whose `containers` containers name that
/// digest under as many tags (`app:t1@sha256:D`, …).
fn unknown_signers_under_many_tags(containers: usize, signatures: usize) -> Value {
    let sigs: Vec<Value> = (0..signatures)
        .map(|i| json!({"publicKeyId": format!("u{i}"), "signature": "AA"}))
        .collect();
    let att = json!({"serializedPayload": b64(&payload("app", DIGEST)), "signatures": sigs});
    // Kubernetes caps all annotations of an object at 256 KiB together.
    assert!(Value::Array(vec![att.clone()]).to_string().len() < 256 * 1024);
    let images: Vec<String> = (1..=containers)
        .map(|i| format!("app:t{i}@{DIGEST}"))
        .collect();
    let refs: Vec<&str> = images.iter().map(String::as_str).collect();
    let payload =
        json!({"request": request("", "Pod", pod(&refs, &[att])), "settings": settings()});
    payload
}

#[test]
fn unknown_signers_on_one_digest_under_many_tags_cost_linear_work() {
    use crate::evaluate::{validate_counting, Work};
    use crate::verdict::MAX_MESSAGE;
    for containers in [10, 50] {
        let payload =
            serde_json::to_vec(&unknown_signers_under_many_tags(containers, 6000)).unwrap();
        // Best of three runs: a loaded machine may stall one run, not all.
        let mut elapsed = std::time::Duration::MAX;
        let mut last = None;
        for _ in 0..3 {
            let start = std::time::Instant::now();
            let out = validate_counting(&payload, &Resolver::none());
            elapsed = elapsed.min(start.elapsed());
            last = Some(out);
        }
        let (verdict, work) = last.unwrap();
        let m = rejected(verdict);
        // One evaluation for the (repository, digest) pair, whatever the
        // tags; each signature looked at once; nothing to verify.
        assert_eq!(
            work,
            Work {
                digest_checks: 1,
                attestations_examined: 1,
                signatures_examined: 6000,
                verifications: 0,
                ..Work::default()
            },
            "{containers} containers"
        );
        // Every image is listed, each with the signers capped.
        let one = format!(
            "image app:t1@{DIGEST} is not attested: no trusted authority attests it: authority demo-aa: no valid signature by its keys (key-1); the attestations for this digest are signed by u0 (unknown key id), u1 (unknown key id), u2 (unknown key id), u3 (unknown key id), u4 (unknown key id), u5 (unknown key id), u6 (unknown key id), u7 (unknown key id), … and 5992 more key ids"
        );
        assert!(m.starts_with(&one), "{m}");
        assert_eq!(m.matches("is not attested").count(), containers);
        assert_eq!(m.matches("… and 5992 more key ids").count(), containers);
        assert!(
            m.len() < MAX_MESSAGE && !m.contains("message cut"),
            "{}",
            m.len()
        );
        // Not a benchmark (that is `make bench`): the quadratic version took
        // 1.4 s (10 containers) and 6.2 s (50) natively; this takes about
        // 2 ms optimised, 10 ms in the test profile (this crate unoptimised).
        // The 50 ms target is asserted where it is robust, on an optimised
        // build (`cargo test --release`); the test profile gets a wide margin.
        let bound = if cfg!(debug_assertions) { 500 } else { 50 };
        assert!(
            elapsed.as_millis() < bound,
            "{containers} containers: {elapsed:?}"
        );
    }
}

#[test]
fn the_message_is_cut_below_64_kib_whatever_the_input() {
    use crate::verdict::MAX_MESSAGE;
    // 300 distinct images of 250 control characters each: every character is
    // escaped (`\u{1}`), every image listed up to the cap of 100: far more
    // than 64 KiB unless cut.
    let images: Vec<String> = (0..300)
        .map(|i| format!("{}{i}", "\u{1}".repeat(250)))
        .collect();
    let refs: Vec<&str> = images.iter().map(String::as_str).collect();
    let v = run(request("", "Pod", pod(&refs, &[])), settings());
    let Verdict::Reject(r) = v else {
        panic!("admitted")
    };
    let full = r.to_string();
    assert!(full.len() > MAX_MESSAGE, "{}", full.len());
    let m = r.message();
    assert!(m.len() < MAX_MESSAGE, "{}", m.len());
    assert!(
        m.ends_with(" … (message cut at 64 KiB)"),
        "{}",
        &m[m.len() - 80..]
    );
    assert!(full.starts_with(m.trim_end_matches(" … (message cut at 64 KiB)")));
    // The same bound holds for the response Kubewarden sends.
    let resp = run(request("", "Pod", pod(&refs, &[])), settings()).into_response();
    assert!(resp.message.unwrap().len() < MAX_MESSAGE);
}

#[test]
fn a_proof_with_one_authoritys_key_never_counts_for_another_key_with_the_same_id() {
    // Settings `validate_settings` would refuse (duplicate key id `k`), as a
    // caller that skipped it could pass them: `b`'s key is another key.
    let s = json!({
        "attestationAuthorities": [authority("a", "k", &testkeys::rsa(2048)), authority("b", "k", &testkeys::rsa_b())],
        "attestationPolicies": [{"name": "gap", "attestationAuthorityNames": ["a", "b"]}]
    });
    let by_a = attest(&testkeys::rsa(2048), "k", REPO, DIGEST, Scheme::Pkcs1);
    let m = rejected(run(request("", "Pod", pod(&[&img(DIGEST)], &[by_a])), s));
    assert_eq!(
        m,
        format!(
            "image {} is not attested: policy gap requires authority b: signature with key k does not verify",
            img(DIGEST)
        )
    );
}

#[test]
fn hostile_image_volumes_never_pass() {
    let att = rsa_attest("key-1", DIGEST);
    for reference in [
        json!("evil.example.com/tools:latest"),
        json!(format!("evil.example.com/tools@{DIGEST}")),
        json!(format!(" {REPO}@{DIGEST}")),
        json!(format!("{REPO}@{DIGEST}\n")),
        json!(""),
        json!(null),
        json!(7),
        json!({"reference": img(DIGEST)}),
        json!([img(DIGEST)]),
    ] {
        let mut o = pod(&[&img(DIGEST)], std::slice::from_ref(&att));
        o["spec"]["volumes"] = json!([{"name": "tools", "image": {"reference": reference}}]);
        let m = rejected(run(request("", "Pod", o), settings()));
        assert!(
            m.starts_with("image volume tools (spec.volumes[0]) has")
                || (m.starts_with("image ")
                    && m.contains(" is not attested: image volume tools (spec.volumes[0]): ")),
            "{reference}: {m}"
        );
    }
    // A volume with the image source missing its reference field entirely.
    let mut o = pod(&[&img(DIGEST)], std::slice::from_ref(&att));
    o["spec"]["volumes"] = json!([{"name": "tools", "image": {"pullPolicy": "Always"}}]);
    assert_eq!(
        rejected(run(request("", "Pod", o), settings())),
        "image volume tools (spec.volumes[0]) has no image.reference, so the image it mounts cannot be verified"
    );
    // A doubled reference cannot be read two ways.
    let object = format!(
        r#"{{"metadata":{{"namespace":"default"}},"spec":{{"containers":[{{"image":"{0}"}}],"volumes":[{{"name":"tools","image":{{"reference":"{0}","reference":"evil:1"}}}}]}}}}"#,
        img(DIGEST)
    );
    match validate(raw_pod_payload(&object).as_bytes(), &Resolver::none()) {
        Verdict::Reject(r) => assert!(r.to_string().contains("duplicate field `reference`"), "{r}"),
        Verdict::Admit { .. } => panic!("admitted"),
    }
}

#[test]
fn one_digest_under_many_repositories_does_not_scan_every_attestation_per_image() {
    use crate::evaluate::{validate_counting, Work};
    // 300 attestations for D, each for another repository, and 300 images
    // naming D in 300 repositories none of them attests: finding an image's
    // attestations is a lookup, not a scan of the 300.
    let atts: Vec<Value> = (0..300)
        .map(|i| {
            json!({"serializedPayload": b64(&payload(&format!("registry.example.com/team/other{i}"), DIGEST)),
                   "signatures": [{"publicKeyId": "key-1", "signature": "AA"}]})
        })
        .collect();
    let images: Vec<String> = (0..300)
        .map(|i| format!("registry.example.com/team/app{i}@{DIGEST}"))
        .collect();
    let refs: Vec<&str> = images.iter().map(String::as_str).collect();
    let payload = serde_json::to_vec(
        &json!({"request": request("", "Pod", pod(&refs, &atts)), "settings": settings()}),
    )
    .unwrap();
    let (verdict, work) = validate_counting(&payload, &Resolver::none());
    assert_eq!(
        work,
        Work {
            // Past 256 distinct images, the rest are not judged.
            digest_checks: 256,
            attestations_examined: 0,
            signatures_examined: 0,
            verifications: 0,
            ..Work::default()
        }
    );
    let m = rejected(verdict);
    assert!(m.contains(&format!(
        "image registry.example.com/team/app0@{DIGEST} is not attested: no trusted authority attests it: authority demo-aa: the attestation for this digest names repository registry.example.com/team/other0, not registry.example.com/team/app0; "
    )), "{m}");
    assert!(m.ends_with("; … and 157 more failing images"), "{m}");
}

#[test]
fn a_payload_that_is_not_utf8_is_refused_before_parsing() {
    let req = request(
        "",
        "Pod",
        pod(&[&img(DIGEST)], &[rsa_attest("key-1", DIGEST)]),
    );
    let mut payload = serde_json::to_vec(&json!({"request": req, "settings": settings()})).unwrap();
    // A byte that is never UTF-8, inside the Pod's name.
    let at = payload.windows(4).position(|w| w == b"demo").unwrap();
    payload[at] = 0xff;
    let m = rejected(validate(&payload, &Resolver::none()));
    assert_eq!(
        m,
        "cannot evaluate the request: not a Kubewarden validation request (not UTF-8 text)"
    );
}
