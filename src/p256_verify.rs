//! ECDSA P-256 verification with arithmetic written for wasm.
//!
//! The `p256` crate (0.14, `cpubits = "32"` on wasm) spends about 13×
//! OpenSSL's time on a verification inside the module: its field
//! multiplication is `crypto-bigint`'s generic Montgomery product, a carry
//! chain around every 32×32→64 product, and it builds wNAF tables for the
//! generator on every call. Here:
//!
//! * the field ([`field`]) uses 29-bit limbs: column sums need no carries,
//!   and P-256's Montgomery reduction is shifts and additions;
//! * `u1·G + u2·Q` is one pass of doublings (Shamir's trick) over two wNAF
//!   expansions, with a precomputed table of 32 odd multiples of `G` (window
//!   7, mixed additions) and 8 odd multiples of `Q` computed per call
//!   (window 5);
//! * Jacobian coordinates (doubling with `a = −3`), and the affine x of the
//!   result is never computed: `x ≡ r·Z² (mod p)` is checked instead.
//!
//! The point formulas and the Shamir loop are [`crate::jacobian`]'s, shared
//! with P-384; this module holds the curve's field, its generator's table
//! and its constants.
//!
//! Scalar arithmetic modulo the group order (DER decoding, range checks,
//! `s⁻¹`, `u1`, `u2`) stays with the `p256` crate. Everything is variable
//! time, which is sound for verification: the key, the signature and the
//! digest are public.
//!
//! Checked against the `p256` crate in the tests and by the `p256` fuzz
//! target.

pub mod field;
mod table;

use crate::jacobian::{self, Affine, Encoding as _, Jacobian, Q_WINDOW};
use field::Fe;

/// Window of the generator's table (`2^(w−2)` = 32 odd multiples).
const G_WINDOW: u32 = 7;

/// The width-`w` NAF of a 256-bit scalar (at most 257 digits).
fn wnaf(scalar: &[u8; 32], w: u32) -> [i8; 257] {
    crate::wnaf::wnaf::<32, 5, 257>(scalar, w)
}

/// `(2i + 1)·G`, from the precomputed table.
fn generator_multiple(i: usize) -> Affine<Fe> {
    let (x, y) = &table::ODD_MULTIPLES[i];
    Affine {
        x: Fe::from_montgomery_limbs(x),
        y: Fe::from_montgomery_limbs(y),
    }
}

/// `u1·G + u2·Q`, `None` for the identity.
fn lincomb(u1: &[u8; 32], u2: &[u8; 32], q: &Affine<Fe>) -> Option<Jacobian<Fe>> {
    let g_digits = wnaf(u1, G_WINDOW);
    let q_digits = wnaf(u2, Q_WINDOW);
    jacobian::lincomb(&g_digits, &q_digits, generator_multiple, q)
}

/// The group order n.
const ORDER: [u8; 32] = [
    0xff, 0xff, 0xff, 0xff, 0x00, 0x00, 0x00, 0x00, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
    0xbc, 0xe6, 0xfa, 0xad, 0xa7, 0x17, 0x9e, 0x84, 0xf3, 0xb9, 0xca, 0xc2, 0xfc, 0x63, 0x25, 0x51,
];
/// The field prime p.
const PRIME: [u8; 32] = [
    0xff, 0xff, 0xff, 0xff, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
];

/// An affine point from big-endian coordinates (any 256-bit values: the
/// caller passes those of a validated public key).
fn affine(x: &[u8; 32], y: &[u8; 32]) -> Affine<Fe> {
    Affine {
        x: Fe::from_be_bytes(x),
        y: Fe::from_be_bytes(y),
    }
}

/// Whether the affine x of `u1·G + u2·Q`, reduced mod n, equals `r`: the
/// last step of ECDSA verification (SEC 1 §4.1.4, steps 5–8). `u1`, `u2`
/// and `r` are reduced mod n, big-endian; `(qx, qy)` are the big-endian
/// coordinates of the key's point, which must be on the curve (a decoded
/// public key).
#[must_use]
pub fn check_x(u1: &[u8; 32], u2: &[u8; 32], qx: &[u8; 32], qy: &[u8; 32], r: &[u8; 32]) -> bool {
    lincomb(u1, u2, &affine(qx, qy)).is_some_and(|acc| jacobian::x_matches(&acc, r, &ORDER, &PRIME))
}

/// The affine x of `u1·G + u2·Q`, big-endian, `None` for the identity:
/// for the tests and the fuzz target, which compare it with the `p256`
/// crate's (slow: a Fermat inversion).
#[doc(hidden)]
#[must_use]
pub fn lincomb_x(u1: &[u8; 32], u2: &[u8; 32], qx: &[u8; 32], qy: &[u8; 32]) -> Option<[u8; 32]> {
    let acc = lincomb(u1, u2, &affine(qx, qy))?;
    Some(jacobian::affine_x(&acc, &PRIME))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testrng::random_bytes;
    use p256::elliptic_curve::group::Group as _;
    use p256::elliptic_curve::ops::Reduce as _;
    use p256::elliptic_curve::sec1::ToSec1Point as _;
    use p256::{FieldBytes, ProjectivePoint, Scalar};

    fn scalar(bytes: &[u8; 32]) -> Scalar {
        Scalar::reduce(&FieldBytes::from(*bytes))
    }

    fn bytes(s: &Scalar) -> [u8; 32] {
        s.to_bytes().into()
    }

    fn coords(p: &ProjectivePoint) -> Option<([u8; 32], [u8; 32])> {
        let enc = p.to_affine().to_sec1_point(false);
        let x: [u8; 32] = enc.x()?.as_slice().try_into().ok()?;
        let y: [u8; 32] = enc.y()?.as_slice().try_into().ok()?;
        Some((x, y))
    }

    /// The reference: `u1·G + u2·Q` by the `p256` crate.
    fn reference(u1: &[u8; 32], u2: &[u8; 32], q: &ProjectivePoint) -> Option<[u8; 32]> {
        let p = ProjectivePoint::GENERATOR * scalar(u1) + *q * scalar(u2);
        coords(&p).map(|(x, _)| x)
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
            assert!(entry.0.iter().chain(&entry.1).all(|&l| l < 1 << 29));
            p += g2;
        }
    }

    #[test]
    fn lincomb_agrees_with_the_p256_crate() {
        let mut seed = 0x5eed_1234_u64;
        let mut n_minus_1 = ORDER;
        n_minus_1[31] -= 1;
        let mut small = [0u8; 32];
        small[31] = 3;
        for round in 0..200 {
            let d = random_bytes::<32>(&mut seed);
            let q = ProjectivePoint::GENERATOR * scalar(&d);
            let (qx, qy) = coords(&q).unwrap();
            let (u1, u2) = match round % 5 {
                0 => (random_bytes::<32>(&mut seed), random_bytes::<32>(&mut seed)),
                1 => (n_minus_1, random_bytes::<32>(&mut seed)),
                2 => (small, n_minus_1),
                3 => ([0; 32], random_bytes::<32>(&mut seed)),
                _ => (random_bytes::<32>(&mut seed), [0; 32]),
            };
            // Reduced scalars, as the verifier passes them.
            let (u1, u2) = (bytes(&scalar(&u1)), bytes(&scalar(&u2)));
            assert_eq!(
                lincomb_x(&u1, &u2, &qx, &qy),
                reference(&u1, &u2, &q),
                "round {round}"
            );
        }
    }

    /// Q = ±G, 2G, 5G with u1 = ±u2: the additions meet equal and opposite
    /// points (doubling, identity) along the way.
    #[test]
    fn exceptional_additions() {
        let g = ProjectivePoint::GENERATOR;
        let mut seed = 42u64;
        let mut one = [0u8; 32];
        one[31] = 1;
        let mut n_minus_1 = ORDER;
        n_minus_1[31] -= 1;
        for q in [g, -g, g.double(), g * Scalar::from(5u64)] {
            let (qx, qy) = coords(&q).unwrap();
            for _ in 0..20 {
                let u = bytes(&scalar(&random_bytes::<32>(&mut seed)));
                let neg = bytes(&-scalar(&u));
                for (u1, u2) in [(u, u), (u, neg), (neg, u), ([0; 32], u), (u, [0; 32])] {
                    assert_eq!(lincomb_x(&u1, &u2, &qx, &qy), reference(&u1, &u2, &q));
                }
            }
            for (u1, u2) in [(one, n_minus_1), (n_minus_1, one), (one, one)] {
                assert_eq!(lincomb_x(&u1, &u2, &qx, &qy), reference(&u1, &u2, &q));
            }
        }
    }

    #[test]
    fn wnaf_recomposes() {
        let mut seed = 7u64;
        for w in [G_WINDOW, Q_WINDOW] {
            for round in 0..100 {
                let k = if round == 0 {
                    [0xff; 32]
                } else {
                    random_bytes::<32>(&mut seed)
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
}
