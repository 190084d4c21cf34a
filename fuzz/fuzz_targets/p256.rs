//! The hand-written P-256 verifier (`p256_verify`, with `ecdsa`'s scalars,
//! DER and SEC 1 code shared with P-384) must agree with `num-bigint`
//! (field) and with the `p256` crate (curve, scalars, DER signatures,
//! SEC 1 keys, verification).
//!
//! Byte 0 picks the check:
//! * field (`% 6 == 0`): a program of field operations (mul, square, add,
//!   sub, neg, small multiples, square root) over four registers loaded
//!   from the input, so that lazily reduced values (between p and 2²⁵⁷)
//!   feed every operation; each result is compared with `num-bigint` mod p.
//! * lincomb (`% 6 == 1, 2`): `u1·G + u2·Q` for `Q = d·G`. `d` is small or
//!   any scalar, and `u2` is often tied to `u1` (`u2 = ±u1`,
//!   `u1 + u2·d = 0`, `u1 = 0`…) so that additions meet equal and opposite
//!   points and the identity; the affine x is compared with the crate's.
//! * verify (`% 6 == 3`): a signature made by the crate's `SigningKey`,
//!   `r` and/or `s` possibly replaced or the digest changed, over a digest
//!   from the input, the key decoded from either SEC 1 form; the policy's
//!   `verify` or `verify_p256_prehash` (the keyless path) must agree with
//!   the crate's `verify_prehash`.
//! * DER (`% 6 == 4`): the rest of the input as a signature, optionally
//!   behind the DER of a real one's prefix; `Signature::from_der` must
//!   accept exactly what the crate's does, with the same `r` and `s`.
//! * SEC 1 (`% 6 == 5`): the rest of the input as a public key, optionally
//!   behind a tag byte and a real key's x; `Key::from_sec1_bytes` must
//!   accept exactly what the crate's `VerifyingKey::from_sec1_bytes` does,
//!   and decode the same point.
#![no_main]

use kritis_attestation_policy::ecdsa::CurveField as _;
use kritis_attestation_policy::jacobian::{Encoding as _, Field as _};
use kritis_attestation_policy::keys::{Algorithm, PublicKey, Schemes, VerifyingKey};
use kritis_attestation_policy::p256_verify::{field::Fe, lincomb_x, Key, Signature};
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

fn key_of(p: &ProjectivePoint, compressed: bool) -> Key {
    Key::from_sec1_bytes(p.to_affine().to_sec1_point(compressed).as_bytes()).unwrap()
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
        let (r, br) = match code % 7 {
            0 => (x.mul(&y), bx * by % &p),
            1 => (x.square(), &bx * &bx % &p),
            2 => (x.add(&y), (bx + by) % &p),
            3 => (x.sub(&y), (bx + &p - by) % &p),
            4 => (x.neg(), (&p - bx) % &p),
            5 => {
                let k = i64::from(arg >> 4) % 9;
                (x.mul_small(k), bx * BigUint::from(k as u64) % &p)
            }
            _ => {
                // A root exactly when num-bigint's square root exists: the
                // candidate bx^((p+1)/4) squares back.
                let e = (&p + 1u32) >> 2;
                let cand = bx.modpow(&e, &p);
                let is_square = &cand * &cand % &p == bx;
                match x.sqrt() {
                    Some(root) => {
                        assert!(is_square, "root of a non-square {bx:x}");
                        let rb = BigUint::from_bytes_be(&root.to_be_bytes());
                        assert!(rb == cand || (&rb + &cand) % &p == BigUint::ZERO);
                        (root, rb)
                    }
                    None => {
                        assert!(!is_square, "no root of the square {bx:x}");
                        continue;
                    }
                }
            }
        };
        assert_eq!(
            r.to_be_bytes(),
            to32(&br),
            "op {} on {:x}, {:x}",
            code % 7,
            big[a],
            big[b]
        );
        assert_eq!(r.is_zero(), br == BigUint::ZERO);
        assert_eq!(r.is_odd(), br.bit(0));
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
    let want = ProjectivePoint::GENERATOR * u1 + q * u2;
    let want_x = want
        .to_affine()
        .to_sec1_point(false)
        .x()
        .map(|x| <[u8; 32]>::try_from(x.as_slice()).unwrap());
    assert_eq!(
        lincomb_x(&bytes(&u1), &bytes(&u2), &key_of(&q, sel & 2 != 0)),
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
    // The digest checked: the signed one, or one bit of it flipped.
    let mut checked = digest;
    if sel & 0x40 != 0 {
        let bit = input.first().copied().unwrap_or(0);
        checked[usize::from(bit / 8) % 32] ^= 1 << (bit % 8);
    }
    let Ok(sig) = p256::ecdsa::Signature::from_scalars(r, s) else {
        assert!(Signature::from_scalars(&r, &s).is_none());
        return;
    };
    let vk = *sk.verifying_key();
    let want = vk.verify_prehash(&checked, &sig).is_ok();
    let key = key_of(&ProjectivePoint::from(*vk.as_affine()), sel & 0x08 != 0);
    let der = sig.to_der();
    let got = if sel & 0x80 != 0 {
        kritis_attestation_policy::verify::verify_p256_prehash(&key, &checked, der.as_bytes())
            .is_ok()
    } else {
        let key = VerifyingKey {
            key: PublicKey::P256(key),
            schemes: Schemes::Only(Algorithm::EcdsaSha256),
        };
        // The payload is not hashed again: verify takes its SHA-256.
        kritis_attestation_policy::verify::verify(&key, b"", &checked, der.as_bytes()).is_ok()
    };
    assert_eq!(got, want, "r = {r:02x?}, s = {s:02x?}");
}

fn der(sel: u8, mut input: &[u8]) {
    let mut bytes = Vec::new();
    if sel & 0x10 != 0 {
        // A real signature's DER, cut where the input says, then the input.
        let d = scalar(&take32(&mut input));
        if let Ok(sk) = p256::ecdsa::SigningKey::from_bytes(&d.to_bytes()) {
            let sig: p256::ecdsa::Signature = sk.sign_prehash(&[sel; 32]).unwrap();
            let der = sig.to_der();
            let cut = input.first().map_or(0, |&c| usize::from(c)) % (der.as_bytes().len() + 1);
            bytes.extend_from_slice(&der.as_bytes()[..cut]);
            input = input.get(1..).unwrap_or(&[]);
        }
    }
    bytes.extend_from_slice(input);
    let want = p256::ecdsa::Signature::from_der(&bytes).ok().map(|s| {
        let (r, s) = s.split_bytes();
        (<[u8; 32]>::from(r), <[u8; 32]>::from(s))
    });
    let got = Signature::from_der(&bytes).map(|s| (*s.r(), *s.s()));
    assert_eq!(got, want, "{bytes:02x?}");
}

fn sec1(sel: u8, mut input: &[u8]) {
    let mut bytes = Vec::new();
    if sel & 0x10 != 0 {
        // A tag from the input, then a real key's x, then the input (a y).
        let d = scalar(&take32(&mut input));
        if d != Scalar::ZERO {
            let q = (ProjectivePoint::GENERATOR * d).to_affine();
            let enc = q.to_sec1_point(sel & 0x20 != 0);
            bytes.push(input.first().copied().unwrap_or(4) % 8);
            input = input.get(1..).unwrap_or(&[]);
            bytes.extend_from_slice(&enc.as_bytes()[1..33]);
        }
    }
    bytes.extend_from_slice(input);
    let want = p256::ecdsa::VerifyingKey::from_sec1_bytes(&bytes)
        .ok()
        .map(|k| k.to_sec1_point(false).as_bytes().to_vec());
    let got = Key::from_sec1_bytes(&bytes).map(|k| k.to_sec1_bytes().to_vec());
    assert_eq!(got, want, "{bytes:02x?}");
}

fuzz_target!(|data: &[u8]| {
    let [sel, rest @ ..] = data else { return };
    match sel % 6 {
        0 => field(rest),
        1 | 2 => lincomb(*sel, rest),
        3 => verify(*sel, rest),
        4 => der(*sel, rest),
        _ => sec1(*sel, rest),
    }
});
