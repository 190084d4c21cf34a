//! The registry source for identity authorities (keyless, GitHub Actions,
//! certificate): signatures next to the image, verified by Kubewarden's
//! host (`oci`/`v2/verify`) one identity per call, at most once per
//! (image, identity) per request; for keyless identities, the signature
//! layers are then checked by the policy itself ([`signature_layers`]),
//! because the host does not bind a layer's signature to its certificate.

use std::cell::{OnceCell, RefCell};
use std::collections::{BTreeMap, HashMap};

use crate::certificate;
use crate::host::{Calls, HostFailure, Identity};
use crate::image::{Digest, Repository};
use crate::settings::{AuthoritySpec, Settings};
use crate::sources::signature_layers::{self, LayerProblem};
use crate::verdict::{IdentityMiss, Listed, Miss};

/// What checking one keyless layer costs, in RSA-2048 verifications (a
/// P-256 verification and the bundle).
const LAYER_COST: u32 = 2;

/// A certificate authority's certificate and chain as PEM, or why not.
type CertificatePem = Result<(String, Option<Vec<String>>), String>;
/// (image as sent, authority, identity) → the digest verified, or why not.
type Answers = HashMap<(String, usize, usize), Result<String, HostFailure>>;

/// One configured identity of an authority.
enum Configured<'s> {
    Keyless {
        issuer: &'s str,
        subject: &'s str,
    },
    Prefix {
        issuer: &'s str,
        url_prefix: &'s str,
    },
    GithubActions {
        owner: &'s str,
        repo: Option<&'s str>,
    },
    /// The certificate and chain as the host reads them (PEM), decoded on
    /// first use.
    Certificate {
        certificate: &'s str,
        chain: Option<Vec<&'s str>>,
        require_rekor_bundle: bool,
        pem: OnceCell<CertificatePem>,
    },
}

impl<'s> Configured<'s> {
    fn of(a: &'s AuthoritySpec<'s>) -> Vec<Configured<'s>> {
        let mut out = Vec::new();
        for k in a.keyless.iter().flatten() {
            match (&k.subject, &k.subject_prefix) {
                (Some(subject), _) => out.push(Configured::Keyless {
                    issuer: &k.issuer,
                    subject,
                }),
                (None, Some(prefix)) => out.push(Configured::Prefix {
                    issuer: &k.issuer,
                    url_prefix: prefix,
                }),
                // Refused by the settings checks; nothing to ask.
                (None, None) => {}
            }
        }
        if let Some(gh) = &a.github_actions {
            out.push(Configured::GithubActions {
                owner: &gh.owner,
                repo: gh.repo.as_deref(),
            });
        }
        if let Some(c) = &a.certificate {
            out.push(Configured::Certificate {
                certificate: &c.certificate,
                chain: c
                    .certificate_chain
                    .as_ref()
                    .map(|l| l.iter().map(|t| t.as_ref()).collect()),
                require_rekor_bundle: c.require_rekor_bundle.unwrap_or(true),
                pem: OnceCell::new(),
            });
        }
        out
    }

    /// The identity as the host is asked about it.
    fn identity(&self) -> Result<Identity<'_>, String> {
        Ok(match self {
            Configured::Keyless { issuer, subject } => Identity::Keyless { issuer, subject },
            Configured::Prefix { issuer, url_prefix } => {
                Identity::KeylessPrefix { issuer, url_prefix }
            }
            Configured::GithubActions { owner, repo } => {
                Identity::GithubActions { owner, repo: *repo }
            }
            Configured::Certificate {
                certificate,
                chain,
                require_rekor_bundle,
                pem,
            } => {
                let decoded = pem.get_or_init(|| {
                    let cert = certificate::pem(certificate)
                        .map_err(|e| format!("the certificate is unusable: {e}"))?;
                    let chain = match chain {
                        None => None,
                        Some(list) => Some(
                            list.iter()
                                .map(|c| certificate::pem(c))
                                .collect::<Result<Vec<_>, _>>()
                                .map_err(|e| format!("the certificate chain is unusable: {e}"))?,
                        ),
                    };
                    Ok((cert, chain))
                });
                let (cert, chain) = decoded.as_ref().map_err(Clone::clone)?;
                Identity::Certificate {
                    certificate: cert,
                    chain: chain.as_deref(),
                    require_rekor_bundle: *require_rekor_bundle,
                }
            }
        })
    }
}

/// The identity source for one request.
pub(crate) struct Identities<'s> {
    calls: Calls<'s>,
    /// Per authority, its identities (empty for key authorities).
    configured: Vec<Vec<Configured<'s>>>,
    /// Per authority, the annotations its registry signatures must carry.
    annotations: Vec<Option<BTreeMap<String, String>>>,
    answers: RefCell<Answers>,
    /// Signature manifest reference → whether its layers are bound.
    bindings: RefCell<HashMap<String, Result<(), LayerProblem>>>,
    layers_checked: std::cell::Cell<usize>,
}

impl<'s> Identities<'s> {
    pub fn new(settings: &'s Settings<'s>, calls: Calls<'s>) -> Self {
        let configured = settings
            .attestation_authorities
            .iter()
            .map(Configured::of)
            .collect();
        let annotations = super::registry_annotations(settings);
        Identities {
            calls,
            configured,
            annotations,
            answers: RefCell::new(HashMap::new()),
            bindings: RefCell::new(HashMap::new()),
            layers_checked: std::cell::Cell::new(0),
        }
    }

    /// Whether authority `a` is proven by identities.
    pub fn has(&self, a: usize) -> bool {
        !self.configured[a].is_empty()
    }

    /// Is `image` (of `repository`, judged for `digest` when given) signed
    /// in the registry by one of authority `a`'s identities, with every
    /// keyless layer bound to its certificate? Identities are tried in
    /// order; the first that verifies (and binds) ends the search.
    pub fn check(
        &self,
        a: usize,
        image: &str,
        repository: &Repository<'_>,
        digest: Option<&str>,
    ) -> Result<String, Miss> {
        let mut misses = Listed::default();
        // Whether the host refused an identity: the annotations matter only
        // then (an identity it verified matched them).
        let mut refused = false;
        for (i, c) in self.configured[a].iter().enumerate() {
            let shown = || c.identity().map_or_else(|e| e, |id| id.to_string());
            let keyless = c.identity().is_ok_and(|id| id.needs_binding_check());
            match self.verify(a, i, image, digest) {
                Err(why) => {
                    refused = true;
                    misses.push_with(|| (shown(), IdentityMiss::Host(why), keyless));
                }
                Ok(d) if !keyless => return Ok(d),
                Ok(d) => match self.binding(repository, &d) {
                    Ok(()) => return Ok(d),
                    Err(p) => {
                        misses.push_with(|| (shown(), IdentityMiss::Unbound(p.to_string()), true));
                    }
                },
            }
        }
        Err(Miss::Identities {
            required: self.annotations[a].clone().filter(|_| refused),
            identities: misses,
        })
    }

    /// Remembers that identity `i` of authority `a` verified `image` for
    /// `digest` (learned from its tag form), so it is not asked again.
    pub fn remember(&self, image: String, a: usize, i: usize, digest: &str) {
        self.answers
            .borrow_mut()
            .insert((image, a, i), Ok(digest.to_owned()));
    }

    /// For a tag: the first identity of authority `a` the host verifies it
    /// for, and the digest it verified (binding is checked later, for that
    /// digest, like every other proof).
    pub fn learn(&self, a: usize, image: &str) -> Option<(usize, String)> {
        (0..self.configured[a].len())
            .find_map(|i| self.verify(a, i, image, None).ok().map(|d| (i, d)))
    }

    /// One host call per (image, authority, identity) per request.
    fn verify(
        &self,
        a: usize,
        i: usize,
        image: &str,
        expected: Option<&str>,
    ) -> Result<String, String> {
        let key = (image.to_owned(), a, i);
        let cached = self.answers.borrow().get(&key).cloned();
        let result = match cached {
            Some(r) => r,
            None => {
                let r = self.ask(a, i, image);
                self.answers.borrow_mut().insert(key, r.clone());
                r
            }
        };
        super::judged(result.map_err(String::from), expected)
    }

    fn ask(&self, a: usize, i: usize, image: &str) -> Result<String, HostFailure> {
        let identity = self.configured[a][i]
            .identity()
            .map_err(HostFailure::Host)?;
        let v = self
            .calls
            .verify_identity(image, &identity, self.annotations[a].clone())?;
        if !v.is_trusted {
            return Err(HostFailure::Host(
                "the host does not trust the image".to_owned(),
            ));
        }
        if Digest::parse(&v.digest).is_err() {
            return Err(HostFailure::Host(format!(
                "the host answered {:?}, which is not a digest",
                v.digest
            )));
        }
        Ok(v.digest)
    }

    /// Reads the signature manifest of (`repository`, `digest`) once per
    /// request and checks that its keyless layers are bound.
    fn binding(&self, repository: &Repository<'_>, digest: &str) -> Result<(), LayerProblem> {
        let reference = format!("{repository}:{}.sig", digest.replacen(':', "-", 1));
        if let Some(r) = self.bindings.borrow().get(&reference) {
            return r.clone();
        }
        let result = self.read_and_check(&reference);
        self.bindings.borrow_mut().insert(reference, result.clone());
        result
    }

    fn read_and_check(&self, reference: &str) -> Result<(), LayerProblem> {
        if self.layers_checked.get() >= signature_layers::MAX_LAYER_CHECKS
            || self.calls.work().verification_cost + LAYER_COST
                > crate::evaluate::MAX_VERIFICATION_COST
        {
            return Err(LayerProblem::Budget);
        }
        let manifest = self.calls.oci_manifest(reference).map_err(|e| {
            LayerProblem::Manifest(format!("the host could not read {reference}: {e}"))
        })?;
        let before = self.layers_checked.get();
        let result = signature_layers::check(&manifest, &self.layers_checked);
        let checked = self.layers_checked.get() - before;
        let checked = u32::try_from(checked).unwrap_or(u32::MAX);
        self.calls.count(|w| {
            w.verifications += checked;
            w.verification_cost += checked.saturating_mul(LAYER_COST);
        });
        result
    }
}
