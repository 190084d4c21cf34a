//! Scalars modulo the P-256 group order `n`: its constants for
//! [`crate::ecdsa`]'s arithmetic (the signature's DER decoding and range
//! checks, `s⁻¹`, `u1 = e·s⁻¹` and `u2 = r·s⁻¹`), in place of the `p256`
//! crate's (`crypto-bigint`'s generic code, about 33 KiB of the module
//! with `elliptic-curve`, `ecdsa` and `primeorder`): four 64-bit words for
//! the inversion, ten 28-bit limbs for the Montgomery products
//! (`R = 2²⁸⁰ > 4n`).

use crate::ecdsa::{self, Order as _};

/// `n`, big-endian.
pub(super) const ORDER: [u8; 32] = [
    0xff, 0xff, 0xff, 0xff, 0x00, 0x00, 0x00, 0x00, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
    0xbc, 0xe6, 0xfa, 0xad, 0xa7, 0x17, 0x9e, 0x84, 0xf3, 0xb9, 0xca, 0xc2, 0xfc, 0x63, 0x25, 0x51,
];

/// Limbs per scalar.
const L: usize = 10;

/// P-256's group order, for [`ecdsa::Order`]'s arithmetic.
#[derive(Clone, Copy, Debug)]
pub struct Scalars;

impl ecdsa::Order<32, 4, L, { 2 * L }> for Scalars {
    const BYTES: [u8; 32] = ORDER;
    const WORDS: [u64; 4] = [
        0xf3b9_cac2_fc63_2551,
        0xbce6_faad_a717_9e84,
        0xffff_ffff_ffff_ffff,
        0xffff_ffff_0000_0000,
    ];
    const LIMBS: [u64; L] = [
        0xc63_2551, 0xb9c_ac2f, 0x79e_84f3, 0xfaa_da71, 0xfff_bce6, 0xfff_ffff, 0x0ff_ffff, 0,
        0xfff_ffff, 0xf,
    ];
    const N0INV: u64 = 0xe00_bc4f;
    const RR: [u64; L] = [
        0xfb3_6926, 0x7fb_c24c, 0x36a_7aea, 0xa0a_7b86, 0x1d1_4956, 0x907_6ab5, 0x1ec_5961,
        0x84a_3d0b, 0x3b5_1c1e, 0x8,
    ];
}

/// A P-256 ECDSA signature `(r, s)`, both in `[1, n)`, big-endian.
pub type Signature = ecdsa::Signature<32>;

impl Signature {
    /// Decodes a DER `ECDSA-Sig-Value`, accepting exactly what the `p256`
    /// crate's `Signature::from_der` accepts (checked in the tests; the
    /// grammar is [`ecdsa::Order::signature_from_der`]'s).
    #[must_use]
    pub fn from_der(der: &[u8]) -> Option<Signature> {
        Scalars::signature_from_der(der)
    }

    /// The signature from its scalars, if both are in `[1, n)`.
    #[must_use]
    pub fn from_scalars(r: &[u8; 32], s: &[u8; 32]) -> Option<Signature> {
        Scalars::signature_from_scalars(r, s)
    }
}

/// `(u1, u2) = (e·s⁻¹ mod n, r·s⁻¹ mod n)` for the SHA-256 digest `e`
/// (256 bits, the order's length: taken whole and reduced) and the
/// signature.
#[must_use]
pub fn u1_u2(digest: &[u8; 32], sig: &Signature) -> ([u8; 32], [u8; 32]) {
    Scalars::u1_u2(digest, sig)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ecdsa::{limbs, mutations, to_bytes, words, Order};
    use crate::testrng::random_bytes;
    use p256::elliptic_curve::ops::Reduce as _;
    use p256::elliptic_curve::Field as _;
    use p256::{FieldBytes, Scalar};

    type N = Scalars;

    fn scalar(bytes: &[u8; 32]) -> Scalar {
        Scalar::reduce(&FieldBytes::from(*bytes))
    }

    fn bytes(s: &Scalar) -> [u8; 32] {
        s.to_bytes().into()
    }

    fn inverse(v: &[u8; 32]) -> [u8; 32] {
        N::inverse(v)
    }

    /// The constants (computed with Python) against the order's bytes and
    /// the crate: n in words and limbs, `−n⁻¹ mod 2²⁸` by its defining
    /// property, `R² mod n` by `RR·R⁻¹·R⁻¹ = 1` and against the crate's
    /// `R mod n`.
    #[test]
    fn constants() {
        assert_eq!(words::<32, 4>(&ORDER), N::WORDS);
        assert_eq!(limbs::<32, L>(&ORDER), N::LIMBS);
        assert_eq!(
            N::LIMBS[0].wrapping_mul(N::N0INV) & 0xfff_ffff,
            0xfff_ffff,
            "n·(−n⁻¹) ≡ −1"
        );
        assert_eq!(bytes(&-Scalar::ONE), {
            let mut n1 = ORDER;
            n1[31] -= 1;
            n1
        });
        // 4n < 2²⁵⁸ ≤ R = 2²⁸⁰: checked when `mont_mul` is compiled.
        assert!(N::RR.iter().all(|&l| l < 1 << 28));
        // RR·1·R⁻¹ = R mod n, and R·R⁻¹·x = x.
        let mut one = [0u64; L];
        one[0] = 1;
        let r = N::mont_mul(&N::RR, &one);
        assert_eq!(to_bytes::<32, L>(&N::mont_mul(&r, &one)), {
            let mut b = [0u8; 32];
            b[31] = 1;
            b
        });
        // R mod n by the crate: 2²⁸⁰ = (2¹⁴⁰)².
        let two_140 = {
            let mut b = [0u8; 32];
            b[32 - 18] = 0x10;
            scalar(&b)
        };
        assert_eq!(to_bytes::<32, L>(&r), bytes(&(two_140 * two_140)));
    }

    /// `u1`, `u2` and the inverse against the `p256` crate's scalars, on
    /// random values and the edges (1, 2, 3, n − 1, n − 2, n − 3, powers of
    /// two, digests at and above n).
    #[test]
    fn agrees_with_the_p256_crate() {
        let mut seed = 0x256_u64;
        let mut values: Vec<[u8; 32]> = (0..300).map(|_| random_bytes::<32>(&mut seed)).collect();
        for k in [1u64, 2, 3] {
            values.push(bytes(&Scalar::from(k)));
            values.push(bytes(&-Scalar::from(k)));
        }
        for bit in [0, 1, 63, 64, 128, 200, 224, 254, 255] {
            let mut v = [0u8; 32];
            v[31 - bit / 8] = 1 << (bit % 8);
            values.push(v);
        }
        values.push([0xff; 32]);
        values.push(ORDER);
        for (i, v) in values.iter().enumerate() {
            let s = scalar(v);
            if s.is_zero().into() {
                continue;
            }
            let inv = Option::<Scalar>::from(s.invert()).unwrap();
            assert_eq!(inverse(&bytes(&s)), bytes(&inv), "inverse of {v:02x?}");
            for j in [1, 2, 11] {
                let digest = values[(i + j) % values.len()];
                let r = scalar(&values[(i + 7 * j) % values.len()]);
                let Some(sig) = Signature::from_scalars(&bytes(&r), &bytes(&s)) else {
                    assert!(bool::from(r.is_zero()));
                    continue;
                };
                let (u1, u2) = u1_u2(&digest, &sig);
                assert_eq!(u1, bytes(&(scalar(&digest) * inv)), "u1");
                assert_eq!(u2, bytes(&(r * inv)), "u2");
            }
        }
    }

    #[test]
    fn range() {
        let mut n1 = ORDER;
        n1[31] -= 1;
        let mut one = [0u8; 32];
        one[31] = 1;
        assert!(N::in_range(&one) && N::in_range(&n1));
        assert!(!N::in_range(&[0; 32]) && !N::in_range(&ORDER) && !N::in_range(&[0xff; 32]));
        let r = bytes(&Scalar::from(5u64));
        assert_eq!(Signature::from_scalars(&r, &n1).map(|s| *s.s()), Some(n1));
        assert_eq!(Signature::from_scalars(&r, &ORDER), None);
        assert_eq!(Signature::from_scalars(&[0; 32], &r), None);
    }

    /// The DER grammar against the `p256` crate's `Signature::from_der`:
    /// real signatures, then every one-byte change, deletion, insertion and
    /// truncation of them, one extension, and hand-made edge encodings.
    #[test]
    fn der_agrees_with_the_p256_crate() {
        use p256::ecdsa::signature::hazmat::PrehashSigner as _;
        let agree = |der: &[u8]| {
            let want = p256::ecdsa::Signature::from_der(der).ok().map(|s| {
                let (r, s) = s.split_bytes();
                (<[u8; 32]>::from(r), <[u8; 32]>::from(s))
            });
            let got = Signature::from_der(der).map(|s| (*s.r(), *s.s()));
            assert_eq!(got, want, "{der:02x?}");
            got.is_some()
        };
        let mut seed = 19u64;
        let mut accepted = 0;
        for i in 0..32 {
            let d = scalar(&random_bytes::<32>(&mut seed));
            let sk = p256::ecdsa::SigningKey::from_bytes(&d.to_bytes()).unwrap();
            let sig: p256::ecdsa::Signature =
                sk.sign_prehash(&random_bytes::<32>(&mut seed)).unwrap();
            let (r, s) = sig.split_scalars();
            // Small r and s too, for short integers and leading zeros, and
            // n − 1 (the largest).
            let (r, s) = match i % 4 {
                1 => (Scalar::from(0x80u64), *s),
                2 => (*r, Scalar::from(1u64)),
                3 => (Scalar::from(0x7f_ffffu64), -Scalar::ONE),
                _ => (*r, *s),
            };
            let sig = p256::ecdsa::Signature::from_scalars(r, s).unwrap();
            let der = sig.to_der().as_bytes().to_vec();
            assert!(agree(&der));
            accepted += mutations::der(&der, &agree);
        }
        // Many changes of integer bytes still decode (same length, other value).
        assert!(accepted > 1000, "{accepted}");
        for der in &mutations::der_edges(&ORDER) {
            agree(der);
        }
    }

    #[test]
    fn inverse_edges() {
        let mut n1 = ORDER;
        n1[31] -= 1;
        let mut one = [0u8; 32];
        one[31] = 1;
        assert_eq!(inverse(&one), one);
        assert_eq!(inverse(&n1), n1, "(−1)⁻¹ = −1");
        // The top word of n is 0xffffffff00000000: values at and above it.
        for top in [0xffff_fffe_u64, 0xffff_ffff_0000_0000 - 1] {
            let mut v = [0x5au8; 32];
            v[..8].copy_from_slice(&top.to_be_bytes());
            let s = scalar(&v);
            let inv = Option::<Scalar>::from(s.invert()).unwrap();
            assert_eq!(inverse(&bytes(&s)), bytes(&inv));
        }
    }
}
