//! The scenarios: settings and `validate` payloads generated in-process with
//! the TEST-ONLY keys (`testkit::keys`), real signatures
//! (`policy_harness::sign`) and requests shaped like the API server's
//! (`testkit::objects`).

use anyhow::{Context, Result};
use policy_harness::sign::{
    attest, payload_for, DigestReference, KeySignature, SignedAttestation, SigningKey,
};
use serde_json::{json, Value};
use testkit::keys::KeyDir;
use testkit::objects::{self, admission_request, container, image};

/// Extra signatures (all failing) of the per-signature scenarios: the cost of
/// one verification is the slope between 1 and 1 + this many signatures.
pub const EXTRA_SIGNATURES: usize = 32;

/// The repository of the single-image scenarios.
const APP: &str = "registry.example.com/team/app";

/// Which table a scenario belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Group {
    /// The scenarios of the issue: fresh, warm and native.
    Main,
    /// Per-signature slope scenarios: warm and native only.
    Signature,
}

/// A signature scheme whose verification cost is measured on its own (the
/// slope scenarios) and compared with OpenSSL's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scheme {
    /// RSA-2048, PKCS#1 v1.5, SHA-256.
    Rsa2048,
    /// RSA-4096, PKCS#1 v1.5, SHA-256.
    Rsa4096,
    /// ECDSA P-256, SHA-256.
    P256,
}

impl Scheme {
    /// Every scheme, in the order of the report.
    pub const ALL: [Scheme; 3] = [Scheme::Rsa2048, Scheme::Rsa4096, Scheme::P256];

    /// `RSA-2048`, `P-256`.
    #[must_use]
    pub fn label(self) -> &'static str {
        match self {
            Scheme::Rsa2048 => "RSA-2048",
            Scheme::Rsa4096 => "RSA-4096",
            Scheme::P256 => "P-256",
        }
    }

    /// Ids of the slope scenarios: 1 signature, 1 + [`EXTRA_SIGNATURES`].
    #[must_use]
    pub fn slope_ids(self) -> (&'static str, &'static str) {
        match self {
            Scheme::Rsa2048 => ("sig-rsa2048-1", "sig-rsa2048-k"),
            Scheme::Rsa4096 => ("sig-rsa4096-1", "sig-rsa4096-k"),
            Scheme::P256 => ("sig-p256-1", "sig-p256-k"),
        }
    }

    /// The authority's `signatureAlgorithm`, pinned so a failed RSA check
    /// does not retry PSS.
    fn settings_algorithm(self) -> &'static str {
        match self {
            Scheme::Rsa2048 | Scheme::Rsa4096 => "RSA_PKCS1_SHA_256",
            Scheme::P256 => "ECDSA_SHA_256",
        }
    }
}

/// One scenario: what the host sends, and the verdict it must get.
#[derive(Debug)]
pub struct Scenario {
    /// Id in the results (`1`, `3a`, `sig-p256-k`…).
    pub id: &'static str,
    /// What the row says.
    pub title: String,
    /// Its table.
    pub group: Group,
    /// The settings (for `validate_settings`).
    pub settings: Vec<u8>,
    /// `{"request": …, "settings": …}`, exactly what the host sends.
    pub payload: Vec<u8>,
    /// Whether the request must be admitted.
    pub expect_allowed: bool,
    /// What the host answers to `oci`/`v2/verify` (registry source).
    pub registry: Vec<RegistryAnswer>,
}

/// One `oci`/`v2/verify` answer of the fixture host: `image` verifies with
/// `pub_key` (SPKI PEM, as the policy sends it) for `digest`.
#[derive(Debug, Clone)]
pub struct RegistryAnswer {
    /// The image as the policy names it.
    pub image: String,
    /// The one key of the call.
    pub pub_key: String,
    /// The digest the host verified.
    pub digest: String,
}

impl Scenario {
    fn new(
        id: &'static str,
        title: impl Into<String>,
        group: Group,
        settings: Value,
        request: Value,
        expect_allowed: bool,
    ) -> Result<Self> {
        Ok(Self {
            id,
            title: title.into(),
            group,
            settings: serde_json::to_vec(&settings)?,
            payload: objects::validate_payload(request, settings),
            expect_allowed,
            registry: Vec::new(),
        })
    }
}

/// A TEST-ONLY key: private half to sign, public half for the settings.
pub struct BenchKey {
    signer: SigningKey,
    /// Standard base64 of the public PEM, as ACK documents `publicKeyData`.
    public_b64: String,
}

impl BenchKey {
    fn load(dir: &KeyDir, name: &str) -> Result<Self> {
        let signer = SigningKey::from_pem(&dir.private_pem(name)?)
            .with_context(|| format!("invalid key {name}.key.pem"))?;
        Ok(Self {
            signer,
            public_b64: dir.public_b64(name)?,
        })
    }

    /// A signed attestation for `image` (`REPO@sha256:HEX`).
    fn attest(&self, key_id: &str, image: &str) -> Result<SignedAttestation> {
        let payload = payload_for(&DigestReference::parse(image)?, None)?;
        attest(&self.signer, key_id, &payload, None)
    }

    /// This key as the authority `name` of the settings.
    fn authority(&self, name: &str, key_id: &str) -> Value {
        objects::authority(name, key_id, &self.public_b64)
    }
}

/// The keys the scenarios sign with.
pub struct Keys {
    rsa2048: BenchKey,
    rsa2048b: BenchKey,
    rsa4096: BenchKey,
    p256: BenchKey,
}

impl Keys {
    /// Reads `rsa2048`, `rsa2048b`, `rsa4096` and `p256` from `dir`.
    ///
    /// # Errors
    ///
    /// A key file cannot be read or is no private key.
    pub fn load(dir: &KeyDir) -> Result<Self> {
        Ok(Self {
            rsa2048: BenchKey::load(dir, "rsa2048")?,
            rsa2048b: BenchKey::load(dir, "rsa2048b")?,
            rsa4096: BenchKey::load(dir, "rsa4096")?,
            p256: BenchKey::load(dir, "p256")?,
        })
    }

    fn of(&self, scheme: Scheme) -> &BenchKey {
        match scheme {
            Scheme::Rsa2048 => &self.rsa2048,
            Scheme::Rsa4096 => &self.rsa4096,
            Scheme::P256 => &self.p256,
        }
    }
}

/// The attestations annotation's value, `None` for no attestation.
fn annotation(attestations: &[SignedAttestation]) -> Result<Option<String>> {
    if attestations.is_empty() {
        return Ok(None);
    }
    Ok(Some(serde_json::to_string(attestations)?))
}

/// A Pod AdmissionRequest for `containers` carrying `attestations`.
fn pod_request(containers: Vec<Value>, attestations: &[SignedAttestation]) -> Result<Value> {
    let pod = objects::pod(containers, annotation(attestations)?);
    Ok(admission_request("", "Pod", "pods", pod))
}

/// Settings with one authority `a` and one policy requiring it.
fn one_authority_settings(authority: Value) -> Value {
    json!({
        "attestationAuthorities": [authority],
        "attestationPolicies": [{"name": "p", "attestationAuthorityNames": ["a"]}]
    })
}

/// Every scenario, in the order of the report.
///
/// # Errors
///
/// Signing failed.
pub fn all(keys: &Keys) -> Result<Vec<Scenario>> {
    let mut out = vec![
        single_image(
            "1",
            "Pod, 1 image, 1 RSA-2048 authority (PKCS#1 v1.5)",
            &keys.rsa2048,
        )?,
        many_containers(keys)?,
        allowlisted("3a", 10_000, keys)?,
        allowlisted("3b", 1, keys)?,
        many_images(keys)?,
        many_authorities(keys)?,
        rejected(keys)?,
        single_image(
            "7a",
            "Pod, 1 image, 1 EC P-256 authority (ECDSA SHA-256)",
            &keys.p256,
        )?,
        single_image(
            "7b",
            "Pod, 1 image, 1 RSA-4096 authority (PKCS#1 v1.5)",
            &keys.rsa4096,
        )?,
        registry_source(keys)?,
    ];
    for scheme in Scheme::ALL {
        out.extend(signature_slope(scheme, keys.of(scheme))?);
    }
    Ok(out)
}

/// 1, 7a, 7b: one image, attested by one authority with `key`.
fn single_image(id: &'static str, title: &str, key: &BenchKey) -> Result<Scenario> {
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
fn registry_source(keys: &Keys) -> Result<Scenario> {
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
fn many_containers(keys: &Keys) -> Result<Scenario> {
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
fn allowlisted(id: &'static str, count: usize, keys: &Keys) -> Result<Scenario> {
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

/// 4: a Pod with 100 attested images.
fn many_images(keys: &Keys) -> Result<Scenario> {
    let mut containers = Vec::new();
    let mut atts = Vec::new();
    for i in 0..100 {
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
        "Pod, 100 images (distinct digests), each attested by 1 RSA-2048 authority",
        Group::Main,
        settings,
        pod_request(containers, &atts)?,
        true,
    )
}

/// 5: 100 authorities (two RSA-2048 keys alternating, 100 distinct key ids:
/// the policy decodes only the keys a signature names), the image attested
/// by the last one; no attestationPolicies = any one authority.
fn many_authorities(keys: &Keys) -> Result<Scenario> {
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
fn rejected(keys: &Keys) -> Result<Scenario> {
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
fn signature_slope(scheme: Scheme, key: &BenchKey) -> Result<[Scenario; 2]> {
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

#[cfg(test)]
mod tests {
    use super::*;

    fn scenarios() -> Vec<Scenario> {
        all(&Keys::load(&KeyDir::default()).unwrap()).unwrap()
    }

    #[test]
    fn ids_are_unique_and_in_report_order() {
        let ids: Vec<&str> = scenarios().iter().map(|s| s.id).collect();
        assert_eq!(
            ids,
            [
                "1",
                "2",
                "3a",
                "3b",
                "4",
                "5",
                "6",
                "7a",
                "7b",
                "8",
                "sig-rsa2048-1",
                "sig-rsa2048-k",
                "sig-rsa4096-1",
                "sig-rsa4096-k",
                "sig-p256-1",
                "sig-p256-k"
            ]
        );
    }

    #[test]
    fn payload_is_request_and_settings() {
        for s in scenarios() {
            let payload: Value = serde_json::from_slice(&s.payload).unwrap();
            let settings: Value = serde_json::from_slice(&s.settings).unwrap();
            assert_eq!(payload["settings"], settings, "{}", s.id);
            assert_eq!(payload["request"]["operation"], "CREATE", "{}", s.id);
        }
    }

    #[test]
    fn slope_scenarios_carry_extra_signatures() {
        let all = scenarios();
        let count = |id: &str| {
            let s = all.iter().find(|s| s.id == id).unwrap();
            let payload: Value = serde_json::from_slice(&s.payload).unwrap();
            let annotation = payload["request"]["object"]["metadata"]["annotations"]
                [objects::ATTESTATIONS_ANNOTATION]
                .as_str()
                .unwrap()
                .to_owned();
            let atts: Value = serde_json::from_str(&annotation).unwrap();
            atts[0]["signatures"].as_array().unwrap().len()
        };
        assert_eq!(count("sig-p256-1"), 1);
        assert_eq!(count("sig-rsa2048-k"), EXTRA_SIGNATURES + 1);
    }

    #[test]
    fn testkit_payload_is_the_signers_payload() {
        let img = image(APP, "1");
        let reference = DigestReference::parse(&img).unwrap();
        assert_eq!(
            payload_for(&reference, None).unwrap(),
            objects::simple_signing_payload(APP, &reference.digest)
        );
    }
}
