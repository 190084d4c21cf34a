//! The scenarios: settings and `validate` payloads generated in-process with
//! the TEST-ONLY keys (`testkit::keys`), real signatures
//! (`policy_harness::sign`) and requests shaped like the API server's
//! (`testkit::objects`).

use std::path::Path;

use anyhow::{Context, Result};
use policy_harness::host::capabilities::Fixture;
use policy_harness::sign::{
    attest, payload_for, DigestReference, KeySignature, SignedAttestation, SigningKey,
};
use serde_json::{json, Value};
use testkit::keys::KeyDir;
use testkit::objects::{self, admission_request, container, image};

/// Extra signatures (all failing) of the per-signature scenarios: the cost of
/// one verification is the slope between 1 and 1 + this many signatures.
/// One less than the policy's limit of failed verifications per request
/// (`MAX_FAILED_VERIFICATIONS`), so the last, valid signature is still
/// checked.
pub const EXTRA_SIGNATURES: usize =
    kritis_attestation_policy::evaluate::MAX_FAILED_VERIFICATIONS as usize - 1;

/// The repository of the single-image scenarios.
pub(crate) const APP: &str = "registry.example.com/team/app";

/// Which table a scenario belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Group {
    /// The scenarios of the issue: fresh, warm and native.
    Main,
    /// Per-signature slope scenarios: warm and native only.
    Signature,
    /// The costliest requests up to the API server's 3 MiB (issue 25):
    /// fresh, warm and native, judged on the worst fresh median.
    Bounds,
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
    /// Other host answers, in the harness's fixture format (keyless
    /// `oci`/`v2/verify` and `oci`/`v1/oci_manifest`); the native side
    /// answers from the same entries.
    pub fixtures: Vec<Fixture>,
    /// The signature scheme whose verifications dominate a worst-case
    /// candidate (for its profile).
    pub verify_scheme: Option<Scheme>,
    /// Distinct images of a worst-case candidate (for its profile).
    pub images: usize,
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
    pub(crate) fn new(
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
            fixtures: Vec::new(),
            verify_scheme: None,
            images: 0,
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
    pub(crate) fn attest(&self, key_id: &str, image: &str) -> Result<SignedAttestation> {
        let payload = payload_for(&DigestReference::parse(image)?, None)?;
        attest(&self.signer, key_id, &payload, None)
    }

    /// Standard base64 of the public PEM.
    pub(crate) fn public_b64(&self) -> &str {
        &self.public_b64
    }

    /// This key as the authority `name` of the settings.
    pub(crate) fn authority(&self, name: &str, key_id: &str) -> Value {
        objects::authority(name, key_id, &self.public_b64)
    }
}

/// The keys the scenarios sign with.
pub struct Keys {
    pub(crate) rsa2048: BenchKey,
    pub(crate) rsa2048b: BenchKey,
    pub(crate) rsa4096: BenchKey,
    pub(crate) p256: BenchKey,
    pub(crate) p384: BenchKey,
}

impl Keys {
    /// Reads `rsa2048`, `rsa2048b`, `rsa4096`, `p256` and `p384` from `dir`.
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
            p384: BenchKey::load(dir, "p384")?,
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
pub(crate) fn pod_request(
    containers: Vec<Value>,
    attestations: &[SignedAttestation],
) -> Result<Value> {
    let pod = objects::pod(containers, annotation(attestations)?);
    Ok(admission_request("", "Pod", "pods", pod))
}

/// Settings with one authority `a` and one policy requiring it.
pub(crate) fn one_authority_settings(authority: Value) -> Value {
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
        single_image(
            "7c",
            "Pod, 1 image, 1 EC P-384 authority (ECDSA SHA-384)",
            &keys.p384,
        )?,
        registry_source(keys)?,
        keyless()?,
        crate::live::demo()?,
        crate::live::many(keys)?,
    ];
    for scheme in Scheme::ALL {
        out.extend(signature_slope(scheme, keys.of(scheme))?);
    }
    out.extend(crate::worst::candidates(keys)?);
    Ok(out)
}

/// 1, 7a, 7b, 7c: one image, attested by one authority with `key`.
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

/// Scenario 4's images: as many RSA-2048 verifications as one request may
/// run (the policy's cost budget counts one RSA-2048 check as 1); one
/// more image would be rejected, not verified.
pub const MANY_IMAGES: usize = kritis_attestation_policy::evaluate::MAX_VERIFICATION_COST as usize;

/// 4: a Pod with [`MANY_IMAGES`] attested images.
fn many_images(keys: &Keys) -> Result<Scenario> {
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

/// The golden cases, whose fixtures `e2e-tests/fixtures/generate.py`
/// writes in the host's exact wire shapes (real certificates and
/// signatures of the TEST-ONLY Sigstore instance in `testdata/sigstore/`).
const GOLDEN: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../e2e-tests/golden");
/// The golden case of the keyless path: one image, one keyless authority
/// (issuer + subject), the host says trusted and serves the `.sig`
/// manifest with one honest layer.
pub(crate) const KEYLESS_CASE: &str = "keyless-subject-verified";

fn read_json(path: &Path) -> Result<Value> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    serde_json::from_str(&text).with_context(|| format!("{} is not JSON", path.display()))
}

/// A golden case's settings, AdmissionRequest and host fixtures.
pub(crate) struct Golden {
    pub(crate) settings: Value,
    pub(crate) request: Value,
    pub(crate) fixtures: Vec<Fixture>,
}

impl Golden {
    pub(crate) fn load(name: &str) -> Result<Self> {
        let dir = Path::new(GOLDEN).join(name);
        let settings = read_json(&dir.join("settings.json"))?;
        let request = match read_json(&dir.join("request.json"))? {
            Value::Object(mut m) => m.remove("request"),
            _ => None,
        }
        .with_context(|| format!("{name}/request.json holds no `request`"))?;
        let fixtures = serde_json::from_value(read_json(&dir.join("host-capabilities.json"))?)
            .with_context(|| format!("{name}/host-capabilities.json: not fixtures"))?;
        Ok(Self {
            settings,
            request,
            fixtures,
        })
    }

    /// The golden case as an admitted main scenario answered by its own
    /// host fixtures (scenarios 9 and 10).
    pub(crate) fn scenario(self, id: &'static str, title: &str) -> Result<Scenario> {
        let mut s = Scenario::new(id, title, Group::Main, self.settings, self.request, true)?;
        s.fixtures = self.fixtures;
        Ok(s)
    }

    /// The fixture of `operation`.
    pub(crate) fn fixture(&self, operation: &str) -> Result<&Fixture> {
        self.fixtures
            .iter()
            .find(|f| f.operation == operation)
            .with_context(|| format!("{KEYLESS_CASE}: no {operation} fixture"))
    }
}

/// 9: the keyless path through the fixture host, exactly the golden case:
/// `oci`/`v2/verify` (`SigstoreKeylessVerify`) answers trusted, then the
/// policy reads the `.sig` manifest (`oci`/`v1/oci_manifest`) and checks its
/// certificate layer itself (a P-256 verification and the Rekor bundle).
fn keyless() -> Result<Scenario> {
    Golden::load(KEYLESS_CASE)?.scenario(
        "9",
        "Pod, 1 image, 1 keyless authority (issuer + subject) proven by the registry source: fixture host answers oci/v2/verify (trusted) and oci/v1/oci_manifest (1 honest certificate layer, checked in-module)",
    )
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
                "7c",
                "8",
                "9",
                "10",
                "10b",
                "sig-rsa2048-1",
                "sig-rsa2048-k",
                "sig-rsa4096-1",
                "sig-rsa4096-k",
                "sig-p256-1",
                "sig-p256-k",
                "w0",
                "w1",
                "w2",
                "w3",
                "w4",
                "w5"
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
