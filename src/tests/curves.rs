//! The tests both in-house curves share, written once: `p256_verify` and
//! `p384_verify` differ in their sizes and constants, not in what must hold
//! (the way RustCrypto's `primeorder` tests its curves). Each check is
//! against the RustCrypto crate of the same curve.

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
