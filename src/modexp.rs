//! The RSA public operation `s^e mod n`, on 32-bit limbs, for verification.
//!
//! Written by hand because no maintained crate is fast enough inside wasm:
//! `crypto-bigint` (behind the `rsa` crate) is built for constant-time
//! private-key work with 64-bit limbs, and a 64×64→128 multiply is a library
//! call on wasm32; measured, its RSA-2048 verification is 16–27× slower
//! than OpenSSL there. Verification handles only public values (the
//! signature, the key), so it needs no constant-time care, and the public
//! exponent is small. Montgomery multiplication (CIOS, Koç et al. 1996) over
//! `u32` limbs with `u64` products maps onto wasm's native `i64.mul`.
//!
//! Correctness is checked against `crypto-bigint` (through the `rsa` crate)
//! and OpenSSL signatures in the tests.

/// A modulus ready for Montgomery arithmetic.
#[derive(Debug, Clone)]
pub struct Modulus {
    /// Little-endian limbs, no leading zero limb.
    n: Vec<u32>,
    /// `-n⁻¹ mod 2³²`.
    n0inv: u32,
    /// `R² mod n` with `R = 2^(32·len)`.
    rr: Vec<u32>,
    /// Bit length of `n`.
    bits: usize,
}

impl Modulus {
    /// Prepares an odd modulus given big-endian (leading zeros allowed).
    /// Returns `None` for an even modulus or one of fewer than 2 limbs.
    #[must_use]
    pub fn new(n_be: &[u8]) -> Option<Self> {
        let n = from_be(n_be, None)?;
        if n.len() < 2 || n[0] & 1 == 0 {
            return None;
        }
        let bits = n.len() * 32 - n[n.len() - 1].leading_zeros() as usize;
        // Newton's iteration for n⁻¹ mod 2³²: each step doubles the correct bits.
        let mut inv: u32 = 1;
        for _ in 0..5 {
            inv = inv.wrapping_mul(2u32.wrapping_sub(n[0].wrapping_mul(inv)));
        }
        let mut m = Modulus {
            n0inv: inv.wrapping_neg(),
            rr: Vec::new(),
            bits,
            n,
        };
        m.rr = m.r_squared();
        Some(m)
    }

    /// Bit length of the modulus.
    #[must_use]
    pub fn bits(&self) -> usize {
        self.bits
    }

    /// `R² mod n`, without division: `2^a0·R mod n` by a few modular
    /// doublings of `R mod n`, then Montgomery squarings double the exponent
    /// (`mont(2^a·R, 2^a·R) = 2^2a·R`) up to `2^(32·len)·R = R²`.
    fn r_squared(&self) -> Vec<u32> {
        let s = self.n.len();
        // R mod n: 2^(bits-1) < n is its own residue; double it up to
        // 2^(32·s) with a conditional subtraction each time (at most 32
        // doublings, whatever the top limb).
        let mut x: Vec<u32> = vec![0; s];
        x[(self.bits - 1) / 32] = 1 << ((self.bits - 1) % 32);
        for _ in self.bits - 1..32 * s {
            let carry = shl1(&mut x);
            if carry || !less_than(&x, &self.n) {
                sub_in_place(&mut x, &self.n);
            }
        }
        // Write 32·s = a0·2^j with a0 ≤ max(64, s): a0 doublings, j squarings.
        let target = 32 * s;
        let mut a0 = target;
        while a0 > 64 && a0.is_multiple_of(2) {
            a0 /= 2;
        }
        for _ in 0..a0 {
            let carry = shl1(&mut x);
            if carry || !less_than(&x, &self.n) {
                sub_in_place(&mut x, &self.n);
            }
        }
        let mut scratch = vec![0u32; s + 2];
        let mut out = vec![0u32; s];
        let mut a = a0;
        while a < target {
            self.mont_mul(&x, &x, &mut scratch, &mut out);
            x.copy_from_slice(&out);
            a *= 2;
        }
        x
    }

    /// `out = a·b·R⁻¹ mod n` (inputs < n). `t` is scratch of `len + 2` limbs.
    fn mont_mul(&self, a: &[u32], b: &[u32], t: &mut [u32], out: &mut [u32]) {
        let s = self.n.len();
        t.fill(0);
        for &bi in b {
            let bi = u64::from(bi);
            let mut c = 0u64;
            for (tj, &aj) in t[..s].iter_mut().zip(a) {
                let x = u64::from(*tj) + u64::from(aj) * bi + c;
                *tj = x as u32;
                c = x >> 32;
            }
            let x = u64::from(t[s]) + c;
            t[s] = x as u32;
            t[s + 1] = (x >> 32) as u32;

            let m = u64::from(t[0].wrapping_mul(self.n0inv));
            let mut c = (u64::from(t[0]) + m * u64::from(self.n[0])) >> 32;
            for j in 1..s {
                let x = u64::from(t[j]) + m * u64::from(self.n[j]) + c;
                t[j - 1] = x as u32;
                c = x >> 32;
            }
            let x = u64::from(t[s]) + c;
            t[s - 1] = x as u32;
            t[s] = t[s + 1] + (x >> 32) as u32;
            t[s + 1] = 0;
        }
        out.copy_from_slice(&t[..s]);
        if t[s] != 0 || !less_than(out, &self.n) {
            sub_in_place(out, &self.n);
        }
    }

    /// `s^e mod n` as big-endian bytes of the modulus's byte length.
    /// `None` when `s` is not shorter than… or not less than `n`, or `e` is 0.
    #[must_use]
    pub fn pow(&self, s_be: &[u8], e: u64) -> Option<Vec<u8>> {
        let k = self.bits.div_ceil(8);
        if s_be.len() != k || e == 0 {
            return None;
        }
        let len = self.n.len();
        let base = from_be(s_be, Some(len))?;
        if !less_than(&base, &self.n) {
            return None;
        }
        let mut t = vec![0u32; len + 2];
        let mut base_m = vec![0u32; len];
        self.mont_mul(&base, &self.rr, &mut t, &mut base_m);
        let mut acc = base_m.clone();
        let mut tmp = vec![0u32; len];
        for i in (0..63 - e.leading_zeros()).rev() {
            self.mont_mul(&acc, &acc, &mut t, &mut tmp);
            std::mem::swap(&mut acc, &mut tmp);
            if (e >> i) & 1 == 1 {
                self.mont_mul(&acc, &base_m, &mut t, &mut tmp);
                std::mem::swap(&mut acc, &mut tmp);
            }
        }
        // Leave the Montgomery domain: multiply by 1.
        let mut one = vec![0u32; len];
        one[0] = 1;
        self.mont_mul(&acc, &one, &mut t, &mut tmp);
        Some(to_be(&tmp, k))
    }
}

/// Big-endian bytes to little-endian limbs; with `len`, exactly that many
/// limbs (`None` if the value needs more), else as many as needed.
fn from_be(bytes: &[u8], len: Option<usize>) -> Option<Vec<u32>> {
    let start = bytes.iter().position(|&b| b != 0).unwrap_or(bytes.len());
    let bytes = &bytes[start..];
    let need = bytes.len().div_ceil(4);
    let len = match len {
        Some(l) if need > l => return None,
        Some(l) => l,
        None => need,
    };
    let mut limbs = vec![0u32; len];
    for (i, chunk) in bytes.rchunks(4).enumerate() {
        let mut w = 0u32;
        for &b in chunk {
            w = (w << 8) | u32::from(b);
        }
        limbs[i] = w;
    }
    Some(limbs)
}

fn to_be(limbs: &[u32], k: usize) -> Vec<u8> {
    let mut out = vec![0u8; k];
    for (i, byte) in out.iter_mut().rev().enumerate() {
        if let Some(limb) = limbs.get(i / 4) {
            *byte = (limb >> (8 * (i % 4))) as u8;
        }
    }
    out
}

fn less_than(a: &[u32], b: &[u32]) -> bool {
    for (x, y) in a.iter().rev().zip(b.iter().rev()) {
        if x != y {
            return x < y;
        }
    }
    false
}

fn sub_in_place(a: &mut [u32], b: &[u32]) {
    let mut borrow = 0u64;
    for (x, &y) in a.iter_mut().zip(b) {
        let d = u64::from(*x)
            .wrapping_sub(u64::from(y))
            .wrapping_sub(borrow);
        *x = d as u32;
        borrow = (d >> 63) & 1;
    }
}

/// Shifts left by one bit; returns the bit shifted out.
fn shl1(a: &mut [u32]) -> bool {
    let mut carry = 0u32;
    for x in a.iter_mut() {
        let next = *x >> 31;
        *x = (*x << 1) | carry;
        carry = next;
    }
    carry == 1
}

#[cfg(test)]
mod tests {
    use super::*;
    use rsa::traits::PublicKeyParts as _;
    use rsa::BoxedUint;

    /// Compares with crypto-bigint's modular exponentiation (via the `rsa` crate).
    fn reference(key: &rsa::PublicKey, s: &[u8]) -> Vec<u8> {
        let m = BoxedUint::from_be_slice(s, key.n_bits_precision()).unwrap();
        let r = rsa::hazmat::rsa_encrypt(key, &m).unwrap();
        let k = key.size();
        let bytes = r.to_be_bytes();
        bytes[bytes.len() - k..].to_vec()
    }

    fn key(bits: usize) -> rsa::PublicKey {
        use rsa::pkcs8::DecodePublicKey as _;
        rsa::PublicKey::from_public_key_pem(&crate::testkeys::rsa(bits).spki_pem).unwrap()
    }

    #[test]
    fn agrees_with_crypto_bigint() {
        let mut seed = 0x1234_5678_9abc_def0u64;
        let mut next = || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        for bits in [2048, 3072, 4096] {
            let key = key(bits);
            let m = Modulus::new(&key.n_bytes()).unwrap();
            assert_eq!(m.bits(), bits);
            let k = key.size();
            for round in 0..20 {
                let mut s: Vec<u8> = (0..k).map(|_| next() as u8).collect();
                s[0] &= 0x7f; // below n
                if round == 0 {
                    s.iter_mut().for_each(|b| *b = 0);
                    s[k - 1] = 1;
                }
                if round == 1 {
                    s.iter_mut().for_each(|b| *b = 0);
                }
                assert_eq!(
                    m.pow(&s, 65537),
                    Some(reference(&key, &s)),
                    "{bits} round {round}"
                );
                assert_eq!(m.pow(&s, 3).map(|v| v.len()), Some(k));
            }
        }
    }

    /// A modulus whose top limb is 1 (2049 bits): R/n is near 2^32, which an
    /// earlier R mod n computation looped over (found by fuzzing).
    #[test]
    fn moduli_with_a_tiny_top_limb() {
        for top in [1u8, 2, 0x80] {
            let mut n = vec![0u8; 257];
            n[0] = top;
            n[100] = 0xde;
            n[256] = 0x01; // odd
            let m = Modulus::new(&n).unwrap();
            let mut s = vec![0u8; 257];
            s[256] = 3;
            // 3^3 = 27 < n, so the result is exact.
            let mut want = vec![0u8; 257];
            want[256] = 27;
            assert_eq!(m.pow(&s, 3), Some(want), "top byte {top}");
        }
    }

    #[test]
    fn small_exponents_and_bounds() {
        let key = key(2048);
        let m = Modulus::new(&key.n_bytes()).unwrap();
        let mut s = vec![0u8; 256];
        s[255] = 2;
        let mut want = vec![0u8; 256];
        want[255] = 8;
        assert_eq!(m.pow(&s, 3), Some(want));
        assert_eq!(m.pow(&s[1..], 3), None, "short signature");
        assert_eq!(m.pow(&key.n_bytes(), 3), None, "s = n");
        assert_eq!(m.pow(&[0xff; 256], 3), None, "s > n");
        assert_eq!(m.pow(&s, 0), None);
        assert!(Modulus::new(&[0x80, 0, 0, 0, 0, 0, 0, 2]).is_none(), "even");
        assert!(Modulus::new(&[3]).is_none(), "too small");
    }
}
