//! The public operation against `crypto-bigint` (through the `rsa` crate)
//! and against itself at every size near a limb boundary.

use super::*;
use crate::testrng::xorshift;
use p256::elliptic_curve::bigint::ConcatenatingMul as _;
use rsa::traits::PublicKeyParts as _;
use rsa::BoxedUint;

/// Compares with crypto-bigint's modular exponentiation (via the `rsa` crate).
fn reference(key: &rsa::PublicKey, s: &[u8]) -> Vec<u8> {
    let m = BoxedUint::from_be_slice(s, key.n_bits_precision()).unwrap();
    let r = rsa::hazmat::rsa_encrypt(key, &m).unwrap();
    let k = key.size();
    let bytes = r.to_be_bytes();
    bytes[bytes.len() - k..].to_vec()
}

fn key(bits: usize) -> rsa::PublicKey {
    use rsa::pkcs8::DecodePublicKey as _;
    rsa::PublicKey::from_public_key_pem(&crate::testkeys::rsa(bits).spki_pem).unwrap()
}

#[test]
fn agrees_with_crypto_bigint() {
    let mut seed = 0x1234_5678_9abc_def0u64;
    for bits in [2048, 3072, 4096] {
        let key = key(bits);
        let m = Modulus::new(&key.n_bytes()).unwrap();
        assert_eq!(m.bits(), bits);
        let k = key.size();
        for round in 0..20 {
            let mut s: Vec<u8> = (0..k).map(|_| xorshift(&mut seed) as u8).collect();
            s[0] &= 0x7f; // below n
            if round == 0 {
                s.iter_mut().for_each(|b| *b = 0);
                s[k - 1] = 1;
            }
            if round == 1 {
                s.iter_mut().for_each(|b| *b = 0);
            }
            assert_eq!(
                m.pow(&s, 65537),
                Some(reference(&key, &s)),
                "{bits} round {round}"
            );
            assert_eq!(m.pow(&s, 3).map(|v| v.len()), Some(k));
        }
    }
}

/// `base^e mod n` by square-and-multiply on crypto-bigint's `BoxedUint`.
fn slow_pow(n: &[u8], base: &[u8], e: u64) -> Vec<u8> {
    let n_len = n.len();
    let bits = 8 * n.len() as u32;
    let n = BoxedUint::from_be_slice(n, bits).unwrap();
    let nz = n.to_nz().unwrap();
    let base = BoxedUint::from_be_slice(base, bits).unwrap();
    let mut acc = BoxedUint::one_with_precision(bits);
    for i in (0..64 - e.leading_zeros()).rev() {
        acc = acc.concatenating_mul(&acc).rem_vartime(&nz);
        if (e >> i) & 1 == 1 {
            acc = acc.concatenating_mul(&base).rem_vartime(&nz);
        }
    }
    let bytes = acc.to_be_bytes();
    bytes[bytes.len() - n_len..].to_vec()
}

/// Every modulus size around the limb boundaries (`R ≥ 4n` is tight
/// when `28·L = bits + 2`), odd and even exponents, bases near `n`.
#[test]
fn agrees_at_every_size_near_limb_boundaries() {
    let mut seed = 0x0bad_5eed_u64;
    for bits in (33usize..=200)
        .chain(2040..=2100)
        .chain([3070, 3080, 4094, 4096])
    {
        let k = bits.div_ceil(8);
        let mut n: Vec<u8> = (0..k).map(|_| xorshift(&mut seed) as u8).collect();
        let top_bits = bits - 8 * (k - 1);
        n[0] = (n[0] & ((1u16 << top_bits) - 1) as u8) | (1 << (top_bits - 1));
        n[k - 1] |= 1;
        let m = Modulus::new(&n).unwrap();
        assert_eq!(m.bits(), bits);
        for e in [2, 3, 4, 17, 65537, (1 << 33) - 1] {
            let mut s: Vec<u8> = (0..k).map(|_| xorshift(&mut seed) as u8).collect();
            if e == 4 {
                // n - 1, the largest base.
                s.copy_from_slice(&n);
                s[k - 1] -= 1;
            }
            if s >= n {
                s[0] = 0;
            }
            let want = Some(slow_pow(&n, &s, e));
            // A used modulus converts the base by R²; a fresh one by
            // shifting it up (its first power): both paths, every size.
            assert_eq!(m.pow(&s, e), want, "{bits} bits, e = {e}");
            let fresh = Modulus::new(&n).unwrap();
            assert_eq!(fresh.pow(&s, e), want, "{bits} bits, e = {e}, first use");
        }
    }
}

/// A modulus whose top limb is 1 (2049 bits): R/n is near 2^32, which an
/// earlier R mod n computation looped over (found by fuzzing).
#[test]
fn moduli_with_a_tiny_top_limb() {
    for top in [1u8, 2, 0x80] {
        let mut n = vec![0u8; 257];
        n[0] = top;
        n[100] = 0xde;
        n[256] = 0x01; // odd
        let m = Modulus::new(&n).unwrap();
        let mut s = vec![0u8; 257];
        s[256] = 3;
        // 3^3 = 27 < n, so the result is exact.
        let mut want = vec![0u8; 257];
        want[256] = 27;
        assert_eq!(m.pow(&s, 3), Some(want), "top byte {top}");
    }
}

#[test]
fn small_exponents_and_bounds() {
    let key = key(2048);
    let m = Modulus::new(&key.n_bytes()).unwrap();
    let mut s = vec![0u8; 256];
    s[255] = 2;
    let mut want = vec![0u8; 256];
    want[255] = 8;
    assert_eq!(m.pow(&s, 3), Some(want));
    assert_eq!(m.pow(&s, 1), Some(s.clone()));
    assert_eq!(m.pow(&s[1..], 3), None, "short signature");
    assert_eq!(m.pow(&key.n_bytes(), 3), None, "s = n");
    assert_eq!(m.pow(&[0xff; 256], 3), None, "s > n");
    assert_eq!(m.pow(&s, 0), None);
    assert!(Modulus::new(&[0x80, 0, 0, 0, 0, 0, 0, 2]).is_none(), "even");
    assert!(Modulus::new(&[3]).is_none(), "too small");
    assert!(
        Modulus::new(&[0, 0, 0xff, 0xff, 0xff, 0xff]).is_none(),
        "32 bits"
    );
    assert!(Modulus::new(&[1, 0, 0, 0, 1]).is_some(), "33 bits");
}

/// Huge moduli are sized without being prepared, and refuse to compute.
#[test]
fn moduli_above_the_limb_limit_are_only_sized() {
    for bits in [7138usize, 7139, 8192, 100_000] {
        let k = bits.div_ceil(8);
        let mut n = vec![0xffu8; k];
        n[0] = 0xff >> (8 * k - bits);
        let m = Modulus::new(&n).unwrap();
        assert_eq!(m.bits(), bits);
        let mut s = vec![0u8; k];
        s[k - 1] = 2;
        let want = (bits <= 7138).then(|| {
            let mut w = vec![0u8; k];
            w[k - 1] = 8;
            w
        });
        assert_eq!(m.pow(&s, 3), want, "{bits}");
    }
}
