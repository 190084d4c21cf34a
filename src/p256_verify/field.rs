//! Arithmetic modulo the P-256 prime `p = 2²⁵⁶ − 2²²⁴ + 2¹⁹² + 2⁹⁶ − 1`,
//! shaped for wasm: nine 29-bit limbs in `i64` words, Montgomery form with
//! `R = 2²⁶¹`.
//!
//! A product of two limbs is below 2⁵⁸, so the nine products of a column add
//! up with no carry (below 2⁶¹·²). The Montgomery reduction needs no
//! multiplication at all: `−p⁻¹ ≡ 1 (mod 2²⁹)` (as `p ≡ −1 mod 2⁹⁶`), so the
//! quotient digit `m` is the column's low 29 bits, and in radix `B = 2²⁹`
//! `p = −1 + 2⁹·B³ + 2¹⁸·B⁶ − 2²¹·B⁷ + 2²⁴·B⁸`: adding `m·p` is four shifted
//! additions. Limbs are signed so that those subtractions (and field
//! subtraction) need no borrow handling until the next carry pass.
//!
//! Invariant of every [`Fe`]: limbs in `[0, 2²⁹)`, value below 2²⁵⁷ (not
//! necessarily below `p`). Multiplication maps such inputs to an output
//! below `2²⁵³ + p`; addition and subtraction fold the bits from 2²⁵⁶ up
//! back in (`2²⁵⁶ ≡ 2²²⁴ − 2¹⁹² − 2⁹⁶ + 1`), which also lands below 2²⁵⁷.
//! Only comparisons and output need the fully reduced value.
//!
//! Variable time: verification handles public values only.

use crate::jacobian::{Encoding, Field};

use super::PRIME;

/// Bits per limb.
const W: u32 = 29;
const MASK: i64 = (1 << W) - 1;

/// `p` in limbs.
const P: [i64; 9] = [
    0x1fff_ffff,
    0x1fff_ffff,
    0x1fff_ffff,
    0x1ff,
    0,
    0,
    0x4_0000,
    0x1fe0_0000,
    0xff_ffff,
];
/// `8p` in limbs, added before a subtraction so that the result stays
/// positive (`8p > 2²⁵⁸ >` any subtrahend).
const P8: [i64; 9] = [
    0x1fff_fff8,
    0x1fff_ffff,
    0x1fff_ffff,
    0xfff,
    0,
    0,
    0x20_0000,
    0x1f00_0000,
    0x7ff_ffff,
];
/// `R² mod p`, to enter the Montgomery domain.
const R2: Fe = Fe([
    0xc00,
    0,
    0x1fff_0000,
    0x1fdf_ffff,
    0x1fbf_ffff,
    0x1fff_ffff,
    0x1fff_ffff,
    0x1fff_fffe,
    0x13,
]);

/// An element of the field, in Montgomery form (see the module's invariant).
#[derive(Clone, Copy, Debug)]
pub struct Fe([i64; 9]);

impl Fe {
    /// Zero.
    pub const ZERO: Fe = Fe([0; 9]);

    /// An element from its limbs in Montgomery form (each below 2²⁹, value
    /// below 2²⁵⁷: the precomputed table).
    pub(super) const fn from_montgomery_limbs(limbs: &[u32; 9]) -> Fe {
        let mut out = [0i64; 9];
        let mut i = 0;
        while i < 9 {
            out[i] = limbs[i] as i64;
            i += 1;
        }
        Fe(out)
    }
}

impl Encoding<32> for Fe {
    /// The element whose value is the big-endian `bytes` (any 256-bit
    /// value, reduced mod p by the arithmetic).
    fn from_be_bytes(bytes: &[u8; 32]) -> Fe {
        // 256 bits fill eight 29-bit limbs and 24 bits of the ninth: no overflow.
        let mut wide = [0u64; 9];
        let _ = crate::radix::unpack_be(bytes, W, &mut wide);
        Fe(wide.map(|l| l as i64)).mul(&R2)
    }

    /// The fully reduced value, big-endian.
    fn to_be_bytes(&self) -> [u8; 32] {
        let mut one = [0i64; 9];
        one[0] = 1;
        let v = self.mul(&Fe(one)).canonical();
        let mut out = [0u8; 32];
        // Canonical limbs are normalised, hence non-negative.
        crate::radix::pack_be(v.iter().map(|&l| l as u64), W, &mut out);
        out
    }
}

impl Field for Fe {
    /// One, in Montgomery form (`R mod p`).
    const ONE: Fe = Fe([
        0x20,
        0,
        0,
        0x1fff_c000,
        0x1fff_ffff,
        0x1fff_ffff,
        0x1f7f_ffff,
        0x3ff_ffff,
        0,
    ]);

    /// `self·rhs`. Not inlined, nor is [`Fe::square`]: a call costs little
    /// next to 81 products, and the point formulas stay small.
    #[inline(never)]
    fn mul(&self, rhs: &Fe) -> Fe {
        let (a, b) = (&self.0, &rhs.0);
        // The first row and the last column of the product matrix written
        // straight into the column sums, the rest added: a zeroed array to
        // add into became a `memory.fill` call (a host libcall in wasmtime)
        // on every product.
        let mut t = [
            a[0] * b[0],
            a[0] * b[1],
            a[0] * b[2],
            a[0] * b[3],
            a[0] * b[4],
            a[0] * b[5],
            a[0] * b[6],
            a[0] * b[7],
            a[0] * b[8],
            a[1] * b[8],
            a[2] * b[8],
            a[3] * b[8],
            a[4] * b[8],
            a[5] * b[8],
            a[6] * b[8],
            a[7] * b[8],
            a[8] * b[8],
            0,
        ];
        for i in 1..9 {
            for j in 0..8 {
                t[i + j] += a[i] * b[j];
            }
        }
        reduce(t)
    }

    /// `self²`: each cross product once, doubled through its first factor.
    #[inline(never)]
    fn square(&self) -> Fe {
        let a = &self.0;
        // The squares written straight into the even columns (no zeroed
        // array: see `mul`), the doubled cross products added.
        let mut t = [
            a[0] * a[0],
            0,
            a[1] * a[1],
            0,
            a[2] * a[2],
            0,
            a[3] * a[3],
            0,
            a[4] * a[4],
            0,
            a[5] * a[5],
            0,
            a[6] * a[6],
            0,
            a[7] * a[7],
            0,
            a[8] * a[8],
            0,
        ];
        for i in 0..8 {
            let twice = 2 * a[i];
            for j in i + 1..9 {
                t[i + j] += twice * a[j];
            }
        }
        reduce(t)
    }

    /// `self + rhs`.
    fn add(&self, rhs: &Fe) -> Fe {
        let mut t = [0i64; 9];
        for (i, ti) in t.iter_mut().enumerate() {
            *ti = self.0[i] + rhs.0[i];
        }
        fold(t)
    }

    /// `self − rhs`.
    fn sub(&self, rhs: &Fe) -> Fe {
        let mut t = [0i64; 9];
        for (i, ti) in t.iter_mut().enumerate() {
            *ti = self.0[i] - rhs.0[i] + P8[i];
        }
        fold(t)
    }

    /// `−self`.
    fn neg(&self) -> Fe {
        Fe::ZERO.sub(self)
    }

    /// `k·self` for a small `k` (at most 8).
    fn mul_small(&self, k: i64) -> Fe {
        debug_assert!((0..=8).contains(&k));
        let mut t = self.0;
        for ti in &mut t {
            *ti *= k;
        }
        fold(t)
    }

    /// Whether the element is 0 mod p.
    fn is_zero(&self) -> bool {
        self.canonical() == [0; 9]
    }

    /// Whether both elements are equal mod p.
    fn equals(&self, rhs: &Fe) -> bool {
        self.canonical() == rhs.canonical()
    }
}

impl crate::ecdsa::CurveField<32> for Fe {
    /// The curve's `b`, in Montgomery form.
    const B: Fe = Fe([
        0x1897_bbfb,
        0x1cdf_6229,
        0x0184_86c4,
        0x0173_2821,
        0x1dad_59e0,
        0x0abf_7212,
        0x1a06_d110,
        0x1772_1d20,
        0x86_00c3,
    ]);
    const PRIME: [u8; 32] = PRIME;

    /// A square root, if `self` is a square: `self^((p+1)/4)` (`p ≡ 3 mod
    /// 4`), checked by squaring it back. Square-and-multiply (254 squarings,
    /// 34 products: the exponent is `2²⁵⁴ − 2²²² + 2¹⁹⁰ + 2⁹⁴`): only
    /// compressed public keys need it, once per key, so the shortest code
    /// rather than an addition chain.
    fn sqrt(&self) -> Option<Fe> {
        const EXPONENT: [u8; 32] = [
            0x3f, 0xff, 0xff, 0xff, 0xc0, 0x00, 0x00, 0x00, 0x40, 0x00, 0x00, 0x00, 0x00, 0x00,
            0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x40, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
            0x00, 0x00, 0x00, 0x00,
        ];
        let root = self.pow_vartime(&EXPONENT);
        root.square().equals(self).then_some(root)
    }
}

impl Fe {
    /// The limbs of the value reduced below p (Montgomery form kept).
    fn canonical(&self) -> [i64; 9] {
        // Below 2²⁵⁷ < 3p: at most two subtractions.
        let mut v = self.0;
        for _ in 0..2 {
            let mut d = [0i64; 9];
            for (i, di) in d.iter_mut().enumerate() {
                *di = v[i] - P[i];
            }
            carry(&mut d);
            if d[8] >= 0 {
                v = d;
            }
        }
        v
    }
}

/// Signed carry propagation: limbs 0..8 into `[0, 2²⁹)`, the rest (and the
/// sign) in the top limb.
fn carry(t: &mut [i64; 9]) {
    for i in 0..8 {
        t[i + 1] += t[i] >> W;
        t[i] &= MASK;
    }
}

/// Normalises a non-negative value below 2²⁶⁰ (limbs of any sign, each
/// below 2⁶²) into the invariant: carry, then fold the bits from 2²⁵⁶ up.
fn fold(mut t: [i64; 9]) -> Fe {
    carry(&mut t);
    // Bit 256 is bit 24 of the top limb; h < 16.
    let h = t[8] >> 24;
    t[8] &= 0xff_ffff;
    // h·2²⁵⁶ ≡ h·(2²²⁴ − 2¹⁹² − 2⁹⁶ + 1); the result is below 2²⁵⁶ + 2²²⁸.
    t[0] += h;
    t[3] -= h << 9;
    t[6] -= h << 18;
    t[7] += h << 21;
    carry(&mut t);
    Fe(t)
}

/// Montgomery reduction of the 17 column sums of a product (`t[17]` is 0):
/// `t·2⁻²⁶¹ mod p`, below `2²⁵³ + p` for a product of two elements.
fn reduce(mut t: [i64; 18]) -> Fe {
    for i in 0..9 {
        // m·p adds −m at limb i: with m = t[i] mod 2²⁹ the column becomes a
        // multiple of 2²⁹, carried whole into the next one.
        let m = t[i] & MASK;
        t[i + 1] += (t[i] - m) >> W;
        t[i + 3] += m << 9;
        t[i + 6] += m << 18;
        t[i + 7] -= m << 21;
        t[i + 8] += m << 24;
    }
    let mut out = [0i64; 9];
    out.copy_from_slice(&t[9..]);
    carry(&mut out);
    Fe(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ecdsa::CurveField;
    use crate::testrng::random_bytes;

    /// 0, 1, p − 1, p, 2²⁵⁶ − 1 and a few others, as raw bytes.
    fn edge_values() -> Vec<[u8; 32]> {
        let mut p = [0xffu8; 32];
        p[4..8].copy_from_slice(&[0, 0, 0, 1]);
        p[8..20].fill(0);
        let mut pm1 = p;
        pm1[31] = 0xfe;
        let mut one = [0u8; 32];
        one[31] = 1;
        vec![[0u8; 32], one, pm1, p, [0xff; 32], [0x80; 32], [0x01; 32]]
    }

    #[test]
    fn one_and_zero() {
        let one = Fe::ONE.to_be_bytes();
        assert_eq!(one[31], 1);
        assert!(one[..31].iter().all(|&b| b == 0));
        for v in edge_values() {
            let x = Fe::from_be_bytes(&v);
            assert!(x.mul(&Fe::ONE).equals(&x));
            assert!(x.sub(&x).is_zero());
            assert!(x.add(&x.neg()).is_zero());
            assert!(x.mul(&Fe::ZERO).is_zero());
        }
        assert!(Fe::from_be_bytes(&edge_values()[3]).is_zero(), "p is 0");
    }

    /// `b` (FIPS 186-4 D.1.2.3) and p, against their published values.
    #[test]
    fn curve_constants() {
        let b: [u8; 32] = [
            0x5a, 0xc6, 0x35, 0xd8, 0xaa, 0x3a, 0x93, 0xe7, 0xb3, 0xeb, 0xbd, 0x55, 0x76, 0x98,
            0x86, 0xbc, 0x65, 0x1d, 0x06, 0xb0, 0xcc, 0x53, 0xb0, 0xf6, 0x3b, 0xce, 0x3c, 0x3e,
            0x27, 0xd2, 0x60, 0x4b,
        ];
        assert_eq!(<Fe as CurveField<32>>::B.to_be_bytes(), b);
        assert!(<Fe as CurveField<32>>::B.equals(&Fe::from_be_bytes(&b)));
        assert_eq!(edge_values()[3], <Fe as CurveField<32>>::PRIME);
        let mut p = [0u64; 9];
        crate::radix::unpack_be(&PRIME, W, &mut p).unwrap();
        assert_eq!(p.map(|l| l as i64), P);
    }

    /// Roots of random values: a root exactly when Euler's criterion says
    /// the value is a square, and then it squares back; the root of `x²`
    /// is `±x`.
    #[test]
    fn square_roots() {
        // (p − 1)/2, shifting the bytes from the low end (each still
        // reads its unshifted upper neighbour).
        let mut half = PRIME;
        half[31] -= 1;
        for i in (0..32).rev() {
            let upper = if i > 0 { half[i - 1] << 7 } else { 0 };
            half[i] = (half[i] >> 1) | upper;
        }
        let mut seed = 256u64;
        let (mut squares, mut non_squares) = (0, 0);
        for _ in 0..60 {
            let x = Fe::from_be_bytes(&random_bytes::<32>(&mut seed));
            let euler = x.pow_vartime(&half);
            match x.sqrt() {
                Some(r) => {
                    squares += 1;
                    assert!(r.square().equals(&x));
                    assert!(euler.equals(&Fe::ONE) || x.is_zero());
                }
                None => {
                    non_squares += 1;
                    assert!(euler.neg().equals(&Fe::ONE));
                }
            }
            let r = x.square().sqrt().unwrap();
            assert!(r.equals(&x) || r.neg().equals(&x));
        }
        assert!(squares > 10 && non_squares > 10, "{squares} {non_squares}");
        assert!(Fe::ZERO.sqrt().unwrap().is_zero());
        // p − 1 = −1 is not a square (p ≡ 3 mod 4).
        assert!(Fe::ONE.neg().sqrt().is_none());
    }
}
