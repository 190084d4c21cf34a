//! Scalars modulo the P-384 group order `n`: its constants for
//! [`crate::ecdsa`]'s arithmetic (the signature's DER decoding and range
//! checks, `s⁻¹`, `u1 = e·s⁻¹` and `u2 = r·s⁻¹`), written without
//! `crypto-bigint` (the `p384` crate's scalar code brought 40 KiB of it into
//! the module): six 64-bit words for the inversion, fourteen 28-bit limbs
//! for the Montgomery products (`R = 2³⁹² > 4n`).

use crate::ecdsa::{self, Order as _};

/// `n`, big-endian.
pub(super) const ORDER: [u8; 48] = [
    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xc7, 0x63, 0x4d, 0x81, 0xf4, 0x37, 0x2d, 0xdf,
    0x58, 0x1a, 0x0d, 0xb2, 0x48, 0xb0, 0xa7, 0x7a, 0xec, 0xec, 0x19, 0x6a, 0xcc, 0xc5, 0x29, 0x73,
];

/// Limbs per scalar.
const L: usize = 14;

/// P-384's group order, for [`ecdsa::Order`]'s arithmetic.
#[derive(Clone, Copy, Debug)]
pub struct Scalars;

impl ecdsa::Order<48, 6, L, { 2 * L }> for Scalars {
    const BYTES: [u8; 48] = ORDER;
    const WORDS: [u64; 6] = [
        0xecec_196a_ccc5_2973,
        0x581a_0db2_48b0_a77a,
        0xc763_4d81_f437_2ddf,
        0xffff_ffff_ffff_ffff,
        0xffff_ffff_ffff_ffff,
        0xffff_ffff_ffff_ffff,
    ];
    const LIMBS: [u64; L] = [
        0xcc5_2973, 0xec1_96ac, 0x0a7_7aec, 0x0db_248b, 0xddf_581a, 0x81f_4372, 0xfc7_634d,
        0xfff_ffff, 0xfff_ffff, 0xfff_ffff, 0xfff_ffff, 0xfff_ffff, 0xfff_ffff, 0xf_ffff,
    ];
    const N0INV: u64 = 0x88f_dc45;
    const RR: [u64; L] = [
        0x60e_3cb4, 0x35f_d093, 0x90e_b460, 0x73c_4e12, 0xff2_dbd2, 0x43a_6add, 0x2d1_64ee,
        0x1cc_5bf0, 0x917_4aab, 0x95d_40d4, 0xa28_2668, 0x3fb_05b7, 0xb39_bf21, 0xe_e012,
    ];
}

/// A P-384 ECDSA signature `(r, s)`, both in `[1, n)`, big-endian.
pub type Signature = ecdsa::Signature<48>;

impl Signature {
    /// Decodes a DER `ECDSA-Sig-Value`, accepting exactly what the `p384`
    /// crate's `Signature::from_der` accepts (checked in the tests; the
    /// grammar is [`ecdsa::Order::signature_from_der`]'s).
    #[must_use]
    pub fn from_der(der: &[u8]) -> Option<Signature> {
        Scalars::signature_from_der(der)
    }

    /// The signature from its scalars, if both are in `[1, n)`.
    #[must_use]
    pub fn from_scalars(r: &[u8; 48], s: &[u8; 48]) -> Option<Signature> {
        Scalars::signature_from_scalars(r, s)
    }
}

/// `(u1, u2) = (e·s⁻¹ mod n, r·s⁻¹ mod n)` for the SHA-384 digest `e`
/// (taken whole and reduced) and the signature.
#[must_use]
pub fn u1_u2(digest: &[u8; 48], sig: &Signature) -> ([u8; 48], [u8; 48]) {
    Scalars::u1_u2(digest, sig)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ecdsa::{limbs, mutations, to_bytes, words, Order};
    use crate::testrng::random_bytes;
    use p384::elliptic_curve::ops::Reduce as _;
    use p384::{FieldBytes, Scalar};

    type N = Scalars;

    fn scalar(bytes: &[u8; 48]) -> Scalar {
        Scalar::reduce(&FieldBytes::from(*bytes))
    }

    fn bytes(s: &Scalar) -> [u8; 48] {
        s.to_bytes().into()
    }

    fn inverse(v: &[u8; 48]) -> [u8; 48] {
        N::inverse(v)
    }

    #[test]
    fn constants() {
        assert_eq!(words::<48, 6>(&ORDER), N::WORDS);
        assert_eq!(limbs::<48, L>(&ORDER), N::LIMBS);
        assert_eq!(
            N::LIMBS[0].wrapping_mul(N::N0INV) & 0xfff_ffff,
            0xfff_ffff,
            "n·(−n⁻¹) ≡ −1"
        );
        assert_eq!(bytes(&-Scalar::ONE), {
            let mut n1 = ORDER;
            n1[47] -= 1;
            n1
        });
        // RR·1·R⁻¹ = R mod n, and R·R⁻¹·x = x.
        let mut one = [0u64; L];
        one[0] = 1;
        let r = N::mont_mul(&N::RR, &one);
        assert_eq!(to_bytes::<48, L>(&N::mont_mul(&r, &one)), {
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
        assert!(N::in_range(&one) && N::in_range(&n1));
        assert!(!N::in_range(&[0; 48]) && !N::in_range(&ORDER) && !N::in_range(&[0xff; 48]));
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
            let got = Signature::from_der(der).map(|s| (*s.r(), *s.s()));
            assert_eq!(got, want, "{der:02x?}");
            got.is_some()
        };
        let mut seed = 17u64;
        let mut accepted = 0;
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
        n1[47] -= 1;
        let mut one = [0u8; 48];
        one[47] = 1;
        assert_eq!(inverse(&one), one);
        assert_eq!(inverse(&n1), n1, "(−1)⁻¹ = −1");
    }
}
