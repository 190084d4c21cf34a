//! The generated scenarios' builders: one function per row of the report
//! (or per pair of rows, for the per-signature slopes).

use super::*;

/// 1, 7a, 7b, 7c: one image, attested by one authority with `key`.
pub(super) fn single_image(id: &'static str, title: &str, key: &BenchKey) -> Result<Scenario> {
    let img = image(APP, id);
    let att = key.attest("key-a", &img)?;
    let settings = one_authority_settings(key.authority("a", "key-a"));
    let request = pod_request(vec![container("app", &img)], &[att])?;
    Scenario::new(id, title, Group::Main, settings, request, true)
}

/// 8: one image whose P-256 authority (cosign's default key type) is proven
/// by the registry source: the fixture host answers `oci`/`v2/verify`, so
/// the row shows the policy's own cost on this path (and the harness's
/// fixture lookup), not a registry's.
pub(super) fn registry_source(keys: &Keys) -> Result<Scenario> {
    let img = image(APP, "8");
    let mut settings = one_authority_settings(keys.p256.authority("a", "key-a"));
    settings["attestationSources"] = json!(["registry"]);
    let request = pod_request(vec![container("app", &img)], &[])?;
    let pub_key = kritis_attestation_policy::keys::spki_pem(&keys.p256.public_b64)
        .map_err(|e| anyhow::anyhow!("the P-256 test key: {e}"))?;
    let digest = img
        .rsplit_once('@')
        .map(|(_, d)| d.to_owned())
        .context("the scenario image has a digest")?;
    let mut s = Scenario::new(
        "8",
        "Pod, 1 image, 1 EC P-256 authority proven by the registry source (fixture host answers oci/v2/verify)",
        Group::Main,
        settings,
        request,
        true,
    )?;
    s.registry.push(RegistryAnswer {
        image: img,
        pub_key,
        digest,
    });
    Ok(s)
}

/// 2: a Deployment, 10 containers + 5 init containers, 2 authorities,
/// require all.
pub(super) fn many_containers(keys: &Keys) -> Result<Scenario> {
    let mut containers = Vec::new();
    let mut init = Vec::new();
    let mut atts = Vec::new();
    for i in 0..15 {
        let img = image(
            &format!("registry.example.com/team/svc-{i}"),
            &format!("2-{i}"),
        );
        atts.push(keys.rsa2048.attest("key-a", &img)?);
        atts.push(keys.rsa2048b.attest("key-b", &img)?);
        if i < 10 {
            containers.push(container(&format!("c{i}"), &img));
        } else {
            init.push(container(&format!("init{i}"), &img));
        }
    }
    let settings = json!({
        "attestationAuthorities": [keys.rsa2048.authority("a", "key-a"),
                                   keys.rsa2048b.authority("b", "key-b")],
        "attestationPolicies": [{"name": "p", "attestationAuthorityNames": ["a", "b"],
                                 "require": "all"}]
    });
    let deployment = objects::deployment(containers, init, annotation(&atts)?);
    Scenario::new(
        "2",
        "Deployment, 10 containers + 5 initContainers (15 digests), 2 RSA-2048 authorities, require all (30 verifications)",
        Group::Main,
        settings,
        admission_request("apps", "Deployment", "deployments", deployment),
        true,
    )
}

/// 3a / 3b: an image allowlisted by the last of `count` patterns.
pub(super) fn allowlisted(id: &'static str, count: usize, keys: &Keys) -> Result<Scenario> {
    let patterns: Vec<Value> = (10_000 - count..10_000)
        .map(|i| json!({"namePattern": format!("registry.example.com/team-{i}/*")}))
        .collect();
    let settings = json!({
        "attestationAuthorities": [keys.rsa2048.authority("a", "key-a")],
        "attestationPolicies": [{"name": "p", "attestationAuthorityNames": ["a"]}],
        "admissionAllowlists": [{"name": "bench", "patterns": patterns}]
    });
    let img = image("registry.example.com/team-9999/app", id);
    let request = pod_request(vec![container("app", &img)], &[])?;
    let title = if count == 1 {
        "Pod, 1 image allowlisted by the only pattern (1 pattern)".to_owned()
    } else {
        format!("Pod, 1 image allowlisted by the last of {count} patterns")
    };
    Scenario::new(id, title, Group::Main, settings, request, true)
}

/// Scenario 4's images: as many RSA-2048 verifications as one request may
/// run (the policy's cost budget counts one RSA-2048 check as 1); one
/// more image would be rejected, not verified.
pub const MANY_IMAGES: usize = kritis_attestation_policy::evaluate::MAX_VERIFICATION_COST as usize;

/// 4: a Pod with [`MANY_IMAGES`] attested images.
pub(super) fn many_images(keys: &Keys) -> Result<Scenario> {
    let mut containers = Vec::new();
    let mut atts = Vec::new();
    for i in 0..MANY_IMAGES {
        let img = image(
            &format!("registry.example.com/team/app-{i}"),
            &format!("4-{i}"),
        );
        atts.push(keys.rsa2048.attest("key-a", &img)?);
        containers.push(container(&format!("c{i}"), &img));
    }
    let settings = one_authority_settings(keys.rsa2048.authority("a", "key-a"));
    Scenario::new(
        "4",
        format!(
            "Pod, {MANY_IMAGES} images (distinct digests), each attested by 1 RSA-2048 \
             authority (the request's whole verification budget)"
        ),
        Group::Main,
        settings,
        pod_request(containers, &atts)?,
        true,
    )
}

/// 5: 100 authorities (two RSA-2048 keys alternating, 100 distinct key ids:
/// the policy decodes only the keys a signature names), the image attested
/// by the last one; no attestationPolicies = any one authority.
pub(super) fn many_authorities(keys: &Keys) -> Result<Scenario> {
    let auths: Vec<Value> = (0..100)
        .map(|i| {
            let key = if i % 2 == 0 {
                &keys.rsa2048
            } else {
                &keys.rsa2048b
            };
            key.authority(&format!("auth-{i}"), &format!("key-{i}"))
        })
        .collect();
    let img = image(APP, "5");
    let att = keys.rsa2048b.attest("key-99", &img)?;
    Scenario::new(
        "5",
        "Pod, 1 image, 100 RSA-2048 authorities (implicit policy: any), attested by the last",
        Group::Main,
        json!({"attestationAuthorities": auths}),
        pod_request(vec![container("app", &img)], &[att])?,
        true,
    )
}

/// 6: rejected, a tag image and an unattested digest image (the object
/// carries an attestation for another image).
pub(super) fn rejected(keys: &Keys) -> Result<Scenario> {
    let attested_elsewhere = image("registry.example.com/team/other", "6-other");
    let att = keys.rsa2048.attest("key-a", &attested_elsewhere)?;
    let settings = one_authority_settings(keys.rsa2048.authority("a", "key-a"));
    let containers = vec![
        container("web", "registry.example.com/team/web:1.4.2"),
        container("app", &image(APP, "6")),
    ];
    Scenario::new(
        "6",
        "Reject: Pod with a tag image and an unattested digest image",
        Group::Main,
        settings,
        pod_request(containers, &[att])?,
        false,
    )
}

/// The two slope scenarios of `scheme`: one image, one attestation carrying
/// 1 and 1 + [`EXTRA_SIGNATURES`] signatures naming the authority's key.
pub(super) fn signature_slope(scheme: Scheme, key: &BenchKey) -> Result<[Scenario; 2]> {
    let name = scheme.label();
    let (id1, idk) = scheme.slope_ids();
    Ok([
        slope_scenario(
            id1,
            &format!("{name}: 1 image, 1 signature"),
            scheme,
            key,
            0,
        )?,
        slope_scenario(
            idk,
            &format!(
                "{name}: 1 image, {} signatures, only the last verifies",
                EXTRA_SIGNATURES + 1
            ),
            scheme,
            key,
            EXTRA_SIGNATURES,
        )?,
    ])
}

/// One image, one attestation carrying `1 + extra` signatures naming the
/// authority's key: `extra` valid signatures by that key over another
/// payload (each costs a full verification that fails), then the right one.
fn slope_scenario(
    id: &'static str,
    title: &str,
    scheme: Scheme,
    key: &BenchKey,
    extra: usize,
) -> Result<Scenario> {
    let img = image(APP, "slope");
    let other = image(APP, "slope-other");
    let right = key.attest("key-a", &img)?;
    let wrong = key.attest("key-a", &other)?;
    let mut signatures: Vec<KeySignature> = vec![wrong.signatures[0].clone(); extra];
    signatures.extend(right.signatures.iter().cloned());
    let att = SignedAttestation {
        signatures,
        ..right
    };
    let mut auth = key.authority("a", "key-a");
    auth["signatureAlgorithm"] = json!(scheme.settings_algorithm());
    let settings = one_authority_settings(auth);
    let request = pod_request(vec![container("app", &img)], &[att])?;
    Scenario::new(id, title, Group::Signature, settings, request, true)
}
