//! The full check run by `validate_settings` when policy-server loads the
//! policy: the structural checks, then every key and certificate decoded.
//! Separate from `structure` because it is costly and runs once, never on a
//! request.

use std::collections::HashMap;

use super::{key_path, Settings};
use crate::keys::{self, KeyError};

impl Settings<'_> {
    /// The full check run by `validate_settings`: structure, then every key
    /// decoded, its algorithm checked, and key ids (explicit or kritis's
    /// default) unique across all authorities.
    ///
    /// # Errors
    /// Every problem found, each with its settings path, joined by `; `.
    pub fn validate(&self) -> Result<(), String> {
        let mut errors = self.structural_errors();
        let registry = self.sources().registry;
        let mut ids: HashMap<String, String> = HashMap::new();
        for (i, a) in self.attestation_authorities.iter().enumerate() {
            let at = format!("attestationAuthorities[{i}]");
            if let Some(c) = &a.certificate {
                let check = |text: &str| {
                    crate::certificate::der(text).and_then(|d| crate::certificate::check(&d))
                };
                if let Err(e) = check(&c.certificate) {
                    errors.push(format!(
                        "{at}.certificate.certificate: authority {:?}: {e}",
                        a.name
                    ));
                }
                for (k, ca) in c.certificate_chain.iter().flatten().enumerate() {
                    if let Err(e) = check(ca) {
                        errors.push(format!(
                            "{at}.certificate.certificateChain[{k}]: authority {:?}: {e}",
                            a.name
                        ));
                    }
                }
            }
            for k in a.keys() {
                let path = key_path(&at, k);
                match keys::parse_key(k.data, k.algorithm) {
                    Ok(key) if registry => {
                        if let Some(why) = keys::registry_incompatibility(&key) {
                            errors.push(format!(
                                "{path}.signatureAlgorithm: authority {:?}, key {}: the registry source cannot check it: {why}",
                                a.name,
                                k.id.map_or_else(|| "(default id)".to_owned(), |id| format!("{id:?}"))
                            ));
                        }
                    }
                    Ok(_) => {}
                    Err(e @ (KeyError::UnknownAlgorithm | KeyError::AlgorithmMismatch(..))) => {
                        errors.push(format!("{path}.signatureAlgorithm: {e}"));
                    }
                    Err(e) => {
                        errors.push(format!("{path}.publicKeyData: {e}"));
                        continue;
                    }
                }
                let id = match k.id {
                    Some(id) => id.to_owned(),
                    None => match keys::default_key_id(k.data) {
                        Ok(id) => id,
                        Err(_) => continue,
                    },
                };
                if let Some(other) = ids.insert(id.clone(), path.clone()) {
                    errors.push(format!(
                        "{path}.publicKeyId: duplicate key id {id:?} (also {other})"
                    ));
                }
            }
        }
        if errors.is_empty() {
            Ok(())
        } else {
            Err(errors.join("; "))
        }
    }
}
