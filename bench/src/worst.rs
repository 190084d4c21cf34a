//! The 3 MiB candidates (w0–w5): requests as large as the API server lets
//! through, each built to make one part of the policy's work as costly as
//! its bounds allow (reading, allowlists, failing and valid verifications,
//! keyless layers), for the "costliest request" target.

use anyhow::{bail, Context, Result};
use policy_harness::sign::SignedAttestation;
use serde_json::{json, Value};
use testkit::objects::{self, admission_request, container, image};

use crate::scenarios::{
    one_authority_settings, Golden, Group, Keys, Scenario, Scheme, APP, KEYLESS_CASE,
};

/// The API server's limit on a request's object (etcd's 1.5 MiB is per
/// stored object, but admission sees up to the request body limit).
pub const API_SERVER_LIMIT: usize = 3 * 1024 * 1024;
/// Kubernetes' limit on one object's annotations, in total.
const ANNOTATIONS_LIMIT: usize = 256 * 1024;
/// Room left under [`ANNOTATIONS_LIMIT`] for the annotation's key.
const ANNOTATION_MARGIN: usize = 1024;

/// The smallest container the API server stores (its defaulted fields):
/// what fills the bytes of a worst case with as many images as fit.
fn small_container(i: usize, image: &str) -> Value {
    json!({"name": format!("c{i}"), "image": image, "imagePullPolicy": "IfNotPresent",
           "resources": {}, "terminationMessagePath": "/dev/termination-log",
           "terminationMessagePolicy": "File"})
}

/// Distinct image `i` (its own repository and digest).
fn filler_image(i: usize) -> String {
    image(&format!("registry.example.com/app-{i}"), &format!("w-{i}"))
}

/// A Pod with `containers`, then as many more small containers with
/// distinct images as keep the AdmissionRequest within
/// [`API_SERVER_LIMIT`].
fn fill_pod(mut containers: Vec<Value>, attestations: Option<String>) -> Result<Value> {
    let build = |containers: Vec<Value>| {
        let pod = objects::pod(containers, attestations.clone());
        admission_request("", "Pod", "pods", pod)
    };
    let mut size = serde_json::to_vec(&build(containers.clone()))?.len();
    let mut i = containers.len();
    loop {
        let c = small_container(i, &filler_image(i));
        let grows = serde_json::to_vec(&c)?.len() + 1;
        if size + grows > API_SERVER_LIMIT {
            break;
        }
        size += grows;
        containers.push(c);
        i += 1;
    }
    let request = build(containers);
    let len = serde_json::to_vec(&request)?.len();
    if len > API_SERVER_LIMIT {
        bail!("a worst-case request is {len} bytes, over {API_SERVER_LIMIT}");
    }
    Ok(request)
}

/// Attestations built by `make(i)` for images `0..`, as many as keep the
/// annotation's value within Kubernetes' limit; their JSON and count.
fn fill_annotation(
    mut make: impl FnMut(usize) -> Result<SignedAttestation>,
) -> Result<(String, usize)> {
    let mut atts = Vec::new();
    let mut size = 2; // []
    loop {
        let a = make(atts.len())?;
        let grows = serde_json::to_vec(&a)?.len() + 1;
        if size + grows > ANNOTATIONS_LIMIT - ANNOTATION_MARGIN {
            break;
        }
        size += grows;
        atts.push(a);
    }
    let n = atts.len();
    Ok((serde_json::to_string(&atts)?, n))
}

/// An allowlist of `n` patterns none of the worst cases' images matches.
fn unmatched_allowlist(n: usize) -> Value {
    let patterns: Vec<Value> = (0..n)
        .map(|i| json!({"namePattern": format!("registry.example.com/team-{i}/*")}))
        .collect();
    json!([{"name": "exceptions", "patterns": patterns}])
}

/// Containers for images `0..n` of [`filler_image`].
fn containers_for(n: usize) -> Vec<Value> {
    (0..n)
        .map(|i| small_container(i, &filler_image(i)))
        .collect()
}

/// The worst cases up to 3 MiB (issue 25), each a candidate for the policy's
/// costliest request; the report names the worst.
pub(crate) fn candidates(keys: &Keys) -> Result<Vec<Scenario>> {
    Ok(vec![
        bounds_images(keys, 0)?,
        bounds_images(keys, 100)?,
        bounds_failing(keys)?,
        bounds_signed(keys)?,
        bounds_keyless()?,
        bounds_p384(keys)?,
    ])
}

/// w0 / w1: as many distinct digest images as 3 MiB holds, none attested,
/// an allowlist of `patterns` patterns none matches (none for w0): reading,
/// allowlist matching and the rejection of every image.
fn bounds_images(keys: &Keys, patterns: usize) -> Result<Scenario> {
    let mut settings = one_authority_settings(keys.rsa2048.authority("a", "key-a"));
    if patterns > 0 {
        settings["admissionAllowlists"] = unmatched_allowlist(patterns);
    }
    let request = fill_pod(Vec::new(), None)?;
    let n = count_containers(&request);
    let (id, list) = if patterns == 0 {
        ("w0", "no allowlist".to_owned())
    } else {
        (
            "w1",
            format!("allowlist of {patterns} patterns (none matches)"),
        )
    };
    let mut s = Scenario::new(
        id,
        format!("3 MiB Pod: {n} distinct digest images, none attested, {list}"),
        Group::Bounds,
        settings,
        request,
        false,
    )?;
    s.images = n;
    Ok(s)
}

/// w2: what a submitter without any trusted key can send: a 256 KiB
/// annotation of attestations each naming one of the Pod's digests with a
/// genuine RSA-4096 signature by the authority's key over another payload
/// (a complete verification that fails: the most expensive failure), the
/// rest of 3 MiB distinct images; three authorities (RSA-2048, RSA-4096,
/// P-256), any one suffices, allowlist of 100 patterns.
fn bounds_failing(keys: &Keys) -> Result<Scenario> {
    let wrong = keys
        .rsa4096
        .attest("key-c", &image(APP, "w2-other"))?
        .signatures;
    let (annotation, n) = fill_annotation(|i| {
        // The payload names image i; the signature is over another one.
        let right = keys.p256.attest("key-b", &filler_image(i))?;
        Ok(SignedAttestation {
            signatures: wrong.clone(),
            ..right
        })
    })?;
    let settings = json!({
        "attestationAuthorities": [keys.rsa2048.authority("a", "key-a"),
                                   keys.p256.authority("b", "key-b"),
                                   keys.rsa4096.authority("c", "key-c")],
        "attestationPolicies": [{"name": "p", "attestationAuthorityNames": ["a", "b", "c"],
                                 "require": "any"}],
        "admissionAllowlists": unmatched_allowlist(100),
    });
    let request = fill_pod(containers_for(n), Some(annotation))?;
    let total = count_containers(&request);
    let mut s = Scenario::new(
        "w2",
        format!("3 MiB Pod, no trusted key: {total} distinct images, {n} of them named by attestations whose RSA-4096 signature fails (256 KiB annotation), 3 authorities, allowlist of 100"),
        Group::Bounds,
        settings,
        request,
        false,
    )?;
    s.verify_scheme = Some(Scheme::Rsa4096);
    s.images = total;
    Ok(s)
}

/// w3: the signer's maximum: a 256 KiB annotation of valid P-256
/// attestations (the costliest verification per annotation byte), one per
/// distinct image, the rest of 3 MiB unattested images.
fn bounds_signed(keys: &Keys) -> Result<Scenario> {
    let (annotation, n) = fill_annotation(|i| keys.p256.attest("key-b", &filler_image(i)))?;
    let settings = one_authority_settings(keys.p256.authority("a", "key-b"));
    let request = fill_pod(containers_for(n), Some(annotation))?;
    let total = count_containers(&request);
    let mut s = Scenario::new(
        "w3",
        format!("3 MiB Pod, valid signatures: {n} images each attested by a valid P-256 signature (256 KiB annotation), {} more unattested", total - n),
        Group::Bounds,
        settings,
        request,
        false,
    )?;
    s.verify_scheme = Some(Scheme::P256);
    s.images = total;
    Ok(s)
}

/// w5: the costliest scheme per check, P-384 (about 4.3 RSA-2048 checks'
/// time each in the module, weighed 5 by the budget): one more valid
/// attestation than the request's verification budget holds at the key's
/// weight (taken from the policy, so the two cannot drift), one per
/// distinct image, so that the policy runs as many P-384 checks as it ever
/// will; the rest of 3 MiB unattested images.
fn bounds_p384(keys: &Keys) -> Result<Scenario> {
    let weight = kritis_attestation_policy::keys::parse_key(keys.p384.public_b64(), None)
        .map_err(|e| anyhow::anyhow!("the P-384 test key: {e}"))?
        .cost();
    let w5_attestations =
        (kritis_attestation_policy::evaluate::MAX_VERIFICATION_COST / weight + 1) as usize;
    let atts = (0..w5_attestations)
        .map(|i| keys.p384.attest("key-d", &filler_image(i)))
        .collect::<Result<Vec<_>>>()?;
    let settings = one_authority_settings(keys.p384.authority("a", "key-d"));
    let request = fill_pod(
        containers_for(w5_attestations),
        Some(serde_json::to_string(&atts)?),
    )?;
    let total = count_containers(&request);
    let mut s = Scenario::new(
        "w5",
        format!(
            "3 MiB Pod, P-384: {w5_attestations} images each attested by a valid P-384 \
             signature, {} more unattested",
            total - w5_attestations
        ),
        Group::Bounds,
        settings,
        request,
        false,
    )?;
    s.images = total;
    Ok(s)
}

/// Signature layers per manifest in w4: the policy's per-manifest limit.
const W4_LAYERS: usize = 32;
/// Images of w4: one manifest of [`W4_LAYERS`] uses the request's 32 layer
/// checks (`MAX_LAYER_CHECKS`).
const W4_IMAGES: usize = 1;

/// w4: the keyless path's maximum: images the host says a keyless identity
/// signed, whose `.sig` manifests hold the most honest certificate layers
/// the policy checks (32 per manifest and 32 per request: each a P-256
/// verification, a certificate and a Rekor bundle). The golden case's
/// honest layer names the digest, not the repository, so the same layer
/// could serve more repositories of that digest if the limits rose.
fn bounds_keyless() -> Result<Scenario> {
    let g = Golden::load(KEYLESS_CASE)?;
    let verify = g.fixture("v2/verify")?;
    let manifest = g.fixture("v1/oci_manifest")?;
    let image0 = verify.request["image"]
        .as_str()
        .context("keyless fixture: no image")?
        .to_owned();
    let (repo, digest) = image0
        .split_once('@')
        .context("keyless fixture: image without digest")?;
    let mut sig_manifest = manifest.response.clone().context("no manifest")?;
    let layer = sig_manifest["layers"][0].clone();
    sig_manifest["layers"] = Value::Array(vec![layer; W4_LAYERS]);
    let mut fixtures = Vec::new();
    let mut containers = Vec::new();
    for i in 0..W4_IMAGES {
        // Not the golden case's repository: scenario 9's fixtures answer
        // that one (with one layer).
        let repo_i = format!("{repo}-w4-{i}");
        let img = format!("{repo_i}@{digest}");
        let mut v = verify.clone();
        v.request["image"] = json!(img);
        fixtures.push(v);
        let mut m = manifest.clone();
        m.request = json!(format!(
            "{repo_i}:{}.sig",
            digest.replacen("sha256:", "sha256-", 1)
        ));
        m.response = Some(sig_manifest.clone());
        fixtures.push(m);
        containers.push(container(&format!("c{i}"), &img));
    }
    let pod = objects::pod(containers, None);
    let mut s = Scenario::new(
        "w4",
        format!("Keyless: {W4_IMAGES} image whose .sig manifest holds {W4_LAYERS} honest certificate layers (the request's limit of layer checks)"),
        Group::Bounds,
        g.settings,
        admission_request("", "Pod", "pods", pod),
        true,
    )?;
    s.fixtures = fixtures;
    s.verify_scheme = Some(Scheme::P256);
    s.images = W4_IMAGES;
    Ok(s)
}

/// Containers of a Pod AdmissionRequest.
fn count_containers(request: &Value) -> usize {
    request["object"]["spec"]["containers"]
        .as_array()
        .map_or(0, Vec::len)
}

#[cfg(test)]
mod tests {
    use super::*;
    use testkit::keys::KeyDir;

    fn scenarios() -> Vec<Scenario> {
        crate::scenarios::all(&Keys::load(&KeyDir::default()).unwrap()).unwrap()
    }

    #[test]
    fn worst_cases_fill_the_api_servers_limit() {
        let all = scenarios();
        for id in ["w0", "w1", "w2", "w3"] {
            let s = all.iter().find(|s| s.id == id).unwrap();
            let payload: Value = serde_json::from_slice(&s.payload).unwrap();
            let request = serde_json::to_vec(&payload["request"]).unwrap().len();
            assert!(request <= API_SERVER_LIMIT, "{id}: {request}");
            assert!(request > API_SERVER_LIMIT - 1024, "{id}: {request}");
            let annotation = payload["request"]["object"]["metadata"]["annotations"]
                [objects::ATTESTATIONS_ANNOTATION]
                .as_str()
                .map_or(0, str::len);
            assert!(annotation <= ANNOTATIONS_LIMIT - ANNOTATION_MARGIN, "{id}");
            if id == "w2" || id == "w3" {
                assert!(
                    annotation > ANNOTATIONS_LIMIT - 2 * ANNOTATION_MARGIN - 2048,
                    "{id}"
                );
            }
        }
        let w4 = all.iter().find(|s| s.id == "w4").unwrap();
        assert_eq!(w4.fixtures.len(), 2 * W4_IMAGES);
    }
}
