//! The registry source: cosign signatures next to the image, verified by
//! Kubewarden's host (`oci`/`v2/verify`), one key per call, at most once
//! per (image, key), within the request's budget of host calls
//! ([`crate::host::MAX_HOST_CALLS`]).

use std::cell::RefCell;
use std::collections::{BTreeMap, HashMap};

use crate::host::Calls;
use crate::image::Digest;
use crate::keyring::Keyring;
use crate::keys;
use crate::settings::Settings;
use crate::verdict::{Listed, Miss};

/// The registry source for one request.
pub(crate) struct Registry<'s> {
    calls: Calls<'s>,
    /// Per authority, the annotations its registry signatures must carry.
    annotations: Vec<Option<BTreeMap<String, String>>>,
    /// (image as sent, key slot) → the digest the host verified, or why not.
    answers: RefCell<HashMap<(String, usize), Result<String, String>>>,
}

impl<'s> Registry<'s> {
    /// The registry source under `settings`, asking `host`.
    pub fn new(settings: &Settings<'_>, calls: Calls<'s>) -> Self {
        let annotations = super::registry_annotations(settings);
        Registry {
            calls,
            annotations,
            answers: RefCell::new(HashMap::new()),
        }
    }

    /// Does a cosign signature in the registry verify `image` with one of
    /// authority `a`'s keys (and, when given, for `digest`)? Keys are tried
    /// in order; the first that verifies ends the search.
    pub fn check(
        &self,
        keyring: &Keyring<'_>,
        a: usize,
        image: &str,
        digest: Option<&str>,
    ) -> Result<(), Miss> {
        let mut keys = Listed::default();
        for k in keyring.of(a) {
            match self.verify(keyring, image, k, digest) {
                Ok(_) => return Ok(()),
                Err(why) => keys.push_with(|| (keyring.slot(k).display_id(), why)),
            }
        }
        Err(Miss::Registry {
            keys,
            required: self.annotations[a].clone(),
        })
    }

    /// Remembers that key slot `k` verified `image` for `digest` (learned
    /// from another form of the same image), so it is not asked again.
    pub fn remember(&self, image: String, k: usize, digest: &str) {
        self.answers
            .borrow_mut()
            .insert((image, k), Ok(digest.to_owned()));
    }

    /// One host call per (image, key) per request: the digest the host
    /// verified, or why not. With `expected`, an answer for another digest
    /// (the tag moved during the admission) is a failure.
    pub fn verify(
        &self,
        keyring: &Keyring<'_>,
        image: &str,
        k: usize,
        expected: Option<&str>,
    ) -> Result<String, String> {
        let key = (image.to_owned(), k);
        let cached = self.answers.borrow().get(&key).cloned();
        let result = match cached {
            Some(r) => r,
            None => {
                let r = self.ask(keyring, image, k);
                self.answers.borrow_mut().insert(key, r.clone());
                r
            }
        };
        super::judged(result, expected)
    }

    fn ask(&self, keyring: &Keyring<'_>, image: &str, k: usize) -> Result<String, String> {
        let slot = keyring.slot(k);
        let pem = match slot.pem.get_or_init(|| keys::spki_pem(slot.data)) {
            Ok(pem) => pem.clone(),
            Err(e) => return Err(format!("the key is unusable: {e}")),
        };
        let annotations = self.annotations[slot.authority].clone();
        match self.calls.verify_pub_key(image, pem, annotations) {
            Err(e) => Err(e.into()),
            Ok(v) if !v.is_trusted => Err("the host does not trust the image".to_owned()),
            Ok(v) if Digest::parse(&v.digest).is_err() => Err(format!(
                "the host answered {:?}, which is not a digest",
                v.digest
            )),
            Ok(v) => Ok(v.digest),
        }
    }
}
