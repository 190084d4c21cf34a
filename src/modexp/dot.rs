//! The carry-free column sums of a Montgomery product: dot products of
//! 28-bit limbs, four limbs per wasm SIMD vector in the module and scalar
//! natively. Apart from [`super::Modulus`] because this is where the time
//! of an RSA verification goes, and where the build target changes the
//! code.

/// A limb as the `u64` its products are summed in.
#[inline(always)]
pub(super) fn wide(limb: u32) -> u64 {
    u64::from(limb)
}

/// `(Σ x_j·y_j, Σ x_j·y_(j+1))` over the length of `x` (`y` is longer).
/// Not inlined: Cranelift keeps this small loop in registers, out of reach
/// of the large caller's spills.
#[inline(never)]
pub(super) fn dot2(x: &[u32], y: &[u32]) -> (u64, u64) {
    dot2_inline(x, y)
}

/// `[dot2(x, y), dot2(u, v)]`: a pair of columns' product and reduction
/// sums. Inlined into [`super::Modulus`]'s two runs of pairs: with the
/// sums in SIMD, a call per pair (its prologue, eight slice arguments, the
/// four sums returned through memory) cost more than the larger function's
/// spills (scenario 1: 73 k instructions fewer inlined, for 7.4 KB of
/// module; before the SIMD sums, one call per pair instead of two had
/// saved 58 k).
#[inline(always)]
pub(super) fn dot2_twice(x: &[u32], y: &[u32], u: &[u32], v: &[u32]) -> [u64; 4] {
    let (s0, s1) = dot2_inline(x, y);
    let (r0, r1) = dot2_inline(u, v);
    [s0, s1, r0, r1]
}

/// [`dot2`]'s and [`dot2_twice`]'s body: four limbs at a time
/// in wasm's 128-bit vectors, where one `u64x2_extmul_*_u32x4` makes two
/// products of 32-bit lanes (x86's `pmuludq`).
///
/// The vector sums live only within one block of up to 16 limbs and are
/// added into scalars at its end: wasmtime checks its epoch deadline on
/// every loop iteration, a possible call that every vector register dies
/// across, so a vector sum carried from one iteration to the next is
/// stored and reloaded each time, where a scalar one stays in a register.
#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
#[inline(always)]
fn dot2_inline(x: &[u32], y: &[u32]) -> (u64, u64) {
    use core::arch::wasm32::{
        u64x2_add, u64x2_extmul_high_u32x4, u64x2_extmul_low_u32x4, u64x2_extract_lane, v128,
        v128_load,
    };
    /// Four limbs as one vector.
    #[inline(always)]
    #[allow(unsafe_code)]
    fn load(chunk: &[u32]) -> v128 {
        assert!(chunk.len() == 4);
        // SAFETY: `chunk` holds four `u32`, the 16 bytes `v128_load` reads
        // (it needs no alignment).
        unsafe { v128_load(chunk.as_ptr().cast()) }
    }
    /// The four lane-wise products of `x` and `y`, in two 64-bit sums.
    #[inline(always)]
    fn products(x: v128, y: v128) -> v128 {
        u64x2_add(u64x2_extmul_low_u32x4(x, y), u64x2_extmul_high_u32x4(x, y))
    }
    /// `dot2` over `4·N` limbs: `x`, `y` and `y` one limb on.
    #[inline(always)]
    fn block<const N: usize>(x: &[u32], y0: &[u32], y1: &[u32]) -> (u64, u64) {
        let a = load(&x[..4]);
        let (mut acc0, mut acc1) = (products(a, load(&y0[..4])), products(a, load(&y1[..4])));
        for i in 1..N {
            let a = load(&x[4 * i..4 * i + 4]);
            acc0 = u64x2_add(acc0, products(a, load(&y0[4 * i..4 * i + 4])));
            acc1 = u64x2_add(acc1, products(a, load(&y1[4 * i..4 * i + 4])));
        }
        (
            u64x2_extract_lane::<0>(acc0) + u64x2_extract_lane::<1>(acc0),
            u64x2_extract_lane::<0>(acc1) + u64x2_extract_lane::<1>(acc1),
        )
    }
    let y = &y[..=x.len()];
    let (mut s0, mut s1) = (0u64, 0u64);
    let mut j = 0;
    while j + 16 <= x.len() {
        let (b0, b1) = block::<4>(&x[j..j + 16], &y[j..j + 16], &y[j + 1..j + 17]);
        s0 += b0;
        s1 += b1;
        j += 16;
    }
    // The rest without a loop (each loop iteration costs an epoch check):
    // up to three blocks of four, then up to three limbs.
    let (x, y) = (&x[j..], &y[j..]);
    let whole = x.len() & !3;
    let (b0, b1) = match whole {
        0 => (0, 0),
        4 => block::<1>(x, y, &y[1..]),
        8 => block::<2>(x, y, &y[1..]),
        _ => block::<3>(x, y, &y[1..]),
    };
    s0 += b0;
    s1 += b1;
    let (x, y) = (&x[whole..], &y[whole..]);
    /// Limb `i`'s two products (a function, not a closure, so that it can
    /// be marked for inlining).
    #[inline(always)]
    fn term(x: &[u32], y: &[u32], i: usize) -> (u64, u64) {
        (wide(x[i]) * wide(y[i]), wide(x[i]) * wide(y[i + 1]))
    }
    let (t0, t1) = match x.len() {
        0 => (0, 0),
        1 => term(x, y, 0),
        2 => {
            let (a, b) = (term(x, y, 0), term(x, y, 1));
            (a.0 + b.0, a.1 + b.1)
        }
        _ => {
            let (a, b, c) = (term(x, y, 0), term(x, y, 1), term(x, y, 2));
            (a.0 + b.0 + c.0, a.1 + b.1 + c.1)
        }
    };
    (s0 + t0, s1 + t1)
}

/// [`dot2`]'s and [`dot2_twice`]'s body (without SIMD: the
/// native build, for tests and the fuzz target).
#[cfg(not(all(target_arch = "wasm32", target_feature = "simd128")))]
#[inline(always)]
fn dot2_inline(x: &[u32], y: &[u32]) -> (u64, u64) {
    let y = &y[..=x.len()];
    let (mut s0, mut s1) = (0u64, 0u64);
    let mut prev = wide(y[0]);
    let split = x.len() & !3;
    let (xs, xr) = x.split_at(split);
    // Groups of four, so that wasm reads them at constant offsets.
    for (a, b) in xs.chunks_exact(4).zip(y[1..].chunks_exact(4)) {
        let a = [wide(a[0]), wide(a[1]), wide(a[2]), wide(a[3])];
        let b = [wide(b[0]), wide(b[1]), wide(b[2]), wide(b[3])];
        s0 += a[0] * prev + a[1] * b[0] + a[2] * b[1] + a[3] * b[2];
        s1 += a[0] * b[0] + a[1] * b[1] + a[2] * b[2] + a[3] * b[3];
        prev = b[3];
    }
    for (&a, &b) in xr.iter().zip(&y[split + 1..]) {
        s0 += wide(a) * prev;
        s1 += wide(a) * wide(b);
        prev = wide(b);
    }
    (s0, s1)
}

/// `pad[t] = x_(2L−2−t)` for `t` in `[L−1, 2L−2]`, zero elsewhere
/// (`3L − 2` words, `L = x.len()`): `x_(k−i)` is `pad[2L − 2 − k + i]` for
/// every `k ≤ 2L − 1` and `i < L`, zero when `k − i` is not a limb index.
pub(super) fn pad_reversed(x: &[u64], pad: &mut [u32]) {
    let len = x.len();
    pad.fill(0);
    for (p, &v) in pad[len - 1..2 * len - 1].iter_mut().zip(x.iter().rev()) {
        *p = v as u32;
    }
}
