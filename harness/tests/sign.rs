//! `policy-harness sign`: attestation format, payload bytes, and signatures
//! checked against the public keys (RustCrypto, and openssl when present).

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use base64::Engine as _;
use common::TempDir;
use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_policy-harness");
const HEX: &str = "4bc453b53cb3d914b45f4b250294236adba2c0e09ff6f03793949e7e39fd4cc1";

fn key(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/keys")
        .join(name)
}

fn sign(args: &[&str]) -> Output {
    Command::new(BIN)
        .arg("sign")
        .args(args)
        .output()
        .expect("run policy-harness sign")
}

struct Signed {
    payload: Vec<u8>,
    signature: Vec<u8>,
    key_id: String,
}

fn sign_ok(args: &[&str]) -> Signed {
    let output = sign(args);
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(stdout.lines().count(), 1, "one line: {stdout:?}");
    let v: Value = serde_json::from_str(&stdout).expect("JSON attestation");
    let obj = v.as_object().expect("object");
    assert_eq!(obj.len(), 3, "{v}");
    assert_eq!(v["contentType"], "SIMPLE_SIGNING_JSON");
    let sigs = v["signatures"].as_array().expect("signatures");
    assert_eq!(sigs.len(), 1);
    assert_eq!(sigs[0].as_object().expect("sig").len(), 2);
    let b64 = base64::engine::general_purpose::STANDARD;
    Signed {
        payload: b64
            .decode(v["serializedPayload"].as_str().expect("payload"))
            .expect("base64 payload"),
        signature: b64
            .decode(sigs[0]["signature"].as_str().expect("signature"))
            .expect("base64 sig"),
        key_id: sigs[0]["publicKeyId"].as_str().expect("key id").to_owned(),
    }
}

fn expected_payload(repo: &str) -> String {
    format!(
        r#"{{"critical":{{"identity":{{"docker-reference":"{repo}"}},"image":{{"docker-manifest-digest":"sha256:{HEX}"}},"type":"atomic container signature"}}}}"#
    )
}

fn verify_rsa_pkcs1(payload: &[u8], sig: &[u8]) -> bool {
    use rsa::pkcs8::DecodePublicKey as _;
    use rsa::signature::Verifier as _;
    let pem = std::fs::read_to_string(key("rsa.pub")).expect("pub");
    let pk = rsa::PublicKey::from_public_key_pem(&pem).expect("rsa pub");
    let vk = rsa::pkcs1v15::VerifyingKey::<sha2::Sha256>::new(pk);
    let Ok(sig) = rsa::pkcs1v15::Signature::try_from(sig) else {
        return false;
    };
    vk.verify(payload, &sig).is_ok()
}

fn verify_rsa_pss(payload: &[u8], sig: &[u8]) -> bool {
    use rsa::pkcs8::DecodePublicKey as _;
    use rsa::signature::Verifier as _;
    let pem = std::fs::read_to_string(key("rsa.pub")).expect("pub");
    let pk = rsa::PublicKey::from_public_key_pem(&pem).expect("rsa pub");
    let vk = rsa::pss::VerifyingKey::<sha2::Sha256>::new(pk);
    let Ok(sig) = rsa::pss::Signature::try_from(sig) else {
        return false;
    };
    vk.verify(payload, &sig).is_ok()
}

fn verify_p256(payload: &[u8], sig: &[u8]) -> bool {
    use p256::ecdsa::signature::Verifier as _;
    use p256::pkcs8::DecodePublicKey as _;
    let pem = std::fs::read_to_string(key("ec-p256.pub")).expect("pub");
    let vk = p256::ecdsa::VerifyingKey::from_public_key_pem(&pem).expect("p256 pub");
    let Ok(sig) = p256::ecdsa::Signature::from_der(sig) else {
        return false;
    };
    vk.verify(payload, &sig).is_ok()
}

fn verify_p384(payload: &[u8], sig: &[u8]) -> bool {
    use p384::ecdsa::signature::Verifier as _;
    use p384::pkcs8::DecodePublicKey as _;
    let pem = std::fs::read_to_string(key("ec-p384.pub")).expect("pub");
    let vk = p384::ecdsa::VerifyingKey::from_public_key_pem(&pem).expect("p384 pub");
    let Ok(sig) = p384::ecdsa::Signature::from_der(sig) else {
        return false;
    };
    vk.verify(payload, &sig).is_ok()
}

/// Independent check with the openssl CLI, when installed.
fn openssl_verifies(
    pubkey: &str,
    digest: &str,
    pss: bool,
    payload: &[u8],
    sig: &[u8],
) -> Option<bool> {
    if Command::new("openssl").arg("version").output().is_err() {
        eprintln!("openssl not found: skipping the openssl cross-check");
        return None;
    }
    let dir = TempDir::new("openssl");
    let data = dir.write("payload", payload);
    let sigf = dir.write("sig", sig);
    let mut cmd = Command::new("openssl");
    cmd.args(["dgst", digest, "-verify"])
        .arg(key(pubkey))
        .arg("-signature")
        .arg(&sigf);
    if pss {
        cmd.args([
            "-sigopt",
            "rsa_padding_mode:pss",
            "-sigopt",
            "rsa_pss_saltlen:32",
            "-sigopt",
            "rsa_mgf1_md:sha256",
        ]);
    }
    let out = cmd.arg(&data).output().expect("run openssl");
    Some(out.status.success())
}

#[test]
fn rsa_pkcs1_from_pkcs8_and_pkcs1_keys() {
    for file in ["rsa-pkcs8.pem", "rsa-pkcs1.pem"] {
        let image = format!("ghcr.io/org/app:1.0@sha256:{HEX}");
        let s = sign_ok(&[
            "--key",
            &key(file).display().to_string(),
            "--key-id",
            "rsa-key",
            "--image",
            &image,
        ]);
        assert_eq!(
            String::from_utf8(s.payload.clone()).expect("utf8"),
            expected_payload("ghcr.io/org/app")
        );
        assert_eq!(s.key_id, "rsa-key");
        assert_eq!(s.signature.len(), 256);
        assert!(verify_rsa_pkcs1(&s.payload, &s.signature), "{file}");
        assert!(!verify_rsa_pss(&s.payload, &s.signature), "{file}: not PSS");
        if let Some(ok) = openssl_verifies("rsa.pub", "-sha256", false, &s.payload, &s.signature) {
            assert!(ok, "openssl rejects the {file} signature");
        }
    }
}

#[test]
fn rsa_pss() {
    let image = format!("registry.local:5000/team/app@sha256:{HEX}");
    let s = sign_ok(&[
        "--key",
        &key("rsa-pkcs8.pem").display().to_string(),
        "--key-id",
        "k",
        "--image",
        &image,
        "--scheme",
        "pss",
    ]);
    assert_eq!(
        String::from_utf8(s.payload.clone()).expect("utf8"),
        expected_payload("registry.local:5000/team/app")
    );
    assert!(verify_rsa_pss(&s.payload, &s.signature));
    assert!(!verify_rsa_pkcs1(&s.payload, &s.signature));
    if let Some(ok) = openssl_verifies("rsa.pub", "-sha256", true, &s.payload, &s.signature) {
        assert!(ok, "openssl rejects the PSS signature");
    }
}

#[test]
fn ecdsa_p256_and_p384_from_pkcs8_and_sec1_keys() {
    let image = format!("ghcr.io/org/app@sha256:{HEX}");
    for (file, verify, pubkey, digest) in [
        (
            "ec-p256-pkcs8.pem",
            verify_p256 as fn(&[u8], &[u8]) -> bool,
            "ec-p256.pub",
            "-sha256",
        ),
        ("ec-p256-sec1.pem", verify_p256, "ec-p256.pub", "-sha256"),
        ("ec-p384-pkcs8.pem", verify_p384, "ec-p384.pub", "-sha384"),
        (
            "ec-p384-sec1-with-params.pem",
            verify_p384,
            "ec-p384.pub",
            "-sha384",
        ),
    ] {
        let s = sign_ok(&[
            "--key",
            &key(file).display().to_string(),
            "--key-id",
            "ec",
            "--image",
            &image,
        ]);
        assert_eq!(
            String::from_utf8(s.payload.clone()).expect("utf8"),
            expected_payload("ghcr.io/org/app")
        );
        assert_eq!(s.signature.first(), Some(&0x30), "{file}: DER SEQUENCE");
        assert!(verify(&s.payload, &s.signature), "{file}");
        if let Some(ok) = openssl_verifies(pubkey, digest, false, &s.payload, &s.signature) {
            assert!(ok, "openssl rejects the {file} signature");
        }
    }
}

#[test]
fn identity_override_and_arbitrary_payload() {
    let image = format!("ghcr.io/org/app@sha256:{HEX}");
    let s = sign_ok(&[
        "--key",
        &key("ec-p256-pkcs8.pem").display().to_string(),
        "--key-id",
        "ec",
        "--image",
        &image,
        "--identity",
        "docker.io/evil/app",
    ]);
    assert_eq!(
        String::from_utf8(s.payload).expect("utf8"),
        expected_payload("docker.io/evil/app")
    );

    let dir = TempDir::new("payload");
    let raw = b"{\"critical\": \"not what you think\"}\n\xff";
    let path = dir.write("payload.bin", raw);
    let s = sign_ok(&[
        "--key",
        &key("rsa-pkcs1.pem").display().to_string(),
        "--key-id",
        "rsa",
        "--payload",
        &path.display().to_string(),
    ]);
    assert_eq!(s.payload, raw);
    assert!(verify_rsa_pkcs1(&s.payload, &s.signature));
}

#[test]
fn bad_keys_and_images_fail_clearly() {
    let dir = TempDir::new("badkeys");
    let garbage = dir.write("garbage.pem", "not a key").display().to_string();
    let rsa = key("rsa-pkcs8.pem").display().to_string();
    let ec = key("ec-p256-pkcs8.pem").display().to_string();
    let ed = key("ed25519.pem").display().to_string();
    let good = format!("ghcr.io/org/app@sha256:{HEX}");
    let checks: Vec<(Vec<&str>, &str)> = vec![
        (
            vec!["--key", &garbage, "--key-id", "k", "--image", &good],
            "no private key found",
        ),
        (
            vec!["--key", &ed, "--key-id", "k", "--image", &good],
            "unsupported PKCS#8 private key",
        ),
        (
            vec![
                "--key",
                "/nonexistent.pem",
                "--key-id",
                "k",
                "--image",
                &good,
            ],
            "cannot read key file",
        ),
        (
            vec![
                "--key",
                &rsa,
                "--key-id",
                "k",
                "--image",
                "ghcr.io/org/app:1",
            ],
            "has no digest",
        ),
        (
            vec![
                "--key",
                &rsa,
                "--key-id",
                "k",
                "--image",
                "ghcr.io/org/app@sha256:abc",
            ],
            "64 lowercase hex",
        ),
        (
            vec![
                "--key", &ec, "--key-id", "k", "--image", &good, "--scheme", "pss",
            ],
            "RSA keys only",
        ),
        (
            vec![
                "--key", &rsa, "--key-id", "k", "--image", &good, "--scheme", "bogus",
            ],
            "unknown signature scheme",
        ),
    ];
    for (args, needle) in checks {
        let output = sign(&args);
        assert!(!output.status.success(), "{args:?} should fail");
        let err = String::from_utf8_lossy(&output.stderr);
        assert!(err.contains(needle), "{args:?}: {needle:?} not in {err}");
    }
    // Neither --image nor --payload: usage error.
    assert!(!sign(&["--key", &rsa, "--key-id", "k"]).status.success());
}

// ---------------------------------------------------------------------------
// kritis's default key id, and `--into MANIFEST`

/// The project's TEST-ONLY keys (`testdata/keys`), whose default ids the
/// openssl pipeline of the docs wrote to `*.default-id.txt`.
fn project_key(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../testdata/keys")
        .join(name)
}

fn arg(path: &Path) -> String {
    path.display().to_string()
}

#[test]
fn without_key_id_the_attestation_names_kritiss_default_id() {
    let image = format!("ghcr.io/org/app@sha256:{HEX}");
    for name in ["p256", "rsa2048", "rsa4096"] {
        let expected = std::fs::read_to_string(project_key(&format!("{name}.default-id.txt")))
            .expect("default id file");
        let s = sign_ok(&[
            "--key",
            &arg(&project_key(&format!("{name}.key.pem"))),
            "--image",
            &image,
        ]);
        assert_eq!(s.key_id, expected.trim(), "{name}");
    }
    // P-384 has no file: the docs' openssl pipeline, run here when present.
    let s = sign_ok(&[
        "--key",
        &arg(&project_key("p384.key.pem")),
        "--image",
        &image,
    ]);
    assert!(s.key_id.starts_with("ni:///sha-256;"), "{}", s.key_id);
    let der = Command::new("openssl")
        .args(["pkey", "-pubin", "-outform", "DER", "-in"])
        .arg(project_key("p384.pub.pem"))
        .output();
    match der {
        Ok(out) if out.status.success() => {
            use sha2::Digest as _;
            let id = format!(
                "ni:///sha-256;{}",
                base64::engine::general_purpose::URL_SAFE_NO_PAD
                    .encode(sha2::Sha256::digest(&out.stdout))
            );
            assert_eq!(s.key_id, id);
        }
        _ => eprintln!("openssl not found: P-384 default id checked by form only"),
    }
    // An explicit id still wins.
    let s = sign_ok(&[
        "--key",
        &arg(&project_key("p256.key.pem")),
        "--key-id",
        "mine",
        "--image",
        &image,
    ]);
    assert_eq!(s.key_id, "mine");
}

const DIGEST: &str = "sha256:ddba4d27a7ffc3f86dd6c2f92041af252a1f23a8e742c90e6e1297bfa1bc0c45";
const REPO: &str = "registry.example.com/team/app";
const ANNOTATION: &str = "kritis.grafeas.io/attestations";

/// Settings trusting the project's P-256 and RSA-2048 keys by their default
/// ids (no `publicKeyId`), one policy for every namespace needing either.
fn default_id_settings(dir: &TempDir) -> PathBuf {
    let b64 = base64::engine::general_purpose::STANDARD;
    let data = |name: &str| {
        b64.encode(std::fs::read(project_key(&format!("{name}.pub.pem"))).expect("public key"))
    };
    dir.write(
        "settings.yaml",
        format!(
            "attestationAuthorities:\n  - name: build\n    publicKeyData: {}\n  - name: qa\n    \
             publicKeyData: {}\nattestationPolicies:\n  - name: both\n    \
             attestationAuthorityNames: [build, qa]\n    require: all\n",
            data("p256"),
            data("rsa2048")
        ),
    )
}

/// `policy-harness run --resource MANIFEST`: (allowed, message).
fn verdict(settings: &Path, manifest: &Path) -> (bool, String) {
    let module = policy_harness::golden::policy_module().unwrap_or_else(|e| panic!("{e:#}"));
    let out = Command::new(BIN)
        .arg("run")
        .arg("--settings-path")
        .arg(settings)
        .arg("--resource")
        .arg(manifest)
        .arg(module)
        .output()
        .expect("run policy-harness run");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout).expect("response");
    (
        v["allowed"] == true,
        v["status"]["message"]
            .as_str()
            .unwrap_or_default()
            .to_owned(),
    )
}

/// `sign --key KEY --image REPO@DIGEST --into MANIFEST`: the output.
fn sign_into(key: &str, manifest: &Path) -> Output {
    sign(&[
        "--key",
        &arg(&project_key(&format!("{key}.key.pem"))),
        "--image",
        &format!("{REPO}@{DIGEST}"),
        "--into",
        &arg(manifest),
    ])
}

fn yaml(path: &Path) -> serde_yaml::Value {
    serde_yaml::from_str(&std::fs::read_to_string(path).expect("manifest")).expect("yaml")
}

/// The attestations at `path` (`spec.template.metadata.annotations`…) of a document.
fn attestations(doc: &serde_yaml::Value, path: &[&str]) -> Vec<Value> {
    let mut at = doc;
    for step in path {
        at = &at[*step];
    }
    let text = at["metadata"]["annotations"][ANNOTATION]
        .as_str()
        .unwrap_or_else(|| panic!("no annotation at {path:?}: {doc:?}"));
    serde_json::from_str(text).expect("a JSON array")
}

#[test]
fn into_writes_where_the_pods_carry_it_and_the_policy_admits() {
    let dir = TempDir::new("into");
    let settings = default_id_settings(&dir);
    let deployment = dir.write(
        "deploy.yaml",
        format!(
            "# the team's Deployment\napiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\n  \
             namespace: shop\n  annotations: {{owner: shop}}\nspec:\n  replicas: 2\n  selector:\n    \
             matchLabels: {{app: web}}\n  template:\n    metadata:\n      labels: {{app: web}}\n    \
             spec:\n      containers:\n        - name: web\n          image: {REPO}:1.0@{DIGEST}\n          \
             env:\n            - {{name: FLAG, value: \"true\"}}\n"
        ),
    );
    // Before: rejected, no attestation.
    let (allowed, message) = verdict(&settings, &deployment);
    assert!(
        !allowed && message.contains("no attestation for digest"),
        "{message}"
    );

    // One key: written on the pod template, not on the Deployment's metadata.
    let o = sign_into("p256", &deployment);
    let stderr = String::from_utf8_lossy(&o.stderr).into_owned();
    assert!(o.status.success(), "{stderr}");
    assert!(o.stdout.is_empty(), "the manifest is the output");
    assert!(
        stderr.contains(&format!(
            "Deployment web: spec.template.metadata.annotations[\"{ANNOTATION}\"]: added (now 1 \
             attestation(s))"
        )),
        "{stderr}"
    );
    assert!(stderr.contains("1 comment line(s) dropped"), "{stderr}");
    let doc = yaml(&deployment);
    assert_eq!(attestations(&doc, &["spec", "template"]).len(), 1);
    assert_eq!(
        doc["metadata"]["annotations"],
        serde_yaml::from_str::<serde_yaml::Value>("{owner: shop}").unwrap()
    );
    // The rest is kept: order of keys, values (the quoted "true" stays a string).
    let text = std::fs::read_to_string(&deployment).unwrap();
    assert!(
        text.starts_with("apiVersion: apps/v1\nkind: Deployment\n"),
        "{text}"
    );
    assert_eq!(
        doc["spec"]["template"]["spec"]["containers"][0]["env"][0]["value"],
        "true"
    );
    assert_eq!(doc["spec"]["replicas"], 2);
    // require: all needs qa (RSA) too.
    let (allowed, message) = verdict(&settings, &deployment);
    assert!(!allowed && message.contains("authority qa"), "{message}");

    // A second key appends; signing again with it replaces its signature.
    assert!(sign_into("rsa2048", &deployment).status.success());
    let o = sign_into("rsa2048", &deployment);
    assert!(
        String::from_utf8_lossy(&o.stderr)
            .contains("replaced the signature this key made of this payload"),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let list = attestations(&yaml(&deployment), &["spec", "template"]);
    assert_eq!(list.len(), 2, "{list:?}");
    assert_eq!(
        list[1]["signatures"][0]["publicKeyId"],
        std::fs::read_to_string(project_key("rsa2048.default-id.txt"))
            .unwrap()
            .trim()
    );
    let (allowed, message) = verdict(&settings, &deployment);
    assert!(allowed, "{message}");
}

#[test]
fn into_finds_the_template_of_every_kind() {
    let dir = TempDir::new("into-kinds");
    let settings = dir.write(
        "settings.yaml",
        format!(
            "attestationAuthorities:\n  - name: build\n    publicKeyData: {}\n",
            base64::engine::general_purpose::STANDARD
                .encode(std::fs::read(project_key("p256.pub.pem")).unwrap())
        ),
    );
    let image = format!("{REPO}@{DIGEST}");
    let pod = format!(
        "apiVersion: v1\nkind: Pod\nmetadata: {{name: one}}\nspec:\n  containers: [{{name: a, image: \
         busybox:1}}]\n  initContainers: [{{name: b, image: \"{image}\"}}]\n"
    );
    let cronjob = format!(
        "apiVersion: batch/v1\nkind: CronJob\nmetadata: {{name: nightly}}\nspec:\n  schedule: \"0 3 * * \
         *\"\n  jobTemplate:\n    spec:\n      template:\n        spec:\n          restartPolicy: \
         OnFailure\n          containers: [{{name: c, image: \"{image}\"}}]\n"
    );
    let job_elsewhere =
        "apiVersion: batch/v1\nkind: Job\nmetadata: {name: other}\nspec:\n  template:\n    \
         spec:\n      restartPolicy: Never\n      containers: [{name: c, image: \"busybox:1\"}]\n";
    let list = format!(
        "apiVersion: v1\nkind: List\nitems:\n- apiVersion: apps/v1\n  kind: DaemonSet\n  metadata: {{name: \
         agent}}\n  spec:\n    selector: {{matchLabels: {{app: agent}}}}\n    template:\n      metadata: \
         {{labels: {{app: agent}}}}\n      spec:\n        containers: [{{name: a, image: \"{image}\"}}]\n"
    );
    let path = dir.write(
        "all.yaml",
        format!("{pod}---\n{cronjob}---\n{job_elsewhere}---\n{list}"),
    );
    let o = sign_into("p256", &path);
    let stderr = String::from_utf8_lossy(&o.stderr).into_owned();
    assert!(o.status.success(), "{stderr}");
    for line in [
        "Pod one (document 1): metadata.annotations",
        "CronJob nightly (document 2): spec.jobTemplate.spec.template.metadata.annotations",
        "DaemonSet agent (document 4): spec.template.metadata.annotations",
    ] {
        assert!(stderr.contains(line), "{line} not in {stderr}");
    }
    assert!(!stderr.contains("Job other"), "{stderr}");
    let text = std::fs::read_to_string(&path).unwrap();
    let docs: Vec<serde_yaml::Value> = text
        .split("\n---\n")
        .map(|d| serde_yaml::from_str(d).expect("document"))
        .collect();
    assert_eq!(docs.len(), 4);
    assert_eq!(attestations(&docs[0], &[]).len(), 1);
    assert_eq!(
        attestations(&docs[1], &["spec", "jobTemplate", "spec", "template"]).len(),
        1
    );
    assert!(docs[2]["spec"]["template"].get("metadata").is_none());
    // Each one, as the policy sees it: the Pod's initContainer is attested,
    // its busybox is not; the CronJob is admitted.
    for (i, (doc, allowed)) in [(&docs[0], false), (&docs[1], true)]
        .into_iter()
        .enumerate()
    {
        let one = dir.write(&format!("doc{i}.yaml"), serde_yaml::to_string(doc).unwrap());
        let (got, message) = verdict(&settings, &one);
        assert_eq!(got, allowed, "{message}");
        if !allowed {
            assert!(message.contains("busybox:1 is not attested"), "{message}");
            assert!(!message.contains(REPO), "{message}");
        }
    }

    // stdin to stdout.
    let mut child = Command::new(BIN)
        .args([
            "sign",
            "--key",
            &arg(&project_key("p256.key.pem")),
            "--image",
            &image,
            "--into",
            "-",
        ])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn");
    {
        use std::io::Write as _;
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(cronjob.as_bytes())
            .expect("write");
    }
    let out = child.wait_with_output().expect("wait");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let doc: serde_yaml::Value = serde_yaml::from_slice(&out.stdout).expect("yaml on stdout");
    assert_eq!(
        attestations(&doc, &["spec", "jobTemplate", "spec", "template"]).len(),
        1
    );
}

#[test]
fn into_refuses_rather_than_write_something_wrong() {
    let dir = TempDir::new("into-refused");
    let image = format!("{REPO}@{DIGEST}");
    let cases: Vec<(&str, String, &str)> = vec![
        (
            "another digest",
            format!(
                "apiVersion: v1\nkind: Pod\nmetadata: {{name: p}}\nspec:\n  containers: [{{name: a, \
                 image: \"{REPO}@sha256:{HEX}\"}}]\n"
            ),
            "no Pod or pod template in the manifest runs registry.example.com/team/app@sha256:ddba",
        ),
        (
            "no workload",
            "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\n".to_owned(),
            "it holds no Pod and no object with a pod template",
        ),
        (
            "garbled attestations",
            format!(
                "apiVersion: v1\nkind: Pod\nmetadata:\n  name: p\n  annotations:\n    {ANNOTATION}: \
                 'not json'\nspec:\n  containers: [{{name: a, image: \"{image}\"}}]\n"
            ),
            "are not a JSON array, so adding to them could only break them",
        ),
        (
            "a quoted yes",
            format!(
                "apiVersion: v1\nkind: Pod\nmetadata: {{name: p}}\nspec:\n  containers:\n  - name: a\n    \
                 image: \"{image}\"\n    env: [{{name: X, value: \"yes\"}}]\n"
            ),
            "spec.containers[0].env[0].value: the quoted string \"yes\" would be written back \
             without quotes",
        ),
        (
            "a plain octal mode",
            format!(
                "apiVersion: v1\nkind: Pod\nmetadata: {{name: p}}\nspec:\n  containers: [{{name: a, \
                 image: \"{image}\"}}]\n  volumes:\n  - name: v\n    configMap: {{name: c, \
                 defaultMode: 0755}}\n"
            ),
            "spec.volumes[0].configMap.defaultMode: the plain 0755 is a number for kubectl",
        ),
        ("not YAML", "kind: [\n".to_owned(), "is not valid YAML"),
    ];
    for (name, text, needle) in cases {
        let path = dir.write(&format!("{}.yaml", name.replace(' ', "-")), &text);
        let o = sign_into("p256", &path);
        let stderr = String::from_utf8_lossy(&o.stderr);
        assert!(!o.status.success(), "{name}: should fail");
        assert!(
            stderr.contains(needle),
            "{name}: {needle:?} not in {stderr}"
        );
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            text,
            "{name}: the file is left as it was"
        );
        assert!(o.stdout.is_empty(), "{name}");
    }
    // Usage: --into needs --image and is for kritis attestations only.
    let key = arg(&project_key("p256.key.pem"));
    let m = arg(&dir.write("m.yaml", "kind: Pod\n"));
    let payload = arg(&dir.write("payload.json", "{}"));
    assert!(!sign(&["--key", &key, "--payload", &payload, "--into", &m])
        .status
        .success());
    let o = sign(&[
        "--key", &key, "--format", "cosign", "--image", &image, "--into", &m,
    ]);
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("--into applies to --format kritis only"));
}

// ---------------------------------------------------------------------------
// `sign --format cosign --push` against a real registry on loopback

/// Debian's `docker-registry` (the CNCF distribution server) on 127.0.0.1, a
/// free port, storage in a temporary folder; killed on drop.
struct LoopbackRegistry {
    child: std::process::Child,
    host: String,
    _dir: TempDir,
}

impl LoopbackRegistry {
    /// `None` (saying so) when the server is not installed (`make
    /// setup-registry` installs it).
    fn start() -> Option<Self> {
        let bin = std::env::var_os("REGISTRY_BIN")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from("/usr/bin/docker-registry"));
        if !bin.exists() {
            eprintln!(
                "skipped: no {} (Debian's docker-registry; `make setup-registry` installs it)",
                bin.display()
            );
            return None;
        }
        for _ in 0..3 {
            let port = std::net::TcpListener::bind("127.0.0.1:0")
                .and_then(|l| l.local_addr())
                .expect("a free port")
                .port();
            let dir = TempDir::new("registry");
            let config = dir.write(
                "config.yml",
                format!(
                    "version: 0.1\nlog:\n  level: warn\n  accesslog:\n    disabled: true\nstorage:\n  \
                     filesystem:\n    rootdirectory: {}\nhttp:\n  addr: 127.0.0.1:{port}\n  secret: \
                     sign-test-not-a-secret\n",
                    dir.path().join("data").display()
                ),
            );
            let child = Command::new(&bin)
                .arg("serve")
                .arg(&config)
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null())
                .spawn()
                .expect("start docker-registry");
            let mut registry = Self {
                child,
                host: format!("127.0.0.1:{port}"),
                _dir: dir,
            };
            for _ in 0..100 {
                if registry.status("GET", "/v2/") == Some(200) {
                    return Some(registry);
                }
                if matches!(registry.child.try_wait(), Ok(Some(_))) {
                    break;
                }
                std::thread::sleep(std::time::Duration::from_millis(100));
            }
        }
        panic!("docker-registry did not start on 127.0.0.1");
    }

    /// The HTTP status of `METHOD path` (a plain HTTP/1.1 request on loopback).
    fn status(&self, method: &str, path: &str) -> Option<u16> {
        use std::io::{Read as _, Write as _};
        let mut stream = std::net::TcpStream::connect(&self.host).ok()?;
        stream
            .set_read_timeout(Some(std::time::Duration::from_secs(5)))
            .ok()?;
        write!(
            stream,
            "{method} {path} HTTP/1.1\r\nHost: {}\r\nAccept: application/vnd.oci.image.manifest.v1+json\r\n\
             Connection: close\r\n\r\n",
            self.host
        )
        .ok()?;
        let mut head = [0u8; 12];
        stream.read_exact(&mut head).ok()?;
        std::str::from_utf8(&head[9..12]).ok()?.parse().ok()
    }
}

impl Drop for LoopbackRegistry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn cosign_push_refuses_a_digest_the_registry_does_not_hold() {
    let Some(registry) = LoopbackRegistry::start() else {
        return;
    };
    let dir = TempDir::new("cosign-push");
    // An image in the registry: a module pushed as `kwctl push` does.
    let module = dir.write("tiny.wasm", b"\0asm\x01\0\0\0".as_slice());
    let out = Command::new(BIN)
        .args(["push", "--force"])
        .arg(&module)
        .arg(format!("registry://{}/team/app:v1", registry.host))
        .output()
        .expect("run push");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let pushed = String::from_utf8(out.stdout).expect("utf-8");
    let pushed = pushed.trim().rsplit('@').next().expect("digest").to_owned();
    assert!(pushed.starts_with("sha256:"), "{pushed}");
    let missing = format!("sha256:{HEX}");
    assert_ne!(pushed, missing);

    let key = arg(&project_key("p256.key.pem"));
    let cosign = |image: &str| {
        sign(&[
            "--format", "cosign", "--push", "--key", &key, "--image", image,
        ])
    };
    let sig_path = |digest: &str| {
        format!(
            "/v2/team/app/manifests/{}.sig",
            digest.replace("sha256:", "sha256-")
        )
    };
    // A digest the repository does not hold, and a repository that does not exist.
    for (image, path) in [
        (
            format!("{}/team/app@{missing}", registry.host),
            sig_path(&missing),
        ),
        (
            format!("{}/team/nothing:v1@{missing}", registry.host),
            format!(
                "/v2/team/nothing/manifests/{}.sig",
                missing.replace(':', "-")
            ),
        ),
    ] {
        let o = cosign(&image);
        let stderr = String::from_utf8_lossy(&o.stderr);
        assert!(
            !o.status.success(),
            "{image}: signed a digest the registry lacks"
        );
        assert!(
            stderr.contains(&format!("refusing to sign {}/team/", registry.host))
                && stderr.contains("the registry has no manifest with this digest")
                && stderr.contains("push the image first"),
            "{image}: {stderr}"
        );
        assert!(o.stdout.is_empty(), "{image}");
        assert_eq!(
            registry.status("GET", &path),
            Some(404),
            "{image}: nothing written"
        );
    }
    // The digest it holds, by digest and by tag: signed, the `.sig` written.
    let o = cosign(&format!("{}/team/app@{pushed}", registry.host));
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(registry.status("GET", &sig_path(&pushed)), Some(200));
    let o = cosign(&format!("{}/team/app:v1", registry.host));
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
}

#[cfg(unix)]
#[test]
fn into_keeps_the_files_permissions() {
    use std::os::unix::fs::PermissionsExt as _;
    let dir = TempDir::new("into-mode");
    let path = dir.write(
        "pod.yaml",
        format!(
            "apiVersion: v1\nkind: Pod\nmetadata: {{name: p}}\nspec:\n  containers: [{{name: a, image: \
             \"{REPO}@{DIGEST}\"}}]\n"
        ),
    );
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
    let o = sign_into("p256", &path);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    assert_eq!(attestations(&yaml(&path), &[]).len(), 1);
    // No temporary file is left behind.
    let left: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(left, vec![std::ffi::OsString::from("pod.yaml")]);
}
