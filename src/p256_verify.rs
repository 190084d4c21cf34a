//! ECDSA P-256/SHA-256 verification written for wasm, the `p256` crate
//! replaced end to end: public key decoding, DER signatures, scalars and
//! curve arithmetic.
//!
//! Why by hand: the `p256` crate (0.14, `cpubits = "32"` on wasm) spent
//! about 13× OpenSSL's time on a verification inside the module (its field
//! multiplication is `crypto-bigint`'s generic Montgomery product, a carry
//! chain around every 32×32→64 product, and it builds wNAF tables for the
//! generator on every call), and even with the curve arithmetic in-house
//! its scalar, key and signature code (with `crypto-bigint`,
//! `elliptic-curve`, `ecdsa` and `primeorder`) weighed about 33 KiB of the
//! module. Here:
//!
//! * the field ([`field`]) uses 29-bit limbs: column sums need no carries,
//!   and P-256's Montgomery reduction is shifts and additions;
//! * `u1·G + u2·Q` is one pass of doublings (Shamir's trick) over two wNAF
//!   expansions, with a precomputed table of 32 odd multiples of `G` (window
//!   7, mixed additions) and 8 odd multiples of `Q` computed per call
//!   (window 5);
//! * Jacobian coordinates (doubling with `a = −3`), and the affine x of the
//!   result is never computed: `x ≡ r·Z² (mod p)` is checked instead (the
//!   point formulas and the Shamir loop are [`crate::jacobian`]'s, shared
//!   with P-384);
//! * the scalars mod n (DER decoding, range checks, `s⁻¹`, `u1`, `u2`) and
//!   the SEC 1 decoding of public keys ([`Key`]) are [`crate::ecdsa`]'s,
//!   shared with P-384; [`scalar`] holds the order's constants.
//!
//! Everything is variable time, which is sound for verification: the key,
//! the signature and the digest are public.
//!
//! Checked against the `p256` crate in the tests and by the `p256` fuzz
//! target.

pub mod field;
pub mod scalar;
mod table;

use crate::ecdsa;
use crate::jacobian::{self, Affine, Jacobian, Q_WINDOW};
use field::Fe;
pub use scalar::Signature;

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

/// The field prime p, big-endian.
const PRIME: [u8; 32] = [
    0xff, 0xff, 0xff, 0xff, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
];

/// A P-256 public key: an affine point on the curve (never the identity),
/// its coordinates in the field's Montgomery form, ready to verify.
#[derive(Clone, Copy, Debug)]
pub struct Key {
    point: Affine<Fe>,
}

impl Key {
    /// Decodes a SEC 1 point (§2.3.4) the way the `p256` crate's
    /// `VerifyingKey::from_sec1_bytes` does (checked in the tests; the
    /// forms are [`ecdsa::decode_sec1`]'s): uncompressed (`04‖x‖y`),
    /// compressed (`02‖x` or `03‖x`) or compact (`05‖x`), the coordinates
    /// below p and the point on the curve; the identity and every other
    /// form or length refused.
    #[must_use]
    pub fn from_sec1_bytes(bytes: &[u8]) -> Option<Key> {
        ecdsa::decode_sec1::<32, Fe>(bytes).map(|point| Key { point })
    }

    /// The uncompressed SEC 1 encoding (`04‖x‖y`).
    #[must_use]
    pub fn to_sec1_bytes(&self) -> [u8; 65] {
        let mut out = [0u8; 65];
        ecdsa::encode_sec1(&self.point, &mut out);
        out
    }
}

/// ECDSA verification (SEC 1 §4.1.4) of `sig` over a SHA-256 `digest`.
#[must_use]
pub fn verify_prehash(key: &Key, digest: &[u8; 32], sig: &Signature) -> bool {
    let (u1, u2) = scalar::u1_u2(digest, sig);
    check_x(&u1, &u2, &key.point, sig.r())
}

/// Whether the affine x of `u1·G + u2·Q`, reduced mod n, equals `r`: the
/// last steps of ECDSA verification (SEC 1 §4.1.4, steps 5–8). `u1`, `u2`
/// and `r` are reduced mod n, big-endian; `q` is a decoded public key.
fn check_x(u1: &[u8; 32], u2: &[u8; 32], q: &Affine<Fe>, r: &[u8; 32]) -> bool {
    // x mod n = r also when x = r + n < p, that is r < p − n < 2¹²⁷:
    // never for a real signature, but the equation says so.
    lincomb(u1, u2, q).is_some_and(|acc| jacobian::x_matches(&acc, r, &scalar::ORDER, &PRIME))
}

/// The affine x of `u1·G + u2·Q`, big-endian, `None` for the identity:
/// for the tests and the fuzz target, which compare it with the `p256`
/// crate's (slow: a Fermat inversion).
#[doc(hidden)]
#[must_use]
pub fn lincomb_x(u1: &[u8; 32], u2: &[u8; 32], key: &Key) -> Option<[u8; 32]> {
    let acc = lincomb(u1, u2, &key.point)?;
    Some(jacobian::affine_x(&acc, &PRIME))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ecdsa::mutations;
    use crate::jacobian::Encoding as _;
    use crate::testrng::random_bytes;
    use p256::ecdsa::signature::hazmat::{PrehashSigner as _, PrehashVerifier as _};
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

    fn key_of(p: &ProjectivePoint) -> Key {
        let enc = p.to_affine().to_sec1_point(false);
        Key::from_sec1_bytes(enc.as_bytes()).unwrap()
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
        let mut n_minus_1 = scalar::ORDER;
        n_minus_1[31] -= 1;
        let mut small = [0u8; 32];
        small[31] = 3;
        for round in 0..200 {
            let d = random_bytes::<32>(&mut seed);
            let q = ProjectivePoint::GENERATOR * scalar(&d);
            let key = key_of(&q);
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
        let mut one = [0u8; 32];
        one[31] = 1;
        let mut n_minus_1 = scalar::ORDER;
        n_minus_1[31] -= 1;
        for q in [g, -g, g.double(), g * Scalar::from(5u64)] {
            let key = key_of(&q);
            for _ in 0..20 {
                let u = bytes(&scalar(&random_bytes::<32>(&mut seed)));
                let neg = bytes(&-scalar(&u));
                for (u1, u2) in [(u, u), (u, neg), (neg, u), ([0; 32], u), (u, [0; 32])] {
                    assert_eq!(lincomb_x(&u1, &u2, &key), reference(&u1, &u2, &q));
                }
            }
            for (u1, u2) in [(one, n_minus_1), (n_minus_1, one), (one, one)] {
                assert_eq!(lincomb_x(&u1, &u2, &key), reference(&u1, &u2, &q));
            }
        }
        // u1 + u2·d = 0 for Q = d·G: the sum is the identity.
        let d = scalar(&random_bytes::<32>(&mut seed));
        let q = g * d;
        let u2 = scalar(&random_bytes::<32>(&mut seed));
        let u1 = -(u2 * d);
        assert_eq!(lincomb_x(&bytes(&u1), &bytes(&u2), &key_of(&q)), None);
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

    /// Full verification against the crate's `verify_prehash`: valid
    /// signatures on random keys and digests (digests above n included),
    /// and the same with the digest, `r` or `s` changed.
    #[test]
    fn verify_agrees_with_the_p256_crate() {
        let mut seed = 0xecd5_a256_u64;
        for round in 0..60 {
            let d = scalar(&random_bytes::<32>(&mut seed));
            let sk = p256::ecdsa::SigningKey::from_bytes(&d.to_bytes()).unwrap();
            let vk = *sk.verifying_key();
            let key = Key::from_sec1_bytes(vk.to_sec1_point(round % 2 == 0).as_bytes()).unwrap();
            let digest = if round % 10 == 3 {
                [0xff; 32]
            } else {
                random_bytes::<32>(&mut seed)
            };
            let sig: p256::ecdsa::Signature = sk.sign_prehash(&digest).unwrap();
            let (rs, ss) = (*sig.r(), *sig.s());
            let (r, s) = (bytes(&rs), bytes(&ss));
            let mut other = digest;
            other[round % 32] ^= 1 << (round % 8);
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
                let theirs = p256::ecdsa::Signature::from_scalars(r, s).unwrap();
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
    /// signature reaches (it needs an x in `[n, p)`, a chance of about
    /// 2⁻¹²⁹): a point `P` with `x = n + k` is chosen, and the key made to
    /// fit, `Q = (P − u1·G)·u2⁻¹`, so that verification lands on `P` and
    /// `r = k`. Both verifiers accept it, and refuse `r = k + 1`.
    #[test]
    fn r_plus_n_branch() {
        let mut seed = 11u64;
        let (k, p) = (1u64..)
            .find_map(|k| {
                let mut kb = [0u8; 32];
                kb[24..].copy_from_slice(&k.to_be_bytes());
                let x = crate::radix::add_be(&scalar::ORDER, &kb)?;
                let enc = [&[0x02][..], &x].concat();
                let p = p256::PublicKey::from_sec1_bytes(&enc).ok()?;
                Some((k, ProjectivePoint::from(*p.as_affine())))
            })
            .unwrap();
        let digest = random_bytes::<32>(&mut seed);
        let s = scalar(&random_bytes::<32>(&mut seed));
        let s_inv = Option::<Scalar>::from(s.invert()).unwrap();
        let (u1, u2) = (scalar(&digest) * s_inv, Scalar::from(k) * s_inv);
        let u2_inv = Option::<Scalar>::from(u2.invert()).unwrap();
        let q = (p - ProjectivePoint::GENERATOR * u1) * u2_inv;
        let vk = p256::ecdsa::VerifyingKey::from_affine(q.to_affine()).unwrap();
        let key = key_of(&q);
        for (r, valid) in [(k, true), (k + 1, false)] {
            let r = Scalar::from(r);
            let theirs = p256::ecdsa::Signature::from_scalars(r, s).unwrap();
            assert_eq!(vk.verify_prehash(&digest, &theirs).is_ok(), valid);
            let mine = Signature::from_scalars(&bytes(&r), &bytes(&s)).unwrap();
            assert_eq!(verify_prehash(&key, &digest, &mine), valid);
        }
    }

    /// Key decoding against `p256::ecdsa::VerifyingKey::from_sec1_bytes`:
    /// every form of real keys (uncompressed, compressed, compact) and
    /// every one-byte change, truncation and extension of them,
    /// coordinates at and above p, x with no point, wrong lengths and tags,
    /// the identity; the same point when both accept.
    #[test]
    fn keys_agree_with_the_p256_crate() {
        let agree = |bytes: &[u8]| {
            let want = p256::ecdsa::VerifyingKey::from_sec1_bytes(bytes)
                .ok()
                .map(|k| k.to_sec1_point(false).as_bytes().to_vec());
            let got = Key::from_sec1_bytes(bytes).map(|k| k.to_sec1_bytes().to_vec());
            assert_eq!(got, want, "{bytes:02x?}");
            got.is_some()
        };
        let mut seed = 3u64;
        let mut accepted = 0;
        for round in 0..8 {
            let d = scalar(&random_bytes::<32>(&mut seed));
            let q = (ProjectivePoint::GENERATOR * d).to_affine();
            let full = q.to_sec1_point(false).as_bytes().to_vec();
            let compressed = q.to_sec1_point(true).as_bytes().to_vec();
            let mut compact = compressed.clone();
            compact[0] = 0x05;
            for enc in [&full, &compressed, &compact] {
                // Every change of the compressed forms' x needs a square
                // root: three keys are enough for those.
                if round < 3 || enc[0] == 0x04 {
                    accepted += mutations::sec1(enc, &agree);
                } else {
                    assert!(agree(enc));
                }
            }
            // x or y replaced by p or above (x + p, y + p do not fit).
            for (at, v) in [(1, PRIME), (33, PRIME), (1, [0xff; 32]), (33, [0xff; 32])] {
                let mut m = full.clone();
                m[at..at + 32].copy_from_slice(&v);
                agree(&m);
            }
            let mut m = compressed.clone();
            m[1..].copy_from_slice(&PRIME);
            agree(&m);
        }
        // Compressed forms with an x whose x³ − 3x + b may not be a square.
        for i in 0..40u8 {
            let mut m = vec![0x02 + (i % 2)];
            m.extend_from_slice(&[i; 32]);
            accepted += usize::from(agree(&m));
            m[0] = 0x05;
            agree(&m);
        }
        // The identity and empty or truncated forms: refused by both.
        for bytes in [&[][..], &[0x00], &[0x04], &[0x02], &[0x00; 65], &[0x04; 65]] {
            assert!(!agree(bytes));
        }
        assert!(accepted > 300, "{accepted}");
    }
}
