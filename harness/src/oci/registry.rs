//! OCI registries, through the `oci-client` crate (rustls, anonymous
//! access): publishing a policy as `kwctl push` does, pulling it back as
//! policy-server does (`registry://` module references), and answering the
//! `oci`/`v1/manifest_digest` and `oci`/`v2/verify` (cosign signatures, see
//! [`crate::oci::cosign`]) host capabilities live (`run --allow-network`).
//!
//! A Kubewarden policy artifact (policy-fetcher's `Registry::push`): an OCI
//! image manifest whose config is `{}` with media type
//! `application/vnd.wasm.config.v1+json` and whose single layer is the module
//! with media type `application/vnd.wasm.content.layer.v1+wasm`; the
//! manifest's annotations are the metadata's single-line annotations, plus
//! `org.opencontainers.image.source` taken from `io.kubewarden.policy.source`.
//!
//! Registries on loopback (`localhost`, `127.0.0.0/8`, `[::1]`) and those
//! named with `--insecure-registry HOST:PORT` are reached over plain HTTP;
//! every other one over HTTPS.
//!
//! Every read (manifests, the module's layer, `HEAD` for a digest, `.sig`
//! manifests and their blobs) goes through [`crate::oci::http`]: bounded
//! bodies, same-scheme redirects, deadlines. `oci-client` only pushes.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::Path;

use anyhow::{anyhow, bail, ensure, Context, Result};
use oci_client::client::{
    Certificate, CertificateEncoding, ClientConfig, ClientProtocol, Config, ImageLayer,
};
use oci_client::manifest::OciImageManifest;
use oci_client::secrets::RegistryAuth;
use oci_client::{Client, Reference};
use serde_json::{json, Value};

use crate::host::cache::CacheMode;
use crate::host::capabilities::{LiveAnswer, LiveCapabilities, KUBEWARDEN_BINDING};
use crate::host::replay::CALLBACK_FAILURE_PREFIX;
use crate::host::runtime::{Limits, PolicyModule};
use crate::oci::cosign;
use crate::oci::http::{
    block_on, install_crypto_provider, RegistryHttp, CONNECT_TIMEOUT, MAX_MANIFEST_BYTES,
    MAX_MODULE_BYTES, READ_TIMEOUT,
};
use crate::oci::metadata::SOURCE_ANNOTATION;
use crate::oci::sha256_digest;

pub use oci_client::manifest::{WASM_CONFIG_MEDIA_TYPE, WASM_LAYER_MEDIA_TYPE};

/// Prefix of a module reference that names a registry (as in policy-server).
pub const REGISTRY_SCHEME: &str = "registry://";
/// OCI annotation that `kwctl push` fills from `io.kubewarden.policy.source`.
pub const OCI_SOURCE_ANNOTATION: &str = "org.opencontainers.image.source";
/// Config blob of a policy artifact.
pub const WASM_CONFIG_DATA: &[u8] = b"{}";

/// How registries are reached.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RegistryOptions {
    /// Plain HTTP for every registry.
    pub plain_http: bool,
    /// `HOST:PORT` of registries reached over plain HTTP.
    pub insecure_registries: Vec<String>,
    /// Extra CA certificates (PEM) trusted for a registry (`HOST[:PORT]`),
    /// from a kwctl sources file.
    pub extra_roots: BTreeMap<String, Vec<Vec<u8>>>,
}

impl RegistryOptions {
    /// `true` when `registry` (`HOST[:PORT]`) is reached over plain HTTP.
    pub fn uses_plain_http(&self, registry: &str) -> bool {
        self.plain_http
            || is_loopback_registry(registry)
            || self.insecure_registries.iter().any(|r| r == registry)
    }

    /// The clients for `reference`'s registry: the bounded reader and, for
    /// pushing, an `oci-client` client.
    ///
    /// # Errors
    /// A client cannot be built (e.g. an unusable CA certificate).
    pub fn client(&self, reference: &Reference) -> Result<RegistryClient> {
        let http = RegistryHttp::new(
            self.uses_plain_http(reference.resolve_registry()),
            self.extra_roots
                .get(reference.resolve_registry())
                .map_or(&[][..], Vec::as_slice),
        )
        .map_err(|e| anyhow!("{e}"))?;
        Ok(RegistryClient {
            oci: self.oci_client(reference)?,
            http,
        })
    }

    fn oci_client(&self, reference: &Reference) -> Result<Client> {
        install_crypto_provider();
        let protocol = if self.uses_plain_http(reference.resolve_registry()) {
            ClientProtocol::Http
        } else {
            ClientProtocol::Https
        };
        // `Client::new` would fall back to a default (HTTPS) client on error.
        Client::try_from(ClientConfig {
            protocol,
            connect_timeout: Some(CONNECT_TIMEOUT),
            read_timeout: Some(READ_TIMEOUT),
            // An image index is never followed: a policy is an image
            // manifest, and `manifest_digest` answers the index's own digest.
            platform_resolver: None,
            extra_root_certificates: self
                .extra_roots
                .get(reference.resolve_registry())
                .into_iter()
                .flatten()
                .map(|pem| Certificate {
                    encoding: CertificateEncoding::Pem,
                    data: pem.clone(),
                })
                .collect(),
            ..Default::default()
        })
        .map_err(|e| anyhow!("cannot create the registry client: {e}"))
    }
}

/// What [`RegistryOptions::client`] makes: reads go through `http`, pushes
/// through `oci`.
pub struct RegistryClient {
    /// `oci-client`'s client: pushes only.
    pub oci: Client,
    /// The bounded reader: every read.
    pub http: RegistryHttp,
}

impl std::fmt::Debug for RegistryClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "RegistryClient({:?})", self.http)
    }
}

/// `true` for `localhost`, `127.0.0.0/8` and `::1`, with or without a port.
pub fn is_loopback_registry(registry: &str) -> bool {
    let host = if let Some(rest) = registry.strip_prefix('[') {
        rest.split(']').next().unwrap_or_default()
    } else {
        match registry.rsplit_once(':') {
            Some((host, port)) if port.bytes().all(|b| b.is_ascii_digit()) => host,
            _ => registry,
        }
    };
    host.eq_ignore_ascii_case("localhost")
        || host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

fn runtime() -> Result<tokio::runtime::Runtime> {
    install_crypto_provider();
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime for registry access")
}

/// `true` when `module` is a `registry://` reference rather than a file.
pub fn is_registry_reference(module: &Path) -> bool {
    module
        .to_str()
        .is_some_and(|s| s.starts_with(REGISTRY_SCHEME))
}

/// Parses `[registry://]HOST[:PORT]/REPO[:TAG][@sha256:HEX]` (Docker Hub
/// short names are expanded, as policy-server does).
pub fn parse_reference(text: &str) -> Result<Reference> {
    let image = text.strip_prefix(REGISTRY_SCHEME).unwrap_or(text);
    image
        .parse::<Reference>()
        .map_err(|e| anyhow!("invalid image reference {image:?}: {e}"))
}

/// `HOST/REPO` of a reference (no tag, no digest).
fn repository_of(reference: &Reference) -> String {
    format!("{}/{}", reference.registry(), reference.repository())
}

// ---------------------------------------------------------------------------
// Pull

/// A policy module pulled from a registry, with what was verified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PulledModule {
    /// The module (the layer's bytes).
    pub bytes: Vec<u8>,
    /// Digest of the manifest's bytes as served.
    pub manifest_digest: String,
    /// Digest of the layer (checked against the bytes).
    pub layer_digest: String,
}

/// Checks a policy manifest and returns its wasm layer.
fn policy_layer(manifest: &OciImageManifest) -> Result<&oci_client::manifest::OciDescriptor> {
    ensure!(
        !manifest.layers.is_empty(),
        "the manifest has no layer: not a Kubewarden policy"
    );
    if let Some(other) = manifest
        .layers
        .iter()
        .find(|l| l.media_type != WASM_LAYER_MEDIA_TYPE)
    {
        bail!(
            "the manifest has a layer of media type {:?}, expected only {WASM_LAYER_MEDIA_TYPE:?}: \
             not a Kubewarden policy",
            other.media_type
        );
    }
    Ok(&manifest.layers[0])
}

async fn pull_async(http: &RegistryHttp, reference: &Reference) -> Result<PulledModule> {
    let manifest = http
        .manifest(reference, MAX_MANIFEST_BYTES)
        .await
        .context("cannot pull the manifest")?;
    let raw = manifest.bytes;
    let manifest_digest = sha256_digest(&raw);
    if let Some(pinned) = reference.digest() {
        ensure!(
            manifest_digest == pinned,
            "manifest digest mismatch: the reference pins {pinned}, the registry served {manifest_digest}"
        );
    }
    if let Some(served_digest) = manifest.digest {
        ensure!(
            served_digest == manifest_digest,
            "manifest digest mismatch: the registry says {served_digest}, its content is {manifest_digest}"
        );
    }
    let manifest: OciImageManifest =
        serde_json::from_slice(&raw).context("the manifest is not an OCI image manifest")?;
    let layer = policy_layer(&manifest)?.clone();
    // The declared size is checked before any request and bounds the read;
    // nothing is allocated from it (a registry may declare 1 TiB).
    let declared = u64::try_from(layer.size).map_err(|_| {
        anyhow!(
            "the manifest declares a negative size ({}) for the layer {}",
            layer.size,
            layer.digest
        )
    })?;
    let bytes = http
        .blob(reference, &layer.digest, MAX_MODULE_BYTES, Some(declared))
        .await
        .with_context(|| format!("cannot pull the layer {}", layer.digest))?;
    let actual = sha256_digest(&bytes);
    ensure!(
        actual == layer.digest,
        "layer digest mismatch: the manifest names {}, the layer's content is {actual}",
        layer.digest
    );
    ensure!(
        u64::try_from(bytes.len()).ok() == Some(declared),
        "layer size mismatch: the manifest says {} bytes, {} were served",
        layer.size,
        bytes.len()
    );
    Ok(PulledModule {
        bytes,
        manifest_digest,
        layer_digest: layer.digest,
    })
}

/// Pulls the policy module at `source` (`registry://…:TAG` or `…@sha256:…`),
/// checking the manifest digest (against the pinned one, if any) and the
/// layer's digest and size.
pub fn pull_module(source: &str, options: &RegistryOptions) -> Result<PulledModule> {
    let reference = parse_reference(source)?;
    let client = options.client(&reference)?;
    runtime()?
        .block_on(pull_async(&client.http, &reference))
        .with_context(|| format!("cannot pull the policy {source}"))
}

/// Reads a module from a file, or pulls it when `module` is `registry://…`.
pub fn read_module(module: &Path, options: &RegistryOptions) -> Result<Vec<u8>> {
    if is_registry_reference(module) {
        let source = module.to_string_lossy();
        Ok(pull_module(&source, options)?.bytes)
    } else {
        let module = local_path(module);
        std::fs::read(module)
            .with_context(|| format!("cannot read policy module {}", module.display()))
    }
}

/// Compiles a policy from a file or from a registry (see [`read_module`]).
pub fn load_policy(
    module: &Path,
    options: &RegistryOptions,
    limits: Limits,
    cache: &CacheMode,
) -> Result<PolicyModule> {
    if is_registry_reference(module) {
        let bytes = read_module(module, options)?;
        PolicyModule::from_bytes(&bytes, limits, cache)
            .with_context(|| format!("cannot load policy module {}", module.display()))
    } else {
        PolicyModule::load(local_path(module), limits, cache)
    }
}

/// A local module path; `file://PATH` as kwctl accepts it.
fn local_path(module: &Path) -> &Path {
    module
        .to_str()
        .and_then(|s| s.strip_prefix("file://"))
        .map_or(module, Path::new)
}

// ---------------------------------------------------------------------------
// Push

/// The OCI manifest annotations `kwctl push` derives from the metadata's
/// annotations: multi-line values (the usage text) are left out, and
/// `org.opencontainers.image.source` is added from `io.kubewarden.policy.source`.
pub fn oci_annotations(metadata: &Value) -> BTreeMap<String, String> {
    let mut annotations: BTreeMap<String, String> = metadata
        .get("annotations")
        .and_then(Value::as_object)
        .map(|m| {
            m.iter()
                .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_owned())))
                .filter(|(_, v)| v.lines().count() <= 1)
                .collect()
        })
        .unwrap_or_default();
    if let Some(source) = annotations.get(SOURCE_ANNOTATION).cloned() {
        annotations
            .entry(OCI_SOURCE_ANNOTATION.to_owned())
            .or_insert(source);
    }
    annotations
}

/// What `push` published.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pushed {
    /// Digest of the manifest.
    pub digest: String,
    /// `HOST/REPO@sha256:…`.
    pub immutable_ref: String,
}

/// The manifest `push_module` publishes for `module`.
pub fn policy_manifest(
    module: &[u8],
    annotations: Option<BTreeMap<String, String>>,
) -> (ImageLayer, Config, OciImageManifest) {
    let layer = ImageLayer::new(module.to_vec(), WASM_LAYER_MEDIA_TYPE.to_owned(), None);
    let config = Config {
        data: WASM_CONFIG_DATA.to_vec().into(),
        media_type: WASM_CONFIG_MEDIA_TYPE.to_owned(),
        annotations: None,
    };
    let manifest = OciImageManifest::build(std::slice::from_ref(&layer), &config, annotations);
    (layer, config, manifest)
}

/// Publishes `module` at `destination` as a Kubewarden policy artifact.
pub fn push_module(
    module: &[u8],
    destination: &str,
    annotations: Option<BTreeMap<String, String>>,
    options: &RegistryOptions,
) -> Result<Pushed> {
    let reference = parse_reference(destination)?;
    let client = options.client(&reference)?;
    let (layer, config, manifest) = policy_manifest(module, annotations);
    let rt = runtime()?;
    let response = rt
        .block_on(client.oci.push(
            &reference,
            std::slice::from_ref(&layer),
            config,
            &RegistryAuth::Anonymous,
            Some(manifest),
        ))
        .with_context(|| format!("cannot push to {destination}"))?;
    // The manifest URL ends with the digest; ask the registry when it does not.
    let from_url = response
        .manifest_url
        .rsplit('/')
        .next()
        .filter(|d| is_sha256_digest(d))
        .map(str::to_owned);
    let digest = match from_url {
        Some(d) => d,
        None => rt
            .block_on(client.http.manifest_digest(&reference))
            .with_context(|| format!("pushed, but cannot read back the digest of {destination}"))?,
    };
    Ok(Pushed {
        immutable_ref: format!("{}@{digest}", repository_of(&reference)),
        digest,
    })
}

fn is_sha256_digest(text: &str) -> bool {
    text.strip_prefix("sha256:").is_some_and(|hex| {
        hex.len() == 64 && hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
    })
}

// ---------------------------------------------------------------------------
// Live host capabilities

/// Resolves an image's manifest digest as policy-server's
/// `oci`/`v1/manifest_digest` does (HEAD of the manifest, `Docker-Content-Digest`;
/// an image index's own digest for multi-platform images).
pub fn manifest_digest(image: &str, options: &RegistryOptions) -> Result<String> {
    let reference = parse_reference(image)?;
    let client = options.client(&reference)?;
    block_on(client.http.manifest_digest(&reference))
        .and_then(|r| r)
        .map_err(|e| anyhow!("cannot resolve {}: {e}", reference.whole()))
}

/// Answers `kubewarden`/`oci`/`v1/manifest_digest` and `v2/verify` from the
/// registry. An error reads as policy-server's: `Callback evaluation
/// failure: ` and the reason.
#[derive(Debug, Clone, Default)]
pub struct LiveRegistry {
    options: RegistryOptions,
}

impl LiveRegistry {
    /// A live resolver using these options.
    pub fn new(options: RegistryOptions) -> Self {
        Self { options }
    }
}

impl LiveCapabilities for LiveRegistry {
    fn call(
        &self,
        binding: &str,
        namespace: &str,
        operation: &str,
        payload: &[u8],
    ) -> Option<LiveAnswer> {
        match (binding, namespace, operation) {
            (KUBEWARDEN_BINDING, "oci", "v1/manifest_digest") => {}
            (KUBEWARDEN_BINDING, "oci", "v2/verify") => {
                return Some(
                    cosign::answer_verify(payload, &|r| self.options.client(r))
                        .map_err(|e| format!("{CALLBACK_FAILURE_PREFIX}{e}")),
                )
            }
            _ => return None,
        }
        let image: String = match serde_json::from_slice(payload) {
            Ok(image) => image,
            Err(e) => {
                return Some(Err(format!(
                    "{CALLBACK_FAILURE_PREFIX}oci/v1/manifest_digest: the payload must be the \
                     image as a JSON string: {e}"
                )))
            }
        };
        Some(
            manifest_digest(&image, &self.options)
                .map(|digest| json!({ "digest": digest }).to_string().into_bytes())
                .map_err(|e| format!("{CALLBACK_FAILURE_PREFIX}{e:#}")),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_registries() {
        for r in [
            "localhost",
            "localhost:5000",
            "127.0.0.1:5000",
            "127.1.2.3",
            "[::1]:5000",
            "LOCALHOST:1",
        ] {
            assert!(is_loopback_registry(r), "{r}");
        }
        for r in [
            "ghcr.io",
            "10.0.0.1:5000",
            "localhost.example.com",
            "127.0.0.1.nip.io",
        ] {
            assert!(!is_loopback_registry(r), "{r}");
        }
        let options = RegistryOptions {
            plain_http: false,
            insecure_registries: vec!["registry.test:5000".to_owned()],
            extra_roots: Default::default(),
        };
        assert!(options.uses_plain_http("registry.test:5000"));
        assert!(!options.uses_plain_http("registry.test"));
        assert!(!options.uses_plain_http("ghcr.io"));
    }

    #[test]
    fn https_clients_build_with_the_ring_provider() {
        // No request is made: building the rustls configuration needs the
        // process-wide crypto provider, which `client` installs.
        let options = RegistryOptions::default();
        for image in ["ghcr.io/org/app:1", "127.0.0.1:5000/app:1"] {
            assert!(options.client(&parse_reference(image).unwrap()).is_ok());
        }
    }

    #[test]
    fn references() {
        let r = parse_reference("registry://127.0.0.1:5000/team/app:v1").unwrap();
        assert_eq!(r.registry(), "127.0.0.1:5000");
        assert_eq!(r.repository(), "team/app");
        assert_eq!(r.tag(), Some("v1"));
        assert_eq!(repository_of(&r), "127.0.0.1:5000/team/app");
        let d = format!("sha256:{}", "a".repeat(64));
        let r = parse_reference(&format!("localhost:5000/p@{d}")).unwrap();
        assert_eq!(r.digest(), Some(d.as_str()));
        let r = parse_reference("busybox").unwrap();
        assert_eq!(r.whole(), "docker.io/library/busybox:latest");
        assert!(is_registry_reference(Path::new("registry://x/y:1")));
        assert!(!is_registry_reference(Path::new("policy.wasm")));
    }

    #[test]
    fn manifest_like_kwctl_push() {
        let metadata = json!({"annotations": {
            "io.kubewarden.policy.title": "t",
            "io.kubewarden.policy.source": "https://example.com/src",
            "io.kubewarden.policy.usage": "line 1\nline 2\n"
        }});
        let annotations = oci_annotations(&metadata);
        assert_eq!(
            annotations,
            BTreeMap::from([
                ("io.kubewarden.policy.title".to_owned(), "t".to_owned()),
                (
                    "io.kubewarden.policy.source".to_owned(),
                    "https://example.com/src".to_owned()
                ),
                (
                    OCI_SOURCE_ANNOTATION.to_owned(),
                    "https://example.com/src".to_owned()
                ),
            ])
        );
        let module = b"\0asm\x01\0\0\0";
        let (_, _, manifest) = policy_manifest(module, Some(annotations));
        let json = serde_json::to_value(&manifest).unwrap();
        // As policy-fetcher builds it: no `mediaType` field (the manifest is
        // pushed with the OCI manifest Content-Type).
        assert_eq!(json["schemaVersion"], 2);
        assert!(json.get("mediaType").is_none(), "{json}");
        assert_eq!(
            json["config"]["mediaType"],
            "application/vnd.wasm.config.v1+json"
        );
        assert_eq!(json["config"]["digest"], sha256_digest(b"{}"));
        assert_eq!(json["layers"].as_array().unwrap().len(), 1);
        assert_eq!(
            json["layers"][0]["mediaType"],
            "application/vnd.wasm.content.layer.v1+wasm"
        );
        assert_eq!(json["layers"][0]["digest"], sha256_digest(module));
        assert_eq!(json["layers"][0]["size"], 8);
        assert_eq!(json["annotations"]["io.kubewarden.policy.title"], "t");
        assert!(policy_layer(&manifest).is_ok());
    }

    #[test]
    fn live_answers_only_manifest_digest() {
        let live = LiveRegistry::default();
        assert!(live
            .call("kubewarden", "oci", "v1/oci_manifest", b"\"x\"")
            .is_none());
        assert!(live
            .call("other", "oci", "v1/manifest_digest", b"\"x\"")
            .is_none());
        let err = live
            .call("kubewarden", "oci", "v1/manifest_digest", b"not json")
            .expect("handled")
            .expect_err("bad payload");
        assert!(err.contains("JSON string"), "{err}");
    }
}
