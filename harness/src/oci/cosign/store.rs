//! Registry access behind a trait: what verification and signing need from a
//! registry ([`SignatureStore`]), and its implementation over the bounded
//! reader ([`crate::oci::http`]) and `oci-client` (pushes).

use std::fmt;

use anyhow::{Context as _, Result};
use oci_client::{Client, Reference};

use crate::oci::http::RegistryHttp;
use crate::oci::registry::RegistryClient;

/// Makes the registry clients for a reference (`RegistryOptions::client`:
/// plain HTTP or HTTPS, extra CA certificates, timeouts, the bounded reader).
pub type Connect<'a> = &'a dyn Fn(&Reference) -> Result<RegistryClient>;

/// A manifest fetched by tag.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fetched {
    /// The manifest's bytes as served.
    Found(Vec<u8>),
    /// The registry says there is none (its message).
    Absent(String),
}

/// What verification and signing need from a registry.
pub trait SignatureStore {
    /// The digest of the manifest `image` (a tag) names (`HEAD`).
    ///
    /// # Errors
    /// The registry's error, as text.
    fn resolve(&self, image: &Reference) -> Result<String, String>;
    /// The manifest at `reference`, at most `limit` bytes.
    ///
    /// # Errors
    /// Any failure other than "not found", as text.
    fn manifest(&self, reference: &Reference, limit: usize) -> Result<Fetched, String>;
    /// The blob `digest` of `reference`'s repository, at most `limit` bytes.
    ///
    /// # Errors
    /// Not found, too large, or a transport error, as text.
    fn blob(&self, reference: &Reference, digest: &str, limit: usize) -> Result<Vec<u8>, String>;
}

/// A registry reached anonymously: reads through the bounded reader
/// ([`RegistryHttp`]), writes (`push`) with `oci-client`.
pub struct RegistryStore {
    pub(super) client: Client,
    pub(super) http: RegistryHttp,
    pub(super) runtime: tokio::runtime::Runtime,
}

impl fmt::Debug for RegistryStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("RegistryStore")
    }
}

impl RegistryStore {
    /// A store reaching `image`'s registry through `connect`.
    ///
    /// # Errors
    /// The client or the async runtime cannot be built.
    pub fn new(image: &Reference, connect: Connect<'_>) -> Result<Self> {
        let clients = connect(image)?;
        Ok(Self {
            client: clients.oci,
            http: clients.http,
            runtime: tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .context("cannot start the async runtime for registry access")?,
        })
    }
}

impl SignatureStore for RegistryStore {
    fn resolve(&self, image: &Reference) -> Result<String, String> {
        self.runtime
            .block_on(self.http.manifest_digest(image))
            .map_err(|e| e.to_string())
    }

    fn manifest(&self, reference: &Reference, limit: usize) -> Result<Fetched, String> {
        // Bounded while reading (a declared `Content-Length` over `limit` is
        // refused before), with an overall deadline: a fast endless body is
        // cut at `limit`, a slow one at the deadline.
        match self.runtime.block_on(self.http.manifest(reference, limit)) {
            Ok(body) => Ok(Fetched::Found(body.bytes)),
            Err(e) if e.is_not_found() => Ok(Fetched::Absent(e.to_string())),
            Err(e) => Err(e.to_string()),
        }
    }

    fn blob(&self, reference: &Reference, digest: &str, limit: usize) -> Result<Vec<u8>, String> {
        self.runtime
            .block_on(self.http.blob(reference, digest, limit, None))
            .map_err(|e| e.to_string())
    }
}
