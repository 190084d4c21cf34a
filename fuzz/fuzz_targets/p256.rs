//! The hand-written P-256 arithmetic (`p256_verify`) must agree with
//! `num-bigint` (field) and with the `p256` crate (curve, verification).
//!
//! Byte 0 picks the check:
//! * field (`% 4 == 0`): a program of field operations (mul, square, add,
//!   sub, neg, small multiples) over four registers loaded from the input,
//!   so that lazily reduced values (between p and 2²⁵⁷) feed every
//!   operation; each result is compared with `num-bigint` mod p.
//! * lincomb (`% 4 == 1, 2`): `u1·G + u2·Q` for `Q = d·G`. `d` is small or
//!   any scalar, and `u2` is often tied to `u1` (`u2 = ±u1`,
//!   `u1 + u2·d = 0`, `u1 = 0`…) so that additions meet equal and opposite
//!   points and the identity; the affine x is compared with the crate's.
//! * verify (`% 4 == 3`): a signature made by the crate's `SigningKey`,
//!   possibly altered, over a digest from the input; the policy's `verify`
//!   must agree with the crate's `verify_prehash`.
#![no_main]

use kritis_attestation_policy::jacobian::{Encoding as _, Field as _};
use kritis_attestation_policy::keys::{Algorithm, PublicKey, Schemes, VerifyingKey};
use kritis_attestation_policy::p256_verify::{field::Fe, lincomb_x};
use libfuzzer_sys::fuzz_target;
use num_bigint::BigUint;
use p256::ecdsa::signature::hazmat::{PrehashSigner as _, PrehashVerifier as _};
use p256::elliptic_curve::ops::Reduce as _;
use p256::elliptic_curve::sec1::ToSec1Point as _;
use p256::{FieldBytes, ProjectivePoint, Scalar};

fn take32(input: &mut &[u8]) -> [u8; 32] {
    let mut out = [0u8; 32];
    let n = input.len().min(32);
    out[..n].copy_from_slice(&input[..n]);
    *input = &input[n..];
    out
}

fn scalar(bytes: &[u8; 32]) -> Scalar {
    Scalar::reduce(&FieldBytes::from(*bytes))
}

fn bytes(s: &Scalar) -> [u8; 32] {
    s.to_bytes().into()
}

fn prime() -> BigUint {
    BigUint::parse_bytes(
        b"ffffffff00000001000000000000000000000000ffffffffffffffffffffffff",
        16,
    )
    .unwrap()
}

fn to32(v: &BigUint) -> [u8; 32] {
    let b = v.to_bytes_be();
    let mut out = [0u8; 32];
    out[32 - b.len()..].copy_from_slice(&b);
    out
}

fn field(mut input: &[u8]) {
    let p = prime();
    let mut fe: Vec<Fe> = Vec::new();
    let mut big: Vec<BigUint> = Vec::new();
    for _ in 0..4 {
        let b = take32(&mut input);
        fe.push(Fe::from_be_bytes(&b));
        big.push(BigUint::from_bytes_be(&b) % &p);
    }
    for op in input.chunks(2).take(64) {
        let (code, arg) = (op[0], op.get(1).copied().unwrap_or(0));
        let (dst, a, b) = (
            usize::from(code >> 6),
            usize::from(arg & 3),
            usize::from((arg >> 2) & 3),
        );
        let (x, y) = (fe[a], fe[b]);
        let (bx, by) = (big[a].clone(), big[b].clone());
        let (r, br) = match code % 6 {
            0 => (x.mul(&y), bx * by % &p),
            1 => (x.square(), &bx * &bx % &p),
            2 => (x.add(&y), (bx + by) % &p),
            3 => (x.sub(&y), (bx + &p - by) % &p),
            4 => (x.neg(), (&p - bx) % &p),
            _ => {
                let k = i64::from(arg >> 4) % 9;
                (x.mul_small(k), bx * BigUint::from(k as u64) % &p)
            }
        };
        assert_eq!(
            r.to_be_bytes(),
            to32(&br),
            "op {} on {:x}, {:x}",
            code % 6,
            big[a],
            big[b]
        );
        assert_eq!(r.is_zero(), br == BigUint::ZERO);
        assert!(r.equals(&fe[dst]) == (br == big[dst]));
        fe[dst] = r;
        big[dst] = br;
    }
}

fn lincomb(sel: u8, mut input: &[u8]) {
    let d_bytes = take32(&mut input);
    let d = if sel & 0x10 != 0 {
        Scalar::from(u64::from(d_bytes[0]) + 1)
    } else {
        scalar(&d_bytes)
    };
    if d == Scalar::ZERO {
        return;
    }
    let u1 = scalar(&take32(&mut input));
    let other = scalar(&take32(&mut input));
    let u2 = match (sel >> 5) & 7 {
        0 => u1,
        1 => -u1,
        // u1 + u2·d = 0: the sum is the identity.
        2 => -u1 * Option::<Scalar>::from(d.invert()).unwrap(),
        // u1·G = u2·Q partway: u2 = u1·d⁻¹ + small.
        3 => u1 * Option::<Scalar>::from(d.invert()).unwrap() + Scalar::from(u64::from(sel & 3)),
        4 => Scalar::ZERO,
        _ => other,
    };
    let u1 = if sel & 0x0c == 0x0c { Scalar::ZERO } else { u1 };
    let q = ProjectivePoint::GENERATOR * d;
    let enc = q.to_affine().to_sec1_point(false);
    let qx: [u8; 32] = enc.x().unwrap().as_slice().try_into().unwrap();
    let qy: [u8; 32] = enc.y().unwrap().as_slice().try_into().unwrap();
    let want = ProjectivePoint::GENERATOR * u1 + q * u2;
    let want_x = want
        .to_affine()
        .to_sec1_point(false)
        .x()
        .map(|x| <[u8; 32]>::try_from(x.as_slice()).unwrap());
    assert_eq!(
        lincomb_x(&bytes(&u1), &bytes(&u2), &qx, &qy),
        want_x,
        "d = {d:?}, u1 = {u1:?}, u2 = {u2:?}"
    );
}

fn verify(sel: u8, mut input: &[u8]) {
    let d = scalar(&take32(&mut input));
    let Ok(sk) = p256::ecdsa::SigningKey::from_bytes(&d.to_bytes()) else {
        return;
    };
    let digest = take32(&mut input);
    let sig: p256::ecdsa::Signature = sk.sign_prehash(&digest).unwrap();
    let (r, s) = (bytes(&sig.r()), bytes(&sig.s()));
    let (r, s) = match (sel >> 4) & 3 {
        0 => (r, s),
        1 => (take32(&mut input), s),
        2 => (r, take32(&mut input)),
        _ => (take32(&mut input), take32(&mut input)),
    };
    let Ok(sig) = p256::ecdsa::Signature::from_scalars(r, s) else {
        return;
    };
    let vk = *sk.verifying_key();
    let want = vk.verify_prehash(&digest, &sig).is_ok();
    let key = VerifyingKey {
        key: PublicKey::P256(vk),
        schemes: Schemes::Only(Algorithm::EcdsaSha256),
    };
    let der = sig.to_der();
    // The payload is not hashed again: verify takes its SHA-256.
    let got = kritis_attestation_policy::verify::verify(&key, b"", &digest, der.as_bytes());
    assert_eq!(got.is_ok(), want, "r = {r:02x?}, s = {s:02x?}");
}

fuzz_target!(|data: &[u8]| {
    let [sel, rest @ ..] = data else { return };
    match sel % 4 {
        0 => field(rest),
        1 | 2 => lincomb(*sel, rest),
        _ => verify(*sel, rest),
    }
});
