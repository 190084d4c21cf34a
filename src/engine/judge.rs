//! The policies' rules: which authorities each applicable policy needs
//! (`all` or `any`), each decided at most once, and for the policies not
//! satisfied the misses that become the rejection's reason. Separate from
//! `proofs` because it knows nothing of sources: it is handed a check and an
//! explanation per authority.

use super::{Engine, Policy};
use crate::settings::Require;
use crate::verdict::{Miss, PolicyMiss};

/// What deciding one authority for an image gave.
pub(super) enum Outcome {
    /// It attests the image.
    Proven,
    /// It does not, and why.
    Missed(Miss),
    /// It does not (no signature names its keys); why is worked out only
    /// if the image is rejected.
    Deferred,
}

/// Where an authority stands in [`Engine::judge`].
#[derive(Clone, Copy, PartialEq, Eq)]
enum Judged {
    /// Not checked yet.
    Unknown,
    /// It attests the image.
    Proven,
    /// It does not: the index of why in the misses.
    Missed(usize),
    /// It does not; why is worked out only if the image is rejected.
    Deferred,
}

impl Engine<'_> {
    /// Runs the applicable policies with `check` deciding each authority
    /// (at most once per authority): `Ok` as soon as one policy is
    /// satisfied, else every policy's misses, a deferred one explained by
    /// `explain` (at most once per authority). With `require: any` a policy
    /// stops at its first satisfied authority, so no further source (no
    /// further host call) is consulted.
    pub(super) fn judge(
        &self,
        check: impl Fn(usize) -> Outcome,
        explain: impl Fn(usize) -> Miss,
    ) -> Result<(), Vec<PolicyMiss>> {
        // Each authority's state, small (a fresh instance fills it for every
        // authority of every image judged); the misses themselves apart.
        let mut judged: Vec<Judged> =
            vec![Judged::Unknown; self.settings.attestation_authorities.len()];
        let mut misses: Vec<Miss> = Vec::new();
        // The policies not satisfied, with the authorities each misses: the
        // misses themselves are copied out of `misses` only if no policy is
        // satisfied, as an admitted image never shows them.
        let mut unsatisfied: Vec<(&Policy<'_>, Vec<usize>)> = Vec::new();
        for policy in &self.policies {
            let mut missing = Vec::new();
            let mut satisfied_any = false;
            for &a in &policy.authorities {
                if judged[a] == Judged::Unknown {
                    judged[a] = match check(a) {
                        Outcome::Proven => Judged::Proven,
                        Outcome::Missed(miss) => {
                            misses.push(miss);
                            Judged::Missed(misses.len() - 1)
                        }
                        Outcome::Deferred => Judged::Deferred,
                    };
                }
                match judged[a] {
                    Judged::Proven => {
                        satisfied_any = true;
                        if policy.require == Require::Any {
                            break;
                        }
                    }
                    _ => missing.push(a),
                }
            }
            let satisfied = match policy.require {
                Require::All => missing.is_empty() && !policy.authorities.is_empty(),
                Require::Any => satisfied_any,
            };
            if satisfied {
                return Ok(());
            }
            unsatisfied.push((policy, missing));
        }
        for (_, missing) in &unsatisfied {
            for &a in missing {
                if judged[a] == Judged::Deferred {
                    misses.push(explain(a));
                    judged[a] = Judged::Missed(misses.len() - 1);
                }
            }
        }
        Err(unsatisfied
            .into_iter()
            .map(|(policy, missing)| PolicyMiss {
                policy: policy.name.map(str::to_owned),
                require: policy.require,
                missing: missing
                    .into_iter()
                    .filter_map(|a| match judged[a] {
                        Judged::Missed(i) => Some((
                            String::from(&*self.settings.attestation_authorities[a].name),
                            misses[i].clone(),
                        )),
                        _ => None,
                    })
                    .collect(),
            })
            .collect())
    }
}
