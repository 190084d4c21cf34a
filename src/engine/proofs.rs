//! Each authority's proof for one digest, from the enabled sources: the
//! annotation (verified here, authorities no signature names deferred) and
//! the registry (verified by the host, by keys or identities), and for a tag
//! under the registry source the digest the host verified. Separate from
//! `judge`, which combines these outcomes by the policies' rules without
//! knowing where they came from.

use std::borrow::Cow;

use super::judge::Outcome;
use super::Engine;
use crate::image::Repository;
use crate::verdict::{Listed, Miss, Reason};

impl Engine<'_> {
    /// Admitted when at least one applicable policy is satisfied. `image` is
    /// the image as written (`pinned`: a tag whose digest came from the
    /// host), for the registry source.
    pub(super) fn check_digest(
        &self,
        image: &str,
        pinned: bool,
        repository: &Repository<'_>,
        digest: &str,
    ) -> Result<(), Reason> {
        self.count(|w| w.digest_checks += 1);
        let annotation = if self.sources.annotation {
            let parsed = self.annotation.index().as_ref();
            if !self.sources.registry {
                // Annotation only: today's reasons, for the whole image.
                let parsed = parsed.map_err(|e| Reason::Annotation(e.clone()))?;
                if parsed.candidates(digest, &repository.to_string()).is_none() {
                    return Err(Reason::NoAttestation {
                        digest: digest.to_owned(),
                        carried: parsed.list.len(),
                    });
                }
            }
            Some(parsed.map(|p| (p, p.candidates(digest, &repository.to_string()))))
        } else {
            None
        };
        // Annotation only: the authorities some signature on these
        // attestations names. Any other authority's check verifies nothing
        // and can only miss (no signature by its keys, or an attestation
        // for another repository), so it is deferred: its reason is built
        // only if the image is rejected, and an image one of 100
        // authorities attests costs one lookup per signature, not 100
        // misses with their key ids allocated and freed.
        let named: Option<Vec<bool>> = match &annotation {
            Some(Ok((parsed, Some(candidates)))) if !self.sources.registry => {
                let mut named = vec![false; self.settings.attestation_authorities.len()];
                for &ai in candidates.matching {
                    for sig in &parsed.list[ai].signatures {
                        for k in self.keyring.named(&sig.key_id) {
                            if let Some(flag) = named.get_mut(self.keyring.authority_of(k)) {
                                *flag = true;
                            }
                        }
                    }
                }
                Some(named)
            }
            _ => None,
        };
        // The registry is asked about the exact digest being judged.
        let registry_image: Cow<'_, str> = if pinned {
            Cow::Owned(format!("{image}@{digest}"))
        } else {
            Cow::Borrowed(image)
        };
        let check = |a: usize| -> Outcome {
            if named.as_ref().and_then(|n| n.get(a)) == Some(&false) {
                return Outcome::Deferred;
            }
            let from_annotation = annotation.as_ref().map(|found| match found {
                Err(e) => Err(Miss::Annotation((*e).clone())),
                Ok((parsed, None)) => Err(Miss::NotInAnnotation {
                    digest: digest.to_owned(),
                    carried: parsed.list.len(),
                }),
                Ok((parsed, Some(candidates))) => self.annotation.check_authority(
                    &self.keyring,
                    a,
                    &parsed.list,
                    candidates,
                    repository,
                ),
            });
            let annotation_miss = match from_annotation {
                Some(Ok(())) => return Outcome::Proven,
                Some(Err(miss)) => Some(miss),
                None => None,
            };
            if !self.sources.registry {
                return Outcome::Missed(annotation_miss.unwrap_or(Miss::TagOnly));
            }
            let registry_miss =
                match self.registry_check(a, &registry_image, repository, Some(digest)) {
                    Ok(()) => return Outcome::Proven,
                    Err(miss) => miss,
                };
            Outcome::Missed(match annotation_miss {
                Some(annotation) => Miss::Both {
                    annotation: Box::new(annotation),
                    registry: Box::new(registry_miss),
                },
                None => registry_miss,
            })
        };
        // A deferred authority's reason: its check run now. Nothing names
        // its keys, so nothing is verified and it misses as it would have.
        let explain = |a: usize| -> Miss {
            let result = match &annotation {
                Some(Ok((parsed, Some(candidates)))) => self.annotation.check_authority(
                    &self.keyring,
                    a,
                    &parsed.list,
                    candidates,
                    repository,
                ),
                _ => Ok(()),
            };
            // Only a deferred authority is explained, and it cannot be
            // proven; should that ever change, the image still fails closed
            // (this is only its reason).
            result.err().unwrap_or_else(|| Miss::NoSignature {
                key_ids: self.keyring.ids_of(a).collect(),
                signed_by: Listed::default(),
            })
        };
        self.judge(check, explain).map_err(Reason::Unsatisfied)
    }

    /// Authority `a` proven by the registry: by its keys or its identities.
    fn registry_check(
        &self,
        a: usize,
        image: &str,
        repository: &Repository<'_>,
        digest: Option<&str>,
    ) -> Result<(), Miss> {
        if self.identities().has(a) {
            self.identities()
                .check(a, image, repository, digest)
                .map(|_| ())
        } else {
            self.registry().check(&self.keyring, a, image, digest)
        }
    }

    /// For a tag under the registry source: asks the host to verify it
    /// with the keys (or identities) of the authorities the applicable
    /// policies name, in order, until one verifies; the digest it verified
    /// is the image's digest from then on.
    pub(super) fn learn_digest(
        &self,
        image: &str,
        repository: &Repository<'_>,
    ) -> Result<String, Reason> {
        for policy in &self.policies {
            for &a in &policy.authorities {
                if self.identities().has(a) {
                    if let Some((i, digest)) = self.identities().learn(a, image) {
                        self.identities()
                            .remember(format!("{image}@{digest}"), a, i, &digest);
                        return Ok(digest);
                    }
                    continue;
                }
                for k in self.keyring.of(a) {
                    if let Ok(digest) = self.registry().verify(&self.keyring, image, k, None) {
                        // The pinned form is what later calls send: the
                        // same key needs no second call for it.
                        self.registry()
                            .remember(format!("{image}@{digest}"), k, &digest);
                        return Ok(digest);
                    }
                }
            }
        }
        let annotation = self.sources.annotation;
        let miss = |a: usize| {
            let registry = self
                .registry_check(a, image, repository, None)
                .err()
                .unwrap_or(Miss::TagOnly);
            if annotation {
                Miss::Both {
                    annotation: Box::new(Miss::TagOnly),
                    registry: Box::new(registry),
                }
            } else {
                registry
            }
        };
        let misses = self
            .judge(|a| Outcome::Missed(miss(a)), miss)
            .err()
            .unwrap_or_default();
        Err(Reason::Unsatisfied(misses))
    }
}
