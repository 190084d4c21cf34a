//! `policy-harness bench`: the performance benchmark of issue 7.
//!
//! Every scenario is generated in-process with real keys (the TEST-ONLY keys
//! of `testdata/keys/`) and real signatures (`rsa` / `p256`, through
//! [`crate::sign`]). Each `validate` payload is timed three ways:
//!
//! * **fresh**: a new instance made from the pre-compiled module for each
//!   call, as policy-server does for every evaluation (`Policy::instantiate`
//!   = `InstancePre` rehydration, `_start`/`wapc_init`), then `validate`, then
//!   the instance is dropped; the timed region covers all three;
//! * **warm**: `validate` called again and again on one instance;
//! * **native**: `kritis_attestation_policy::validate` on the same bytes, in
//!   this process, plus the response encoding the waPC glue does
//!   (`into_response`, `serde_json::to_vec`).
//!
//! The wasm side runs in the same host as the golden tests
//! ([`crate::runtime::Policy`]: wasmtime's default Cranelift configuration,
//! epoch deadline and memory limit as `policy-harness run`). The guest's
//! speed does not depend on how this harness is compiled; instantiation and
//! compilation do (see the notes written into the results).

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context, Result};
use clap::Args;
use serde_json::{json, Value};
use sha2::{Digest as _, Sha256};
use wasmtime_provider::wasmtime;

use crate::cache::CacheMode;
use crate::capabilities::{HostCapabilities, HostEnvironment};
use crate::runtime::{Limits, Policy};
use crate::sign::{attest, payload_for, Attestation, AttestationSignature, ImageRef, SigningKey};

const DEFAULT_MODULE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../target/wasm32-wasip1/release/kritis_attestation_policy.wasm"
);
const DEFAULT_OUTPUT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../bench/results.md");
const DEFAULT_KEYS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../testdata/keys");

/// Fewest samples a measurement takes, whatever the time budget.
const MIN_SAMPLES: usize = 20;
/// Extra signatures (all failing) of the per-signature scenarios: the cost of
/// one verification is the slope between 1 and 1 + this many signatures.
const EXTRA_SIGNATURES: usize = 32;
/// Uncached compilations timed.
const COMPILE_RUNS: usize = 3;

/// `policy-harness bench`.
#[derive(Debug, Args)]
pub struct BenchArgs {
    /// The policy module (release build).
    #[arg(long, value_name = "FILE", default_value = DEFAULT_MODULE)]
    pub module: PathBuf,
    /// Where to write the results (markdown).
    #[arg(long, value_name = "FILE", default_value = DEFAULT_OUTPUT)]
    pub output: PathBuf,
    /// Fresh-instance samples per scenario; warm-instance and native
    /// measurements take 5/2 as many. Each measurement stops early once
    /// `--budget-ms` is spent (but takes at least 20 samples).
    #[arg(long, value_name = "N", default_value_t = 400)]
    pub iterations: usize,
    /// Time budget of one measurement, in milliseconds.
    #[arg(long, value_name = "MS", default_value_t = 3000)]
    pub budget_ms: u64,
    /// Folder of the TEST-ONLY keys (`rsa2048.key.pem`, `rsa2048.pub.pem`…).
    #[arg(long, value_name = "DIR", default_value = DEFAULT_KEYS)]
    pub keys_dir: PathBuf,
    /// Run only these scenarios (ids as in the results, e.g. `1,3b`), with
    /// no compilation timing, no OpenSSL and no target check: for profiling.
    #[arg(long, value_name = "ID,…", value_delimiter = ',')]
    pub only: Vec<String>,
}

// ---------------------------------------------------------------- statistics

/// Summary of one measurement.
#[derive(Debug, Clone, Copy)]
pub struct Stats {
    /// Samples taken.
    pub n: usize,
    /// Median, seconds.
    pub median: f64,
    /// 99th percentile (nearest rank), seconds.
    pub p99: f64,
}

impl Stats {
    /// Summarises samples (seconds).
    pub fn of(mut samples: Vec<f64>) -> Self {
        assert!(!samples.is_empty(), "no samples");
        samples.sort_by(f64::total_cmp);
        let n = samples.len();
        let median = if n % 2 == 1 {
            samples[n / 2]
        } else {
            (samples[n / 2 - 1] + samples[n / 2]) / 2.0
        };
        let rank = (0.99 * n as f64).ceil() as usize;
        Stats {
            n,
            median,
            p99: samples[rank.clamp(1, n) - 1],
        }
    }
}

/// Runs `f` (after `warmup` untimed runs) until `max` samples or `budget`.
fn measure(
    max: usize,
    budget: Duration,
    warmup: usize,
    mut f: impl FnMut() -> Result<()>,
) -> Result<Stats> {
    for _ in 0..warmup {
        f()?;
    }
    let mut samples = Vec::with_capacity(max);
    let start = Instant::now();
    while samples.len() < max.max(1) {
        let t = Instant::now();
        f()?;
        samples.push(t.elapsed().as_secs_f64());
        if samples.len() >= MIN_SAMPLES && start.elapsed() >= budget {
            break;
        }
    }
    Ok(Stats::of(samples))
}

/// `12.3 µs`, `4.56 ms`…
fn fmt_time(seconds: f64) -> String {
    let us = seconds * 1e6;
    if us < 10.0 {
        format!("{us:.2} µs")
    } else if us < 1000.0 {
        format!("{us:.1} µs")
    } else if us < 10_000.0 {
        format!("{:.2} ms", us / 1000.0)
    } else if us < 1_000_000.0 {
        format!("{:.1} ms", us / 1000.0)
    } else {
        format!("{:.2} s", seconds)
    }
}

fn fmt_ratio(r: f64) -> String {
    if r < 10.0 {
        format!("{r:.2}×")
    } else {
        format!("{r:.1}×")
    }
}

// ------------------------------------------------------------------ material

/// A TEST-ONLY key: private half to sign, public half for the settings.
struct BenchKey {
    signer: SigningKey,
    /// Standard base64 of the public PEM, as ACK documents `publicKeyData`.
    public_b64: String,
}

impl BenchKey {
    fn load(dir: &Path, name: &str) -> Result<Self> {
        use base64::Engine as _;
        let read = |file: String| {
            let path = dir.join(&file);
            std::fs::read_to_string(&path)
                .with_context(|| format!("cannot read {}", path.display()))
        };
        let signer = SigningKey::from_pem(&read(format!("{name}.key.pem"))?)
            .with_context(|| format!("invalid key {name}.key.pem"))?;
        let public = read(format!("{name}.pub.pem"))?;
        Ok(Self {
            signer,
            public_b64: base64::engine::general_purpose::STANDARD.encode(public),
        })
    }

    /// A signed attestation for `image` (`REPO@sha256:HEX`).
    fn attest(&self, key_id: &str, image: &str) -> Result<Attestation> {
        let payload = payload_for(&ImageRef::parse(image)?, None)?;
        attest(&self.signer, key_id, &payload, None)
    }
}

struct Keys {
    rsa2048: BenchKey,
    rsa2048b: BenchKey,
    rsa4096: BenchKey,
    p256: BenchKey,
}

impl Keys {
    fn load(dir: &Path) -> Result<Self> {
        Ok(Self {
            rsa2048: BenchKey::load(dir, "rsa2048")?,
            rsa2048b: BenchKey::load(dir, "rsa2048b")?,
            rsa4096: BenchKey::load(dir, "rsa4096")?,
            p256: BenchKey::load(dir, "p256")?,
        })
    }
}

/// `REPO@sha256:…` with a digest derived from `seed`.
fn image(repo: &str, seed: &str) -> String {
    let digest = Sha256::digest(seed.as_bytes());
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    format!("{repo}@sha256:{hex}")
}

fn authority(name: &str, key_id: &str, key: &BenchKey) -> Value {
    json!({"name": name, "publicKeyId": key_id, "publicKeyData": key.public_b64})
}

/// A container as the API server stores it (defaulted fields included), so
/// the request is as large as a real one.
fn container(name: &str, image: &str) -> Value {
    json!({
        "name": name,
        "image": image,
        "imagePullPolicy": "IfNotPresent",
        "ports": [{"containerPort": 8080, "name": "http", "protocol": "TCP"}],
        "env": [{"name": "LOG_LEVEL", "value": "info"}],
        "resources": {"limits": {"cpu": "500m", "memory": "256Mi"},
                      "requests": {"cpu": "100m", "memory": "128Mi"}},
        "securityContext": {"allowPrivilegeEscalation": false, "readOnlyRootFilesystem": true,
                            "runAsNonRoot": true, "capabilities": {"drop": ["ALL"]}},
        "terminationMessagePath": "/dev/termination-log",
        "terminationMessagePolicy": "File",
        "volumeMounts": [{"mountPath": "/var/run/secrets/kubernetes.io/serviceaccount",
                          "name": "kube-api-access", "readOnly": true}]
    })
}

fn pod_spec(containers: Vec<Value>, init_containers: Vec<Value>) -> Value {
    let mut spec = json!({
        "containers": containers,
        "dnsPolicy": "ClusterFirst",
        "enableServiceLinks": true,
        "preemptionPolicy": "PreemptLowerPriority",
        "priority": 0,
        "restartPolicy": "Always",
        "schedulerName": "default-scheduler",
        "securityContext": {"seccompProfile": {"type": "RuntimeDefault"}},
        "serviceAccountName": "default",
        "terminationGracePeriodSeconds": 30,
        "tolerations": [
            {"effect": "NoExecute", "key": "node.kubernetes.io/not-ready",
             "operator": "Exists", "tolerationSeconds": 300},
            {"effect": "NoExecute", "key": "node.kubernetes.io/unreachable",
             "operator": "Exists", "tolerationSeconds": 300}
        ],
        "volumes": [{"name": "kube-api-access", "projected": {"defaultMode": 420, "sources": [
            {"serviceAccountToken": {"expirationSeconds": 3607, "path": "token"}},
            {"configMap": {"name": "kube-root-ca.crt", "items": [{"key": "ca.crt", "path": "ca.crt"}]}}
        ]}}]
    });
    if !init_containers.is_empty() {
        spec["initContainers"] = Value::Array(init_containers);
    }
    spec
}

fn metadata(attestations: &[Attestation]) -> Result<Value> {
    let mut meta = json!({
        "name": "bench",
        "namespace": "default",
        "labels": {"app": "bench", "team": "platform"},
    });
    if !attestations.is_empty() {
        meta["annotations"] = json!({
            "kritis.grafeas.io/attestations": serde_json::to_string(attestations)?
        });
    }
    Ok(meta)
}

fn pod(containers: Vec<Value>, attestations: &[Attestation]) -> Result<Value> {
    Ok(json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": metadata(attestations)?,
        "spec": pod_spec(containers, Vec::new()),
    }))
}

/// An AdmissionRequest as the API server sends it.
fn admission_request(group: &str, kind: &str, resource: &str, object: Value) -> Value {
    json!({
        "uid": "705ab4f5-6393-11e8-b7cc-42010a800002",
        "kind": {"group": group, "version": "v1", "kind": kind},
        "resource": {"group": group, "version": "v1", "resource": resource},
        "requestKind": {"group": group, "version": "v1", "kind": kind},
        "requestResource": {"group": group, "version": "v1", "resource": resource},
        "name": "bench",
        "namespace": "default",
        "operation": "CREATE",
        "userInfo": {"username": "system:serviceaccount:ci:deployer",
                     "uid": "0b8a6f5e-8d1c-4c4e-9d53-3f1b2a6c7d8e",
                     "groups": ["system:serviceaccounts", "system:serviceaccounts:ci",
                                "system:authenticated"]},
        "object": object,
        "oldObject": null,
        "dryRun": false,
        "options": {"apiVersion": "meta.k8s.io/v1", "kind": "CreateOptions"}
    })
}

// ----------------------------------------------------------------- scenarios

/// Which table a scenario belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Group {
    /// The scenarios of the issue: fresh, warm and native.
    Main,
    /// Per-signature slope scenarios: warm and native only.
    Signature,
}

struct Scenario {
    id: &'static str,
    title: String,
    group: Group,
    settings: Vec<u8>,
    /// `{"request": …, "settings": …}`, exactly what the host sends.
    payload: Vec<u8>,
    expect_allowed: bool,
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
        let payload = serde_json::to_vec(&json!({"request": request, "settings": settings}))?;
        Ok(Self {
            id,
            title: title.into(),
            group,
            settings: serde_json::to_vec(&settings)?,
            payload,
            expect_allowed,
        })
    }
}

/// One image of `repo`, attested by one authority with `key`.
fn single_image(
    id: &'static str,
    title: &str,
    key: &BenchKey,
    settings_extra: Option<(&str, Value)>,
) -> Result<Scenario> {
    let img = image("registry.example.com/team/app", id);
    let att = key.attest("key-a", &img)?;
    let mut auth = authority("a", "key-a", key);
    if let Some((field, value)) = settings_extra {
        auth[field] = value;
    }
    let settings = json!({
        "attestationAuthorities": [auth],
        "attestationPolicies": [{"name": "p", "attestationAuthorityNames": ["a"]}]
    });
    let request = admission_request(
        "",
        "Pod",
        "pods",
        pod(vec![container("app", &img)], &[att])?,
    );
    Scenario::new(id, title, Group::Main, settings, request, true)
}

/// One image, one attestation carrying `1 + extra` signatures naming the
/// authority's key: `extra` valid signatures by that key over another
/// payload (each costs a full verification that fails), then the right one.
fn signature_slope(
    id: &'static str,
    title: &str,
    key: &BenchKey,
    algorithm: &str,
    extra: usize,
) -> Result<Scenario> {
    let img = image("registry.example.com/team/app", "slope");
    let other = image("registry.example.com/team/app", "slope-other");
    let right = key.attest("key-a", &img)?;
    let wrong = key.attest("key-a", &other)?;
    let mut signatures: Vec<AttestationSignature> = vec![wrong.signatures[0].clone(); extra];
    signatures.extend(right.signatures.iter().cloned());
    let att = Attestation {
        signatures,
        ..right
    };
    let mut auth = authority("a", "key-a", key);
    auth["signatureAlgorithm"] = json!(algorithm);
    let settings = json!({
        "attestationAuthorities": [auth],
        "attestationPolicies": [{"name": "p", "attestationAuthorityNames": ["a"]}]
    });
    let request = admission_request(
        "",
        "Pod",
        "pods",
        pod(vec![container("app", &img)], &[att])?,
    );
    Scenario::new(id, title, Group::Signature, settings, request, true)
}

fn scenarios(keys: &Keys) -> Result<Vec<Scenario>> {
    let mut out = Vec::new();

    // 1. Pod, one container, one RSA-2048 authority (PKCS#1 v1.5).
    out.push(single_image(
        "1",
        "Pod, 1 image, 1 RSA-2048 authority (PKCS#1 v1.5)",
        &keys.rsa2048,
        None,
    )?);

    // 2. Deployment, 10 containers + 5 init containers, 2 authorities, require all.
    {
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
            "attestationAuthorities": [authority("a", "key-a", &keys.rsa2048),
                                       authority("b", "key-b", &keys.rsa2048b)],
            "attestationPolicies": [{"name": "p", "attestationAuthorityNames": ["a", "b"],
                                     "require": "all"}]
        });
        let deployment = json!({
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": "bench", "namespace": "default", "labels": {"app": "bench"}},
            "spec": {
                "replicas": 3,
                "selector": {"matchLabels": {"app": "bench"}},
                "strategy": {"type": "RollingUpdate",
                             "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"}},
                "template": {"metadata": metadata(&atts)?, "spec": pod_spec(containers, init)}
            }
        });
        out.push(Scenario::new(
            "2",
            "Deployment, 10 containers + 5 initContainers (15 digests), 2 RSA-2048 authorities, require all (30 verifications)",
            Group::Main,
            settings,
            admission_request("apps", "Deployment", "deployments", deployment),
            true,
        )?);
    }

    // 3a / 3b. An image allowlisted by the last of 10,000 patterns / by 1 pattern.
    for (id, count) in [("3a", 10_000usize), ("3b", 1)] {
        let patterns: Vec<Value> = (10_000 - count..10_000)
            .map(|i| json!({"namePattern": format!("registry.example.com/team-{i}/*")}))
            .collect();
        let settings = json!({
            "attestationAuthorities": [authority("a", "key-a", &keys.rsa2048)],
            "attestationPolicies": [{"name": "p", "attestationAuthorityNames": ["a"]}],
            "admissionAllowlists": [{"name": "bench", "patterns": patterns}]
        });
        let img = image("registry.example.com/team-9999/app", id);
        let request = admission_request("", "Pod", "pods", pod(vec![container("app", &img)], &[])?);
        let title = if count == 1 {
            "Pod, 1 image allowlisted by the only pattern (1 pattern)".to_owned()
        } else {
            format!("Pod, 1 image allowlisted by the last of {count} patterns")
        };
        out.push(Scenario::new(
            id,
            title,
            Group::Main,
            settings,
            request,
            true,
        )?);
    }

    // 4. Pod with 100 attested images.
    {
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
        let settings = json!({
            "attestationAuthorities": [authority("a", "key-a", &keys.rsa2048)],
            "attestationPolicies": [{"name": "p", "attestationAuthorityNames": ["a"]}]
        });
        out.push(Scenario::new(
            "4",
            "Pod, 100 images (distinct digests), each attested by 1 RSA-2048 authority",
            Group::Main,
            settings,
            admission_request("", "Pod", "pods", pod(containers, &atts)?),
            true,
        )?);
    }

    // 5. 100 authorities (two RSA-2048 keys alternating, 100 distinct key
    // ids: the policy decodes only the keys a signature names), image
    // attested by the last one; no attestationPolicies = any one authority.
    {
        let mut auths = Vec::new();
        for i in 0..100 {
            let key = if i % 2 == 0 {
                &keys.rsa2048
            } else {
                &keys.rsa2048b
            };
            auths.push(authority(&format!("auth-{i}"), &format!("key-{i}"), key));
        }
        let img = image("registry.example.com/team/app", "5");
        let att = keys.rsa2048b.attest("key-99", &img)?;
        let settings = json!({"attestationAuthorities": auths});
        out.push(Scenario::new(
            "5",
            "Pod, 1 image, 100 RSA-2048 authorities (implicit policy: any), attested by the last",
            Group::Main,
            settings,
            admission_request(
                "",
                "Pod",
                "pods",
                pod(vec![container("app", &img)], &[att])?,
            ),
            true,
        )?);
    }

    // 6. Reject: a tag image and an unattested digest image.
    {
        let attested_elsewhere = image("registry.example.com/team/other", "6-other");
        let att = keys.rsa2048.attest("key-a", &attested_elsewhere)?;
        let settings = json!({
            "attestationAuthorities": [authority("a", "key-a", &keys.rsa2048)],
            "attestationPolicies": [{"name": "p", "attestationAuthorityNames": ["a"]}]
        });
        let containers = vec![
            container("web", "registry.example.com/team/web:1.4.2"),
            container("app", &image("registry.example.com/team/app", "6")),
        ];
        out.push(Scenario::new(
            "6",
            "Reject: Pod with a tag image and an unattested digest image",
            Group::Main,
            settings,
            admission_request("", "Pod", "pods", pod(containers, &[att])?),
            false,
        )?);
    }

    // 7a / 7b.
    out.push(single_image(
        "7a",
        "Pod, 1 image, 1 EC P-256 authority (ECDSA SHA-256)",
        &keys.p256,
        None,
    )?);
    out.push(single_image(
        "7b",
        "Pod, 1 image, 1 RSA-4096 authority (PKCS#1 v1.5)",
        &keys.rsa4096,
        None,
    )?);

    // Per-signature cost: 1 and 1 + EXTRA_SIGNATURES signatures.
    for (alg, key, algorithm) in [
        ("rsa", &keys.rsa2048, "RSA_PKCS1_SHA_256"),
        ("p256", &keys.p256, "ECDSA_SHA_256"),
    ] {
        let name = if alg == "rsa" { "RSA-2048" } else { "P-256" };
        let (id1, idk): (&'static str, &'static str) = if alg == "rsa" {
            ("sig-rsa2048-1", "sig-rsa2048-k")
        } else {
            ("sig-p256-1", "sig-p256-k")
        };
        out.push(signature_slope(
            id1,
            &format!("{name}: 1 image, 1 signature"),
            key,
            algorithm,
            0,
        )?);
        out.push(signature_slope(
            idk,
            &format!(
                "{name}: 1 image, {} signatures, only the last verifies",
                EXTRA_SIGNATURES + 1
            ),
            key,
            algorithm,
            EXTRA_SIGNATURES,
        )?);
    }
    Ok(out)
}

/// A scenario's bytes, for profiling tools.
#[derive(Debug, Clone)]
pub struct ScenarioPayload {
    /// The id used in the results (`1`, `3a`, `sig-p256-k`…).
    pub id: String,
    /// The settings (for `validate_settings`).
    pub settings: Vec<u8>,
    /// The `validate` payload.
    pub payload: Vec<u8>,
}

/// Every scenario, signed with the keys of `keys_dir`.
pub fn scenario_payloads(keys_dir: &Path) -> Result<Vec<ScenarioPayload>> {
    let keys = Keys::load(keys_dir)?;
    Ok(scenarios(&keys)?
        .into_iter()
        .map(|s| ScenarioPayload {
            id: s.id.to_owned(),
            settings: s.settings,
            payload: s.payload,
        })
        .collect())
}

// ------------------------------------------------------------------- running

struct NoResolver;

impl kritis_attestation_policy::DigestResolver for NoResolver {
    fn manifest_digest(&self, _image: &str) -> std::result::Result<String, String> {
        Err("no tag resolution in the benchmark".to_owned())
    }
}

/// What the waPC glue of the policy does natively: decide, encode.
fn native_validate(payload: &[u8]) -> Result<Vec<u8>> {
    let response = kritis_attestation_policy::validate(payload, &NoResolver).into_response();
    Ok(serde_json::to_vec(&response)?)
}

fn accepted(response: &[u8]) -> Result<bool> {
    let v: Value = serde_json::from_slice(response).context("validate answered no JSON")?;
    v.get("accepted")
        .and_then(Value::as_bool)
        .ok_or_else(|| anyhow!("validate answered no `accepted`: {v}"))
}

struct Row {
    id: &'static str,
    title: String,
    payload_len: usize,
    fresh: Option<Stats>,
    warm: Stats,
    native: Stats,
}

struct Ctx<'a> {
    policy: &'a Policy,
    env: Arc<HostEnvironment>,
    fresh_n: usize,
    warm_n: usize,
    budget: Duration,
}

impl Ctx<'_> {
    fn call(
        instance: &crate::runtime::PolicyInstance,
        op: &str,
        payload: &[u8],
    ) -> Result<Vec<u8>> {
        instance
            .call(op, payload)?
            .map_err(|e| anyhow!("the policy returned an error from `{op}`: {e}"))
    }

    fn run(&self, s: &Scenario) -> Result<Row> {
        // As policy-server does once when it loads the policy.
        let instance = self.policy.instantiate(Arc::clone(&self.env))?;
        let answer = Self::call(&instance, "validate_settings", &s.settings)?;
        let v: Value = serde_json::from_slice(&answer)?;
        if v.get("valid") != Some(&Value::Bool(true)) {
            bail!("scenario {}: settings rejected: {v}", s.id);
        }
        // Correctness: the expected verdict, and the module answers exactly
        // what the same code answers natively.
        let wasm_answer = Self::call(&instance, "validate", &s.payload)?;
        let native_answer = native_validate(&s.payload)?;
        if accepted(&wasm_answer)? != s.expect_allowed {
            bail!(
                "scenario {}: expected accepted={}, the module answered {}",
                s.id,
                s.expect_allowed,
                String::from_utf8_lossy(&wasm_answer)
            );
        }
        if wasm_answer != native_answer {
            bail!(
                "scenario {}: the module and the native build answer differently:\n  wasm:   {}\n  native: {}",
                s.id,
                String::from_utf8_lossy(&wasm_answer),
                String::from_utf8_lossy(&native_answer)
            );
        }
        drop(instance);

        let fresh = if s.group == Group::Main {
            Some(measure(self.fresh_n, self.budget, 3, || {
                let instance = self.policy.instantiate(Arc::clone(&self.env))?;
                Self::call(&instance, "validate", &s.payload)?;
                Ok(())
            })?)
        } else {
            None
        };
        let instance = self.policy.instantiate(Arc::clone(&self.env))?;
        let warm = measure(self.warm_n, self.budget, 3, || {
            Self::call(&instance, "validate", &s.payload).map(drop)
        })?;
        drop(instance);
        let native = measure(self.warm_n, self.budget, 3, || {
            native_validate(&s.payload).map(drop)
        })?;
        Ok(Row {
            id: s.id,
            title: s.title.clone(),
            payload_len: s.payload.len(),
            fresh,
            warm,
            native,
        })
    }
}

/// `openssl speed -seconds 1 <alg>`: verifications per second.
fn openssl_verify_per_s(alg: &str) -> Result<(f64, String)> {
    let out = Command::new("openssl")
        .args(["speed", "-seconds", "1", alg])
        .output()
        .context("cannot run `openssl speed`")?;
    if !out.status.success() {
        bail!(
            "`openssl speed {alg}` failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let text = String::from_utf8_lossy(&out.stdout);
    // The results line follows a header ending in `sign/s verify/s`; the
    // last number of the line is verify/s.
    let wanted = match alg {
        "rsa2048" => "rsa 2048 bits",
        "ecdsap256" => "(nistp256)",
        other => bail!("unknown openssl algorithm {other}"),
    };
    let line = text
        .lines()
        .find(|l| l.contains(wanted))
        .ok_or_else(|| anyhow!("no `{wanted}` line in `openssl speed {alg}`:\n{text}"))?;
    let verify: f64 = line
        .split_whitespace()
        .last()
        .and_then(|w| w.parse().ok())
        .ok_or_else(|| anyhow!("cannot read verify/s from {line:?}"))?;
    Ok((verify, line.trim().to_owned()))
}

fn command_output(program: &str, args: &[&str]) -> String {
    Command::new(program)
        .args(args)
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .unwrap_or_else(|| "(unknown)".to_owned())
}

fn cpu_model() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|info| {
            info.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split_once(':'))
                .map(|(_, v)| v.trim().to_owned())
        })
        .unwrap_or_else(|| "(unknown)".to_owned())
}

/// The engine configuration of [`Policy::from_bytes`] with the default
/// limits (kept in step with `runtime.rs`): wasmtime's defaults (Cranelift,
/// `OptLevel::Speed`, SIMD and the other default proposals on), wasm
/// backtraces off, epoch interruption on.
fn engine_like_runtime() -> Result<wasmtime::Engine> {
    let mut config = wasmtime::Config::new();
    config.wasm_backtrace_max_frames(None);
    config.epoch_interruption(true);
    wasmtime::Engine::new(&config).map_err(|e| anyhow!("cannot create the engine: {e}"))
}

/// The wasm features rustc enables for `wasm32-wasip1` (the policy's build
/// adds none: `.cargo/config.toml` only sets a `cpubits` cfg). Without
/// `simd128` the module holds no SIMD instruction, so the engine's SIMD
/// setting cannot matter.
fn wasm_target_features() -> String {
    let cfg = command_output("rustc", &["--print", "cfg", "--target", "wasm32-wasip1"]);
    let features: Vec<&str> = cfg
        .lines()
        .filter_map(|l| l.strip_prefix("target_feature=\""))
        .map(|l| l.trim_end_matches('"'))
        .collect();
    if features.is_empty() {
        "(unknown)".to_owned()
    } else {
        features.join(", ")
    }
}

/// `policy-harness bench`.
pub fn bench(args: &BenchArgs) -> Result<()> {
    let started = Instant::now();
    let bytes = std::fs::read(&args.module)
        .with_context(|| format!("cannot read the module {}", args.module.display()))?;
    let keys = Keys::load(&args.keys_dir)?;
    let full = args.only.is_empty();
    eprintln!("bench: signing the scenarios…");
    let mut scenarios = scenarios(&keys)?;
    if !full {
        for id in &args.only {
            if !scenarios.iter().any(|s| s.id == id) {
                bail!("--only: no scenario {id:?}");
            }
        }
        scenarios.retain(|s| args.only.iter().any(|id| id == s.id));
    }

    let compile = if full {
        eprintln!("bench: compiling the module ({COMPILE_RUNS} uncached compilations)…");
        let engine = engine_like_runtime()?;
        let mut samples = Vec::new();
        for _ in 0..COMPILE_RUNS {
            let t = Instant::now();
            wasmtime::Module::new(&engine, &bytes)
                .map_err(|e| anyhow!("compilation failed: {e}"))?;
            samples.push(t.elapsed().as_secs_f64());
        }
        Some(Stats::of(samples))
    } else {
        None
    };
    let load_average = std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|l| l.split_whitespace().next().map(str::to_owned))
        .unwrap_or_else(|| "(unknown)".to_owned());

    let policy = Policy::from_bytes(&bytes, Limits::default(), &CacheMode::from_env())?;
    let env = Arc::new(HostEnvironment::new(HostCapabilities::none()));
    let budget = Duration::from_millis(args.budget_ms);
    let warm_n = args.iterations.saturating_mul(5) / 2;
    let instantiate = measure(warm_n, budget, 3, || {
        policy.instantiate(Arc::clone(&env)).map(drop)
    })?;

    let ctx = Ctx {
        policy: &policy,
        env: Arc::clone(&env),
        fresh_n: args.iterations,
        warm_n,
        budget,
    };
    let mut rows = Vec::new();
    for s in &scenarios {
        eprintln!("bench: scenario {}: {}", s.id, s.title);
        rows.push(ctx.run(s)?);
    }
    let calls = env.calls();
    if !calls.is_empty() {
        bail!(
            "the policy made {} host call(s); none was expected",
            calls.len()
        );
    }

    let (openssl_rsa, openssl_p256) = if full {
        eprintln!("bench: openssl speed…");
        (
            Some(openssl_verify_per_s("rsa2048")),
            Some(openssl_verify_per_s("ecdsap256")),
        )
    } else {
        (None, None)
    };

    let report = Report {
        module: &args.module,
        module_size: bytes.len(),
        compile,
        instantiate,
        load_average,
        rows,
        openssl_rsa,
        openssl_p256,
        elapsed: started.elapsed(),
        args,
    };
    let text = report.render();
    if let Some(dir) = args.output.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    }
    std::fs::write(&args.output, &text)
        .with_context(|| format!("cannot write {}", args.output.display()))?;
    print!("{text}");
    eprintln!(
        "bench: wrote {} in {:.0} s",
        args.output.display(),
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

// -------------------------------------------------------------------- report

struct Report<'a> {
    module: &'a Path,
    module_size: usize,
    compile: Option<Stats>,
    instantiate: Stats,
    /// 1-minute load average when the run started.
    load_average: String,
    rows: Vec<Row>,
    openssl_rsa: Option<Result<(f64, String)>>,
    openssl_p256: Option<Result<(f64, String)>>,
    elapsed: Duration,
    args: &'a BenchArgs,
}

/// A target of the issue and whether it is met.
struct Check {
    target: String,
    measured: String,
    met: Option<bool>,
}

impl Report<'_> {
    fn row(&self, id: &str) -> Option<&Row> {
        self.rows.iter().find(|r| r.id == id)
    }

    fn fresh(&self, id: &str) -> Option<f64> {
        self.row(id).and_then(|r| r.fresh).map(|s| s.median)
    }

    /// Per-signature cost (wasm warm, native) from the slope scenarios.
    fn slope(&self, name: &str) -> Option<(f64, f64)> {
        let one = self.row(&format!("sig-{name}-1"))?;
        let many = self.row(&format!("sig-{name}-k"))?;
        let k = EXTRA_SIGNATURES as f64;
        Some((
            (many.warm.median - one.warm.median) / k,
            (many.native.median - one.native.median) / k,
        ))
    }

    /// The targets of the issue; `None` when a partial run (`--only`) lacks
    /// what a check needs.
    fn checks(&self) -> Option<Vec<Check>> {
        let mut checks = Vec::new();
        let (rsa_wasm, _) = self.slope("rsa2048")?;
        let (p256_wasm, _) = self.slope("p256")?;
        for (name, wasm, openssl) in [
            ("RSA-2048", rsa_wasm, self.openssl_rsa.as_ref()?),
            ("P-256", p256_wasm, self.openssl_p256.as_ref()?),
        ] {
            let target = format!("{name} verify in the module ≤ 8× OpenSSL");
            checks.push(match openssl {
                Ok((per_s, _)) => {
                    let ratio = wasm * per_s;
                    Check {
                        target,
                        measured: format!(
                            "{} vs {} = {}",
                            fmt_time(wasm),
                            fmt_time(1.0 / per_s),
                            fmt_ratio(ratio)
                        ),
                        met: Some(ratio <= 8.0),
                    }
                }
                Err(e) => Check {
                    target,
                    measured: format!("{} (OpenSSL not measured: {e})", fmt_time(wasm)),
                    met: None,
                },
            });
        }
        let s1 = self.fresh("1")?;
        let r = s1 / rsa_wasm;
        checks.push(Check {
            target: "Scenario 1 fresh-instance validate ≤ 1.3× the bare RSA-2048 signature check"
                .to_owned(),
            measured: format!(
                "{} vs {} = {}",
                fmt_time(s1),
                fmt_time(rsa_wasm),
                fmt_ratio(r)
            ),
            met: Some(r <= 1.3),
        });
        let s5 = self.fresh("5")?;
        let r = s5 / s1;
        checks.push(Check {
            target: "Scenario 5 (100 authorities) ≤ 1.5× scenario 1, fresh instance".to_owned(),
            measured: format!("{} vs {} = {}", fmt_time(s5), fmt_time(s1), fmt_ratio(r)),
            met: Some(r <= 1.5),
        });
        let (a, b) = (self.fresh("3a")?, self.fresh("3b")?);
        let r = a / b;
        checks.push(Check {
            target: "Scenario 3a (10,000 patterns) ≤ 5× 3b (1 pattern), fresh instance".to_owned(),
            measured: format!("{} vs {} = {}", fmt_time(a), fmt_time(b), fmt_ratio(r)),
            met: Some(r <= 5.0),
        });
        let s2 = self.row("2")?;
        let s2_fresh = self.fresh("2")?;
        let fresh_ratio = s2_fresh / s2.native.median;
        let warm_ratio = s2.warm.median / s2.native.median;
        checks.push(Check {
            target: "Scenario 2 wasm/native ≤ 2× (fresh instance; warm in brackets)".to_owned(),
            measured: format!(
                "{} vs {} = {} (warm {} = {})",
                fmt_time(s2_fresh),
                fmt_time(s2.native.median),
                fmt_ratio(fresh_ratio),
                fmt_time(s2.warm.median),
                fmt_ratio(warm_ratio)
            ),
            met: Some(fresh_ratio <= 2.0),
        });
        let kib = self.module_size as f64 / 1024.0;
        checks.push(Check {
            target: "Module ≤ 400 KiB".to_owned(),
            measured: format!("{kib:.1} KiB ({} bytes)", self.module_size),
            met: Some(kib <= 400.0),
        });
        let compile = self.compile?;
        checks.push(Check {
            target: "Compile (uncached `Module::new`) ≤ 150 ms".to_owned(),
            measured: format!(
                "{} (Cranelift built at opt-level 1, see notes)",
                fmt_time(compile.median)
            ),
            met: Some(compile.median <= 0.150),
        });
        Some(checks)
    }

    /// Differences between scenarios that say where the time goes.
    fn render_breakdown(&self, w: &mut String) {
        let mut lines = Vec::new();
        let warm = |id: &str| self.row(id).map(|r| r.warm.median);
        if let (Some(s1), Some(w1)) = (self.fresh("1"), warm("1")) {
            let inst = self.instantiate.median;
            lines.push(format!(
                "Fresh instance, fixed cost: instantiate + drop = {} = {:.0}% of scenario 1 \
                 fresh ({}); scenario 1 fresh − warm = {} (instantiation, plus the first \
                 touches of a new linear memory).",
                fmt_time(inst),
                100.0 * inst / s1,
                fmt_time(s1),
                fmt_time(s1 - w1)
            ));
            if let Some((rsa, _)) = self.slope("rsa2048") {
                lines.push(format!(
                    "Scenario 1 warm − one RSA-2048 verification = {} ({:.0}% of the warm \
                     call): reading the request and settings, the annotation, base64, SHA-256, \
                     and decoding the key (PEM, DER, and `R² mod n` for Montgomery \
                     arithmetic).",
                    fmt_time(w1 - rsa),
                    100.0 * (w1 - rsa) / w1
                ));
            }
            if let Some(w5) = warm("5") {
                lines.push(format!(
                    "Scenario 5 − scenario 1 (warm) = {}: 99 more authorities ({} each).",
                    fmt_time(w5 - w1),
                    fmt_time((w5 - w1) / 99.0)
                ));
            }
            if let Some(w4) = warm("4") {
                lines.push(format!(
                    "Scenario 4 − scenario 1 (warm) = {}: {} per additional attested image.",
                    fmt_time(w4 - w1),
                    fmt_time((w4 - w1) / 99.0)
                ));
            }
        }
        if let (Some(a), Some(b)) = (warm("3a"), warm("3b")) {
            lines.push(format!(
                "Scenario 3a − 3b (warm) = {}: {} per additional allowlist pattern.",
                fmt_time(a - b),
                fmt_time((a - b) / 9999.0)
            ));
        }
        if lines.is_empty() {
            return;
        }
        let _ = writeln!(w, "## Where the time goes (medians)\n");
        for l in lines {
            let _ = writeln!(w, "* {l}");
        }
        let _ = writeln!(w);
    }

    fn render(&self) -> String {
        let mut o = String::new();
        let w = &mut o;
        let _ = writeln!(w, "# Benchmark (issue 7)\n");
        let _ = writeln!(
            w,
            "**Reproduce:** `make bench` on a fresh machine (Rust toolchain and the `openssl` \
             CLI): it builds the release module (`policy.wasm`) and the harness (dev profile; \
             the policy crate and its crypto/JSON dependencies are compiled at opt-level 3 for \
             the native column, see `e2e-tests/Cargo.toml`), then runs \
             `policy-harness bench --module policy.wasm --output bench/results.md`. Options: \
             `--iterations N` (fresh-instance samples, default 400; warm and native take 5/2 as \
             many), `--budget-ms MS` (time cap per measurement, default 3000, at least \
             {MIN_SAMPLES} samples), `--only ID,…` (some scenarios, for profiling). This file is \
             overwritten by each run; run it on an otherwise idle machine.\n"
        );

        let _ = writeln!(w, "## Machine and build\n");
        let _ = writeln!(w, "| | |\n|---|---|");
        let _ = writeln!(
            w,
            "| date | {} |",
            command_output("date", &["-u", "+%Y-%m-%d %H:%M UTC"])
        );
        let _ = writeln!(w, "| CPU | {} |", cpu_model());
        let _ = writeln!(w, "| `nproc` | {} |", command_output("nproc", &[]));
        let _ = writeln!(
            w,
            "| load average (1 min) at start | {} |",
            self.load_average
        );
        let _ = writeln!(w, "| rustc | {} |", command_output("rustc", &["--version"]));
        let _ = writeln!(w, "| kernel | {} |", command_output("uname", &["-sr"]));
        let _ = writeln!(
            w,
            "| host | policy-harness (wapc 2.2, wasmtime-provider 2.25.0, wasmtime 48), dev \
             profile with wasmtime's runtime (and `wasmtime-environ`) at opt-level 3 and Cranelift at opt-level 1 \
             (`e2e-tests/Cargo.toml`); engine as `policy-harness run`: Cranelift \
             `OptLevel::Speed`, wasmtime's default features (SIMD on), epoch interruption on \
             (2000 ms deadline), 256 MiB memory limit, on-demand instance allocator; a fresh \
             instance is `WasmtimeEngineProviderPre::rehydrate` + `WapcHost::new`, what \
             policy-evaluator does for each request |"
        );
        let _ = writeln!(
            w,
            "| module | `{}`, {} bytes; wasm features (rustc's for wasm32-wasip1, no `simd128`): {} |",
            self.module.display(),
            self.module_size,
            wasm_target_features()
        );
        let _ = writeln!(
            w,
            "| OpenSSL | {} |",
            command_output("openssl", &["version"])
        );
        let _ = writeln!(w, "| run time | {:.0} s |\n", self.elapsed.as_secs_f64());

        let _ = writeln!(w, "## Results\n");
        let _ = writeln!(
            w,
            "Time of one `validate` call. **fresh**: instantiate the pre-compiled module \
             (`InstancePre`, `_start`/`wapc_init`), `validate`, drop the store, as policy-server \
             does for each request. **warm**: `validate` repeated on one instance. **native**: \
             the same crate called in-process on the same bytes (`validate` + response \
             encoding). Ratios are wasm median / native median. n = samples \
             (fresh/warm/native).\n"
        );
        let _ = writeln!(
            w,
            "| # | scenario | payload | fresh median | fresh p99 | warm median | warm p99 | native median | native p99 | fresh/native | warm/native | n |"
        );
        let _ = writeln!(
            w,
            "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
        );
        for r in &self.rows {
            let kib = r.payload_len as f64 / 1024.0;
            let (fresh_median, fresh_p99, fresh_ratio, fresh_n) = match r.fresh {
                Some(f) => (
                    fmt_time(f.median),
                    fmt_time(f.p99),
                    fmt_ratio(f.median / r.native.median),
                    f.n.to_string(),
                ),
                None => (String::new(), String::new(), String::new(), "-".to_owned()),
            };
            let _ = writeln!(
                w,
                "| {} | {} | {kib:.1} KiB | {fresh_median} | {fresh_p99} | {} | {} | {} | {} | {fresh_ratio} | {} | {fresh_n}/{}/{} |",
                r.id,
                r.title,
                fmt_time(r.warm.median),
                fmt_time(r.warm.p99),
                fmt_time(r.native.median),
                fmt_time(r.native.p99),
                fmt_ratio(r.warm.median / r.native.median),
                r.warm.n,
                r.native.n
            );
        }
        for (name, label) in [("rsa2048", "RSA-2048"), ("p256", "P-256")] {
            if let Some((wasm, native)) = self.slope(name) {
                let _ = writeln!(
                    w,
                    "| | **{label} verify, one signature** (slope, see method) | | | | {} | | {} | | | {} | |",
                    fmt_time(wasm),
                    fmt_time(native),
                    fmt_ratio(wasm / native)
                );
            }
        }
        for (r, label) in [
            (
                &self.openssl_rsa,
                "RSA-2048 verify (`openssl speed -seconds 1 rsa2048`)",
            ),
            (
                &self.openssl_p256,
                "P-256 verify (`openssl speed -seconds 1 ecdsap256`)",
            ),
        ] {
            if let Some(r) = r {
                let cell = match r {
                    Ok((per_s, _)) => fmt_time(1.0 / per_s),
                    Err(_) => "n/a".to_owned(),
                };
                let _ = writeln!(w, "| | OpenSSL {label} | | | | | | {cell} | | | | |");
            }
        }
        let _ = writeln!(
            w,
            "| | instantiate + drop only (no call) | | {} | {} | | | | | | | {}/-/- |",
            fmt_time(self.instantiate.median),
            fmt_time(self.instantiate.p99),
            self.instantiate.n
        );
        if let Some(compile) = self.compile {
            let _ = writeln!(
                w,
                "| | compile, uncached `Module::new` (median) | {:.1} KiB | {} | | | | | | | | {}/-/- |",
                self.module_size as f64 / 1024.0,
                fmt_time(compile.median),
                compile.n
            );
        }
        let _ = writeln!(w);

        if let Some(checks) = self.checks() {
            let _ = writeln!(w, "## Targets\n");
            let _ = writeln!(w, "| target | measured | |\n|---|---|---|");
            for c in checks {
                let verdict = match c.met {
                    Some(true) => "met",
                    Some(false) => "**not met**",
                    None => "not measured",
                };
                let _ = writeln!(w, "| {} | {} | {} |", c.target, c.measured, verdict);
            }
            let _ = writeln!(w);
        }

        self.render_breakdown(w);

        let _ = writeln!(w, "## Method\n");
        let _ = writeln!(
            w,
            "* Scenarios are generated in-process: TEST-ONLY keys of `testdata/keys/` \
             (`rsa2048`, `rsa2048b`, `rsa4096`, `p256`), simple-signing payloads and \
             signatures made by `policy-harness`'s signer (`rsa` PKCS#1 v1.5, `p256` ECDSA), \
             requests shaped like the API server's (defaulted container fields, userInfo…). \
             Before timing, each scenario's settings pass `validate_settings`, and the module's \
             answer is checked: the expected verdict, byte-for-byte equal to the native answer."
        );
        let _ = writeln!(
            w,
            "* Scenario 5 reuses the two RSA-2048 keys alternately under 100 distinct key ids \
             (the policy decodes only the key a signature names); scenario 6's object carries an \
             attestation for another image."
        );
        let _ = writeln!(
            w,
            "* **Per-signature cost**: one image whose attestation carries 1 signature (rows \
             `sig-*-1`) or {k1} signatures (`sig-*-k`), all naming the authority's key: the first \
             {EXTRA_SIGNATURES} are genuine signatures by that key over another image's payload, \
             so each costs a complete verification that fails, and only the last verifies. The \
             authority is pinned to one scheme (`RSA_PKCS1_SHA_256` / `ECDSA_SHA_256`) so a \
             failed RSA check does not retry PSS. Cost of one verification = (median(k) − \
             median(1)) / {EXTRA_SIGNATURES}, on a warm instance (and natively). The \
             difference also carries the base64 decoding of {EXTRA_SIGNATURES} signatures, \
             which is negligible next to a public-key operation. This is the \"bare signature \
             check\" scenario 1 is compared with; OpenSSL's is 1 / (verify/s) of `openssl speed`, \
             same machine, same run.",
            k1 = EXTRA_SIGNATURES + 1
        );
        let _ = writeln!(
            w,
            "* Percentiles: median, and p99 by nearest rank (with n < 100 it is the maximum). \
             Each measurement runs 3 untimed warm-up calls, then up to n samples, stopping after \
             {} ms once {MIN_SAMPLES} samples are taken.",
            self.args.budget_ms
        );
        let _ = writeln!(
            w,
            "* Host build: the guest's own instructions run at the speed Cranelift gives them \
             whatever the harness's profile, but instantiation (the provider clones its \
             `Linker` for every instance, builds a WASI context, maps memory), the waPC calls \
             and the guest's `memory.copy`/`memory.fill` (host libcalls in wasmtime) run host \
             code, so `e2e-tests/Cargo.toml` builds wasmtime's runtime crates at opt-level 3 \
             even in the dev profile (at opt-level 0 a fresh instance cost ~7× more). Cranelift \
             itself stays at opt-level 1: the compile time is an upper bound of a release-built \
             policy-server's."
        );
        let lines: Vec<&(f64, String)> = [&self.openssl_rsa, &self.openssl_p256]
            .into_iter()
            .filter_map(|r| r.as_ref().and_then(|r| r.as_ref().ok()))
            .collect();
        if !lines.is_empty() {
            let _ = writeln!(w, "\nRaw `openssl speed` lines:\n");
            for (_, line) in lines {
                let _ = writeln!(w, "    {line}");
            }
        }
        o
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stats_median_and_p99() {
        let s = Stats::of((1..=100).map(f64::from).collect());
        assert_eq!(s.n, 100);
        assert_eq!(s.median, 50.5);
        assert_eq!(s.p99, 99.0);
        let s = Stats::of(vec![3.0, 1.0, 2.0]);
        assert_eq!(s.median, 2.0);
        assert_eq!(s.p99, 3.0);
    }

    #[test]
    fn time_format() {
        assert_eq!(fmt_time(1.5e-6), "1.50 µs");
        assert_eq!(fmt_time(150e-6), "150.0 µs");
        assert_eq!(fmt_time(1.5e-3), "1.50 ms");
        assert_eq!(fmt_time(0.15), "150.0 ms");
    }
}
