//! OCI artifacts: the Kubewarden metadata inside a module (`metadata`, a
//! leaf), cosign signatures stored next to images (`cosign`, a leaf that is
//! handed its registry clients) and registries (`registry`, which reads the
//! metadata when it pushes or pulls and serves `cosign` live). Dependencies
//! run one way: `registry` → `metadata`, `registry` → `cosign`.

pub mod cosign;
pub mod http;
pub mod keyless;
pub mod metadata;
pub mod registry;
pub mod sources;

use std::fmt::Write as _;

use sha2::{Digest as _, Sha256};

/// `sha256:<hex>` of `bytes`, as OCI descriptors and `kwctl inspect` write it.
#[must_use]
pub fn sha256_digest(bytes: &[u8]) -> String {
    let hash = Sha256::digest(bytes);
    let mut out = String::with_capacity(71);
    out.push_str("sha256:");
    for b in hash.iter() {
        let _ = write!(out, "{b:02x}");
    }
    out
}
