//! The holes a security review found (issue 12): images mounted as volumes,
//! the pre-1.22 `EphemeralContainers` object, namespace policies that could
//! not tighten the cluster-wide ones. Each test asserts the exact reason.

use serde_json::{json, Value};

use super::*;

const TOOLS: &str = "evil.example.com/tools:latest";

fn with_volumes(mut o: Value, at: &str, volumes: Value) -> Value {
    let spec = o.pointer_mut(at).expect("pod spec");
    spec["volumes"] = volumes;
    o
}

fn tools_volume(reference: &str) -> Value {
    json!([{"name": "cfg", "configMap": {"name": "cfg"}},
           {"name": "tools", "image": {"reference": reference, "pullPolicy": "IfNotPresent"}}])
}

// --- 1. image volumes -------------------------------------------------------

#[test]
fn an_unattested_image_volume_rejects_an_attested_pod() {
    let o = with_volumes(
        pod(&[&img(DIGEST)], &[rsa_attest("key-1", DIGEST)]),
        "/spec",
        json!([{"name": "tools", "image": {"reference": TOOLS}}]),
    );
    assert_eq!(
        rejected(run(request("", "Pod", o), settings())),
        "image evil.example.com/tools:latest is not attested: image volume tools (spec.volumes[0]): it is referenced by tag latest, not by digest; only digests can be verified: deploy it by digest (evil.example.com/tools@sha256:<digest>)"
    );
}

#[test]
fn image_volumes_follow_every_rule_of_container_images() {
    let att = [rsa_attest("key-1", DIGEST)];
    // Attested digest: admitted.
    let o = with_volumes(
        pod(&[&img(DIGEST)], &att),
        "/spec",
        tools_volume(&img(DIGEST)),
    );
    admitted(run(request("", "Pod", o), settings()));
    // Digest nobody attested.
    let o = with_volumes(
        pod(&[&img(DIGEST)], &att),
        "/spec",
        tools_volume(&img(DIGEST_B)),
    );
    assert_eq!(
        rejected(run(request("", "Pod", o), settings())),
        format!(
            "image {} is not attested: image volume tools (spec.volumes[1]): no attestation for digest {DIGEST_B} (the object carries 1 attestation(s), for other digests)",
            img(DIGEST_B)
        )
    );
    // Allowlisted: admitted unverified.
    let mut s = settings();
    s["admissionAllowlists"] = json!([{"patterns": [{"namePattern": "evil.example.com/tools:*"}]}]);
    let o = with_volumes(pod(&[&img(DIGEST)], &att), "/spec", tools_volume(TOOLS));
    admitted(run(request("", "Pod", o.clone()), s));
    // A namespace no policy covers: not enforced, as for containers.
    let mut s = settings();
    s["attestationPolicies"] = json!([{"name": "prod-only", "namespace": "prod", "attestationAuthorityNames": ["demo-aa"]}]);
    admitted(run(request("", "Pod", o), s));
    // The same image in a container and a volume is listed once, as the
    // container's (the first place it appears).
    let o = with_volumes(pod(&["evil:1"], &att), "/spec", tools_volume("evil:1"));
    assert_eq!(
        rejected(run(request("", "Pod", o), settings())),
        "image evil:1 is not attested: it is referenced by tag 1, not by digest; only digests can be verified: deploy it by digest (evil@sha256:<digest>)"
    );
}

#[test]
fn image_volumes_of_every_template_kind() {
    for (group, kind, at, path) in [
        (
            "apps",
            "Deployment",
            "/spec/template/spec",
            "spec.template.spec",
        ),
        (
            "apps",
            "ReplicaSet",
            "/spec/template/spec",
            "spec.template.spec",
        ),
        (
            "apps",
            "StatefulSet",
            "/spec/template/spec",
            "spec.template.spec",
        ),
        (
            "apps",
            "DaemonSet",
            "/spec/template/spec",
            "spec.template.spec",
        ),
        ("batch", "Job", "/spec/template/spec", "spec.template.spec"),
        (
            "",
            "ReplicationController",
            "/spec/template/spec",
            "spec.template.spec",
        ),
        (
            "batch",
            "CronJob",
            "/spec/jobTemplate/spec/template/spec",
            "spec.jobTemplate.spec.template.spec",
        ),
    ] {
        let spec = json!({"containers": [{"name": "app", "image": img(DIGEST)}]});
        let o = template_object(kind, spec.clone(), true, &[rsa_attest("key-1", DIGEST)]);
        let bad = with_volumes(o.clone(), at, tools_volume(TOOLS));
        let m = rejected(run(request(group, kind, bad), settings()));
        assert!(
            m.starts_with(&format!(
                "image {TOOLS} is not attested: image volume tools ({path}.volumes[1]): it is referenced by tag latest"
            )),
            "{kind}: {m}"
        );
        let good = with_volumes(o, at, tools_volume(&img(DIGEST)));
        admitted(run(request(group, kind, good), settings()));
    }
}

#[test]
fn image_volume_references_that_are_not_images_fail_closed() {
    for (reference, problem) in [
        (None, "no image.reference"),
        (Some(Value::Null), "no image.reference"),
        (Some(json!("")), "an empty image.reference"),
        (
            Some(json!(5)),
            "an image.reference that is not a string (a number)",
        ),
        (
            Some(json!(["a"])),
            "an image.reference that is not a string (an array)",
        ),
        (
            Some(json!({"a": 1})),
            "an image.reference that is not a string (an object)",
        ),
        (
            Some(json!(false)),
            "an image.reference that is not a string (a boolean)",
        ),
    ] {
        let mut source = json!({"pullPolicy": "Always"});
        if let Some(r) = reference {
            source["reference"] = r;
        }
        let o = with_volumes(
            pod(&[&img(DIGEST)], &[rsa_attest("key-1", DIGEST)]),
            "/spec",
            json!([{"name": "tools", "image": source}]),
        );
        assert_eq!(
            rejected(run(request("", "Pod", o), settings())),
            format!("image volume tools (spec.volumes[0]) has {problem}, so the image it mounts cannot be verified")
        );
    }
    // Without a name, the path alone says which.
    let o = with_volumes(pod(&[], &[]), "/spec", json!([{"image": {}}]));
    assert_eq!(
        rejected(run(request("", "Pod", o), settings())),
        "image volume (spec.volumes[0]) has no image.reference, so the image it mounts cannot be verified"
    );
}

#[test]
fn resolved_image_volumes_are_pinned() {
    let tagged = format!("{REPO}:v1");
    let resolver = Resolver::resolving(&tagged, DIGEST);
    let o = with_volumes(
        pod(&[&img(DIGEST)], &[rsa_attest("key-1", DIGEST)]),
        "/spec",
        tools_volume(&tagged),
    );
    match run_with(request("", "Pod", o), tag_settings(), &resolver) {
        Verdict::Admit {
            mutated_object: Some(m),
            ..
        } => {
            assert_eq!(
                m["spec"]["volumes"][1]["image"]["reference"],
                format!("{tagged}@{DIGEST}")
            );
            assert_eq!(
                m["spec"]["volumes"][1]["image"]["pullPolicy"],
                "IfNotPresent"
            );
            assert_eq!(m["spec"]["containers"][0]["image"], img(DIGEST));
        }
        other => panic!("{other:?}"),
    }
    // In a CronJob, at the template path, with one host call for a tag used
    // by a container and a volume alike.
    let spec = json!({"containers": [{"name": "app", "image": tagged}]});
    let o = template_object("CronJob", spec, true, &[rsa_attest("key-1", DIGEST)]);
    let o = with_volumes(
        o,
        "/spec/jobTemplate/spec/template/spec",
        tools_volume(&tagged),
    );
    let resolver = Resolver::resolving(&tagged, DIGEST);
    match run_with(request("batch", "CronJob", o), tag_settings(), &resolver) {
        Verdict::Admit {
            mutated_object: Some(m),
            ..
        } => {
            let spec = &m["spec"]["jobTemplate"]["spec"]["template"]["spec"];
            assert_eq!(
                spec["volumes"][1]["image"]["reference"],
                format!("{tagged}@{DIGEST}")
            );
            assert_eq!(spec["containers"][0]["image"], format!("{tagged}@{DIGEST}"));
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(resolver.1.borrow().len(), 1);
}

// --- 2. the pre-1.22 EphemeralContainers object --------------------------------

fn ephemeral_containers(images: &[&str], attestations: &[Value]) -> Value {
    let mut o = pod(&[], attestations);
    let list: Vec<Value> = images
        .iter()
        .enumerate()
        .map(|(i, image)| json!({"name": format!("debugger{i}"), "image": image, "targetContainerName": "c0"}))
        .collect();
    json!({"apiVersion": "v1", "kind": "EphemeralContainers", "metadata": o["metadata"].take(), "ephemeralContainers": list})
}

#[test]
fn old_ephemeral_containers_subresource_is_verified() {
    let o = ephemeral_containers(
        &[&img(DIGEST), "busybox:1.36"],
        &[rsa_attest("key-1", DIGEST)],
    );
    let mut r = request("", "EphemeralContainers", o.clone());
    r["operation"] = json!("UPDATE");
    assert_eq!(
        rejected(run(r.clone(), settings())),
        "image busybox:1.36 is not attested: it is referenced by tag 1.36, not by digest; only digests can be verified: deploy it by digest (busybox@sha256:<digest>)"
    );
    // Also when only the object says what it is.
    r.as_object_mut().unwrap().remove("kind");
    assert!(rejected(run(r, settings())).starts_with("image busybox:1.36 is not attested"));
    // Attested (the Pod's annotations come with the object's metadata).
    let o = ephemeral_containers(&[&img(DIGEST)], &[rsa_attest("key-1", DIGEST)]);
    admitted(run(request("", "EphemeralContainers", o), settings()));
    // A debugger without an image.
    let mut o = ephemeral_containers(&[&img(DIGEST)], &[rsa_attest("key-1", DIGEST)]);
    o["ephemeralContainers"][0]
        .as_object_mut()
        .unwrap()
        .remove("image");
    assert_eq!(
        rejected(run(request("", "EphemeralContainers", o), settings())),
        "container debugger0 (ephemeralContainers[0]) has no image"
    );
}

#[test]
fn old_ephemeral_containers_tags_are_pinned_at_the_top_level() {
    let tagged = format!("{REPO}:v1");
    let resolver = Resolver::resolving(&tagged, DIGEST);
    let o = ephemeral_containers(&[&tagged], &[rsa_attest("key-1", DIGEST)]);
    match run_with(
        request("", "EphemeralContainers", o),
        tag_settings(),
        &resolver,
    ) {
        Verdict::Admit {
            mutated_object: Some(m),
            ..
        } => assert_eq!(
            m["ephemeralContainers"][0]["image"],
            format!("{tagged}@{DIGEST}")
        ),
        other => panic!("{other:?}"),
    }
}

// --- 4. most specific policies win ------------------------------------------------

fn layered(namespace_policy: Value) -> Value {
    json!({
        "attestationAuthorities": [authority("a", "ka", &testkeys::rsa(2048)), authority("b", "kb", &testkeys::rsa_b())],
        "attestationPolicies": [
            {"name": "cluster", "attestationAuthorityNames": ["a"]},
            namespace_policy,
        ]
    })
}

fn in_namespace(namespace: &str, attestations: &[Value]) -> Value {
    let mut o = pod(&[&img(DIGEST)], attestations);
    o["metadata"]["namespace"] = json!(namespace);
    let mut r = request("", "Pod", o);
    r["namespace"] = json!(namespace);
    r
}

#[test]
fn a_namespace_policy_tightens_the_cluster_wide_one() {
    let s = layered(
        json!({"name": "strict", "namespace": "default", "attestationAuthorityNames": ["a", "b"], "require": "all"}),
    );
    let by_a = attest(&testkeys::rsa(2048), "ka", REPO, DIGEST, Scheme::Pkcs1);
    let by_b = attest(&testkeys::rsa_b(), "kb", REPO, DIGEST, Scheme::Pkcs1);
    assert_eq!(
        rejected(run(in_namespace("default", std::slice::from_ref(&by_a)), s.clone())),
        format!(
            "image {} is not attested: policy strict requires authority b: no valid signature by its keys (kb); the attestations for this digest are signed by ka",
            img(DIGEST)
        )
    );
    admitted(run(
        in_namespace("default", &[by_a.clone(), by_b]),
        s.clone(),
    ));
    // Elsewhere the cluster-wide policy alone applies.
    admitted(run(in_namespace("other", &[by_a]), s));
}

#[test]
fn a_namespace_policy_can_still_loosen() {
    let s = layered(
        json!({"name": "either", "namespace": "dev", "attestationAuthorityNames": ["a", "b"], "require": "any"}),
    );
    let by_b = attest(&testkeys::rsa_b(), "kb", REPO, DIGEST, Scheme::Pkcs1);
    admitted(run(
        in_namespace("dev", std::slice::from_ref(&by_b)),
        s.clone(),
    ));
    assert_eq!(
        rejected(run(in_namespace("default", &[by_b]), s)),
        format!(
            "image {} is not attested: policy cluster requires authority a: no valid signature by its keys (ka); the attestations for this digest are signed by kb",
            img(DIGEST)
        )
    );
}

#[test]
fn only_namespace_policies_and_a_namespace_without_one() {
    // No cluster-wide policy: a namespace without its own is not enforced.
    let mut s = layered(
        json!({"name": "strict", "namespace": "default", "attestationAuthorityNames": ["a", "b"]}),
    );
    s["attestationPolicies"].as_array_mut().unwrap().remove(0);
    admitted(run(in_namespace("other", &[]), s.clone()));
    assert!(
        rejected(run(in_namespace("default", &[]), s)).starts_with(&format!(
            "image {} is not attested: no attestation for digest",
            img(DIGEST)
        ))
    );
}
