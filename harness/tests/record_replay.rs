//! `run --allow-network --record-host-capabilities-interactions` against a
//! registry on loopback, with the real policy: the session it writes is
//! kwctl's format, and replaying it (`run
//! --replay-host-capabilities-interactions`, a suite's `hostCapabilities`)
//! gives the same verdict without the registry; `test --allow-network`
//! reaches the registry itself.
//!
//! The registry is a small HTTP/1.1 server in a thread (std only) serving
//! one image manifest by tag; the module is `$POLICY_WASM` if set, else the
//! parent crate's release build.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread;

use common::TempDir;
use policy_harness::golden::policy_module;
use policy_harness::oci::sha256_digest;
use serde_json::{json, Value};

const BIN: &str = env!("CARGO_BIN_EXE_policy-harness");
const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";

/// A registry holding `team/app:1`; counts the requests it serves.
struct Registry {
    port: u16,
    requests: Arc<AtomicUsize>,
    digest: String,
}

impl Registry {
    fn start() -> Self {
        let manifest = json!({
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                       "digest": sha256_digest(b"{}"), "size": 2},
            "layers": []
        })
        .to_string()
        .into_bytes();
        let digest = sha256_digest(&manifest);
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind loopback");
        let port = listener.local_addr().expect("address").port();
        let requests = Arc::new(AtomicUsize::new(0));
        let count = Arc::clone(&requests);
        let served_digest = digest.clone();
        thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { continue };
                let Some((method, path)) = read_head(&stream) else {
                    continue;
                };
                count.fetch_add(1, Ordering::SeqCst);
                if path == "/v2/team/app/manifests/1" || path.ends_with(&served_digest) {
                    let body: &[u8] = if method == "HEAD" { b"" } else { &manifest };
                    respond(
                        &mut stream,
                        "200 OK",
                        manifest.len(),
                        &[
                            ("Content-Type", OCI_MANIFEST.to_owned()),
                            ("Docker-Content-Digest", served_digest.clone()),
                        ],
                        body,
                    );
                } else {
                    respond(&mut stream, "404 Not Found", 0, &[], b"");
                }
            }
        });
        Self {
            port,
            requests,
            digest,
        }
    }

    fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    fn served(&self) -> usize {
        self.requests.load(Ordering::SeqCst)
    }
}

fn read_head(stream: &TcpStream) -> Option<(String, String)> {
    let mut reader = BufReader::new(stream.try_clone().ok()?.take(64 << 10));
    let mut line = String::new();
    reader.read_line(&mut line).ok()?;
    let mut parts = line.split_whitespace();
    let method = parts.next()?.to_owned();
    let path = parts.next()?.to_owned();
    loop {
        let mut header = String::new();
        if reader.read_line(&mut header).ok()? == 0 || header.trim().is_empty() {
            break;
        }
    }
    Some((method, path))
}

fn respond(
    stream: &mut TcpStream,
    status: &str,
    length: usize,
    headers: &[(&str, String)],
    body: &[u8],
) {
    let mut head =
        format!("HTTP/1.1 {status}\r\nContent-Length: {length}\r\nConnection: close\r\n");
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str("\r\n");
    let _ = stream.write_all(head.as_bytes());
    let _ = stream.write_all(body);
}

fn project_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the harness lives in the project")
        .to_owned()
}

fn harness(args: &[&str], dir: &TempDir) -> Output {
    Command::new(BIN)
        .args(args)
        .env("POLICY_HARNESS_CACHE_DIR", dir.path().join("cache"))
        .output()
        .expect("run policy-harness")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Settings trusting the TEST-ONLY key rsa2048 as authority `build`, with
/// tags resolved through the registry and pinned.
fn settings() -> Value {
    let key = std::fs::read_to_string(project_root().join("testdata/keys/rsa2048.pub.pem"))
        .expect("test key");
    json!({
        "attestationAuthorities": [{"name": "build", "publicKeyId": "build-key-1", "publicKeyData": key}],
        "attestationPolicies": [{"name": "built", "attestationAuthorityNames": ["build"]}],
        "resolveTags": true
    })
}

#[test]
fn a_live_session_replays_to_the_same_verdict_without_the_registry() {
    let dir = TempDir::new("record-live");
    let registry = Registry::start();
    let module = policy_module()
        .unwrap_or_else(|e| panic!("{e:#}"))
        .display()
        .to_string();
    let by_digest = format!("{}/team/app@{}", registry.host(), registry.digest);
    let by_tag = format!("{}/team/app:1", registry.host());
    let key = project_root().join("testdata/keys/rsa2048.key.pem");
    let signed = harness(
        &[
            "sign",
            "--key",
            &key.display().to_string(),
            "--key-id",
            "build-key-1",
            "--image",
            &by_digest,
        ],
        &dir,
    );
    assert!(signed.status.success(), "{}", text(&signed.stderr));
    let attestation: Value = serde_json::from_slice(&signed.stdout).expect("attestation");
    let pod = json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": "app", "namespace": "team",
                     "annotations": {"kritis.grafeas.io/attestations": json!([attestation]).to_string()}},
        "spec": {"containers": [{"name": "app", "image": by_tag}]}
    });
    let pod = dir.write("pod.json", pod.to_string()).display().to_string();
    let settings = dir
        .write("settings.json", settings().to_string())
        .display()
        .to_string();
    let session = dir.path().join("session.yaml").display().to_string();

    let run = |extra: &[&str]| {
        let mut args = vec!["run", "-s", &settings, "--resource", &pod];
        args.extend_from_slice(extra);
        args.push(&module);
        harness(&args, &dir)
    };
    // Live, recorded.
    let live = run(&[
        "--allow-network",
        "--record-host-capabilities-interactions",
        &session,
    ]);
    assert!(live.status.success(), "{}", text(&live.stderr));
    let verdict: Value = serde_json::from_slice(&live.stdout).expect("response");
    assert_eq!(verdict["allowed"], json!(true), "{verdict}");
    assert!(verdict["patch"].is_string(), "pinned: {verdict}");
    let served = registry.served();
    assert!(served > 0);
    let written = std::fs::read_to_string(&session).expect("session");
    assert_eq!(
        written,
        format!(
            "- type: Exchange\n  request: |\n    !OciManifestDigest\n    image: {by_tag}\n  \
             response:\n    type: Success\n    payload: '{{\"digest\":\"{}\"}}'\n",
            registry.digest
        )
    );

    // Replayed: the same answer, and the registry is not asked.
    let replayed = run(&["--replay-host-capabilities-interactions", &session]);
    assert!(replayed.status.success(), "{}", text(&replayed.stderr));
    assert_eq!(replayed.stdout, live.stdout);
    assert_eq!(registry.served(), served);

    // As a suite's hostCapabilities, and live through `test --allow-network`.
    dir.write(
        "app-test.yaml",
        format!(
            "apiVersion: policy-harness.kritis.dev/v1
kind: Suite
settings: settings.json
hostCapabilities: session.yaml
cases:
  - name: app by tag is pinned
    resource: pod.json
    expect:
      allowed: true
      images: {{\"containers[app]\": \"{by_tag}@{}\"}}
      hostCalls: 1
",
            registry.digest
        ),
    );
    let suite = dir.path().join("app-test.yaml").display().to_string();
    let output = harness(&["test", "--module", &module, &suite], &dir);
    assert!(output.status.success(), "{}", text(&output.stdout));
    assert_eq!(registry.served(), served);
    std::fs::remove_file(dir.path().join("session.yaml")).expect("remove the session");
    dir.write("session.yaml", "[]\n");
    let output = harness(&["test", "--module", &module, &suite], &dir);
    assert_eq!(output.status.code(), Some(1), "{}", text(&output.stdout));
    assert!(
        text(&output.stdout).contains("give --allow-network to ask the registry"),
        "{}",
        text(&output.stdout)
    );
    let output = harness(
        &["test", "--allow-network", "--module", &module, &suite],
        &dir,
    );
    assert!(output.status.success(), "{}", text(&output.stdout));
    assert!(registry.served() > served);
}
