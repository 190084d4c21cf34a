//! Big-endian bytes to and from little-endian limbs of a reduced radix
//! (`bits` per limb, below 64): the packing the hand-written arithmetics
//! (`modexp` and `p384_verify`, 28-bit limbs; `p256_verify::field`, 29-bit
//! limbs) need at their edges; and the one sum they make of big-endian
//! values (`r + n` in ECDSA's last check).

/// `a + b` for big-endian values of the same length, `None` on overflow.
#[must_use]
pub fn add_be<const N: usize>(a: &[u8; N], b: &[u8; N]) -> Option<[u8; N]> {
    let mut out = [0u8; N];
    let mut carry = 0u16;
    for i in (0..N).rev() {
        let s = u16::from(a[i]) + u16::from(b[i]) + carry;
        out[i] = s as u8;
        carry = s >> 8;
    }
    (carry == 0).then_some(out)
}

/// Reads `bytes` (big-endian) into `limbs`, `bits` bits each. Limbs past the
/// value are left as they are (callers pass zeros); `None` if the value needs
/// more limbs than given (leading zero bytes never do).
#[must_use]
pub fn unpack_be(bytes: &[u8], bits: u32, limbs: &mut [u64]) -> Option<()> {
    if bits != 28 {
        return unpack_be_bytewise(bytes, bits, limbs);
    }
    // Seven bytes are two 28-bit limbs exactly: a word at a time, where the
    // general loop takes a byte at a time (RSA's modulus and signature, 256
    // to 512 bytes, on every verification).
    let chunks = bytes.rchunks_exact(7);
    let head = chunks.remainder();
    let mut i = 0;
    for chunk in chunks {
        let v = chunk.iter().fold(0u64, |v, &b| v << 8 | u64::from(b));
        put_limb(limbs, i, v & 0xfff_ffff)?;
        put_limb(limbs, i + 1, v >> 28)?;
        i += 2;
    }
    let v = head.iter().fold(0u64, |v, &b| v << 8 | u64::from(b));
    put_limb(limbs, i, v & 0xfff_ffff)?;
    put_limb(limbs, i + 1, v >> 28)
}

/// [`unpack_be`] for any width, a byte at a time.
fn unpack_be_bytewise(bytes: &[u8], bits: u32, limbs: &mut [u64]) -> Option<()> {
    let mask = (1u64 << bits) - 1;
    let (mut acc, mut acc_bits, mut i) = (0u64, 0, 0);
    for &b in bytes.iter().rev() {
        acc |= u64::from(b) << acc_bits;
        acc_bits += 8;
        if acc_bits >= bits {
            put_limb(limbs, i, acc & mask)?;
            acc >>= bits;
            acc_bits -= bits;
            i += 1;
        }
    }
    put_limb(limbs, i, acc)
}

/// Writes a non-zero limb `v` at `i`; `None` when there is no limb `i` for
/// it (a zero limb past the end is a leading zero, and fine).
fn put_limb(limbs: &mut [u64], i: usize, v: u64) -> Option<()> {
    if v != 0 {
        *limbs.get_mut(i)? = v;
    }
    Some(())
}

/// Writes normalised `limbs` (`bits` bits each) as big-endian bytes filling
/// `out`; bits beyond `out` are dropped.
pub fn pack_be(limbs: impl IntoIterator<Item = u64>, bits: u32, out: &mut [u8]) {
    let (mut acc, mut acc_bits) = (0u64, 0);
    let mut limbs = limbs.into_iter();
    for byte in out.iter_mut().rev() {
        if acc_bits < 8 {
            if let Some(l) = limbs.next() {
                acc |= l << acc_bits;
                acc_bits += bits;
            }
        }
        *byte = acc as u8;
        acc >>= 8;
        acc_bits = acc_bits.saturating_sub(8);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_in_both_radices() {
        let bytes: Vec<u8> = (1..=32).map(|i| i * 7).collect();
        for bits in [28, 29] {
            let mut limbs = [0u64; 10];
            unpack_be(&bytes, bits, &mut limbs).unwrap();
            assert!(limbs.iter().all(|&l| l < 1 << bits));
            let mut out = [0u8; 32];
            pack_be(limbs, bits, &mut out);
            assert_eq!(out.as_slice(), bytes.as_slice(), "{bits}");
        }
    }

    #[test]
    fn the_28_bit_path_agrees_with_the_general_one() {
        for len in 0..40 {
            let bytes: Vec<u8> = (0..len)
                .map(|i| (i as u8).wrapping_mul(37) ^ 0xa5)
                .collect();
            for n in 0..14 {
                let (mut fast, mut slow) = (vec![0u64; n], vec![0u64; n]);
                let r = unpack_be(&bytes, 28, &mut fast);
                assert_eq!(
                    r,
                    unpack_be_bytewise(&bytes, 28, &mut slow),
                    "{len} bytes, {n} limbs"
                );
                if r.is_some() {
                    assert_eq!(fast, slow, "{len} bytes, {n} limbs");
                }
            }
        }
    }

    #[test]
    fn too_few_limbs_is_an_overflow_but_leading_zeros_are_not() {
        let mut limbs = [0u64; 2];
        assert_eq!(
            unpack_be(&[0, 0, 0, 0, 0, 0, 0, 0, 1], 28, &mut limbs),
            Some(())
        );
        assert_eq!(limbs, [1, 0]);
        assert_eq!(unpack_be(&[1, 0, 0, 0, 0, 0, 0, 0], 28, &mut limbs), None);
    }
}
