//! The keys of every authority, for one request: indexed by key id once,
//! decoded only when a signature names them (and then once).

use std::cell::OnceCell;
use std::collections::hash_map::Entry;
use std::collections::HashMap;
use std::hash::BuildHasherDefault;

use crate::keys::{self, KeyError, VerifyingKey};
use crate::settings::{Fnv, Settings};

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

/// A key as the settings write it: all that indexing needs.
#[derive(Clone, Copy)]
struct KeyText<'s> {
    id: Option<&'s str>,
    data: &'s str,
    algorithm: Option<&'s str>,
}

/// Every key of every authority, in settings order.
pub(crate) struct Keyring<'s> {
    keys: Vec<KeyText<'s>>,
    /// Each key's slot, made the first time it is asked for: a slot holds
    /// the caches of a decoded key (a few hundred bytes), and a request
    /// touches only the keys its signatures name, so the others cost a
    /// fresh instance no memory to fill.
    slots: Vec<OnceCell<Box<KeySlot<'s>>>>,
    /// Authority `a`'s keys are `keys[starts[a]..starts[a + 1]]`.
    starts: Vec<usize>,
    /// Explicit key id → its first slot; sized once and hashed with FNV
    /// (built on every request for every key).
    by_id: HashMap<&'s str, usize, BuildHasherDefault<Fnv>>,
    /// (id, slot) of the later keys with an id already taken, in settings
    /// order: empty unless the settings skipped `validate_settings`, which
    /// refuses duplicate ids.
    repeated_ids: Vec<(&'s str, usize)>,
    /// Default (PKIX) id → slots of the keys without an explicit id, built
    /// the first time a signature names an `ni:` id.
    by_default_id: OnceCell<HashMap<String, Vec<usize>>>,
    has_default_ids: bool,
}

impl<'s> Keyring<'s> {
    /// Indexes the keys of `settings` (nothing is decoded).
    pub fn new(settings: &'s Settings<'s>) -> Self {
        let authorities = &settings.attestation_authorities;
        let count: usize = authorities
            .iter()
            .map(|a| usize::from(a.public_key_data.is_some()) + a.public_keys.len())
            .sum();
        let mut keys = Vec::with_capacity(count);
        let mut starts = Vec::with_capacity(authorities.len() + 1);
        let mut by_id: HashMap<&str, usize, BuildHasherDefault<Fnv>> =
            HashMap::with_capacity_and_hasher(count, BuildHasherDefault::default());
        let mut repeated_ids = Vec::new();
        for a in authorities {
            starts.push(keys.len());
            for k in a.keys() {
                if let Some(id) = k.id {
                    let slot = keys.len();
                    match by_id.entry(id) {
                        Entry::Vacant(e) => {
                            e.insert(slot);
                        }
                        Entry::Occupied(_) => repeated_ids.push((id, slot)),
                    }
                }
                keys.push(KeyText {
                    id: k.id,
                    data: k.data,
                    algorithm: k.algorithm,
                });
            }
        }
        starts.push(keys.len());
        let has_default_ids = keys.iter().any(|k| k.id.is_none());
        let mut slots = Vec::with_capacity(keys.len());
        slots.resize_with(keys.len(), OnceCell::new);
        Keyring {
            keys,
            slots,
            starts,
            by_id,
            repeated_ids,
            by_default_id: OnceCell::new(),
            has_default_ids,
        }
    }

    /// Key slot `k`.
    pub fn slot(&self, k: usize) -> &KeySlot<'s> {
        self.slots[k].get_or_init(|| {
            let key = self.keys[k];
            Box::new(KeySlot {
                authority: self.authority_of(k),
                id: key.id,
                data: key.data,
                algorithm: key.algorithm,
                default_id: OnceCell::new(),
                parsed: OnceCell::new(),
                pem: OnceCell::new(),
            })
        })
    }

    /// The authority key slot `k` belongs to: the last whose keys start at
    /// or before it (authorities without keys start where the next does).
    pub fn authority_of(&self, k: usize) -> usize {
        self.starts
            .partition_point(|&start| start <= k)
            .saturating_sub(1)
    }

    /// The key slots a signature's key id names, of any authority: a hash
    /// lookup, so thousands of signatures with unknown ids cost thousands of
    /// lookups, not thousands of scans of the keys.
    pub fn named<'k>(&'k self, key_id: &'k str) -> impl Iterator<Item = usize> + 'k {
        let first = self.by_id.get(key_id).copied();
        let repeated = self
            .repeated_ids
            .iter()
            .filter(move |(id, _)| *id == key_id)
            .map(|&(_, k)| k);
        let default = if self.has_default_ids && key_id.starts_with(DEFAULT_ID_PREFIX) {
            let map = self.by_default_id.get_or_init(|| {
                let mut map: HashMap<String, Vec<usize>> = HashMap::new();
                for (i, k) in self.keys.iter().enumerate() {
                    if k.id.is_none() {
                        if let Some(id) = self.slot(i).default_id() {
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
        first
            .into_iter()
            .chain(repeated)
            .chain(default.iter().copied())
    }

    /// The key slots of authority `a`.
    pub fn of(&self, a: usize) -> impl Iterator<Item = usize> + '_ {
        let from = self.starts.get(a).copied().unwrap_or(0);
        let to = self.starts.get(a + 1).copied().unwrap_or(from);
        from..to
    }

    /// The display ids of authority `a`'s keys.
    pub fn ids_of(&self, a: usize) -> impl Iterator<Item = String> + use<'_, 's> {
        self.of(a).map(|k| self.slot(k).display_id())
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::Keyring;
    use crate::settings::Settings;
    use crate::testkeys;

    #[test]
    fn ids_name_their_slots_in_settings_order() {
        let pem = testkeys::rsa(2048).spki_b64();
        let other = testkeys::rsa_b().spki_b64();
        // Duplicate ids are refused by `validate_settings`, not on `validate`:
        // every slot an id names is tried, in settings order.
        let text = json!({"attestationAuthorities": [
            {"name": "a", "publicKeyId": "k1", "publicKeyData": pem,
             "publicKeys": [{"publicKeyId": "k2", "publicKeyData": pem}]},
            {"name": "b", "publicKeys": [{"publicKeyId": "k1", "publicKeyData": pem}]},
            {"name": "c", "publicKeyData": other},
            {"name": "d", "keyless": [{"issuer": "https://issuer.example", "subject": "s"}]},
        ]})
        .to_string();
        let settings = Settings::from_str(&text).unwrap();
        let keyring = Keyring::new(&settings);
        let named = |id: &str| keyring.named(id).collect::<Vec<_>>();
        assert_eq!(named("k1"), [0, 2]);
        assert_eq!(named("k2"), [1]);
        assert_eq!(named("k3"), [0usize; 0]);
        assert_eq!(named(""), [0usize; 0]);
        let default_id = crate::keys::default_key_id(&other).unwrap();
        assert_eq!(named(&default_id), [3]);
        let of = |a: usize| keyring.of(a).collect::<Vec<_>>();
        assert_eq!(of(0), [0, 1]);
        assert_eq!(of(1), [2]);
        assert_eq!(of(2), [3]);
        assert_eq!(of(3), [0usize; 0]);
        assert_eq!(of(4), [0usize; 0]);
        let authorities: Vec<usize> = (0..4).map(|k| keyring.authority_of(k)).collect();
        assert_eq!(authorities, [0, 0, 1, 2]);
        assert_eq!(keyring.slot(2).authority, 1);
        assert_eq!(keyring.slot(3).id, None);
    }
}
