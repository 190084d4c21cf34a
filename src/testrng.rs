//! TEST-ONLY deterministic pseudo-random inputs for the arithmetic tests
//! (`modexp`, `p256_verify`, `p384_verify`): the same seed gives the same
//! cases on every run, so a failure names its round and replays.

/// Marsaglia's xorshift64: advances `seed` and returns it.
pub fn xorshift(seed: &mut u64) -> u64 {
    *seed ^= *seed << 13;
    *seed ^= *seed >> 7;
    *seed ^= *seed << 17;
    *seed
}

/// `N` bytes from [`xorshift`].
pub fn random_bytes<const N: usize>(seed: &mut u64) -> [u8; N] {
    let mut out = [0u8; N];
    for b in &mut out {
        *b = xorshift(seed) as u8;
    }
    out
}
