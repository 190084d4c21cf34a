//! The hand-written RSA public operation (`modexp::Modulus::pow`, Montgomery
//! multiplication on 28-bit limbs) must agree with `num-bigint`'s `modpow`
//! for every odd modulus, base and exponent; and refuse what it documents
//! refusing (even moduli, bases not below the modulus, wrong lengths, e = 0).
//!
//! Moduli are small (2 to 17 32-bit words, sometimes 64 or 128 like real
//! keys, with exponents below 2^18 then) so the fuzzer reaches carries and
//! borrows at every limb boundary quickly; their sizes cross the 28-bit limb
//! boundaries too (`R ≥ 4n` is tightest when `28·L = bits + 2`).
//! Any top limb is allowed, tiny ones included (`r_squared` used to loop
//! about 2^32 / top-limb times on those: regressions/settings-1.bin).
#![no_main]

use kritis_attestation_policy::modexp::Modulus;
use libfuzzer_sys::fuzz_target;
use num_bigint::BigUint;

fuzz_target!(|data: &[u8]| {
    let [sel, e_bytes @ ..] = data else { return };
    let (e_bytes, rest) = e_bytes.split_at(e_bytes.len().min(8));
    let limbs = match sel % 18 {
        16 => 64,
        17 => 128,
        s => 2 + usize::from(s),
    };
    let mut e = 0u64;
    for &b in e_bytes {
        e = (e << 8) | u64::from(b);
    }
    if limbs >= 64 {
        // Real key sizes: real exponents (up to 2^17, 65537 included) keep
        // each run in the milliseconds; small moduli take any 64-bit one.
        e &= (1 << 17) | ((1 << 17) - 1);
    }
    let mut bytes = rest.iter().copied().chain(std::iter::repeat(0xa5));
    let mut n: Vec<u8> = bytes.by_ref().take(4 * limbs).collect();
    let last = n.len() - 1;
    n[last] |= 1;
    // The top limb must be non-zero (`limbs` limbs exactly).
    if n[..4] == [0, 0, 0, 0] {
        n[3] = 1;
    }
    let k = n.len() - n.iter().take_while(|&&b| b == 0).count();
    let base: Vec<u8> = bytes.take(k).collect();

    // Leading zero bytes on the modulus are allowed and change nothing.
    let mut n_padded = n.clone();
    if sel & 0x80 != 0 {
        n_padded.splice(0..0, [0, 0, 0, 0, 0]);
    }
    let m = Modulus::new(&n_padded).expect("an odd modulus of 2+ limbs is accepted");
    let n_big = BigUint::from_bytes_be(&n);
    assert_eq!(m.bits() as u64, n_big.bits(), "bit length");

    let mut even = n.clone();
    even[last] &= !1;
    assert!(Modulus::new(&even).is_none(), "even modulus accepted");

    let base_big = BigUint::from_bytes_be(&base);
    let got = m.pow(&base, e);
    let want = if e == 0 || base_big >= n_big {
        None
    } else {
        let r = base_big.modpow(&BigUint::from(e), &n_big).to_bytes_be();
        let mut out = vec![0u8; k - r.len()];
        out.extend_from_slice(&r);
        // modpow gives [0] for zero; keep exactly k bytes.
        Some(out[out.len() - k..].to_vec())
    };
    assert_eq!(
        got, want,
        "pow(base, {e}) mod n with n = {n_big:x}, base = {base_big:x}"
    );

    // A signature of the wrong length is refused, not reinterpreted.
    assert!(
        m.pow(&base[1..], e.max(1)).is_none(),
        "short input accepted"
    );
});
