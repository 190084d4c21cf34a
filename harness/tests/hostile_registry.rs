//! The harness against a hostile registry (issue 25): a fake registry on
//! loopback (a small HTTP/1.1 server in a thread, written here with
//! `std::net`: no dependency) that declares a 1 TiB layer, streams endless
//! bodies, and redirects to other hosts and schemes. Every case must end in
//! a clear error (or, for the redirects the policy allows, a success), never
//! an abort, and the cost oracle (`policy_harness::oci::http::Meter`, the
//! bytes and requests of the calling thread) must show the reads bounded.
//!
//! HTTPS → HTTP cannot be served without a TLS server; the scheme rule is
//! the same code for every pair of schemes (the redirect's scheme must equal
//! the first request's), so it is tested with the two redirects a plain
//! HTTP server can send: to `https://` (an upgrade, refused as well) and to
//! `ftp://`.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::thread;

use common::{pod_review, Behavior, Guest, TempDir};
use policy_harness::host::capabilities::LiveCapabilities;
use policy_harness::oci::http::{Meter, MAX_MANIFEST_BYTES, MAX_REDIRECTS};
use policy_harness::oci::registry::{manifest_digest, pull_module, LiveRegistry, RegistryOptions};
use policy_harness::oci::sha256_digest;
use serde_json::json;

const BIN: &str = env!("CARGO_BIN_EXE_policy-harness");
const TIB: u64 = 1 << 40;
/// Slack for the bytes read past a cap: the last chunk hyper hands over
/// (its read buffer is at most about 400 KiB).
const ONE_BUFFER: u64 = 1 << 20;

/// One request as the fake registry saw it.
#[derive(Debug, Clone)]
struct Seen {
    method: String,
    path: String,
    authorization: Option<String>,
}

/// What the fake registry answers: a function of the request, writing the
/// whole response (it may write forever: the write fails when the client
/// hangs up).
type Handler = dyn Fn(&Seen, &mut TcpStream) + Send + Sync;

struct Fake {
    port: u16,
    seen: Arc<Mutex<Vec<Seen>>>,
}

impl Fake {
    fn start(handler: impl Fn(&Seen, &mut TcpStream) + Send + Sync + 'static) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind loopback");
        let port = listener.local_addr().expect("address").port();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let handler: Arc<Handler> = Arc::new(handler);
        let log = Arc::clone(&seen);
        thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { continue };
                let handler = Arc::clone(&handler);
                let log = Arc::clone(&log);
                thread::spawn(move || {
                    if let Some(request) = read_head(&stream) {
                        log.lock().unwrap().push(request.clone());
                        handler(&request, &mut stream);
                    }
                });
            }
        });
        Self { port, seen }
    }

    fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }
}

fn read_head(stream: &TcpStream) -> Option<Seen> {
    let mut reader = BufReader::new(stream.try_clone().ok()?.take(64 << 10));
    let mut line = String::new();
    reader.read_line(&mut line).ok()?;
    let mut parts = line.split_whitespace();
    let method = parts.next()?.to_owned();
    let path = parts.next()?.to_owned();
    let mut authorization = None;
    loop {
        let mut header = String::new();
        if reader.read_line(&mut header).ok()? == 0 || header.trim().is_empty() {
            break;
        }
        if let Some((name, value)) = header.split_once(':') {
            if name.eq_ignore_ascii_case("authorization") {
                authorization = Some(value.trim().to_owned());
            }
        }
    }
    Some(Seen {
        method,
        path,
        authorization,
    })
}

fn respond(stream: &mut TcpStream, status: &str, headers: &[(&str, String)], body: &[u8]) {
    let mut head = format!(
        "HTTP/1.1 {status}\r\nContent-Length: {}\r\nConnection: close\r\n",
        body.len()
    );
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str("\r\n");
    let _ = stream.write_all(head.as_bytes());
    let _ = stream.write_all(body);
}

fn redirect(stream: &mut TcpStream, location: String) {
    respond(stream, "302 Found", &[("Location", location)], b"");
}

/// A chunked body that never ends, written as fast as the client reads.
fn endless(stream: &mut TcpStream, content_type: &str) {
    let head = format!(
        "HTTP/1.1 200 OK\r\nContent-Type: {content_type}\r\nTransfer-Encoding: chunked\r\n\r\n"
    );
    if stream.write_all(head.as_bytes()).is_err() {
        return;
    }
    let chunk = vec![b' '; 64 << 10];
    let frame = [
        format!("{:x}\r\n", chunk.len()).into_bytes(),
        chunk,
        b"\r\n".to_vec(),
    ]
    .concat();
    while stream.write_all(&frame).is_ok() {}
}

const WASM_LAYER: &str = "application/vnd.wasm.content.layer.v1+wasm";
const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";

fn policy_manifest(layer_digest: &str, layer_size: u64) -> Vec<u8> {
    json!({
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": {"mediaType": "application/vnd.wasm.config.v1+json",
                   "digest": sha256_digest(b"{}"), "size": 2},
        "layers": [{"mediaType": WASM_LAYER, "digest": layer_digest, "size": layer_size}]
    })
    .to_string()
    .into_bytes()
}

fn serve_manifest(stream: &mut TcpStream, manifest: &[u8]) {
    respond(
        stream,
        "200 OK",
        &[
            ("Content-Type", OCI_MANIFEST.to_owned()),
            ("Docker-Content-Digest", sha256_digest(manifest)),
        ],
        manifest,
    );
}

fn harness(args: &[&str], dir: &TempDir) -> std::process::Output {
    Command::new(BIN)
        .args(args)
        .env("POLICY_HARNESS_CACHE_DIR", dir.path().join("cache"))
        .output()
        .expect("run policy-harness")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

// ---------------------------------------------------------------------------
// (a) A manifest declaring a 1 TiB layer

#[test]
fn a_1_tib_layer_is_refused_before_any_blob_request() {
    let layer = format!("sha256:{}", "ab".repeat(32));
    let manifest = policy_manifest(&layer, TIB);
    let fake = Fake::start(move |seen, stream| {
        if seen.path.contains("/manifests/") {
            serve_manifest(stream, &manifest);
        } else {
            // Never asked: if it were, it would never end.
            endless(stream, "application/octet-stream");
        }
    });
    let source = format!("registry://{}/team/policy:v1", fake.host());

    // The binary: a clear error and exit status 1 (an abort would be a signal).
    let dir = TempDir::new("hostile-tib");
    let request = dir.write("request.json", pod_review("uid-1", "a:1").to_string());
    let o = harness(
        &["run", "--request-path", request.to_str().unwrap(), &source],
        &dir,
    );
    let stderr = text(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains(&format!("cannot pull the policy {source}"))
            && stderr.contains(&format!(
                "the registry declares a blob {layer} of 1099511627776 bytes, more than the \
                 134217728 bytes policy-harness reads: refused before reading"
            )),
        "{stderr}"
    );

    // In process, with the cost oracle: one manifest read, no blob request.
    let before = Meter::read();
    let e = pull_module(&source, &RegistryOptions::default()).expect_err("refused");
    let cost = Meter::since(before);
    assert!(format!("{e:#}").contains("refused before reading"), "{e:#}");
    assert_eq!(cost.requests, 1, "{cost:?}");
    assert!(cost.bytes < 4096, "{cost:?}");
    assert!(
        fake.seen().iter().all(|s| !s.path.contains("/blobs/")),
        "{:?}",
        fake.seen()
    );
}

#[test]
fn a_layer_longer_than_declared_is_cut_at_the_declared_size() {
    let module = b"\0asm\x01\0\0\0".to_vec();
    let layer = sha256_digest(&module);
    let manifest = policy_manifest(&layer, module.len() as u64);
    let fake = Fake::start(move |seen, stream| {
        if seen.path.contains("/manifests/") {
            serve_manifest(stream, &manifest);
        } else {
            endless(stream, "application/octet-stream");
        }
    });
    let before = Meter::read();
    let e = pull_module(
        &format!("{}/team/policy:v1", fake.host()),
        &RegistryOptions::default(),
    )
    .expect_err("cut");
    let cost = Meter::since(before);
    assert!(
        format!("{e:#}").contains(&format!(
            "the registry sent a blob {layer} longer than the 8 bytes it declares: cut off"
        )),
        "{e:#}"
    );
    assert!(cost.bytes <= 8 + ONE_BUFFER, "{cost:?}");
}

// ---------------------------------------------------------------------------
// (b) Endless manifest bodies

#[test]
fn an_endless_manifest_is_cut_at_4_mib() {
    let fake = Fake::start(|_, stream| endless(stream, OCI_MANIFEST));
    let before = Meter::read();
    let e = pull_module(
        &format!("registry://{}/team/policy:v1", fake.host()),
        &RegistryOptions::default(),
    )
    .expect_err("cut");
    let cost = Meter::since(before);
    assert!(
        format!("{e:#}").contains(
            "cannot pull the manifest: the registry sent a manifest of more than 4194304 bytes, \
             the most policy-harness reads: cut off"
        ),
        "{e:#}"
    );
    assert_eq!(cost.requests, 1, "{cost:?}");
    let cap = MAX_MANIFEST_BYTES as u64;
    assert!(
        cost.bytes > cap && cost.bytes <= cap + ONE_BUFFER,
        "{cost:?}"
    );
}

#[test]
fn a_declared_huge_manifest_is_refused_before_reading() {
    let fake = Fake::start(|_, stream| {
        let head = format!(
            "HTTP/1.1 200 OK\r\nContent-Type: {OCI_MANIFEST}\r\nContent-Length: {TIB}\r\n\r\n"
        );
        let _ = stream.write_all(head.as_bytes());
        let chunk = vec![b' '; 64 << 10];
        while stream.write_all(&chunk).is_ok() {}
    });
    let before = Meter::read();
    let e = pull_module(
        &format!("{}/team/policy:v1", fake.host()),
        &RegistryOptions::default(),
    )
    .expect_err("refused");
    let cost = Meter::since(before);
    assert!(
        format!("{e:#}").contains(
            "the registry declares a manifest of 1099511627776 bytes, more than the 4194304 \
             bytes policy-harness reads: refused before reading"
        ),
        "{e:#}"
    );
    assert_eq!(cost.bytes, 0, "{cost:?}");
}

/// `manifest_digest` (`oci`/`v1/manifest_digest`): a `HEAD` without
/// `Docker-Content-Digest` falls back to a `GET`, bounded the same way.
#[test]
fn manifest_digest_reads_bounded() {
    let fake = Fake::start(|seen, stream| {
        if seen.method == "HEAD" {
            respond(
                stream,
                "200 OK",
                &[("Content-Type", OCI_MANIFEST.to_owned())],
                b"",
            );
        } else {
            endless(stream, OCI_MANIFEST);
        }
    });
    let image = format!("{}/team/app:v1", fake.host());
    let before = Meter::read();
    let e = manifest_digest(&image, &RegistryOptions::default()).expect_err("cut");
    let cost = Meter::since(before);
    assert!(
        e.to_string()
            .starts_with(&format!("cannot resolve {image}: "))
            && e.to_string().contains("more than 4194304 bytes"),
        "{e}"
    );
    assert_eq!(cost.requests, 2, "{cost:?}");
    assert!(
        cost.bytes <= MAX_MANIFEST_BYTES as u64 + ONE_BUFFER,
        "{cost:?}"
    );

    // Through the live host capability, with policy-server's prefix.
    let live = LiveRegistry::new(RegistryOptions::default());
    let answer = live
        .call(
            "kubewarden",
            "oci",
            "v1/manifest_digest",
            json!(image).to_string().as_bytes(),
        )
        .expect("served live")
        .expect_err("cut");
    assert!(
        answer.starts_with(&format!(
            "Callback evaluation failure: cannot resolve {image}: "
        )) && answer.contains("cut off"),
        "{answer}"
    );
}

/// The cosign path (`run --allow-network`, `oci`/`v2/verify`): an endless
/// `.sig` manifest is cut off and reads as "no signatures", with kwctl's words.
#[test]
fn an_endless_signature_manifest_means_no_signatures() {
    let digest = format!("sha256:{}", "cd".repeat(32));
    let fake = Fake::start(|_, stream| endless(stream, OCI_MANIFEST));
    let image = format!("{}/team/app@{digest}", fake.host());
    let key = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../testdata/keys/p256.pub.pem"),
    )
    .expect("test key");
    let payload = json!({"type": "SigstorePubKeyVerify", "image": image,
                         "pub_keys": [key], "annotations": null})
    .to_string();
    let expected_start = format!(
        "Callback evaluation failure: no signatures found for image: {image} (no cosign \
         signature manifest {}/team/app:sha256-{}.sig: ",
        fake.host(),
        "cd".repeat(32)
    );

    let live = LiveRegistry::new(RegistryOptions::default());
    let before = Meter::read();
    let answer = live
        .call("kubewarden", "oci", "v2/verify", payload.as_bytes())
        .expect("served live")
        .expect_err("no signatures");
    let cost = Meter::since(before);
    assert!(answer.starts_with(&expected_start), "{answer}");
    assert!(answer.contains("cut off"), "{answer}");
    assert_eq!(cost.requests, 1, "{cost:?}");
    assert!(
        cost.bytes <= MAX_MANIFEST_BYTES as u64 + ONE_BUFFER,
        "{cost:?}"
    );

    // The binary, `run --allow-network`: the guest gets the same host error.
    let dir = TempDir::new("hostile-sig");
    let guest = Guest {
        validate: Behavior::host_call("oci", "v2/verify", &payload),
        ..Guest::default()
    };
    let module = dir.write("policy.wasm", guest.wasm());
    let request = dir.write("request.json", pod_review("uid-1", "a:1").to_string());
    let o = harness(
        &[
            "run",
            "--allow-network",
            "--request-path",
            request.to_str().unwrap(),
            module.to_str().unwrap(),
        ],
        &dir,
    );
    assert!(o.status.success(), "{}", text(&o.stderr));
    assert!(
        text(&o.stdout).contains(&expected_start),
        "{}",
        text(&o.stdout)
    );
}

// ---------------------------------------------------------------------------
// (c) Redirects

/// A registry asking for an anonymous token, whose blobs are served by
/// another host (`localhost`, as a CDN would be) after `hops` redirects.
fn registry_with_cdn(hops: usize, final_scheme: &'static str) -> (Fake, Fake, Vec<u8>) {
    let module = b"\0asm\x01\0\0\0 a policy module".to_vec();
    let layer = sha256_digest(&module);
    let served = module.clone();
    let cdn = Fake::start(move |seen, stream| {
        if let Some(rest) = seen.path.strip_prefix("/hop/") {
            let left: usize = rest.parse().unwrap_or(0);
            if left > 0 {
                return redirect(stream, format!("/hop/{}", left - 1));
            }
        }
        respond(stream, "200 OK", &[], &served);
    });
    let cdn_port = cdn.port;
    let manifest = policy_manifest(&layer, module.len() as u64);
    let registry = Fake::start(move |seen, stream| {
        if seen.path.starts_with("/token") {
            return respond(stream, "200 OK", &[], br#"{"token":"t0k"}"#);
        }
        if seen.authorization.as_deref() != Some("Bearer t0k") {
            let realm = format!("http://{}/token", stream.local_addr().unwrap());
            return respond(
                stream,
                "401 Unauthorized",
                &[(
                    "WWW-Authenticate",
                    format!(r#"Bearer realm="{realm}",service="fake""#),
                )],
                br#"{"errors":[{"code":"UNAUTHORIZED"}]}"#,
            );
        }
        if seen.path.contains("/manifests/") {
            serve_manifest(stream, &manifest);
        } else {
            // The first hop of `hops`: to the CDN host.
            redirect(
                stream,
                format!("{final_scheme}://localhost:{cdn_port}/hop/{}", hops - 1),
            );
        }
    });
    (registry, cdn, module)
}

#[test]
fn redirects_to_another_host_are_followed_without_the_token() {
    let (registry, cdn, module) = registry_with_cdn(MAX_REDIRECTS, "http");
    let before = Meter::read();
    let pulled = pull_module(
        &format!("{}/team/policy:v1", registry.host()),
        &RegistryOptions::default(),
    )
    .expect("same scheme, bounded hops: followed");
    let cost = Meter::since(before);
    assert_eq!(pulled.bytes, module);
    assert_eq!(cost.redirects, MAX_REDIRECTS as u64, "{cost:?}");
    // Token exchange: 401, token, manifest again; then the blob and its hops.
    assert_eq!(cost.requests, 4 + MAX_REDIRECTS as u64, "{cost:?}");
    let cdn_seen = cdn.seen();
    assert_eq!(cdn_seen.len(), MAX_REDIRECTS, "{cdn_seen:?}");
    assert!(
        cdn_seen.iter().all(|s| s.authorization.is_none()),
        "the token must not leave the registry's host: {cdn_seen:?}"
    );
}

#[test]
fn too_many_redirects_are_refused() {
    let (registry, cdn, _) = registry_with_cdn(MAX_REDIRECTS + 1, "http");
    let e = pull_module(
        &format!("{}/team/policy:v1", registry.host()),
        &RegistryOptions::default(),
    )
    .expect_err("refused");
    let e = format!("{e:#}");
    assert!(
        e.contains(&format!(
            "more than {MAX_REDIRECTS} redirects (the last one to http://localhost:{}/hop/0): refused",
            cdn.port
        )),
        "{e}"
    );
    assert_eq!(cdn.seen().len(), MAX_REDIRECTS, "{:?}", cdn.seen());
}

#[test]
fn redirects_to_another_scheme_are_refused() {
    for scheme in ["https", "ftp"] {
        let (registry, cdn, _) = registry_with_cdn(1, scheme);
        let e = pull_module(
            &format!("{}/team/policy:v1", registry.host()),
            &RegistryOptions::default(),
        )
        .expect_err("refused");
        let e = format!("{e:#}");
        assert!(
            e.contains(&format!(
                "redirect to {scheme}://localhost:{}/hop/0 leaves the http scheme of the \
                 request: refused (a registry may redirect to another host, never to another \
                 scheme)",
                cdn.port
            )),
            "{e}"
        );
        assert!(cdn.seen().is_empty(), "{:?}", cdn.seen());
    }
}

/// A manifest redirected to another scheme: the same rule on the manifest
/// path (`HEAD` for `manifest_digest`).
#[test]
fn manifest_redirects_keep_the_scheme() {
    let fake = Fake::start(|_, stream| redirect(stream, "https://127.0.0.1:1/v2/x".to_owned()));
    let e = manifest_digest(
        &format!("{}/team/app:v1", fake.host()),
        &RegistryOptions::default(),
    )
    .expect_err("refused");
    assert!(
        e.to_string()
            .contains("redirect to https://127.0.0.1:1/v2/x leaves the http scheme"),
        "{e}"
    );
}
