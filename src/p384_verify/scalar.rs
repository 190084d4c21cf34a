//! Scalars modulo the P-384 group order `n`: the signature's DER decoding
//! and range checks, `s⁻¹`, `u1 = e·s⁻¹` and `u2 = r·s⁻¹`.
//!
//! Three multiplications and one inversion per verification, so this is
//! written for clarity before speed, but without `crypto-bigint` (the
//! `p384` crate's scalar code brought 40 KiB of it into the module):
//!
//! * `s⁻¹` by the binary extended Euclidean algorithm (HAC 14.61 for an
//!   odd modulus) on six 64-bit words: shifts and subtractions only, about
//!   770 of each for a 384-bit `s`, where Fermat's `s^(n−2)` would take
//!   some 450 Montgomery products;
//! * products by Montgomery multiplication on fourteen 28-bit limbs
//!   (`R = 2³⁹² > 4n`, so inputs below `2n`, the digest included, give
//!   outputs below `2n`; one conditional subtraction at the end).
//!
//! Variable time: the signature and the digest are public.

/// `n`, big-endian.
pub(super) const ORDER: [u8; 48] = [
    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xc7, 0x63, 0x4d, 0x81, 0xf4, 0x37, 0x2d, 0xdf,
    0x58, 0x1a, 0x0d, 0xb2, 0x48, 0xb0, 0xa7, 0x7a, 0xec, 0xec, 0x19, 0x6a, 0xcc, 0xc5, 0x29, 0x73,
];

/// `n` in little-endian 64-bit words.
const N64: [u64; 6] = [
    0xecec_196a_ccc5_2973,
    0x581a_0db2_48b0_a77a,
    0xc763_4d81_f437_2ddf,
    0xffff_ffff_ffff_ffff,
    0xffff_ffff_ffff_ffff,
    0xffff_ffff_ffff_ffff,
];

/// Bits per limb of the Montgomery arithmetic.
const W: u32 = 28;
const MASK: u64 = (1 << W) - 1;
/// Limbs per scalar.
const L: usize = 14;
/// `n` in 28-bit limbs.
const N28: [u64; L] = [
    0xcc5_2973, 0xec1_96ac, 0x0a7_7aec, 0x0db_248b, 0xddf_581a, 0x81f_4372, 0xfc7_634d, 0xfff_ffff,
    0xfff_ffff, 0xfff_ffff, 0xfff_ffff, 0xfff_ffff, 0xfff_ffff, 0xf_ffff,
];
/// `−n⁻¹ mod 2²⁸`.
const N0INV: u64 = 0x88f_dc45;
/// `R² mod n`.
const RR: [u64; L] = [
    0x60e_3cb4, 0x35f_d093, 0x90e_b460, 0x73c_4e12, 0xff2_dbd2, 0x43a_6add, 0x2d1_64ee, 0x1cc_5bf0,
    0x917_4aab, 0x95d_40d4, 0xa28_2668, 0x3fb_05b7, 0xb39_bf21, 0xe_e012,
];

/// An ECDSA signature `(r, s)`, both in `[1, n)`, big-endian.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Signature {
    pub(super) r: [u8; 48],
    pub(super) s: [u8; 48],
}

impl Signature {
    /// Decodes a DER `ECDSA-Sig-Value` (`SEQUENCE { r INTEGER, s INTEGER }`,
    /// RFC 5912 §6), accepting exactly what the `p384` crate's
    /// `Signature::from_der` accepts (checked in the tests): definite
    /// minimal lengths, minimal non-negative integers of at most 48
    /// significant bytes, nothing after the sequence, and `1 ≤ r, s < n`.
    /// The short form is the only length form: a long form is either not
    /// minimal (below 128) or longer than any valid signature.
    #[must_use]
    pub fn from_der(der: &[u8]) -> Option<Signature> {
        let [0x30, len, body @ ..] = der else {
            return None;
        };
        if *len >= 0x80 || body.len() != usize::from(*len) {
            return None;
        }
        let (r, rest) = integer(body)?;
        let (s, rest) = integer(rest)?;
        (rest.is_empty() && in_range(&r) && in_range(&s)).then_some(Signature { r, s })
    }

    /// `r`, big-endian.
    #[must_use]
    pub fn r(&self) -> &[u8; 48] {
        &self.r
    }

    /// `s`, big-endian.
    #[must_use]
    pub fn s(&self) -> &[u8; 48] {
        &self.s
    }

    /// The signature from its scalars, if both are in `[1, n)`.
    #[must_use]
    pub fn from_scalars(r: &[u8; 48], s: &[u8; 48]) -> Option<Signature> {
        (in_range(r) && in_range(s)).then_some(Signature { r: *r, s: *s })
    }
}

/// A DER INTEGER at the start of `der`, non-negative and minimally encoded,
/// right-aligned in 48 bytes; and what follows it.
fn integer(der: &[u8]) -> Option<([u8; 48], &[u8])> {
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
    let start = 48usize.checked_sub(magnitude.len())?;
    let mut out = [0u8; 48];
    out[start..].copy_from_slice(magnitude);
    Some((out, rest))
}

/// Whether `1 ≤ v < n`.
fn in_range(v: &[u8; 48]) -> bool {
    *v != [0; 48] && *v < ORDER
}

/// `(u1, u2) = (e·s⁻¹ mod n, r·s⁻¹ mod n)` for the digest `e` (any 384-bit
/// value: SHA-384 fills the order's 384 bits, so it is taken whole, as
/// SEC 1 §4.1.4 step 4 says, and reduced here) and the signature.
#[must_use]
pub fn u1_u2(digest: &[u8; 48], sig: &Signature) -> ([u8; 48], [u8; 48]) {
    let w = inverse(&sig.s);
    // w·R: then a Montgomery product by it is a plain product mod n.
    let w_r = mont_mul(&limbs(&w), &RR);
    let u1 = mont_mul(&limbs(digest), &w_r);
    let u2 = mont_mul(&limbs(&sig.r), &w_r);
    (to_bytes(&u1), to_bytes(&u2))
}

/// `v⁻¹ mod n` for `v` in `[1, n)`, by the binary extended Euclidean
/// algorithm. Invariants: `x1·v ≡ u` and `x2·v ≡ w (mod n)`, `gcd(u, w) =
/// 1` (n is prime), `u` and `w` positive; each round halves one of them
/// at least once, so it ends within `2·384` rounds, when `u` or `w` is 1.
fn inverse(v: &[u8; 48]) -> [u8; 48] {
    let mut u = words(v);
    let mut w = N64;
    let (mut x1, mut x2) = ([1, 0, 0, 0, 0, 0], [0u64; 6]);
    if u == [0; 6] {
        // Not reached: the signature's s is in [1, n).
        return [0; 48];
    }
    while u != [1, 0, 0, 0, 0, 0] && w != [1, 0, 0, 0, 0, 0] {
        while u[0] & 1 == 0 {
            shr1(&mut u, 0);
            halve_mod(&mut x1);
        }
        while w[0] & 1 == 0 {
            shr1(&mut w, 0);
            halve_mod(&mut x2);
        }
        if !less(&u, &w) {
            sub(&mut u, &w);
            sub_mod(&mut x1, &x2);
        } else {
            sub(&mut w, &u);
            sub_mod(&mut x2, &x1);
        }
    }
    let x = if u == [1, 0, 0, 0, 0, 0] { x1 } else { x2 };
    let mut out = [0u8; 48];
    for (chunk, word) in out.rchunks_mut(8).zip(x) {
        chunk.copy_from_slice(&word.to_be_bytes());
    }
    out
}

/// Big-endian bytes to little-endian 64-bit words.
fn words(v: &[u8; 48]) -> [u64; 6] {
    let mut out = [0u64; 6];
    for (word, chunk) in out.iter_mut().zip(v.rchunks(8)) {
        let mut bytes = [0u8; 8];
        bytes.copy_from_slice(chunk);
        *word = u64::from_be_bytes(bytes);
    }
    out
}

/// `a >>= 1`, `top` shifted in as bit 383.
fn shr1(a: &mut [u64; 6], top: u64) {
    for i in 0..5 {
        a[i] = (a[i] >> 1) | (a[i + 1] << 63);
    }
    a[5] = (a[5] >> 1) | (top << 63);
}

/// `a < b`.
fn less(a: &[u64; 6], b: &[u64; 6]) -> bool {
    a.iter().rev().lt(b.iter().rev())
}

/// `a −= b`, returning the borrow.
fn sub(a: &mut [u64; 6], b: &[u64; 6]) -> bool {
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
fn add(a: &mut [u64; 6], b: &[u64; 6]) -> bool {
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
fn halve_mod(x: &mut [u64; 6]) {
    let carry = if x[0] & 1 == 1 { add(x, &N64) } else { false };
    shr1(x, u64::from(carry));
}

/// `x = x − y mod n` for `x, y < n`.
fn sub_mod(x: &mut [u64; 6], y: &[u64; 6]) {
    if sub(x, y) {
        add(x, &N64);
    }
}

/// Big-endian bytes to 28-bit limbs.
fn limbs(v: &[u8; 48]) -> [u64; L] {
    let mut out = [0u64; L];
    // 384 bits always fit fourteen 28-bit limbs.
    let _ = crate::radix::unpack_be(v, W, &mut out);
    out
}

/// Fully reduced limbs (below `2n` in) to big-endian bytes.
fn to_bytes(v: &[u64; L]) -> [u8; 48] {
    let mut out = [0u8; 48];
    crate::radix::pack_be(v.iter().copied(), W, &mut out);
    out
}

/// `a·b·R⁻¹ mod n`, fully reduced, for normalised inputs below `2n`:
/// the product's columns, then one reduction step per limb (the quotient
/// digit times `n` added, the low limb carried out). A column sums at most
/// 28 products below 2⁵⁶ and a carry: no overflow.
fn mont_mul(a: &[u64; L], b: &[u64; L]) -> [u64; L] {
    let mut t = [0u64; 2 * L];
    for i in 0..L {
        for j in 0..L {
            t[i + j] += a[i] * b[j];
        }
    }
    for i in 0..L {
        let m = ((t[i] & MASK) * N0INV) & MASK;
        for j in 0..L {
            t[i + j] += m * N28[j];
        }
        t[i + 1] += t[i] >> W;
    }
    let mut out = [0u64; L];
    out.copy_from_slice(&t[L..]);
    for i in 0..L - 1 {
        out[i + 1] += out[i] >> W;
        out[i] &= MASK;
    }
    // Below 2n: one conditional subtraction.
    let mut d = [0i64; L];
    let mut borrow = 0i64;
    for i in 0..L {
        let v = out[i] as i64 - N28[i] as i64 + borrow;
        d[i] = v & MASK as i64;
        borrow = v >> W;
    }
    if borrow >= 0 {
        for (o, v) in out.iter_mut().zip(d) {
            *o = v as u64;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testrng::random_bytes;
    use p384::elliptic_curve::ops::Reduce as _;
    use p384::{FieldBytes, Scalar};

    fn scalar(bytes: &[u8; 48]) -> Scalar {
        Scalar::reduce(&FieldBytes::from(*bytes))
    }

    fn bytes(s: &Scalar) -> [u8; 48] {
        s.to_bytes().into()
    }

    #[test]
    fn constants() {
        assert_eq!(words(&ORDER), N64);
        assert_eq!(limbs(&ORDER), N28);
        assert_eq!(N28[0].wrapping_mul(N0INV) & MASK, MASK, "n·(−n⁻¹) ≡ −1");
        assert_eq!(bytes(&-Scalar::ONE), {
            let mut n1 = ORDER;
            n1[47] -= 1;
            n1
        });
        // RR·1·R⁻¹ = R mod n, and R·R⁻¹·x = x.
        let mut one = [0u64; L];
        one[0] = 1;
        let r = mont_mul(&RR, &one);
        assert_eq!(to_bytes(&mont_mul(&r, &one)), {
            let mut b = [0u8; 48];
            b[47] = 1;
            b
        });
    }

    /// `u1`, `u2` and the inverse against the `p384` crate's scalars, on
    /// random values and the edges (1, 2, n − 1, n − 2, powers of two, a
    /// digest above n).
    #[test]
    fn agrees_with_the_p384_crate() {
        let mut seed = 0x384_u64;
        let mut values: Vec<[u8; 48]> = (0..200).map(|_| random_bytes::<48>(&mut seed)).collect();
        for k in [1u64, 2, 3] {
            values.push(bytes(&Scalar::from(k)));
            values.push(bytes(&-Scalar::from(k)));
        }
        for bit in [0, 1, 63, 64, 200, 382, 383] {
            let mut v = [0u8; 48];
            v[47 - bit / 8] = 1 << (bit % 8);
            values.push(v);
        }
        values.push([0xff; 48]);
        for (i, v) in values.iter().enumerate() {
            let s = scalar(v);
            if s.is_zero().into() {
                continue;
            }
            let inv = Option::<Scalar>::from(s.invert()).unwrap();
            assert_eq!(inverse(&bytes(&s)), bytes(&inv), "inverse of {v:02x?}");
            let digest = values[(i + 1) % values.len()];
            let r = scalar(&values[(i + 7) % values.len()]);
            let Some(sig) = Signature::from_scalars(&bytes(&r), &bytes(&s)) else {
                assert!(bool::from(r.is_zero()));
                continue;
            };
            let (u1, u2) = u1_u2(&digest, &sig);
            assert_eq!(u1, bytes(&(scalar(&digest) * inv)), "u1");
            assert_eq!(u2, bytes(&(r * inv)), "u2");
        }
    }

    #[test]
    fn range() {
        let mut n1 = ORDER;
        n1[47] -= 1;
        let mut one = [0u8; 48];
        one[47] = 1;
        assert!(in_range(&one) && in_range(&n1));
        assert!(!in_range(&[0; 48]) && !in_range(&ORDER) && !in_range(&[0xff; 48]));
    }

    /// The DER grammar against the `p384` crate's `Signature::from_der`:
    /// real signatures, then every one-byte change, deletion, insertion and
    /// truncation of them, and hand-made edge encodings.
    #[test]
    fn der_agrees_with_the_p384_crate() {
        use p384::ecdsa::signature::hazmat::PrehashSigner as _;
        let agree = |der: &[u8]| {
            let want = p384::ecdsa::Signature::from_der(der).ok().map(|s| {
                let (r, s) = s.split_bytes();
                (<[u8; 48]>::from(r), <[u8; 48]>::from(s))
            });
            let got = Signature::from_der(der).map(|s| (s.r, s.s));
            assert_eq!(got, want, "{der:02x?}");
            got.is_some()
        };
        let mut seed = 17u64;
        let mut sigs: Vec<Vec<u8>> = Vec::new();
        for i in 0..24 {
            let d = scalar(&random_bytes::<48>(&mut seed));
            let sk = p384::ecdsa::SigningKey::from_bytes(&d.to_bytes()).unwrap();
            let sig: p384::ecdsa::Signature =
                sk.sign_prehash(&random_bytes::<48>(&mut seed)).unwrap();
            let (r, s) = sig.split_scalars();
            // Small r and s too, for short integers and leading zeros.
            let (r, s) = match i % 4 {
                1 => (Scalar::from(0x80u64), *s),
                2 => (*r, Scalar::from(1u64)),
                3 => (Scalar::from(0x7f_ffffu64), -Scalar::ONE),
                _ => (*r, *s),
            };
            let sig = p384::ecdsa::Signature::from_scalars(r, s).unwrap();
            sigs.push(sig.to_der().as_bytes().to_vec());
        }
        let mut accepted = 0;
        for der in &sigs {
            assert!(agree(der));
            for i in 0..der.len() {
                for b in [0x00, 0x01, 0x02, 0x30, 0x7f, 0x80, 0x81, 0xff] {
                    let mut m = der.clone();
                    m[i] = b;
                    accepted += usize::from(agree(&m));
                    m[i] = der[i].wrapping_add(1);
                    accepted += usize::from(agree(&m));
                    m[i] = der[i].wrapping_sub(1);
                    accepted += usize::from(agree(&m));
                }
                let mut m = der.clone();
                m.remove(i);
                agree(&m);
                let mut m = der.clone();
                m.insert(i, 0);
                agree(&m);
                agree(&der[..i]);
            }
            let mut m = der.clone();
            m.push(0);
            agree(&m);
        }
        // Many changes of integer bytes still decode (same length, other value).
        assert!(accepted > 1000, "{accepted}");
        let n = ORDER;
        let edges: Vec<Vec<u8>> = vec![
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
            [&[0x30, 0x36, 0x02, 0x31, 0x00][..], &n, &[0x02, 0x01, 0x01]].concat(),
            [&[0x30, 0x35, 0x02, 0x30][..], &n, &[0x02, 0x01, 0x01]].concat(),
            [
                &[0x30, 0x36, 0x02, 0x31, 0x01][..],
                &[0; 48],
                &[0x02, 0x01, 0x01],
            ]
            .concat(),
            [
                &[0x30, 0x35, 0x02, 0x30][..],
                &[0x01; 48],
                &[0x02, 0x01, 0x01],
            ]
            .concat(),
            [
                &[0x30, 0x36, 0x02, 0x31][..],
                &[0x01; 49],
                &[0x02, 0x01, 0x01],
            ]
            .concat(),
        ];
        for der in &edges {
            agree(der);
        }
    }

    #[test]
    fn inverse_edges() {
        let mut n1 = ORDER;
        n1[47] -= 1;
        let mut one = [0u8; 48];
        one[47] = 1;
        assert_eq!(inverse(&one), one);
        assert_eq!(inverse(&n1), n1, "(−1)⁻¹ = −1");
    }
}
