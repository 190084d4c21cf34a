//! Registry access behind a trait: what verification and signing need from a
//! registry ([`SignatureStore`]), and its `oci-client` implementation.

use std::fmt;
use std::pin::Pin;
use std::task::{Context as TaskContext, Poll};

use anyhow::{Context as _, Result};
use oci_client::errors::{OciDistributionError, OciErrorCode};
use oci_client::manifest::{IMAGE_MANIFEST_MEDIA_TYPE, OCI_IMAGE_MEDIA_TYPE};
use oci_client::secrets::RegistryAuth;
use oci_client::{Client, Reference};

/// Makes the registry client for a reference (`RegistryOptions::client`:
/// plain HTTP or HTTPS, extra CA certificates, timeouts).
pub type Connect<'a> = &'a dyn Fn(&Reference) -> Result<Client>;

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

/// A registry reached with `oci-client`, anonymously.
pub struct RegistryStore {
    pub(super) client: Client,
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
        Ok(Self {
            client: connect(image)?,
            runtime: tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .context("cannot start the async runtime for registry access")?,
        })
    }
}

/// "Not found" answers: the manifest or the repository is unknown.
fn is_not_found(error: &OciDistributionError) -> bool {
    match error {
        OciDistributionError::RegistryError { envelope, .. } => envelope.errors.iter().any(|e| {
            matches!(
                e.code,
                OciErrorCode::ManifestUnknown | OciErrorCode::NameUnknown | OciErrorCode::NotFound
            )
        }),
        OciDistributionError::ServerError { code, .. } => *code == 404,
        OciDistributionError::ImageManifestNotFoundError(_) => true,
        _ => false,
    }
}

/// An `AsyncWrite` into memory that refuses more than `limit` bytes.
struct BoundedSink {
    data: Vec<u8>,
    limit: usize,
}

impl tokio::io::AsyncWrite for BoundedSink {
    fn poll_write(
        mut self: Pin<&mut Self>,
        _: &mut TaskContext<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        if self.data.len().saturating_add(buf.len()) > self.limit {
            let limit = self.limit;
            return Poll::Ready(Err(std::io::Error::other(format!(
                "the blob is larger than {limit} bytes"
            ))));
        }
        self.data.extend_from_slice(buf);
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, _: &mut TaskContext<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _: &mut TaskContext<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

impl SignatureStore for RegistryStore {
    fn resolve(&self, image: &Reference) -> Result<String, String> {
        self.runtime
            .block_on(
                self.client
                    .fetch_manifest_digest(image, &RegistryAuth::Anonymous),
            )
            .map_err(|e| e.to_string())
    }

    fn manifest(&self, reference: &Reference, limit: usize) -> Result<Fetched, String> {
        // oci-client reads the body before the size can be checked; the
        // read timeout bounds how long that takes.
        match self.runtime.block_on(self.client.pull_manifest_raw(
            reference,
            &RegistryAuth::Anonymous,
            &[OCI_IMAGE_MEDIA_TYPE, IMAGE_MANIFEST_MEDIA_TYPE],
        )) {
            Ok((bytes, _)) if bytes.len() > limit => Err(format!(
                "the manifest is {} bytes, more than {limit}",
                bytes.len()
            )),
            Ok((bytes, _)) => Ok(Fetched::Found(bytes.to_vec())),
            Err(e) if is_not_found(&e) => Ok(Fetched::Absent(e.to_string())),
            Err(e) => Err(e.to_string()),
        }
    }

    fn blob(&self, reference: &Reference, digest: &str, limit: usize) -> Result<Vec<u8>, String> {
        let mut sink = BoundedSink {
            data: Vec::new(),
            limit,
        };
        self.runtime
            .block_on(self.client.pull_blob(reference, digest, &mut sink))
            .map_err(|e| e.to_string())?;
        Ok(sink.data)
    }
}
