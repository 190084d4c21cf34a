//! FNV-1a: a small hasher of its own, apart from the checks that use it,
//! because both the settings' name index (`structure`) and the keyring's key
//! id index are built with it on every request.

use std::hash::Hasher;

/// FNV-1a (64 bits), the hasher of the indexes built for every authority or
/// key on every request (names in `structure`, key ids in the keyring).
/// Written here, in a few lines, because std offers only SipHash, whose
/// keyed rounds cost several times more on these short strings. Its keys are the settings'
/// names and ids, which the cluster's administrator writes, and in live mode
/// those of the namespace's kritis resources (at most
/// [`crate::kritis::MAX_ITEMS`] of each kind): crafted collisions could at
/// worst make a lookup linear in that bound, which the request's other
/// bounds already allow; a request's key ids are only looked up.
pub(crate) struct Fnv(u64);

impl Default for Fnv {
    fn default() -> Self {
        Fnv(0xcbf2_9ce4_8422_2325)
    }
}

impl Hasher for Fnv {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &byte in bytes {
            self.0 ^= u64::from(byte);
            self.0 = self.0.wrapping_mul(0x0000_0100_0000_01b3);
        }
    }
}
