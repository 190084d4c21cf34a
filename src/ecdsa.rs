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
