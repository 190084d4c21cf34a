//! The annotation source: attestations in the object's
//! `kritis.grafeas.io/attestations` annotation, verified in the module.
//!
//! The annotation is parsed once per request and indexed by (digest,
//! repository); a signature's key id is looked up in the keyring's hash
//! map, never by scanning keys; each (attestation, signature, key) is
//! verified at most once, and at most [`MAX_FAILED_VERIFICATIONS`] failed
//! and verifications costing at most [`MAX_VERIFICATION_COST`] in all are
//! run per request.

use std::cell::{Cell, OnceCell, RefCell};
use std::collections::{HashMap, HashSet};

use crate::attestation::{self, AnnotationError, Attestation};
use crate::evaluate::{MAX_FAILED_VERIFICATIONS, MAX_VERIFICATION_COST};
use crate::host::Calls;
use crate::image::Repository;
use crate::index::{AttestationIndex, Candidates};
use crate::keyring::Keyring;
use crate::keys;
use crate::settings::Text;
use crate::verdict::{Listed, Miss};
use crate::verify;

/// What a verification proves: (attestation, signature, key slot). The key
/// is part of it, so a result proven with one authority's key is never
/// reused for another key that has the same id.
type Proof = (usize, usize, usize);

/// The annotation source for one request.
pub(crate) struct Annotation<'s> {
    values: &'s [Text<'s>],
    index: OnceCell<Result<AttestationIndex, AnnotationError>>,
    verified: RefCell<HashMap<Proof, Result<(), Miss>>>,
    failed: Cell<u32>,
    calls: Calls<'s>,
}

impl<'s> Annotation<'s> {
    /// The source over the annotation's values (object and pod template).
    pub fn new(values: &'s [Text<'s>], calls: Calls<'s>) -> Self {
        Annotation {
            values,
            index: OnceCell::new(),
            verified: RefCell::new(HashMap::new()),
            failed: Cell::new(0),
            calls,
        }
    }

    /// The attestations, parsed and indexed on first use.
    pub fn index(&self) -> &Result<AttestationIndex, AnnotationError> {
        self.index.get_or_init(|| {
            attestation::parse_all(self.values.iter().map(AsRef::as_ref)).map(AttestationIndex::new)
        })
    }

    /// Does authority `a` attest `repository` in one of the `candidates`
    /// (the attestations naming the digest)? On failure, the most telling
    /// reason found.
    pub fn check_authority(
        &self,
        keyring: &Keyring<'_>,
        a: usize,
        attestations: &[Attestation],
        candidates: &Candidates<'_>,
        repository: &Repository<'_>,
    ) -> Result<(), Miss> {
        let mut best: Option<Miss> = None;
        let mut note = |m: Miss| {
            if best.as_ref().is_none_or(|b| m.rank() > b.rank()) {
                best = Some(m);
            }
        };
        let mut signed_by: Listed<(String, bool)> = Listed::default();
        let mut seen_ids: HashSet<&str> = HashSet::new();
        if let Some(other) = candidates.other {
            note(Miss::OtherRepository {
                named: attestations[other].claims.docker_reference.clone(),
                expected: repository.to_string(),
            });
        }
        for &ai in candidates.matching {
            let att = &attestations[ai];
            self.calls.count(|w| {
                w.attestations_examined += 1;
                w.signatures_examined += att.signatures.len() as u64;
            });
            for (si, sig) in att.signatures.iter().enumerate() {
                let mut known = false;
                let mut ours = false;
                for k in keyring.named(&sig.key_id) {
                    known = true;
                    if keyring.slot(k).authority != a {
                        continue;
                    }
                    ours = true;
                    match self.verify(keyring, ai, si, att, k) {
                        Ok(()) => return Ok(()),
                        Err(m) => note(m),
                    }
                }
                if !ours && seen_ids.insert(&sig.key_id) {
                    signed_by.push_with(|| (sig.key_id.clone(), known));
                }
            }
        }
        Err(best.unwrap_or_else(|| Miss::NoSignature {
            key_ids: keyring.ids_of(a).collect(),
            signed_by,
        }))
    }

    /// Verifies signature `si` of attestation `ai` with key slot `k`.
    fn verify(
        &self,
        keyring: &Keyring<'_>,
        ai: usize,
        si: usize,
        att: &Attestation,
        k: usize,
    ) -> Result<(), Miss> {
        if let Some(r) = self.verified.borrow().get(&(ai, si, k)) {
            return r.clone();
        }
        let slot = keyring.slot(k);
        let result = if self.failed.get() >= MAX_FAILED_VERIFICATIONS {
            Err(Miss::Budget)
        } else {
            match slot
                .parsed
                .get_or_init(|| keys::parse_key(slot.data, slot.algorithm))
            {
                Err(e) => Err(Miss::BadKey {
                    key_id: slot.display_id(),
                    error: e.clone(),
                }),
                Ok(key)
                    if self.calls.work().verification_cost + key.cost() > MAX_VERIFICATION_COST =>
                {
                    Err(Miss::VerificationBudget)
                }
                Ok(key) => {
                    self.calls.count(|w| {
                        w.verifications += 1;
                        w.verification_cost += key.cost();
                    });
                    let sig = &att.signatures[si];
                    verify::verify(key, &att.payload, &att.payload_sha256, &sig.bytes)
                        .map(|_| ())
                        .map_err(|error| {
                            self.failed.set(self.failed.get() + 1);
                            Miss::BadSignature {
                                key_id: sig.key_id.clone(),
                                error,
                            }
                        })
                }
            }
        };
        self.verified
            .borrow_mut()
            .insert((ai, si, k), result.clone());
        result
    }
}
