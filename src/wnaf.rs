//! The width-w non-adjacent form of a scalar: the recoding both hand-written
//! ECDSA verifiers (`p256_verify`, `p384_verify`) scan in their
//! double-and-add loop, one function for both sizes.

/// The width-`w` NAF of a `BYTES`-byte big-endian scalar: digits odd and
/// below `2^(w−1)` in absolute value, or zero, least significant first; at
/// most `8·BYTES + 1` of them. `WORDS` is the scalar's 64-bit words plus
/// one spare for the carry of a negative digit (checked when compiled).
#[must_use]
pub fn wnaf<const BYTES: usize, const WORDS: usize, const DIGITS: usize>(
    scalar: &[u8; BYTES],
    w: u32,
) -> [i8; DIGITS] {
    const {
        assert!(BYTES.is_multiple_of(8) && WORDS == BYTES / 8 + 1 && DIGITS == 8 * BYTES + 1);
    }
    // Little-endian 64-bit words.
    let mut k = [0u64; WORDS];
    for (word, chunk) in k.iter_mut().zip(scalar.rchunks_exact(8)) {
        let mut bytes = [0u8; 8];
        bytes.copy_from_slice(chunk);
        *word = u64::from_be_bytes(bytes);
    }
    let mut digits = [0i8; DIGITS];
    let window = 1i64 << w;
    for digit in &mut digits {
        if k == [0; WORDS] {
            break;
        }
        if k[0] & 1 == 1 {
            let mut d = (k[0] & (window as u64 - 1)) as i64;
            if d >= window / 2 {
                d -= window;
            }
            *digit = d as i8;
            // k −= d clears the low w bits (d ≡ k mod 2^w).
            if d >= 0 {
                k[0] -= d as u64;
            } else {
                let mut carry = d.unsigned_abs();
                for word in &mut k {
                    let (s, c) = word.overflowing_add(carry);
                    *word = s;
                    carry = u64::from(c);
                }
            }
        }
        for i in 0..WORDS - 1 {
            k[i] = (k[i] >> 1) | (k[i + 1] << 63);
        }
        k[WORDS - 1] >>= 1;
    }
    digits
}
