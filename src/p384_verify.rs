//! ECDSA P-384/SHA-384 verification written for wasm, the `p384` crate
//! replaced end to end: public key decoding, DER signatures, scalars and
//! curve arithmetic.
//!
//! Why by hand: inside the module the `p384` crate (0.14, generic
//! constant-time `crypto-bigint` code on 32-bit words) spent about 2.4 ms
//! (38.5 M instructions) on a verification, about 25 RSA-2048 checks, and
//! its code was 61 KiB of the module. This code takes about 0.40 ms
//! (6.0 M instructions, 2026-12-06) in 28 KiB, about 4.3 RSA-2048 checks
//! (`VerifyingKey::cost` weighs it 5). The same shape as
//! [`crate::p256_verify`]:
//!
//! * the field ([`field`]) uses 28-bit limbs: column sums need no carries,
//!   and P-384's Montgomery reduction is shifts and additions;
//! * `u1·G + u2·Q` is one pass of doublings (Shamir's trick) over two wNAF
//!   expansions, with a precomputed table of 32 odd multiples of `G`
//!   (window 7, mixed additions) and 8 odd multiples of `Q` computed per
//!   call (window 5);
//! * Jacobian coordinates (doubling with `a = −3`), and the affine x of the
//!   result is never computed: `x ≡ r·Z² (mod p)` is checked instead (the
//!   point formulas and the Shamir loop are [`crate::jacobian`]'s, shared
//!   with P-256);
//! * the scalars mod n (DER decoding, range checks, `s⁻¹`, `u1`, `u2`) and
//!   the SEC 1 decoding of public keys ([`Key`]) are [`crate::ecdsa`]'s,
//!   shared with P-256; [`scalar`] holds the order's constants.
//!
//! Everything is variable time, which is sound for verification: the key,
//! the signature and the digest are public.
//!
//! Checked against the `p384` crate in the tests (field against
//! `crypto-bigint`) and by the `p384` fuzz target.

pub mod field;
pub mod scalar;
mod table;

use crate::ecdsa;
use crate::jacobian::{self, Affine, Jacobian, Q_WINDOW};
use field::Fe;
pub use scalar::Signature;

/// Window of the generator's table (`2^(w−2)` = 32 odd multiples).
const G_WINDOW: u32 = 7;
/// Digits of a wNAF: one more than the scalar's bits.
const DIGITS: usize = 385;

/// The width-`w` NAF of a 384-bit scalar (at most 385 digits).
fn wnaf(scalar: &[u8; 48], w: u32) -> [i8; DIGITS] {
    crate::wnaf::wnaf::<48, 7, DIGITS>(scalar, w)
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
fn lincomb(u1: &[u8; 48], u2: &[u8; 48], q: &Affine<Fe>) -> Option<Jacobian<Fe>> {
    let g_digits = wnaf(u1, G_WINDOW);
    let q_digits = wnaf(u2, Q_WINDOW);
    jacobian::lincomb(&g_digits, &q_digits, generator_multiple, q)
}

/// The field prime p, big-endian.
const PRIME: [u8; 48] = [
    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xfe,
    0xff, 0xff, 0xff, 0xff, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0xff, 0xff, 0xff, 0xff,
];

/// A P-384 public key: an affine point on the curve (never the identity),
/// its coordinates in the field's Montgomery form, ready to verify.
#[derive(Clone, Copy, Debug)]
pub struct Key {
    point: Affine<Fe>,
}

impl Key {
    /// Decodes a SEC 1 point (§2.3.4) the way the `p384` crate's
    /// `VerifyingKey::from_sec1_bytes` does (checked in the tests; the
    /// forms are [`ecdsa::decode_sec1`]'s): uncompressed (`04‖x‖y`),
    /// compressed (`02‖x` or `03‖x`) or compact (`05‖x`), the coordinates
    /// below p and the point on the curve; the identity and every other
    /// form or length refused.
    #[must_use]
    pub fn from_sec1_bytes(bytes: &[u8]) -> Option<Key> {
        ecdsa::decode_sec1::<48, Fe>(bytes).map(|point| Key { point })
    }

    /// The uncompressed SEC 1 encoding (`04‖x‖y`).
    #[must_use]
    pub fn to_sec1_bytes(&self) -> [u8; 97] {
        let mut out = [0u8; 97];
        ecdsa::encode_sec1(&self.point, &mut out);
        out
    }
}

impl ecdsa::CurveField<48> for Fe {
    const B: Fe = Fe::B;
    const PRIME: [u8; 48] = PRIME;

    /// [`Fe::sqrt`]: an addition chain for `x^((p+1)/4)`.
    fn sqrt(&self) -> Option<Fe> {
        Fe::sqrt(self)
    }
}

/// ECDSA verification (SEC 1 §4.1.4) of `sig` over a SHA-384 `digest`.
#[must_use]
pub fn verify_prehash(key: &Key, digest: &[u8; 48], sig: &Signature) -> bool {
    let (u1, u2) = scalar::u1_u2(digest, sig);
    check_x(&u1, &u2, &key.point, sig.r())
}

/// Whether the affine x of `u1·G + u2·Q`, reduced mod n, equals `r`: the
/// last steps of ECDSA verification (SEC 1 §4.1.4, steps 5–8). `u1`, `u2`
/// and `r` are reduced mod n, big-endian; `q` is a decoded public key.
fn check_x(u1: &[u8; 48], u2: &[u8; 48], q: &Affine<Fe>, r: &[u8; 48]) -> bool {
    // x mod n = r also when x = r + n < p, that is r < p − n < 2¹⁹⁰:
    // never for a real signature, but the equation says so.
    lincomb(u1, u2, q).is_some_and(|acc| jacobian::x_matches(&acc, r, &scalar::ORDER, &PRIME))
}

/// The affine x of `u1·G + u2·Q`, big-endian, `None` for the identity:
/// for the tests and the fuzz target, which compare it with the `p384`
/// crate's (slow: a Fermat inversion).
#[doc(hidden)]
#[must_use]
pub fn lincomb_x(u1: &[u8; 48], u2: &[u8; 48], key: &Key) -> Option<[u8; 48]> {
    let acc = lincomb(u1, u2, &key.point)?;
    Some(jacobian::affine_x(&acc, &PRIME))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ecdsa::mutations;
    use crate::jacobian::Encoding as _;
    use crate::testrng::random_bytes;
    use p384::ecdsa::signature::hazmat::{PrehashSigner as _, PrehashVerifier as _};
    use p384::elliptic_curve::group::Group as _;
    use p384::elliptic_curve::ops::Reduce as _;
    use p384::elliptic_curve::sec1::ToSec1Point as _;
    use p384::{FieldBytes, ProjectivePoint, Scalar};

    fn scalar(bytes: &[u8; 48]) -> Scalar {
        Scalar::reduce(&FieldBytes::from(*bytes))
    }

    fn bytes(s: &Scalar) -> [u8; 48] {
        s.to_bytes().into()
    }

    fn coords(p: &ProjectivePoint) -> Option<([u8; 48], [u8; 48])> {
        let enc = p.to_affine().to_sec1_point(false);
        let x: [u8; 48] = enc.x()?.as_slice().try_into().ok()?;
        let y: [u8; 48] = enc.y()?.as_slice().try_into().ok()?;
        Some((x, y))
    }

    fn key_of(p: &ProjectivePoint) -> Key {
        let enc = p.to_affine().to_sec1_point(false);
        Key::from_sec1_bytes(enc.as_bytes()).unwrap()
    }

    /// The reference: `u1·G + u2·Q` by the `p384` crate.
    fn reference(u1: &[u8; 48], u2: &[u8; 48], q: &ProjectivePoint) -> Option<[u8; 48]> {
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
            assert!(entry.0.iter().chain(&entry.1).all(|&l| l < 1 << 28));
            p += g2;
        }
    }

    #[test]
    fn lincomb_agrees_with_the_p384_crate() {
        let mut seed = 0x5eed_3840_u64;
        let mut n_minus_1 = scalar::ORDER;
        n_minus_1[47] -= 1;
        let mut small = [0u8; 48];
        small[47] = 3;
        for round in 0..100 {
            let d = random_bytes::<48>(&mut seed);
            let q = ProjectivePoint::GENERATOR * scalar(&d);
            let key = key_of(&q);
            let (u1, u2) = match round % 5 {
                0 => (random_bytes::<48>(&mut seed), random_bytes::<48>(&mut seed)),
                1 => (n_minus_1, random_bytes::<48>(&mut seed)),
                2 => (small, n_minus_1),
                3 => ([0; 48], random_bytes::<48>(&mut seed)),
                _ => (random_bytes::<48>(&mut seed), [0; 48]),
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

    /// Q = ±G, 2G, 5G with u1 = ±u2: the additions meet equal and opposite
    /// points (doubling, identity) along the way.
    #[test]
    fn exceptional_additions() {
        let g = ProjectivePoint::GENERATOR;
        let mut seed = 42u64;
        let mut one = [0u8; 48];
        one[47] = 1;
        let mut n_minus_1 = scalar::ORDER;
        n_minus_1[47] -= 1;
        for q in [g, -g, g.double(), g * Scalar::from(5u64)] {
            let key = key_of(&q);
            for _ in 0..10 {
                let u = bytes(&scalar(&random_bytes::<48>(&mut seed)));
                let neg = bytes(&-scalar(&u));
                for (u1, u2) in [(u, u), (u, neg), (neg, u), ([0; 48], u), (u, [0; 48])] {
                    assert_eq!(lincomb_x(&u1, &u2, &key), reference(&u1, &u2, &q));
                }
            }
            for (u1, u2) in [(one, n_minus_1), (n_minus_1, one), (one, one)] {
                assert_eq!(lincomb_x(&u1, &u2, &key), reference(&u1, &u2, &q));
            }
        }
        // u1 + u2·d = 0 for Q = d·G: the sum is the identity.
        let d = scalar(&random_bytes::<48>(&mut seed));
        let q = g * d;
        let u2 = scalar(&random_bytes::<48>(&mut seed));
        let u1 = -(u2 * d);
        assert_eq!(lincomb_x(&bytes(&u1), &bytes(&u2), &key_of(&q)), None);
    }

    #[test]
    fn wnaf_recomposes() {
        let mut seed = 7u64;
        for w in [G_WINDOW, Q_WINDOW] {
            for round in 0..100 {
                let k = if round == 0 {
                    [0xff; 48]
                } else {
                    random_bytes::<48>(&mut seed)
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

    /// Full verification against the crate's `verify_prehash`: valid
    /// signatures on random keys and digests, and the same with the digest,
    /// `r` or `s` changed.
    #[test]
    fn verify_agrees_with_the_p384_crate() {
        let mut seed = 0xecd5a_u64;
        for round in 0..40 {
            let d = scalar(&random_bytes::<48>(&mut seed));
            let sk = p384::ecdsa::SigningKey::from_bytes(&d.to_bytes()).unwrap();
            let vk = *sk.verifying_key();
            let key = Key::from_sec1_bytes(vk.to_sec1_point(round % 2 == 0).as_bytes()).unwrap();
            let digest = random_bytes::<48>(&mut seed);
            let sig: p384::ecdsa::Signature = sk.sign_prehash(&digest).unwrap();
            let (rs, ss) = (*sig.r(), *sig.s());
            let (r, s) = (bytes(&rs), bytes(&ss));
            let mut other = digest;
            other[round % 48] ^= 1 << (round % 8);
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
                let theirs = p384::ecdsa::Signature::from_scalars(r, s).unwrap();
                let want = vk.verify_prehash(&digest, &theirs).is_ok();
                let mine = Signature::from_scalars(&r, &s).unwrap();
                assert_eq!(verify_prehash(&key, &digest, &mine), want, "{round} {i}");
                // The valid one verifies; a low s (−s) verifies too (ECDSA's
                // malleability, which the crate accepts as well).
                assert_eq!(want, i == 0 || i == 6, "{round} {i}");
            }
        }
    }

    /// The `r + n < p` branch of the final check, which no honest
    /// signature reaches (it needs an x in `[n, p)`, a chance of 2⁻¹⁹⁴):
    /// a point `P` with `x = n + k` is chosen, and the key made to fit,
    /// `Q = (P − u1·G)·u2⁻¹`, so that verification lands on `P` and `r = k`.
    /// Both verifiers accept it, and refuse `r = k + 1`.
    #[test]
    fn r_plus_n_branch() {
        let mut seed = 11u64;
        let (k, p) = (1u64..)
            .find_map(|k| {
                let mut kb = [0u8; 48];
                kb[40..].copy_from_slice(&k.to_be_bytes());
                let x = crate::radix::add_be(&scalar::ORDER, &kb)?;
                let enc = [&[0x02][..], &x].concat();
                let p = p384::PublicKey::from_sec1_bytes(&enc).ok()?;
                Some((k, ProjectivePoint::from(*p.as_affine())))
            })
            .unwrap();
        let digest = random_bytes::<48>(&mut seed);
        let s = scalar(&random_bytes::<48>(&mut seed));
        let s_inv = Option::<Scalar>::from(s.invert()).unwrap();
        let (u1, u2) = (scalar(&digest) * s_inv, Scalar::from(k) * s_inv);
        let u2_inv = Option::<Scalar>::from(u2.invert()).unwrap();
        let q = (p - ProjectivePoint::GENERATOR * u1) * u2_inv;
        let vk = p384::ecdsa::VerifyingKey::from_affine(q.to_affine()).unwrap();
        let key = key_of(&q);
        for (r, valid) in [(k, true), (k + 1, false)] {
            let r = Scalar::from(r);
            let theirs = p384::ecdsa::Signature::from_scalars(r, s).unwrap();
            assert_eq!(vk.verify_prehash(&digest, &theirs).is_ok(), valid);
            let mine = Signature::from_scalars(&bytes(&r), &bytes(&s)).unwrap();
            assert_eq!(verify_prehash(&key, &digest, &mine), valid);
        }
    }

    /// Key decoding against `p384::ecdsa::VerifyingKey::from_sec1_bytes`:
    /// every encoding of real keys, off-curve points, coordinates ≥ p,
    /// wrong lengths and tags, the identity.
    #[test]
    fn keys_agree_with_the_p384_crate() {
        let agree = |bytes: &[u8]| {
            let want = p384::ecdsa::VerifyingKey::from_sec1_bytes(bytes)
                .ok()
                .map(|k| k.to_sec1_point(false).as_bytes().to_vec());
            let got = Key::from_sec1_bytes(bytes).map(|k| k.to_sec1_bytes().to_vec());
            assert_eq!(got, want, "{bytes:02x?}");
            got.is_some()
        };
        let mut seed = 3u64;
        let mut accepted = 0;
        for round in 0..8 {
            let d = scalar(&random_bytes::<48>(&mut seed));
            let q = (ProjectivePoint::GENERATOR * d).to_affine();
            let full = q.to_sec1_point(false).as_bytes().to_vec();
            let compressed = q.to_sec1_point(true).as_bytes().to_vec();
            let mut compact = compressed.clone();
            compact[0] = 0x05;
            for enc in [&full, &compressed, &compact] {
                // Every change of the compressed forms' x needs a square
                // root: two keys are enough for those.
                if round < 2 || enc[0] == 0x04 {
                    accepted += mutations::sec1(enc, &agree);
                } else {
                    assert!(agree(enc));
                }
            }
            // x + p, y + p do not fit; x or y replaced by p or above.
            for (at, v) in [(1, PRIME), (49, PRIME), (1, [0xff; 48]), (49, [0xff; 48])] {
                let mut m = full.clone();
                m[at..at + 48].copy_from_slice(&v);
                agree(&m);
            }
            let mut m = compressed.clone();
            m[1..].copy_from_slice(&PRIME);
            agree(&m);
        }
        // Compressed forms with an x whose x³ − 3x + b is not a square.
        for i in 0..40u8 {
            let mut m = vec![0x02 + (i % 2)];
            m.extend_from_slice(&[i; 48]);
            accepted += usize::from(agree(&m));
            m[0] = 0x05;
            agree(&m);
        }
        for bytes in [&[][..], &[0x00], &[0x04], &[0x02], &[0x00; 97], &[0x04; 97]] {
            agree(bytes);
        }
        assert!(accepted > 8 * 3, "{accepted}");
    }
}
