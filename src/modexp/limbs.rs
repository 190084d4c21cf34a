//! Whole numbers as normalised little-endian limbs of `W` bits: conversion
//! from and to big-endian bytes, comparison, subtraction and the
//! multiply-subtract of the schoolbook reduction.

use super::{MASK, W};

/// Big-endian bytes to exactly `len` little-endian limbs of `W` bits;
/// `None` if the value needs more.
pub(super) fn from_be(bytes: &[u8], len: usize) -> Option<Vec<u64>> {
    let mut limbs = vec![0u64; len];
    crate::radix::unpack_be(bytes, W, &mut limbs)?;
    Some(limbs)
}

/// Normalised limbs (value below `2^(8k)`) to `k` big-endian bytes.
pub(super) fn to_be(limbs: &[u64], k: usize) -> Vec<u8> {
    let mut out = vec![0u8; k];
    crate::radix::pack_be(limbs.iter().copied(), W, &mut out);
    out
}

/// `a < b` for normalised limbs of the same length.
pub(super) fn less_than(a: &[u64], b: &[u64]) -> bool {
    for (x, y) in a.iter().rev().zip(b.iter().rev()) {
        if x != y {
            return x < y;
        }
    }
    false
}

/// `a -= b` for normalised limbs of the same length; returns the borrow
/// out of the top limb (0 when `a ≥ b`).
pub(super) fn sub_in_place(a: &mut [u64], b: &[u64]) -> u64 {
    let mut borrow = 0u64;
    for (x, &y) in a.iter_mut().zip(b) {
        let d = x.wrapping_sub(y).wrapping_sub(borrow);
        *x = d & MASK;
        borrow = d >> 63;
    }
    borrow
}

/// `y -= q·n` for `y` of `L + 1` normalised limbs, `n` of `L`, `q < 2^30`
/// and `q·n ≤ y`. One signed carry (arithmetic shift: floor) serves for
/// both the product's carry and the subtraction's borrow: a single short
/// dependency chain per limb.
pub(super) fn submul(y: &mut [u64], n: &[u64], q: u64) {
    let mut carry = 0i64;
    // x < 2^28, q·m < 2^58, −2^31 < carry ≤ 0: |t| < 2^59.
    let mut step = |x: &mut u64, m: u64| {
        let t = *x as i64 - (q * m) as i64 + carry;
        *x = t as u64 & MASK;
        carry = t >> W;
    };
    let split = n.len() & !3;
    // Groups of four, so that wasm reads them at constant offsets.
    for (x, m) in y[..split].chunks_exact_mut(4).zip(n.chunks_exact(4)) {
        step(&mut x[0], m[0]);
        step(&mut x[1], m[1]);
        step(&mut x[2], m[2]);
        step(&mut x[3], m[3]);
    }
    for (x, &m) in y[split..].iter_mut().zip(&n[split..]) {
        step(x, m);
    }
    let top = n.len();
    y[top] = (y[top] as i64 + carry) as u64;
}

/// `x >> shift` for normalised limbs, when it fits in 64 bits: only the
/// limbs at and above `shift` are read (no 128-bit arithmetic, a library
/// call in wasm).
pub(super) fn top_bits(x: &[u64], shift: usize) -> u64 {
    let w = W as usize;
    let mut acc = 0u64;
    for (i, &limb) in x.iter().enumerate().skip(shift / w) {
        let pos = i * w;
        if pos >= shift {
            acc |= limb << (pos - shift);
        } else {
            acc |= limb >> (shift - pos);
        }
    }
    acc
}
