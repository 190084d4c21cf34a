//! The live host for keyless requests: wraps the registry's live host
//! (`manifest_digest`, `SigstorePubKeyVerify`) and adds the keyless
//! `v2/verify` types and `v1/oci_manifest`. Errors read as policy-server's
//! (`Callback evaluation failure: ` and the reason).

use std::sync::Arc;

use crate::host::capabilities::{LiveAnswer, LiveCapabilities, KUBEWARDEN_BINDING};
use crate::host::replay::CALLBACK_FAILURE_PREFIX;
use crate::oci::registry::RegistryOptions;

use super::{answer_oci_manifest, answer_verify, is_keyless_request, TrustRoot};

/// Keyless verification and manifests, live; everything else goes to `inner`.
#[derive(Debug)]
pub struct KeylessLive {
    inner: Arc<dyn LiveCapabilities>,
    options: RegistryOptions,
    trust: Option<Arc<TrustRoot>>,
}

impl KeylessLive {
    /// Serves keyless requests with `trust` (none: keyless requests fail,
    /// saying to pass `--sigstore-trust-config`), the rest through `inner`.
    pub fn new(
        inner: Arc<dyn LiveCapabilities>,
        options: RegistryOptions,
        trust: Option<Arc<TrustRoot>>,
    ) -> Self {
        Self {
            inner,
            options,
            trust,
        }
    }
}

impl LiveCapabilities for KeylessLive {
    fn call(
        &self,
        binding: &str,
        namespace: &str,
        operation: &str,
        payload: &[u8],
    ) -> Option<LiveAnswer> {
        let connect = |r: &oci_client::Reference| self.options.client(r);
        let answer = match (binding, namespace, operation) {
            (KUBEWARDEN_BINDING, "oci", "v2/verify") if is_keyless_request(payload) => {
                answer_verify(payload, self.trust.as_deref(), &connect)
            }
            (KUBEWARDEN_BINDING, "oci", "v1/oci_manifest") => {
                answer_oci_manifest(payload, &connect)
            }
            _ => return self.inner.call(binding, namespace, operation, payload),
        };
        Some(answer.map_err(|e| format!("{CALLBACK_FAILURE_PREFIX}{e}")))
    }
}
