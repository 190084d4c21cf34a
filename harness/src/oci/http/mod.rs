//! Every byte the harness reads from a registry: one HTTP client with a
//! redirect policy, and one bounded reader.
//!
//! Why not `oci-client` for reads: its client reads a manifest body in full
//! with no limit (`Response::bytes`), follows up to 10 redirects to any host
//! and scheme (HTTPS to HTTP included), and takes no redirect policy. Reads go
//! through this module instead, with `reqwest` (the HTTP client `oci-client`
//! itself is built on, so no new crate): `GET`/`HEAD` of manifests, `GET` of
//! blobs, and the anonymous token exchange a registry may ask for. Writes
//! (`push`, `sign --push`) still use `oci-client`; a registry's answers to
//! them are small status documents.
//!
//! The rules, each with a clear error:
//! - a body is read chunk by chunk into a buffer that grows with what has
//!   arrived (never allocated from a declared size), and is cut off at its
//!   cap ([`MAX_MANIFEST_BYTES`], [`MAX_MODULE_BYTES`], or the caller's) or
//!   at the size its descriptor declares, whichever is smaller; a declared
//!   size (descriptor or `Content-Length`) over the cap is refused before
//!   anything is read;
//! - a redirect must keep the scheme of the first request (no HTTPS → HTTP,
//!   and no HTTP → HTTPS either) and at most [`MAX_REDIRECTS`] are followed;
//!   another host is allowed (registries send blobs to a CDN), and the
//!   registry's token goes only to the registry's own scheme, host and port
//!   (redirects are followed here, see `next_hop`);
//! - connect timeout, read timeout (per read) and an overall deadline per
//!   request, body included ([`MANIFEST_DEADLINE`], [`BLOB_DEADLINE`]), so a
//!   slow endless body is cut off too.
//!
//! The cost oracle: [`Meter`] counts, per thread, the requests sent, the
//! redirects followed and the body bytes received, so tests can assert the
//! bounds (all registry I/O runs on a current-thread runtime driven by the
//! calling thread, so the counts are that thread's).

mod auth;
mod error;
mod meter;

use std::fmt;
use std::sync::Mutex;
use std::time::Duration;

use oci_client::Reference;
use reqwest::header::{HeaderMap, ACCEPT, CONTENT_LENGTH};
use reqwest::{Method, StatusCode};

use auth::{bearer_challenge, Challenge};
use error::{chain, transport};
use meter::{count, BYTES, REDIRECTS, REQUESTS};

pub use error::HttpError;
pub use meter::Meter;

/// Largest manifest read (the distribution spec's 4 MiB, as registries
/// themselves cap what they accept).
pub const MAX_MANIFEST_BYTES: usize = 4 << 20;
/// Largest policy module (wasm layer) pulled. Kubewarden policies are a few
/// MiB (Rego and Go ones the largest, tens of MiB); this bounds memory.
pub const MAX_MODULE_BYTES: usize = 128 << 20;
/// Largest answer of a token endpoint, and of an error body kept for a message.
pub const MAX_SMALL_BODY_BYTES: usize = 64 << 10;
/// Most redirects followed for one request.
pub const MAX_REDIRECTS: usize = 3;
/// Connect timeout.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Longest wait for any single read.
pub const READ_TIMEOUT: Duration = Duration::from_secs(30);
/// Overall deadline of a manifest, `HEAD` or token request, body included.
pub const MANIFEST_DEADLINE: Duration = Duration::from_secs(60);
/// Overall deadline of a blob request, body included.
pub const BLOB_DEADLINE: Duration = Duration::from_secs(300);

/// Manifest media types asked for (OCI and Docker, images and indexes).
const MANIFEST_ACCEPT: &str = "application/vnd.oci.image.manifest.v1+json, \
    application/vnd.docker.distribution.manifest.v2+json, \
    application/vnd.oci.image.index.v1+json, \
    application/vnd.docker.distribution.manifest.list.v2+json";
// ---------------------------------------------------------------------------
// Redirects

/// The next URL of a redirect answer, checked: same scheme as the first
/// request, at most [`MAX_REDIRECTS`] hops. `None` when `response` is not a
/// redirect.
///
/// Redirects are followed here, not by `reqwest`: its policy can refuse a
/// hop but cannot drop a header, and it restores the request's original
/// headers at every hop, removing `Authorization` only when the host changes
/// *on that hop*, so a second hop on the CDN's host got the registry's token
/// again (found by `tests/hostile_registry.rs`).
fn next_hop(
    response: &reqwest::Response,
    first: &reqwest::Url,
    hops: usize,
) -> Option<Result<reqwest::Url, HttpError>> {
    if !response.status().is_redirection() || response.status() == StatusCode::NOT_MODIFIED {
        return None;
    }
    let here = response.url();
    let refused = |reason: String| HttpError::Transport {
        url: first.to_string(),
        reason,
    };
    let Some(location) = response
        .headers()
        .get(reqwest::header::LOCATION)
        .and_then(|v| v.to_str().ok())
    else {
        return Some(Err(refused(format!(
            "{here} answered HTTP {} without a Location",
            response.status().as_u16()
        ))));
    };
    let next = match here.join(location) {
        Ok(next) => next,
        Err(e) => {
            return Some(Err(refused(format!(
                "{here} redirects to {:?}, not a URL: {e}",
                location.escape_debug().to_string()
            ))))
        }
    };
    if hops >= MAX_REDIRECTS {
        return Some(Err(refused(format!(
            "more than {MAX_REDIRECTS} redirects (the last one to {next}): refused"
        ))));
    }
    if next.scheme() != first.scheme() {
        return Some(Err(refused(format!(
            "redirect to {next} leaves the {} scheme of the request: refused (a registry may \
             redirect to another host, never to another scheme)",
            first.scheme()
        ))));
    }
    Some(Ok(next))
}

/// `true` when `a` and `b` have the same scheme, host and port: only then
/// does a request carry the registry's token.
fn same_origin(a: &reqwest::Url, b: &reqwest::Url) -> bool {
    a.scheme() == b.scheme()
        && a.host_str() == b.host_str()
        && a.port_or_known_default() == b.port_or_known_default()
}

// ---------------------------------------------------------------------------
// The bounded reader

/// Reads `response`'s body: at most `limit` bytes, and at most `expected`
/// when the caller knows the size (a descriptor's). A `Content-Length` over
/// either is refused before reading; the buffer grows with what arrives.
async fn read_bounded(
    mut response: reqwest::Response,
    what: &str,
    limit: usize,
    expected: Option<u64>,
) -> Result<Vec<u8>, HttpError> {
    let url = response.url().to_string();
    let cap = u64::try_from(limit).unwrap_or(u64::MAX);
    let (bound, declared) = match expected {
        Some(e) if e <= cap => (e, true),
        _ => (cap, false),
    };
    // `content_length` is the header (0 for HEAD). hyper stops at it.
    if let Some(length) = response
        .headers()
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok())
    {
        if length > cap {
            return Err(HttpError::DeclaredTooLarge {
                what: what.to_owned(),
                declared: length,
                limit,
            });
        }
        if length > bound {
            return Err(HttpError::TooLong {
                what: what.to_owned(),
                limit: bound,
                declared,
            });
        }
    }
    let mut body = Vec::new();
    loop {
        let chunk = match response.chunk().await {
            Ok(Some(chunk)) => chunk,
            Ok(None) => break,
            Err(e) => return Err(transport(&url, &e)),
        };
        count(&BYTES, u64::try_from(chunk.len()).unwrap_or(u64::MAX));
        let total = u64::try_from(body.len().saturating_add(chunk.len())).unwrap_or(u64::MAX);
        if total > bound {
            return Err(HttpError::TooLong {
                what: what.to_owned(),
                limit: bound,
                declared,
            });
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// A small body (an error document, a token) as text, cut.
async fn small_text(response: reqwest::Response) -> String {
    match read_bounded(response, "response", MAX_SMALL_BODY_BYTES, None).await {
        Ok(bytes) => String::from_utf8_lossy(&bytes).into_owned(),
        Err(e) => format!("(body unreadable: {e})"),
    }
}

// ---------------------------------------------------------------------------
// The client

/// A registry read: the body and the `Docker-Content-Digest` header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Body {
    /// The bytes as served.
    pub bytes: Vec<u8>,
    /// `Docker-Content-Digest`, when sent.
    pub digest: Option<String>,
}

/// Reads from one registry, anonymously, bounded (see the module's doc).
pub struct RegistryHttp {
    client: reqwest::Client,
    /// `http` or `https`.
    scheme: &'static str,
    /// An anonymous bearer token, once the registry asked for one.
    token: Mutex<Option<String>>,
}

impl fmt::Debug for RegistryHttp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RegistryHttp({})", self.scheme)
    }
}

impl RegistryHttp {
    /// A reader for one registry: plain HTTP when `plain_http`, else HTTPS
    /// trusting the system roots and `extra_roots` (PEM).
    ///
    /// # Errors
    /// A certificate that cannot be used, or a client that cannot be built.
    pub fn new(plain_http: bool, extra_roots: &[Vec<u8>]) -> Result<Self, HttpError> {
        install_crypto_provider();
        let scheme = if plain_http { "http" } else { "https" };
        let mut certificates = Vec::new();
        for pem in extra_roots {
            certificates.push(reqwest::Certificate::from_pem(pem).map_err(|e| {
                HttpError::Other(format!("an extra CA certificate: {}", chain(&e)))
            })?);
        }
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(CONNECT_TIMEOUT)
            .read_timeout(READ_TIMEOUT)
            .user_agent(concat!("policy-harness/", env!("CARGO_PKG_VERSION")))
            .tls_certs_merge(certificates)
            .build()
            .map_err(|e| {
                HttpError::Other(format!("cannot create the registry client: {}", chain(&e)))
            })?;
        Ok(Self {
            client,
            scheme,
            token: Mutex::new(None),
        })
    }

    fn base(&self, reference: &Reference) -> String {
        format!(
            "{}://{}/v2/{}",
            self.scheme,
            reference.resolve_registry(),
            reference.repository()
        )
    }

    fn manifest_url(&self, reference: &Reference) -> String {
        let tag_or_digest = reference
            .digest()
            .or_else(|| reference.tag())
            .unwrap_or("latest");
        format!("{}/manifests/{tag_or_digest}", self.base(reference))
    }

    fn blob_url(&self, reference: &Reference, digest: &str) -> String {
        format!("{}/blobs/{digest}", self.base(reference))
    }

    fn current_token(&self) -> Option<String> {
        self.token.lock().ok().and_then(|t| t.clone())
    }

    /// Sends one request and follows its redirects (see [`next_hop`]);
    /// the token, once there is one, goes only to the registry's own origin.
    /// On a 401 with a `Bearer` challenge from the registry, gets an
    /// anonymous token and sends the request once more. `deadline` bounds
    /// the whole exchange, the last response's body included.
    async fn send(
        &self,
        method: Method,
        url: &str,
        accept: Option<&str>,
        deadline: Duration,
        reference: &Reference,
    ) -> Result<reqwest::Response, HttpError> {
        let started = std::time::Instant::now();
        let first = reqwest::Url::parse(url)
            .map_err(|e| HttpError::Other(format!("invalid registry URL {url}: {e}")))?;
        let mut target = first.clone();
        let mut hops = 0;
        let mut retried = false;
        loop {
            let left = deadline.saturating_sub(started.elapsed());
            let mut request = self
                .client
                .request(method.clone(), target.clone())
                .timeout(left);
            if let Some(accept) = accept {
                request = request.header(ACCEPT, accept);
            }
            if same_origin(&target, &first) {
                if let Some(token) = self.current_token() {
                    request = request.bearer_auth(token);
                }
            }
            count(&REQUESTS, 1);
            let response = request
                .send()
                .await
                .map_err(|e| transport(target.as_str(), &e))?;
            if let Some(next) = next_hop(&response, &first, hops) {
                target = next?;
                hops += 1;
                count(&REDIRECTS, 1);
                continue;
            }
            if response.status() == StatusCode::UNAUTHORIZED
                && !retried
                && same_origin(&target, &first)
            {
                if let Some(challenge) = bearer_challenge(response.headers()) {
                    let token = self.fetch_token(&challenge, reference).await?;
                    if let Ok(mut slot) = self.token.lock() {
                        *slot = Some(token);
                    }
                    retried = true;
                    continue;
                }
            }
            return Ok(response);
        }
    }

    /// The anonymous token exchange (distribution's token authentication):
    /// `GET realm?service=…&scope=repository:REPO:pull`, answer
    /// `{"token": …}` or `{"access_token": …}`, read bounded.
    async fn fetch_token(
        &self,
        challenge: &Challenge,
        reference: &Reference,
    ) -> Result<String, HttpError> {
        let realm = reqwest::Url::parse(&challenge.realm).map_err(|e| {
            HttpError::Other(format!(
                "the registry's token realm {:?} is not a URL: {e}",
                challenge.realm
            ))
        })?;
        // The token endpoint may be another host (Docker Hub's is), but not
        // a weaker scheme: a token fetched over plain HTTP for an HTTPS
        // registry could be read or replaced on the way.
        if self.scheme == "https" && realm.scheme() != "https" {
            return Err(HttpError::Other(format!(
                "the registry asks for a token from {realm}, not HTTPS: refused"
            )));
        }
        let scope = format!("repository:{}:pull", reference.repository());
        let mut query = vec![("scope", scope.as_str())];
        if let Some(service) = challenge.service.as_deref() {
            query.push(("service", service));
        }
        let url = realm.to_string();
        count(&REQUESTS, 1);
        let response = self
            .client
            .get(realm)
            .query(&query)
            .timeout(MANIFEST_DEADLINE)
            .send()
            .await
            .map_err(|e| transport(&url, &e))?;
        let status = response.status();
        if !status.is_success() {
            return Err(HttpError::Status {
                url,
                status: status.as_u16(),
                body: small_text(response).await,
            });
        }
        let bytes = read_bounded(response, "token", MAX_SMALL_BODY_BYTES, None).await?;
        #[derive(serde::Deserialize)]
        struct Token {
            token: Option<String>,
            access_token: Option<String>,
        }
        let token: Token = serde_json::from_slice(&bytes).map_err(|e| {
            HttpError::Other(format!("the token endpoint {url} answered no token: {e}"))
        })?;
        token
            .token
            .or(token.access_token)
            .filter(|t| !t.is_empty())
            .ok_or_else(|| HttpError::Other(format!("the token endpoint {url} answered no token")))
    }

    /// A success, or the status as an error (the body read bounded).
    async fn checked(
        response: reqwest::Response,
        url: &str,
    ) -> Result<reqwest::Response, HttpError> {
        let status = response.status();
        if status.is_success() {
            return Ok(response);
        }
        let body = small_text(response).await;
        if status == StatusCode::NOT_FOUND {
            Err(HttpError::NotFound {
                url: url.to_owned(),
                body,
            })
        } else {
            Err(HttpError::Status {
                url: url.to_owned(),
                status: status.as_u16(),
                body,
            })
        }
    }

    /// A successful `method` request for the manifest `reference` names,
    /// with the manifest media types accepted: what `GET` and `HEAD` share.
    async fn manifest_request(
        &self,
        method: Method,
        reference: &Reference,
    ) -> Result<reqwest::Response, HttpError> {
        let url = self.manifest_url(reference);
        let response = self
            .send(
                method,
                &url,
                Some(MANIFEST_ACCEPT),
                MANIFEST_DEADLINE,
                reference,
            )
            .await?;
        Self::checked(response, &url).await
    }

    /// `GET` of the manifest `reference` names: at most `limit` bytes
    /// (itself at most [`MAX_MANIFEST_BYTES`]).
    ///
    /// # Errors
    /// See [`HttpError`].
    pub async fn manifest(&self, reference: &Reference, limit: usize) -> Result<Body, HttpError> {
        let response = self.manifest_request(Method::GET, reference).await?;
        let digest = content_digest(response.headers());
        let bytes = read_bounded(response, "manifest", limit.min(MAX_MANIFEST_BYTES), None).await?;
        Ok(Body { bytes, digest })
    }

    /// The digest of the manifest `reference` names: `HEAD`'s
    /// `Docker-Content-Digest`, or, without it, the SHA-256 of a bounded `GET`.
    ///
    /// # Errors
    /// See [`HttpError`].
    pub async fn manifest_digest(&self, reference: &Reference) -> Result<String, HttpError> {
        let response = self.manifest_request(Method::HEAD, reference).await?;
        if let Some(digest) = content_digest(response.headers()) {
            return Ok(digest);
        }
        let body = self.manifest(reference, MAX_MANIFEST_BYTES).await?;
        Ok(body
            .digest
            .unwrap_or_else(|| super::sha256_digest(&body.bytes)))
    }

    /// `GET` of the blob `digest`: at most `limit` bytes, and exactly
    /// `expected` when the descriptor says (a larger declaration is refused
    /// before any request).
    ///
    /// # Errors
    /// See [`HttpError`].
    pub async fn blob(
        &self,
        reference: &Reference,
        digest: &str,
        limit: usize,
        expected: Option<u64>,
    ) -> Result<Vec<u8>, HttpError> {
        let what = format!("blob {digest}");
        if let Some(declared) = expected {
            if declared > u64::try_from(limit).unwrap_or(u64::MAX) {
                return Err(HttpError::DeclaredTooLarge {
                    what,
                    declared,
                    limit,
                });
            }
        }
        let url = self.blob_url(reference, digest);
        let response = self
            .send(Method::GET, &url, None, BLOB_DEADLINE, reference)
            .await?;
        let response = Self::checked(response, &url).await?;
        read_bounded(response, &what, limit, expected).await
    }
}

fn content_digest(headers: &HeaderMap) -> Option<String> {
    headers
        .get("docker-content-digest")
        .and_then(|v| v.to_str().ok())
        .map(|v| v.trim().to_owned())
        .filter(|v| !v.is_empty())
}
/// rustls needs a process-wide crypto provider: `ring` (the only one built).
pub(crate) fn install_crypto_provider() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        // Fails only when a provider is already installed, which is fine.
        let _ = rustls::crypto::ring::default_provider().install_default();
    });
}

/// Runs `future` on a new current-thread runtime (the harness evaluates
/// synchronously, like kwctl).
///
/// # Errors
/// The runtime cannot be started.
pub fn block_on<F: std::future::Future>(future: F) -> Result<F::Output, HttpError> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| {
            HttpError::Other(format!(
                "cannot start the async runtime for registry access: {e}"
            ))
        })?;
    Ok(runtime.block_on(future))
}
