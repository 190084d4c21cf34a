//! The keys of every authority, for one request: indexed by key id once,
//! decoded only when a signature names them (and then once).

use std::cell::OnceCell;
use std::collections::HashMap;

use crate::keys::{self, KeyError, VerifyingKey};
use crate::settings::Settings;

/// The prefix of kritis's default (PKIX) key ids: only such an id can name a
/// key configured without `publicKeyId`.
const DEFAULT_ID_PREFIX: &str = "ni:///sha-256;";

/// A key of an authority, decoded on first use.
pub(crate) struct KeySlot<'s> {
    /// Index of its authority in the settings.
    pub authority: usize,
    /// Its explicit `publicKeyId`.
    pub id: Option<&'s str>,
    /// Its `publicKeyData`.
    pub data: &'s str,
    /// Its `signatureAlgorithm`.
    pub algorithm: Option<&'s str>,
    default_id: OnceCell<Option<String>>,
    /// The decoded key.
    pub parsed: OnceCell<Result<VerifyingKey, KeyError>>,
    /// The key as the host reads it (SPKI PEM), for the registry source.
    pub pem: OnceCell<Result<String, KeyError>>,
}

impl KeySlot<'_> {
    pub fn default_id(&self) -> Option<&str> {
        self.default_id
            .get_or_init(|| keys::default_key_id(self.data).ok())
            .as_deref()
    }

    pub fn display_id(&self) -> String {
        match self.id {
            Some(id) => id.to_owned(),
            None => self.default_id().unwrap_or("(undecodable key)").to_owned(),
        }
    }
}

/// Every key of every authority, in settings order.
pub(crate) struct Keyring<'s> {
    keys: Vec<KeySlot<'s>>,
    /// Explicit key id → its slots (several only with settings that skipped
    /// `validate_settings`, which refuses duplicate ids).
    by_id: HashMap<&'s str, Vec<usize>>,
    /// Default (PKIX) id → slots of the keys without an explicit id, built
    /// the first time a signature names an `ni:` id.
    by_default_id: OnceCell<HashMap<String, Vec<usize>>>,
    has_default_ids: bool,
}

impl<'s> Keyring<'s> {
    /// Indexes the keys of `settings` (nothing is decoded).
    pub fn new(settings: &'s Settings<'s>) -> Self {
        let mut keys = Vec::new();
        let mut by_id: HashMap<&str, Vec<usize>> = HashMap::new();
        for (i, a) in settings.attestation_authorities.iter().enumerate() {
            for k in a.keys() {
                if let Some(id) = k.id {
                    by_id.entry(id).or_default().push(keys.len());
                }
                keys.push(KeySlot {
                    authority: i,
                    id: k.id,
                    data: k.data,
                    algorithm: k.algorithm,
                    default_id: OnceCell::new(),
                    parsed: OnceCell::new(),
                    pem: OnceCell::new(),
                });
            }
        }
        let has_default_ids = keys.iter().any(|k| k.id.is_none());
        Keyring {
            keys,
            by_id,
            by_default_id: OnceCell::new(),
            has_default_ids,
        }
    }

    /// Key slot `k`.
    pub fn slot(&self, k: usize) -> &KeySlot<'s> {
        &self.keys[k]
    }

    /// The key slots a signature's key id names, of any authority: a hash
    /// lookup, so thousands of signatures with unknown ids cost thousands of
    /// lookups, not thousands of scans of the keys.
    pub fn named(&self, key_id: &str) -> impl Iterator<Item = usize> + '_ {
        let explicit = self.by_id.get(key_id).map_or(&[][..], Vec::as_slice);
        let default = if self.has_default_ids && key_id.starts_with(DEFAULT_ID_PREFIX) {
            let map = self.by_default_id.get_or_init(|| {
                let mut map: HashMap<String, Vec<usize>> = HashMap::new();
                for (i, k) in self.keys.iter().enumerate() {
                    if k.id.is_none() {
                        if let Some(id) = k.default_id() {
                            map.entry(id.to_owned()).or_default().push(i);
                        }
                    }
                }
                map
            });
            map.get(key_id).map_or(&[][..], Vec::as_slice)
        } else {
            &[][..]
        };
        explicit.iter().chain(default).copied()
    }

    /// The key slots of authority `a`.
    pub fn of(&self, a: usize) -> impl Iterator<Item = usize> + '_ {
        self.keys
            .iter()
            .enumerate()
            .filter(move |(_, k)| k.authority == a)
            .map(|(i, _)| i)
    }

    /// The display ids of authority `a`'s keys.
    pub fn ids_of(&self, a: usize) -> impl Iterator<Item = String> + '_ {
        self.of(a).map(|k| self.keys[k].display_id())
    }
}
