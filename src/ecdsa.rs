//! What both hand-written ECDSA verifiers ([`crate::p256_verify`],
//! [`crate::p384_verify`]) do outside the curve: the signature's DER
//! decoding and range checks, the scalars modulo the group order `n`
//! (`s⁻¹`, `u1 = e·s⁻¹`, `u2 = r·s⁻¹`), and the SEC 1 decoding of public
//! keys. Written once, generic over the sizes; each curve supplies its
//! constants ([`Order`], [`CurveField`]).
//!
//! Why by hand: the `p256` and `p384` crates' scalar code is generic
//! constant-time `crypto-bigint` arithmetic, which for P-256 with
//! `elliptic-curve`, `ecdsa` and `primeorder` weighed about 33 KiB of the
//! module (for P-384, 40 KiB of `crypto-bigint`) for three products and
//! one inversion per verification. Here:
//!
//! * `s⁻¹` by the binary extended Euclidean algorithm (HAC 14.61 for an
//!   odd modulus) on 64-bit words: shifts and subtractions only, about
//!   `2·bits` of each, where Fermat's `s^(n−2)` would take more than
//!   `bits` Montgomery products;
//! * products by Montgomery multiplication on 28-bit limbs (`R = 2^(28·L)
//!   ≥ 4n`, so inputs below `2n`, the digest included, give outputs below
//!   `2n`; one conditional subtraction at the end).
//!
//! Variable time: the key, the signature and the digest are public.
//!
//! Checked against the `p256` and `p384` crates in each curve's tests and
//! by the `p256` and `p384` fuzz targets.

use crate::jacobian::{Affine, Encoding};

/// Bits per limb of the Montgomery arithmetic.
const LIMB_BITS: u32 = 28;
const MASK: u64 = (1 << LIMB_BITS) - 1;

/// A curve's group order `n` and the constants its scalar arithmetic
/// needs: scalars of `N` bytes, `W` 64-bit words (`N/8`), `L` 28-bit limbs
/// with `2^(28·L) ≥ 4n`, and `T = 2L` (a product's columns: stable Rust
/// cannot write `2L` in a type; checked when compiled). Each curve
/// implements it on a unit type; the arithmetic is the provided methods,
/// so that the constants are compile-time constants in each copy.
pub trait Order<const N: usize, const W: usize, const L: usize, const T: usize> {
    /// `n`, big-endian.
    const BYTES: [u8; N];
    /// `n` in little-endian 64-bit words.
    const WORDS: [u64; W];
    /// `n` in 28-bit limbs.
    const LIMBS: [u64; L];
    /// `−n⁻¹ mod 2²⁸`.
    const N0INV: u64;
    /// `R² mod n` (`R = 2^(28·L)`) in 28-bit limbs.
    const RR: [u64; L];

    /// Whether `1 ≤ v < n`.
    #[must_use]
    fn in_range(v: &[u8; N]) -> bool {
        *v != [0; N] && *v < Self::BYTES
    }

    /// Decodes a DER `ECDSA-Sig-Value` (`SEQUENCE { r INTEGER, s INTEGER
    /// }`, RFC 5912 §6), accepting exactly what the curve crates'
    /// `Signature::from_der` accept (checked in each curve's tests):
    /// definite minimal lengths, minimal non-negative integers of at most
    /// `N` significant bytes, nothing after the sequence, and `1 ≤ r, s <
    /// n`. The short form is the only length form: a long form is either
    /// not minimal (below 128) or longer than any valid signature (at most
    /// `2·(N + 3)` bytes of content, below 128 for both curves).
    #[must_use]
    fn signature_from_der(der: &[u8]) -> Option<Signature<N>> {
        let [0x30, len, body @ ..] = der else {
            return None;
        };
        if *len >= 0x80 || body.len() != usize::from(*len) {
            return None;
        }
        let (r, rest) = integer(body)?;
        let (s, rest) = integer(rest)?;
        (rest.is_empty() && Self::in_range(&r) && Self::in_range(&s)).then_some(Signature { r, s })
    }

    /// The signature from its scalars, if both are in `[1, n)`.
    #[must_use]
    fn signature_from_scalars(r: &[u8; N], s: &[u8; N]) -> Option<Signature<N>> {
        (Self::in_range(r) && Self::in_range(s)).then_some(Signature { r: *r, s: *s })
    }

    /// `(u1, u2) = (e·s⁻¹ mod n, r·s⁻¹ mod n)` for the digest `e` (any
    /// `8N`-bit value: SHA-256 for P-256 and SHA-384 for P-384 fill the
    /// order's bits, so it is taken whole, as SEC 1 §4.1.4 step 4 says,
    /// and reduced here) and the signature.
    #[must_use]
    fn u1_u2(digest: &[u8; N], sig: &Signature<N>) -> ([u8; N], [u8; N]) {
        let w = Self::inverse(&sig.s);
        // w·R: then a Montgomery product by it is a plain product mod n.
        let w_r = Self::mont_mul(&limbs(&w), &Self::RR);
        let u1 = Self::mont_mul(&limbs(digest), &w_r);
        let u2 = Self::mont_mul(&limbs(&sig.r), &w_r);
        (to_bytes(&u1), to_bytes(&u2))
    }

    /// `v⁻¹ mod n` for `v` in `[1, n)`, by the binary extended Euclidean
    /// algorithm. Invariants: `x1·v ≡ u` and `x2·v ≡ w (mod n)`, `gcd(u,
    /// w) = 1` (n is prime), `u` and `w` positive; each round halves one of
    /// them at least once, so it ends within `2·8N` rounds, when `u` or
    /// `w` is 1.
    #[must_use]
    fn inverse(v: &[u8; N]) -> [u8; N] {
        let mut u = words(v);
        let mut w = Self::WORDS;
        let (mut x1, mut x2) = ([0u64; W], [0u64; W]);
        x1[0] = 1;
        if u == [0; W] {
            // Not reached: the signature's s is in [1, n).
            return [0; N];
        }
        while !is_one(&u) && !is_one(&w) {
            while u[0] & 1 == 0 {
                shr1(&mut u, 0);
                halve_mod(&mut x1, &Self::WORDS);
            }
            while w[0] & 1 == 0 {
                shr1(&mut w, 0);
                halve_mod(&mut x2, &Self::WORDS);
            }
            if !less(&u, &w) {
                sub(&mut u, &w);
                sub_mod(&mut x1, &x2, &Self::WORDS);
            } else {
                sub(&mut w, &u);
                sub_mod(&mut x2, &x1, &Self::WORDS);
            }
        }
        let x = if is_one(&u) { x1 } else { x2 };
        let mut out = [0u8; N];
        for (chunk, word) in out.rchunks_mut(8).zip(x) {
            chunk.copy_from_slice(&word.to_be_bytes());
        }
        out
    }

    /// `a·b·R⁻¹ mod n`, fully reduced, for normalised inputs below `2n`:
    /// the product's columns, then one reduction step per limb (the
    /// quotient digit times `n` added, the low limb carried out). A column
    /// sums at most `2L` products below 2⁵⁶ and a carry: no overflow for
    /// `L < 128`.
    #[must_use]
    fn mont_mul(a: &[u64; L], b: &[u64; L]) -> [u64; L] {
        const { assert!(T == 2 * L && L < 128 && 8 * W == N && 28 * L >= 8 * N + 2) };
        let mut t = [0u64; T];
        for i in 0..L {
            for j in 0..L {
                t[i + j] += a[i] * b[j];
            }
        }
        for i in 0..L {
            let m = ((t[i] & MASK) * Self::N0INV) & MASK;
            for j in 0..L {
                t[i + j] += m * Self::LIMBS[j];
            }
            t[i + 1] += t[i] >> LIMB_BITS;
        }
        let mut out = [0u64; L];
        out.copy_from_slice(&t[L..]);
        for i in 0..L - 1 {
            out[i + 1] += out[i] >> LIMB_BITS;
            out[i] &= MASK;
        }
        // Below 2n: one conditional subtraction.
        let mut d = [0i64; L];
        let mut borrow = 0i64;
        for i in 0..L {
            let v = out[i] as i64 - Self::LIMBS[i] as i64 + borrow;
            d[i] = v & MASK as i64;
            borrow = v >> LIMB_BITS;
        }
        if borrow >= 0 {
            for (o, v) in out.iter_mut().zip(d) {
                *o = v as u64;
            }
        }
        out
    }
}

/// An ECDSA signature `(r, s)` of `N`-byte scalars, both in `[1, n)`,
/// big-endian: made only by [`Order::signature_from_der`] and
/// [`Order::signature_from_scalars`] (each curve's `Signature::from_der`
/// and `from_scalars`), which check the range.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Signature<const N: usize> {
    r: [u8; N],
    s: [u8; N],
}

impl<const N: usize> Signature<N> {
    /// `r`, big-endian.
    #[must_use]
    pub fn r(&self) -> &[u8; N] {
        &self.r
    }

    /// `s`, big-endian.
    #[must_use]
    pub fn s(&self) -> &[u8; N] {
        &self.s
    }
}

/// A DER INTEGER at the start of `der`, non-negative and minimally encoded,
/// right-aligned in `N` bytes; and what follows it.
fn integer<const N: usize>(der: &[u8]) -> Option<([u8; N], &[u8])> {
    let [0x02, len, rest @ ..] = der else {
        return None;
    };
    if *len >= 0x80 {
        return None;
    }
    let (bytes, rest) = rest.split_at_checked(usize::from(*len))?;
    let magnitude = match bytes {
        [] => return None,
        [0] => bytes,
        // A leading zero only before a byte whose top bit is set.
        [0, next, ..] if *next < 0x80 => return None,
        [0, tail @ ..] => tail,
        // Negative.
        [first, ..] if *first >= 0x80 => return None,
        _ => bytes,
    };
    let start = N.checked_sub(magnitude.len())?;
    let mut out = [0u8; N];
    out[start..].copy_from_slice(magnitude);
    Some((out, rest))
}

/// Big-endian bytes to little-endian 64-bit words.
pub(crate) fn words<const N: usize, const W: usize>(v: &[u8; N]) -> [u64; W] {
    let mut out = [0u64; W];
    for (word, chunk) in out.iter_mut().zip(v.rchunks(8)) {
        let mut bytes = [0u8; 8];
        bytes.copy_from_slice(chunk);
        *word = u64::from_be_bytes(bytes);
    }
    out
}

/// `a = 1`.
fn is_one<const W: usize>(a: &[u64; W]) -> bool {
    a[0] == 1 && a[1..].iter().all(|&x| x == 0)
}

/// `a >>= 1`, `top` shifted in as the top bit.
fn shr1<const W: usize>(a: &mut [u64; W], top: u64) {
    for i in 0..W - 1 {
        a[i] = (a[i] >> 1) | (a[i + 1] << 63);
    }
    a[W - 1] = (a[W - 1] >> 1) | (top << 63);
}

/// `a < b`.
fn less<const W: usize>(a: &[u64; W], b: &[u64; W]) -> bool {
    a.iter().rev().lt(b.iter().rev())
}

/// `a −= b`, returning the borrow.
fn sub<const W: usize>(a: &mut [u64; W], b: &[u64; W]) -> bool {
    let mut borrow = false;
    for (x, &y) in a.iter_mut().zip(b) {
        let (d, b1) = x.overflowing_sub(y);
        let (d, b2) = d.overflowing_sub(u64::from(borrow));
        *x = d;
        borrow = b1 || b2;
    }
    borrow
}

/// `a += b`, returning the carry.
fn add<const W: usize>(a: &mut [u64; W], b: &[u64; W]) -> bool {
    let mut carry = false;
    for (x, &y) in a.iter_mut().zip(b) {
        let (s, c1) = x.overflowing_add(y);
        let (s, c2) = s.overflowing_add(u64::from(carry));
        *x = s;
        carry = c1 || c2;
    }
    carry
}

/// `x = x/2 mod n` for `x < n`.
fn halve_mod<const W: usize>(x: &mut [u64; W], n: &[u64; W]) {
    let carry = if x[0] & 1 == 1 { add(x, n) } else { false };
    shr1(x, u64::from(carry));
}

/// `x = x − y mod n` for `x, y < n`.
fn sub_mod<const W: usize>(x: &mut [u64; W], y: &[u64; W], n: &[u64; W]) {
    if sub(x, y) {
        add(x, n);
    }
}

/// Big-endian bytes to 28-bit limbs.
pub(crate) fn limbs<const N: usize, const L: usize>(v: &[u8; N]) -> [u64; L] {
    let mut out = [0u64; L];
    // 8N bits always fit L 28-bit limbs (checked in `mont_mul`).
    let _ = crate::radix::unpack_be(v, LIMB_BITS, &mut out);
    out
}

/// Fully reduced limbs (below `n`) to big-endian bytes.
pub(crate) fn to_bytes<const N: usize, const L: usize>(v: &[u64; L]) -> [u8; N] {
    let mut out = [0u8; N];
    crate::radix::pack_be(v.iter().copied(), LIMB_BITS, &mut out);
    out
}

/// What SEC 1 key decoding needs of a curve's field, beyond the
/// arithmetic: the curve `y² = x³ − 3x + b` and square roots.
pub trait CurveField<const N: usize>: Encoding<N> {
    /// The curve's `b`.
    const B: Self;
    /// The field prime `p`, big-endian.
    const PRIME: [u8; N];

    /// A square root, if `self` is a square (either of the two).
    #[must_use]
    fn sqrt(&self) -> Option<Self>;

    /// Whether the fully reduced value is odd: which of two square roots a
    /// compressed point names.
    #[must_use]
    fn is_odd(&self) -> bool {
        self.to_be_bytes()[N - 1] & 1 == 1
    }
}

/// Decodes a SEC 1 point (§2.3.4) the way the curve crates'
/// `VerifyingKey::from_sec1_bytes` do (checked in each curve's tests):
/// uncompressed (`04‖x‖y`), compressed (`02‖x` or `03‖x`, the root of that
/// parity) or compact (`05‖x`, the smaller root); the coordinates below p
/// and the point on the curve. The identity (`00`) and every other form or
/// length is refused. A curve of prime order has no other small subgroup:
/// every such point is a valid key.
#[must_use]
pub fn decode_sec1<const N: usize, F: CurveField<N>>(bytes: &[u8]) -> Option<Affine<F>> {
    let (&tag, rest) = bytes.split_first()?;
    let coordinate = |b: &[u8]| -> Option<F> {
        let b: &[u8; N] = b.try_into().ok()?;
        (*b < F::PRIME).then(|| F::from_be_bytes(b))
    };
    let point = match tag {
        0x04 if rest.len() == 2 * N => {
            let (x, y) = rest.split_at(N);
            let (x, y) = (coordinate(x)?, coordinate(y)?);
            y.square()
                .equals(&curve_rhs(&x))
                .then_some(Affine { x, y })?
        }
        0x02 | 0x03 | 0x05 if rest.len() == N => {
            let x = coordinate(rest)?;
            let root = curve_rhs(&x).sqrt()?;
            let y = match tag {
                0x05 => {
                    // The smaller of the two roots (canonical values).
                    let other = root.neg();
                    if other.to_be_bytes() < root.to_be_bytes() {
                        other
                    } else {
                        root
                    }
                }
                _ if root.is_odd() == (tag == 0x03) => root,
                _ => root.neg(),
            };
            Affine { x, y }
        }
        _ => return None,
    };
    Some(point)
}

/// The uncompressed SEC 1 encoding (`04‖x‖y`) of `point` into `out`
/// (`2N + 1` bytes).
pub fn encode_sec1<const N: usize, F: Encoding<N>>(point: &Affine<F>, out: &mut [u8]) {
    let (tag, xy) = out.split_at_mut(1);
    tag[0] = 0x04;
    let (x, y) = xy.split_at_mut(N);
    x.copy_from_slice(&point.x.to_be_bytes());
    y.copy_from_slice(&point.y.to_be_bytes());
}

/// `x³ − 3x + b`.
fn curve_rhs<const N: usize, F: CurveField<N>>(x: &F) -> F {
    x.square().mul(x).sub(&x.mul_small(3)).add(&F::B)
}

/// Test helpers shared by both curves' tests: every small change of real
/// encodings, each handed to `agree` (which compares the code with the
/// curve crate's and says whether the input was accepted).
#[cfg(test)]
pub(crate) mod mutations {
    /// Every one-byte change (to a few fixed values and to its neighbours),
    /// deletion, insertion and truncation of `der`, and one extension;
    /// returns how many were accepted.
    pub(crate) fn der(der: &[u8], agree: &dyn Fn(&[u8]) -> bool) -> usize {
        let mut accepted = usize::from(agree(der));
        for i in 0..der.len() {
            for b in [0x00, 0x01, 0x02, 0x30, 0x7f, 0x80, 0x81, 0xff] {
                let mut m = der.to_vec();
                m[i] = b;
                accepted += usize::from(agree(&m));
                m[i] = der[i].wrapping_add(1);
                accepted += usize::from(agree(&m));
                m[i] = der[i].wrapping_sub(1);
                accepted += usize::from(agree(&m));
            }
            let mut m = der.to_vec();
            m.remove(i);
            accepted += usize::from(agree(&m));
            let mut m = der.to_vec();
            m.insert(i, 0);
            accepted += usize::from(agree(&m));
            accepted += usize::from(agree(&der[..i]));
        }
        accepted + usize::from(agree(&[der, &[0]].concat()))
    }

    /// Hand-made DER edge encodings for `N`-byte scalars and the order `n`:
    /// empty, truncated, zero and negative integers, leading zeros,
    /// long-form and indefinite lengths, other tags, `n` itself, an
    /// integer one byte too long.
    pub(crate) fn der_edges<const N: usize>(n: &[u8; N]) -> Vec<Vec<u8>> {
        let len = |k: usize| u8::try_from(k).unwrap_or(0);
        vec![
            vec![],
            vec![0x30],
            vec![0x30, 0x00],
            vec![0x30, 0x06, 0x02, 0x01, 0x01, 0x02, 0x01, 0x01],
            vec![0x30, 0x06, 0x02, 0x01, 0x00, 0x02, 0x01, 0x01],
            vec![0x30, 0x07, 0x02, 0x02, 0x00, 0x01, 0x02, 0x01, 0x01],
            vec![0x30, 0x07, 0x02, 0x02, 0x00, 0x80, 0x02, 0x01, 0x01],
            vec![0x30, 0x06, 0x02, 0x01, 0x80, 0x02, 0x01, 0x01],
            vec![0x30, 0x81, 0x06, 0x02, 0x01, 0x01, 0x02, 0x01, 0x01],
            vec![0x30, 0x80, 0x02, 0x01, 0x01, 0x02, 0x01, 0x01, 0x00, 0x00],
            vec![0x31, 0x06, 0x02, 0x01, 0x01, 0x02, 0x01, 0x01],
            vec![0x30, 0x06, 0x03, 0x01, 0x01, 0x02, 0x01, 0x01],
            [
                &[0x30, len(N + 6), 0x02, len(N + 1), 0x00][..],
                n,
                &[0x02, 0x01, 0x01],
            ]
            .concat(),
            [
                &[0x30, len(N + 5), 0x02, len(N)][..],
                n,
                &[0x02, 0x01, 0x01],
            ]
            .concat(),
            [
                &[0x30, len(N + 6), 0x02, len(N + 1), 0x01][..],
                &[0; N],
                &[0x02, 0x01, 0x01],
            ]
            .concat(),
            [
                &[0x30, len(N + 5), 0x02, len(N)][..],
                &[0x01; N],
                &[0x02, 0x01, 0x01],
            ]
            .concat(),
            [
                &[0x30, len(N + 6), 0x02, len(N + 1)][..],
                &vec![0x01; N + 1],
                &[0x02, 0x01, 0x01],
            ]
            .concat(),
        ]
    }

    /// A real key's encoding (`enc`, uncompressed, compressed or compact)
    /// with every byte changed (every tag from 0 to 7; each coordinate
    /// byte to 0, 0xff, its neighbours and with its low or top bit
    /// flipped), every truncation and one extension; returns how many
    /// were accepted.
    pub(crate) fn sec1(enc: &[u8], agree: &dyn Fn(&[u8]) -> bool) -> usize {
        let mut accepted = usize::from(agree(enc));
        for tag in 0..8 {
            let mut m = enc.to_vec();
            m[0] = tag;
            accepted += usize::from(agree(&m));
        }
        for i in 1..enc.len() {
            let b = enc[i];
            for v in [
                0x00,
                0xff,
                b.wrapping_add(1),
                b.wrapping_sub(1),
                b ^ 1,
                b ^ 0x80,
            ] {
                let mut m = enc.to_vec();
                m[i] = v;
                accepted += usize::from(agree(&m));
            }
        }
        for i in 0..enc.len() {
            accepted += usize::from(agree(&enc[..i]));
        }
        accepted + usize::from(agree(&[enc, &[0]].concat()))
    }
}

/// The tests both in-house curves share, written once: `p256_verify` and
/// `p384_verify` differ in their sizes and constants, not in what must hold
/// (the way RustCrypto's `primeorder` tests its curves). Each check is
/// against the RustCrypto crate of the same curve.
#[cfg(test)]
pub(crate) mod curve_tests {
    /// The curve tests, inside a verifier's `mod tests`, for `$krate` (the
    /// RustCrypto crate) with scalars of `$n` bytes and table limbs below
    /// `2^$limb_bits`. The other numbers are each test's seeds and rounds,
    /// and how many keys' compressed forms are mutated in full (each
    /// change needs a square root) with at least how many mutations
    /// accepted.
    macro_rules! curve_tests {
        (
            $krate:ident, $n:literal, limb_bits: $limb_bits:literal,
            lincomb: ($lincomb_seed:literal, $lincomb_rounds:literal),
            exceptional_rounds: $exceptional_rounds:literal,
            verify: ($verify_seed:literal, $verify_rounds:literal),
            mutated_compressed_keys: $mutated:literal, accepted_at_least: $accepted:literal $(,)?
        ) => {
            use super::*;
            use crate::ecdsa::mutations;
            use crate::jacobian::Encoding as _;
            use crate::testrng::random_bytes;
            use $krate::ecdsa::signature::hazmat::{PrehashSigner as _, PrehashVerifier as _};
            use $krate::elliptic_curve::group::Group as _;
            use $krate::elliptic_curve::ops::Reduce as _;
            use $krate::elliptic_curve::sec1::ToSec1Point as _;
            use $krate::{FieldBytes, ProjectivePoint, Scalar};

            const N: usize = $n;

            fn scalar(bytes: &[u8; N]) -> Scalar {
                Scalar::reduce(&FieldBytes::from(*bytes))
            }

            fn bytes(s: &Scalar) -> [u8; N] {
                s.to_bytes().into()
            }

            fn coords(p: &ProjectivePoint) -> Option<([u8; N], [u8; N])> {
                let enc = p.to_affine().to_sec1_point(false);
                let x: [u8; N] = enc.x()?.as_slice().try_into().ok()?;
                let y: [u8; N] = enc.y()?.as_slice().try_into().ok()?;
                Some((x, y))
            }

            fn key_of(p: &ProjectivePoint) -> Key {
                let enc = p.to_affine().to_sec1_point(false);
                Key::from_sec1_bytes(enc.as_bytes()).unwrap()
            }

            /// The reference: `u1·G + u2·Q` by the RustCrypto crate.
            fn reference(u1: &[u8; N], u2: &[u8; N], q: &ProjectivePoint) -> Option<[u8; N]> {
                let p = ProjectivePoint::GENERATOR * scalar(u1) + *q * scalar(u2);
                coords(&p).map(|(x, _)| x)
            }

            /// n − 1 and 1, big-endian.
            fn n_minus_1_and_one() -> ([u8; N], [u8; N]) {
                let mut n_minus_1 = scalar::ORDER;
                n_minus_1[N - 1] -= 1;
                let mut one = [0u8; N];
                one[N - 1] = 1;
                (n_minus_1, one)
            }

            #[test]
            fn generator_table() {
                let mut p = ProjectivePoint::GENERATOR;
                let g2 = p.double();
                for (i, entry) in table::ODD_MULTIPLES.iter().enumerate() {
                    let (x, y) = coords(&p).unwrap();
                    let mine = generator_multiple(i);
                    assert_eq!(mine.x.to_be_bytes(), x, "x of {}G", 2 * i + 1);
                    assert_eq!(mine.y.to_be_bytes(), y, "y of {}G", 2 * i + 1);
                    assert!(entry.0.iter().chain(&entry.1).all(|&l| l < 1 << $limb_bits));
                    p += g2;
                }
            }

            #[test]
            fn lincomb_agrees_with_the_crate() {
                let mut seed: u64 = $lincomb_seed;
                let (n_minus_1, _) = n_minus_1_and_one();
                let mut small = [0u8; N];
                small[N - 1] = 3;
                for round in 0..$lincomb_rounds {
                    let d = random_bytes::<N>(&mut seed);
                    let q = ProjectivePoint::GENERATOR * scalar(&d);
                    let key = key_of(&q);
                    let (u1, u2) = match round % 5 {
                        0 => (random_bytes::<N>(&mut seed), random_bytes::<N>(&mut seed)),
                        1 => (n_minus_1, random_bytes::<N>(&mut seed)),
                        2 => (small, n_minus_1),
                        3 => ([0; N], random_bytes::<N>(&mut seed)),
                        _ => (random_bytes::<N>(&mut seed), [0; N]),
                    };
                    // Reduced scalars, as the verifier passes them.
                    let (u1, u2) = (bytes(&scalar(&u1)), bytes(&scalar(&u2)));
                    assert_eq!(
                        lincomb_x(&u1, &u2, &key),
                        reference(&u1, &u2, &q),
                        "round {round}"
                    );
                }
            }

            /// Q = ±G, 2G, 5G with u1 = ±u2: the additions meet equal and
            /// opposite points (doubling, identity) along the way.
            #[test]
            fn exceptional_additions() {
                let g = ProjectivePoint::GENERATOR;
                let mut seed = 42u64;
                let (n_minus_1, one) = n_minus_1_and_one();
                for q in [g, -g, g.double(), g * Scalar::from(5u64)] {
                    let key = key_of(&q);
                    for _ in 0..$exceptional_rounds {
                        let u = bytes(&scalar(&random_bytes::<N>(&mut seed)));
                        let neg = bytes(&-scalar(&u));
                        for (u1, u2) in [(u, u), (u, neg), (neg, u), ([0; N], u), (u, [0; N])] {
                            assert_eq!(lincomb_x(&u1, &u2, &key), reference(&u1, &u2, &q));
                        }
                    }
                    for (u1, u2) in [(one, n_minus_1), (n_minus_1, one), (one, one)] {
                        assert_eq!(lincomb_x(&u1, &u2, &key), reference(&u1, &u2, &q));
                    }
                }
                // u1 + u2·d = 0 for Q = d·G: the sum is the identity.
                let d = scalar(&random_bytes::<N>(&mut seed));
                let q = g * d;
                let u2 = scalar(&random_bytes::<N>(&mut seed));
                let u1 = -(u2 * d);
                assert_eq!(lincomb_x(&bytes(&u1), &bytes(&u2), &key_of(&q)), None);
            }

            #[test]
            fn wnaf_recomposes() {
                let mut seed = 7u64;
                for w in [G_WINDOW, Q_WINDOW] {
                    for round in 0..100 {
                        let k = if round == 0 {
                            [0xff; N]
                        } else {
                            random_bytes::<N>(&mut seed)
                        };
                        let digits = wnaf(&k, w);
                        let mut acc = Scalar::ZERO;
                        let mut pow = Scalar::ONE;
                        for &d in &digits {
                            assert!(d == 0 || (d % 2 != 0 && i32::from(d).abs() < 1 << (w - 1)));
                            let term = Scalar::from(u64::from(d.unsigned_abs())) * pow;
                            acc += if d < 0 { -term } else { term };
                            pow = pow.double();
                        }
                        assert_eq!(acc, scalar(&k));
                    }
                }
            }

            /// Full verification against the crate's `verify_prehash`:
            /// valid signatures on random keys and digests (digests above n
            /// included), and the same with the digest, `r` or `s` changed.
            #[test]
            fn verify_agrees_with_the_crate() {
                let mut seed: u64 = $verify_seed;
                for round in 0..$verify_rounds {
                    let d = scalar(&random_bytes::<N>(&mut seed));
                    let sk = $krate::ecdsa::SigningKey::from_bytes(&d.to_bytes()).unwrap();
                    let vk = *sk.verifying_key();
                    let key =
                        Key::from_sec1_bytes(vk.to_sec1_point(round % 2 == 0).as_bytes()).unwrap();
                    let digest = if round % 10 == 3 {
                        [0xff; N]
                    } else {
                        random_bytes::<N>(&mut seed)
                    };
                    let sig: $krate::ecdsa::Signature = sk.sign_prehash(&digest).unwrap();
                    let (rs, ss) = (*sig.r(), *sig.s());
                    let (r, s) = (bytes(&rs), bytes(&ss));
                    let mut other = digest;
                    other[round % N] ^= 1 << (round % 8);
                    let cases = [
                        (digest, r, s),
                        (other, r, s),
                        (digest, bytes(&(rs + Scalar::ONE)), s),
                        (digest, r, bytes(&(ss + Scalar::ONE))),
                        (digest, s, r),
                        (digest, bytes(&-rs), s),
                        (digest, r, bytes(&-ss)),
                    ];
                    for (i, (digest, r, s)) in cases.into_iter().enumerate() {
                        let theirs = $krate::ecdsa::Signature::from_scalars(r, s).unwrap();
                        let want = vk.verify_prehash(&digest, &theirs).is_ok();
                        let mine = Signature::from_scalars(&r, &s).unwrap();
                        assert_eq!(verify_prehash(&key, &digest, &mine), want, "{round} {i}");
                        // The valid one verifies; a low s (−s) verifies too
                        // (ECDSA's malleability, which the crate accepts as
                        // well).
                        assert_eq!(want, i == 0 || i == 6, "{round} {i}");
                    }
                }
            }

            /// The `r + n < p` branch of the final check, which no honest
            /// signature reaches (it needs an x in `[n, p)`, a chance below
            /// 2⁻¹²⁸): a point `P` with `x = n + k` is chosen, and the key
            /// made to fit, `Q = (P − u1·G)·u2⁻¹`, so that verification
            /// lands on `P` and `r = k`. Both verifiers accept it, and
            /// refuse `r = k + 1`.
            #[test]
            fn r_plus_n_branch() {
                let mut seed = 11u64;
                let (k, p) = (1u64..)
                    .find_map(|k| {
                        let mut kb = [0u8; N];
                        kb[N - 8..].copy_from_slice(&k.to_be_bytes());
                        let x = crate::radix::add_be(&scalar::ORDER, &kb)?;
                        let enc = [&[0x02][..], &x].concat();
                        let p = $krate::PublicKey::from_sec1_bytes(&enc).ok()?;
                        Some((k, ProjectivePoint::from(*p.as_affine())))
                    })
                    .unwrap();
                let digest = random_bytes::<N>(&mut seed);
                let s = scalar(&random_bytes::<N>(&mut seed));
                let s_inv = Option::<Scalar>::from(s.invert()).unwrap();
                let (u1, u2) = (scalar(&digest) * s_inv, Scalar::from(k) * s_inv);
                let u2_inv = Option::<Scalar>::from(u2.invert()).unwrap();
                let q = (p - ProjectivePoint::GENERATOR * u1) * u2_inv;
                let vk = $krate::ecdsa::VerifyingKey::from_affine(q.to_affine()).unwrap();
                let key = key_of(&q);
                for (r, valid) in [(k, true), (k + 1, false)] {
                    let r = Scalar::from(r);
                    let theirs = $krate::ecdsa::Signature::from_scalars(r, s).unwrap();
                    assert_eq!(vk.verify_prehash(&digest, &theirs).is_ok(), valid);
                    let mine = Signature::from_scalars(&bytes(&r), &bytes(&s)).unwrap();
                    assert_eq!(verify_prehash(&key, &digest, &mine), valid);
                }
            }

            /// Key decoding against the crate's
            /// `VerifyingKey::from_sec1_bytes`: every form of real keys
            /// (uncompressed, compressed, compact) and every one-byte
            /// change, truncation and extension of them, coordinates at and
            /// above p, x with no point, wrong lengths and tags, the
            /// identity; the same point when both accept.
            #[test]
            fn keys_agree_with_the_crate() {
                let agree = |bytes: &[u8]| {
                    let want = $krate::ecdsa::VerifyingKey::from_sec1_bytes(bytes)
                        .ok()
                        .map(|k| k.to_sec1_point(false).as_bytes().to_vec());
                    let got = Key::from_sec1_bytes(bytes).map(|k| k.to_sec1_bytes().to_vec());
                    assert_eq!(got, want, "{bytes:02x?}");
                    got.is_some()
                };
                let mut seed = 3u64;
                let mut accepted = 0;
                for round in 0..8 {
                    let d = scalar(&random_bytes::<N>(&mut seed));
                    let q = (ProjectivePoint::GENERATOR * d).to_affine();
                    let full = q.to_sec1_point(false).as_bytes().to_vec();
                    let compressed = q.to_sec1_point(true).as_bytes().to_vec();
                    let mut compact = compressed.clone();
                    compact[0] = 0x05;
                    for enc in [&full, &compressed, &compact] {
                        if round < $mutated || enc[0] == 0x04 {
                            accepted += mutations::sec1(enc, &agree);
                        } else {
                            assert!(agree(enc));
                        }
                    }
                    // x or y replaced by p or above (x + p, y + p do not fit).
                    for (at, v) in [
                        (1, PRIME),
                        (N + 1, PRIME),
                        (1, [0xff; N]),
                        (N + 1, [0xff; N]),
                    ] {
                        let mut m = full.clone();
                        m[at..at + N].copy_from_slice(&v);
                        agree(&m);
                    }
                    let mut m = compressed.clone();
                    m[1..].copy_from_slice(&PRIME);
                    agree(&m);
                }
                // Compressed forms with an x whose x³ − 3x + b may not be a
                // square.
                for i in 0..40u8 {
                    let mut m = vec![0x02 + (i % 2)];
                    m.extend_from_slice(&[i; N]);
                    accepted += usize::from(agree(&m));
                    m[0] = 0x05;
                    agree(&m);
                }
                // The identity and empty or truncated forms: refused by both.
                for bytes in [
                    &[][..],
                    &[0x00],
                    &[0x04],
                    &[0x02],
                    &[0x00; 2 * N + 1],
                    &[0x04; 2 * N + 1],
                ] {
                    assert!(!agree(bytes));
                }
                assert!(accepted > $accepted, "{accepted}");
            }
        };
    }
    pub(crate) use curve_tests;
}
