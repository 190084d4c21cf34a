//! Arithmetic modulo the P-384 prime
//! `p = 2³⁸⁴ − 2¹²⁸ − 2⁹⁶ + 2³² − 1`, shaped for wasm: fourteen 28-bit
//! limbs in `i64` words, Montgomery form with `R = 2³⁹²`.
//!
//! A product of two limbs is below 2⁵⁶, so the fourteen products of a
//! column add up with no carry (below 2⁵⁹·⁹). The Montgomery reduction
//! needs no multiplication at all: `−p⁻¹ ≡ 1 (mod 2²⁸)` (as `p ≡ −1 mod
//! 2³²`), so the quotient digit `m` is the column's low 28 bits, and in
//! radix `B = 2²⁸` `p = −1 + 2⁴·B − 2¹²·B³ − 2¹⁶·B⁴ + 2²⁰·B¹³`: adding
//! `m·p` is four shifted additions. Limbs are signed so that those
//! subtractions (and field subtraction) need no borrow handling until the
//! next carry pass. 28 rather than 29 bits (P-256's choice): 384 bits need
//! fourteen limbs either way, and 28 makes `p`'s terms land on shifts of
//! whole limbs' multiples of 4 bits with room left in every column.
//!
//! Invariant of every [`Fe`]: limbs below 2²⁹ in absolute value, value in
//! `[0, 2³⁸⁵)` (not necessarily below `p`). Such limbs keep a column of
//! products below 2⁶¹·⁹. Multiplication maps such inputs to normalised
//! limbs (in `[0, 2²⁸)`) and a value below `2³⁷⁸ + p` (`a·b/R + p`);
//! addition and subtraction carry once, then fold the bits from 2³⁸⁴ up
//! back in (`2³⁸⁴ ≡ 2¹²⁸ + 2⁹⁶ − 2³² + 1`) without carrying again: limbs 0,
//! 1, 3 and 4 may then be up to 2²² off `[0, 2²⁸)`, the value below
//! `2³⁸⁴ + 2¹³⁵`. Only comparisons and output need the fully reduced value
//! (and normalised limbs).
//!
//! Variable time: verification handles public values only.

use crate::jacobian::{Encoding, Field};

/// Bits per limb.
const W: u32 = 28;
const MASK: i64 = (1 << W) - 1;
/// Limbs per element.
const L: usize = 14;

/// `p` in limbs.
const P: [i64; L] = [
    0xfff_ffff, 0xf, 0, 0xfff_f000, 0xffe_ffff, 0xfff_ffff, 0xfff_ffff, 0xfff_ffff, 0xfff_ffff,
    0xfff_ffff, 0xfff_ffff, 0xfff_ffff, 0xfff_ffff, 0xf_ffff,
];
/// `4p` in limbs, added before a subtraction so that the result stays
/// positive (`4p > 2³⁸⁵ >` any subtrahend).
const P4: [i64; L] = [
    0xfff_fffc, 0x3f, 0, 0xfff_c000, 0xffb_ffff, 0xfff_ffff, 0xfff_ffff, 0xfff_ffff, 0xfff_ffff,
    0xfff_ffff, 0xfff_ffff, 0xfff_ffff, 0xfff_ffff, 0x3f_ffff,
];
/// `R² mod p`, to enter the Montgomery domain.
const R2: Fe = Fe([
    0x1_0000, 0xfe0_0000, 0xff_ffff, 0, 0x2, 0, 0xfff_fe00, 0xfff, 0x2_0000, 0x10_0000, 0, 0, 0, 0,
]);

/// An element of the field, in Montgomery form (see the module's invariant).
#[derive(Clone, Copy, Debug)]
pub struct Fe([i64; L]);

impl Fe {
    /// Zero.
    pub const ZERO: Fe = Fe([0; L]);
    /// The curve's `b`, in Montgomery form.
    pub const B: Fe = Fe([
        0x12d_cccd, 0x887_0d04, 0x2ec_0811, 0xd94_74c3, 0xfc4_29ad, 0x192_0022, 0x7f2_209b,
        0x938_ae27, 0x74b_ee94, 0x209_4e33, 0x1f4_1f02, 0xf9b_62b2, 0xb60_4fbf, 0x8114,
    ]);

    /// An element from its limbs in Montgomery form (each below 2²⁸, value
    /// below p: the precomputed table).
    pub(super) const fn from_montgomery_limbs(limbs: &[u32; L]) -> Fe {
        let mut out = [0i64; L];
        let mut i = 0;
        while i < L {
            out[i] = limbs[i] as i64;
            i += 1;
        }
        Fe(out)
    }

    /// `self^(2^k)`: `k` squarings.
    #[must_use]
    #[inline(never)]
    pub fn square_n(&self, k: u32) -> Fe {
        let mut x = *self;
        for _ in 0..k {
            x = x.square();
        }
        x
    }

    /// A square root, if `self` is a square: `self^((p+1)/4)` (`p ≡ 3 mod
    /// 4`), checked by squaring it back. The exponent is
    /// `2³⁸² − 2¹²⁶ − 2⁹⁴ + 2³⁰`: 255 ones, a zero, 32 ones, 63 zeros, a
    /// one and 30 zeros, reached from `x_k = self^(2^k − 1)` blocks in 383
    /// squarings and 13 multiplications (square-and-multiply would take
    /// about 670 operations). Only compressed public keys need it.
    #[must_use]
    pub fn sqrt(&self) -> Option<Fe> {
        let x1 = *self;
        let x2 = x1.square().mul(&x1);
        let x3 = x2.square().mul(&x1);
        let x6 = x3.square_n(3).mul(&x3);
        let x12 = x6.square_n(6).mul(&x6);
        let x15 = x12.square_n(3).mul(&x3);
        let x30 = x15.square_n(15).mul(&x15);
        let x32 = x30.square_n(2).mul(&x2);
        let x60 = x30.square_n(30).mul(&x30);
        let x120 = x60.square_n(60).mul(&x60);
        let x240 = x120.square_n(120).mul(&x120);
        let x255 = x240.square_n(15).mul(&x15);
        let root = x255
            .square_n(33)
            .mul(&x32)
            .square_n(64)
            .mul(&x1)
            .square_n(30);
        root.square().equals(self).then_some(root)
    }

    /// Whether the fully reduced value (out of the Montgomery domain) is
    /// odd: which of two square roots a compressed point names.
    #[must_use]
    pub fn is_odd(&self) -> bool {
        self.to_be_bytes()[47] & 1 == 1
    }

    /// The limbs of the value reduced below p (Montgomery form kept).
    fn canonical(&self) -> [i64; L] {
        // Below 2³⁸⁵ < 3p: at most two subtractions, on normalised limbs.
        let mut v = self.0;
        carry(&mut v);
        for _ in 0..2 {
            let mut d = [0i64; L];
            for (i, di) in d.iter_mut().enumerate() {
                *di = v[i] - P[i];
            }
            carry(&mut d);
            if d[L - 1] >= 0 {
                v = d;
            }
        }
        v
    }
}

impl Encoding<48> for Fe {
    /// The element whose value is the big-endian `bytes` (any 384-bit
    /// value, reduced mod p by the arithmetic).
    fn from_be_bytes(bytes: &[u8; 48]) -> Fe {
        // 384 bits fill thirteen 28-bit limbs and 20 bits of the fourteenth:
        // no overflow.
        let mut wide = [0u64; L];
        let _ = crate::radix::unpack_be(bytes, W, &mut wide);
        Fe(wide.map(|l| l as i64)).mul(&R2)
    }

    /// The fully reduced value, big-endian.
    fn to_be_bytes(&self) -> [u8; 48] {
        let mut one = [0i64; L];
        one[0] = 1;
        let v = self.mul(&Fe(one)).canonical();
        let mut out = [0u8; 48];
        // Canonical limbs are normalised, hence non-negative.
        crate::radix::pack_be(v.iter().map(|&l| l as u64), W, &mut out);
        out
    }
}

impl Field for Fe {
    /// One, in Montgomery form (`R mod p`).
    const ONE: Fe = Fe([
        0x100, 0xfff_f000, 0xfff_ffff, 0xf_ffff, 0x100_0000, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    ]);

    /// `self·rhs`. Not inlined, nor is [`Field::square`]: a call costs little
    /// next to 196 products, and the point formulas stay small.
    #[inline(never)]
    fn mul(&self, rhs: &Fe) -> Fe {
        let (a, b) = (&self.0, &rhs.0);
        // The first row and the last column of the product matrix written
        // straight into the column sums, the rest added (no zeroed array to
        // add into: in wasm that became a `memory.fill` call per product,
        // see P-256's field).
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
            a[0] * b[9],
            a[0] * b[10],
            a[0] * b[11],
            a[0] * b[12],
            a[0] * b[13],
            a[1] * b[13],
            a[2] * b[13],
            a[3] * b[13],
            a[4] * b[13],
            a[5] * b[13],
            a[6] * b[13],
            a[7] * b[13],
            a[8] * b[13],
            a[9] * b[13],
            a[10] * b[13],
            a[11] * b[13],
            a[12] * b[13],
            a[13] * b[13],
            0,
        ];
        // Rows unrolled by hand: as a loop (LLVM's choice past its
        // unrolling threshold) every product loaded and stored its column
        // sum in the module's memory; unrolled, the sums stay in locals, as
        // in `square`.
        macro_rules! rows {
            ($($i:literal)*) => {$(
                for j in 0..L - 1 {
                    t[$i + j] += a[$i] * b[j];
                }
            )*};
        }
        rows!(1 2 3 4 5 6 7 8 9 10 11 12 13);
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
            a[9] * a[9],
            0,
            a[10] * a[10],
            0,
            a[11] * a[11],
            0,
            a[12] * a[12],
            0,
            a[13] * a[13],
            0,
        ];
        for i in 0..L - 1 {
            let twice = 2 * a[i];
            for j in i + 1..L {
                t[i + j] += twice * a[j];
            }
        }
        reduce(t)
    }

    /// `self + rhs`. Not inlined, nor are the other linear operations and
    /// the point formulas: inlined, the P-384 code was 48 KiB instead of
    /// 28 KiB of the module, for 4% fewer instructions.
    #[inline(never)]
    fn add(&self, rhs: &Fe) -> Fe {
        let mut t = [0i64; L];
        for (i, ti) in t.iter_mut().enumerate() {
            *ti = self.0[i] + rhs.0[i];
        }
        fold(t)
    }

    /// `self − rhs`.
    #[inline(never)]
    fn sub(&self, rhs: &Fe) -> Fe {
        let mut t = [0i64; L];
        for (i, ti) in t.iter_mut().enumerate() {
            *ti = self.0[i] - rhs.0[i] + P4[i];
        }
        fold(t)
    }

    /// `−self`.
    fn neg(&self) -> Fe {
        Fe::ZERO.sub(self)
    }

    /// `k·self` for a small `k` (at most 8).
    #[inline(never)]
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
        // Not `== [0; L]`: an array comparison is a `memcmp` call in wasm.
        self.canonical().iter().all(|&l| l == 0)
    }

    /// Whether both elements are equal mod p.
    fn equals(&self, rhs: &Fe) -> bool {
        let (a, b) = (self.canonical(), rhs.canonical());
        a.iter().zip(&b).all(|(x, y)| x == y)
    }
}

/// Signed carry propagation: limbs 0..13 into `[0, 2²⁸)`, the rest (and
/// the sign) in the top limb.
fn carry(t: &mut [i64; L]) {
    for i in 0..L - 1 {
        t[i + 1] += t[i] >> W;
        t[i] &= MASK;
    }
}

/// Brings a non-negative value below 2³⁹⁰ (limbs of any sign, each below
/// 2⁶² in absolute value) into the invariant: carry, then fold the bits
/// from 2³⁸⁴ up. No second carry: the folded terms leave limbs 0, 1, 3 and
/// 4 within 2²² of `[0, 2²⁸)` (h·2¹⁶ < 2²²), which the invariant allows,
/// and a second pass was a tenth of a doubling's instructions.
fn fold(mut t: [i64; L]) -> Fe {
    carry(&mut t);
    // Bit 384 is bit 20 of the top limb; h < 64.
    let h = t[L - 1] >> 20;
    t[L - 1] &= 0xf_ffff;
    // h·2³⁸⁴ ≡ h·(2¹²⁸ + 2⁹⁶ − 2³² + 1); the result is below 2³⁸⁴ + 2¹³⁵.
    t[0] += h;
    t[1] -= h << 4;
    t[3] += h << 12;
    t[4] += h << 16;
    Fe(t)
}

/// Montgomery reduction of the 27 column sums of a product (`t[27]` is 0):
/// `t·2⁻³⁹² mod p`, below `2³⁷⁸ + p` for a product of two elements.
#[inline(always)]
fn reduce(mut t: [i64; 2 * L]) -> Fe {
    macro_rules! step {
        ($($i:literal)*) => {$(
            // m·p adds −m at limb i: with m = t[i] mod 2²⁸ the column
            // becomes a multiple of 2²⁸, carried whole into the next one.
            let m = t[$i] & MASK;
            t[$i + 1] += (t[$i] >> W) + (m << 4);
            t[$i + 3] -= m << 12;
            t[$i + 4] -= m << 16;
            t[$i + 13] += m << 20;
        )*};
    }
    step!(0 1 2 3 4 5 6 7 8 9 10 11 12 13);
    let mut out = [0i64; L];
    out.copy_from_slice(&t[L..]);
    carry(&mut out);
    Fe(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testrng::random_bytes;
    use crypto_bigint::{NonZero, U384};

    /// `p`, big-endian.
    const PRIME: [u8; 48] = hex48(
        "fffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffe\
         ffffffff0000000000000000ffffffff",
    );
    /// The curve's `b` (FIPS 186-4 D.1.2.4), big-endian.
    const CURVE_B: [u8; 48] = hex48(
        "b3312fa7e23ee7e4988e056be3f82d19181d9c6efe8141120314088f5013875a\
         c656398d8a2ed19d2a85c8edd3ec2aef",
    );

    /// 96 hex digits (whitespace skipped), big-endian bytes.
    const fn hex48(s: &str) -> [u8; 48] {
        let s = s.as_bytes();
        let mut out = [0u8; 48];
        let (mut i, mut n) = (0, 0);
        while i < s.len() {
            let d = match s[i] {
                c @ b'0'..=b'9' => c - b'0',
                c @ b'a'..=b'f' => c - b'a' + 10,
                _ => {
                    i += 1;
                    continue;
                }
            };
            out[n / 2] = out[n / 2] << 4 | d;
            n += 1;
            i += 1;
        }
        assert!(n == 96);
        out
    }

    /// 0, 1, p − 1, p, p + 1, 2³⁸⁴ − 1 and a few others, as raw bytes.
    fn edge_values() -> Vec<[u8; 48]> {
        let mut pm1 = PRIME;
        pm1[47] = 0xfe;
        let mut pp1 = PRIME;
        pp1[44..].fill(0);
        pp1[43] = 1;
        let mut one = [0u8; 48];
        one[47] = 1;
        vec![
            [0u8; 48], one, pm1, PRIME, pp1, [0xff; 48], [0x80; 48], [0x01; 48],
        ]
    }

    /// The reference: `crypto-bigint`'s modular arithmetic, in which the
    /// field is plain numbers mod p.
    fn prime() -> NonZero<U384> {
        NonZero::new(U384::from_be_slice(&PRIME)).unwrap()
    }

    fn reference(bytes: &[u8; 48]) -> U384 {
        U384::from_be_slice(bytes).rem_vartime(&prime())
    }

    fn out(v: &U384) -> [u8; 48] {
        let mut bytes = [0u8; 48];
        bytes.copy_from_slice(v.to_be_bytes().as_ref());
        bytes
    }

    #[test]
    fn constants() {
        let mut p = [0u64; L];
        crate::radix::unpack_be(&PRIME, W, &mut p).unwrap();
        assert_eq!(p.map(|l| l as i64), P);
        let mut p4 = P.map(|l| l * 4);
        carry(&mut p4);
        assert_eq!(p4, P4);
        // The radix-2²⁸ form of p the reduction relies on.
        let mut sparse = [0i64; L];
        sparse[0] = -1;
        sparse[1] = 1 << 4;
        sparse[3] = -(1 << 12);
        sparse[4] = -(1 << 16);
        sparse[13] = 1 << 20;
        carry(&mut sparse);
        assert_eq!(sparse, P);
        let one = Fe::ONE.to_be_bytes();
        assert_eq!(one[47], 1);
        assert!(one[..47].iter().all(|&b| b == 0));
        assert_eq!(Fe::B.to_be_bytes(), CURVE_B);
        // 1·R²·R⁻¹ = R mod p: R2 and ONE agree (ONE's bytes are 1 above).
        let mut one_be = [0u8; 48];
        one_be[47] = 1;
        assert!(Fe::from_be_bytes(&one_be).equals(&Fe::ONE));
    }

    #[test]
    fn one_and_zero() {
        for v in edge_values() {
            let x = Fe::from_be_bytes(&v);
            assert!(x.mul(&Fe::ONE).equals(&x));
            assert!(x.sub(&x).is_zero());
            assert!(x.add(&x.neg()).is_zero());
            assert!(x.mul(&Fe::ZERO).is_zero());
        }
        assert!(Fe::from_be_bytes(&PRIME).is_zero(), "p is 0");
    }

    /// Every operation against `crypto-bigint`, on edge values and random
    /// ones, chained so that lazily reduced results (between p and 2³⁸⁵)
    /// feed every operation.
    #[test]
    fn agrees_with_crypto_bigint() {
        let p = prime();
        let mut seed = 0x3843_8438_u64;
        let mut values = edge_values();
        for _ in 0..40 {
            values.push(random_bytes::<48>(&mut seed));
        }
        for a in &values {
            for b in values.iter().step_by(3) {
                let (mut x, mut y) = (Fe::from_be_bytes(a), Fe::from_be_bytes(b));
                let (mut rx, mut ry) = (reference(a), reference(b));
                for step in 0..12 {
                    let (r, rr) = match step % 6 {
                        0 => (x.mul(&y), rx.mul_mod_vartime(&ry, &p)),
                        1 => (x.square(), rx.mul_mod_vartime(&rx, &p)),
                        2 => (x.add(&y), rx.add_mod(&ry, &p)),
                        3 => (x.sub(&y), rx.sub_mod(&ry, &p)),
                        4 => (x.neg(), rx.neg_mod(&p)),
                        _ => (
                            x.mul_small(8).add(&y.mul_small(3)),
                            rx.mul_mod_vartime(&U384::from_u8(8), &p)
                                .add_mod(&ry.mul_mod_vartime(&U384::from_u8(3), &p), &p),
                        ),
                    };
                    assert_eq!(r.to_be_bytes(), out(&rr), "step {step}");
                    assert!(r.0.iter().all(|l| l.abs() < 1 << 29), "{r:?}");
                    assert_eq!(r.is_zero(), rr == U384::ZERO);
                    assert_eq!(r.is_odd(), out(&rr)[47] & 1 == 1);
                    assert!(r.equals(&x) == (rr == rx));
                    (x, y, rx, ry) = (y, r, ry, rr);
                }
            }
        }
    }

    #[test]
    fn square_roots() {
        let mut seed = 99u64;
        let (mut squares, mut non_squares) = (0, 0);
        for _ in 0..60 {
            let v = random_bytes::<48>(&mut seed);
            let x = Fe::from_be_bytes(&v);
            // Euler's criterion: a square exactly when x^((p−1)/2) is 1 (or x is 0).
            let mut half = PRIME;
            half[47] -= 1;
            let half = U384::from_be_slice(&half).shr_vartime(1);
            let euler = x.pow_vartime(&out(&half));
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
            // A square always has a root, and it is the root or its negation.
            let r = x.square().sqrt().unwrap();
            assert!(r.equals(&x) || r.neg().equals(&x));
        }
        assert!(squares > 10 && non_squares > 10, "{squares} {non_squares}");
        assert!(Fe::ZERO.sqrt().unwrap().is_zero());
    }

    #[test]
    fn inversion_by_fermat() {
        let mut e = PRIME;
        e[47] -= 2;
        let mut seed = 5u64;
        for _ in 0..5 {
            let x = Fe::from_be_bytes(&random_bytes::<48>(&mut seed));
            assert!(x.mul(&x.pow_vartime(&e)).equals(&Fe::ONE));
        }
    }
}
