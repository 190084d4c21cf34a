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
    crate::tests::curves::curve_tests! {
        p256, 32, limb_bits: 29,
        lincomb: (0x5eed_1234, 200),
        exceptional_rounds: 20,
        verify: (0xecd5_a256, 60),
        mutated_compressed_keys: 3, accepted_at_least: 300,
    }
}
