//! The RSA public operation `s^e mod n`, for verification.
//!
//! Written by hand because no maintained crate is fast enough inside wasm:
//! `crypto-bigint` (behind the `rsa` crate) is built for constant-time
//! private-key work with 64-bit limbs, and a 64×64→128 multiply is a library
//! call on wasm32; measured, its RSA-2048 verification is 16–27× slower
//! than OpenSSL there. Verification handles only public values (the
//! signature, the key), so it needs no constant-time care, and the public
//! exponent is small.
//!
//! Wasm has a native 64-bit multiply but no 64×64→128 one (`wide-arithmetic`
//! is not a standard proposal yet). On 32-bit limbs the cost of a
//! multiplication is the carry chain around each product, not the product
//! itself. So numbers are held in a reduced radix, 28-bit limbs: a product
//! of two limbs is below 2⁵⁶, and up to 255 of them add up in one 64-bit
//! word without overflow. Montgomery multiplication then scans products
//! column by column with the reduction interleaved (FIPS, Koç et al. 1996):
//! each column is a carry-free sum of products, and one carry per column.
//! Squaring computes each cross product once, and two adjacent columns share
//! one pass over the limbs.
//!
//! Those carry-free sums are dot products, which wasm's SIMD does well: the
//! limbs the sums read are stored one per `u32`, and
//! `u64x2_extmul_{low,high}_u32x4` make two 56-bit products per instruction
//! (x86's `pmuludq`), four limbs per vector. The module is built with
//! `simd128` (`.cargo/config.toml`): wasmtime enables SIMD by default, and
//! Kubewarden's engines (policy-server and kwctl, through policy-evaluator)
//! keep wasmtime's default, so the policy loads wherever Kubewarden runs; an
//! engine with SIMD turned off would refuse the module when loading it,
//! never misjudge a request. Natively (tests, the fuzz target) the same sums
//! run on scalars.
//!
//! `R = 2^(28·L) ≥ 4n`, so Montgomery multiplication maps inputs below `2n`
//! to an output below `2n` (Walter 1999): no conditional subtraction until
//! the very end.
//!
//! Correctness is checked against `crypto-bigint` (through the `rsa` crate)
//! and OpenSSL signatures in the tests, and against `num-bigint` by the
//! `modexp` fuzz target. The SIMD sums run in every RSA verification the
//! golden cases make through the module, and each Montgomery product there
//! sums over every length from 0 to `L` (so every remainder path); the unit
//! tests also pass compiled for wasm32-wasip1 with `simd128` (run by hand
//! under Node's WASI, see docs/performance.md).

use core::cell::{Cell, OnceCell};

mod dot;
mod limbs;
#[cfg(test)]
mod tests;

use dot::{dot2, dot2_twice, pad_reversed, wide};
use limbs::{from_be, less_than, sub_in_place, submul, to_be, top_bits};

/// Bits per limb.
const W: u32 = 28;
/// The low `W` bits.
const MASK: u64 = (1 << W) - 1;
/// Most limbs a modulus may have: a column of the product sums up to `L`
/// products below 2⁵⁶, which must stay below 2⁶⁴ (with a carry). That is
/// moduli up to 7138 bits; keys are refused above 4096.
const MAX_LIMBS: usize = 255;

/// A modulus ready for Montgomery arithmetic.
#[derive(Debug, Clone)]
pub struct Modulus {
    /// `L` little-endian limbs of `W` bits, `28·L ≥ bits + 2` (`R ≥ 4n`).
    n: Vec<u64>,
    /// `n` reversed and padded for [`Modulus::mont`] ([`pad_reversed`]),
    /// one limb per `u32` as the dot products read them.
    n_pad: Vec<u32>,
    /// `-n⁻¹ mod 2^W`.
    n0inv: u64,
    /// `R² mod n`, fully reduced, computed by the second [`Modulus::pow`]
    /// (see [`Modulus::to_montgomery`]).
    rr: OnceCell<Vec<u64>>,
    /// Whether [`Modulus::pow`] has run once.
    used: Cell<bool>,
    /// Bit length of `n`.
    bits: usize,
}

impl Modulus {
    /// Prepares an odd modulus given big-endian (leading zeros allowed).
    /// Returns `None` for an even modulus or one below 2³² (the public
    /// operation needs at least two 32-bit words). A modulus above 7138
    /// bits is accepted (so that its size can be reported) but cheaply: it
    /// is not prepared, and [`Modulus::pow`] refuses every input with it.
    #[must_use]
    pub fn new(n_be: &[u8]) -> Option<Self> {
        let start = n_be.iter().position(|&b| b != 0).unwrap_or(n_be.len());
        let n_be = &n_be[start..];
        let bits = match n_be.first() {
            Some(&top) => 8 * n_be.len() - top.leading_zeros() as usize,
            None => 0,
        };
        if bits <= 32 || n_be[n_be.len() - 1] & 1 == 0 {
            return None;
        }
        let len = (bits + 2).div_ceil(W as usize);
        if len > MAX_LIMBS {
            return Some(Modulus {
                n: Vec::new(),
                n_pad: Vec::new(),
                n0inv: 0,
                rr: OnceCell::new(),
                used: Cell::new(false),
                bits,
            });
        }
        let n = from_be(n_be, len)?;
        // Newton's iteration for n⁻¹ mod 2^W: each step doubles the correct bits.
        let mut inv: u64 = 1;
        for _ in 0..5 {
            inv = inv.wrapping_mul(2u64.wrapping_sub(n[0].wrapping_mul(inv)));
        }
        let mut n_pad = vec![0u32; 3 * len - 2];
        pad_reversed(&n, &mut n_pad);
        Some(Modulus {
            n_pad,
            n0inv: inv.wrapping_neg() & MASK,
            rr: OnceCell::new(),
            used: Cell::new(false),
            bits,
            n,
        })
    }

    /// Bit length of the modulus.
    #[must_use]
    pub fn bits(&self) -> usize {
        self.bits
    }

    /// `x·R mod n` for a residue `x < n`: the base in Montgomery form.
    ///
    /// A single-signature request (the usual admission) converts one base
    /// per key: shifting it up by `L` limbs and reducing
    /// ([`Self::shift_mod`]) costs about what `R²` costs, and saves the
    /// Montgomery product by `R²` that follows. From the second base on,
    /// `R²` is computed once and each base costs one product.
    fn to_montgomery(&self, x: &[u64], scratch: &mut [u32], out: &mut [u64]) {
        if self.used.replace(true) {
            let rr = self.rr.get_or_init(|| self.r_squared());
            self.mul(x, rr, scratch, out);
        } else {
            let len = self.n.len();
            let xr = self.shift_mod(x, len);
            out.copy_from_slice(&xr);
        }
    }

    /// `R² mod n`: from `2^(bits−1)` (a residue: `n` is odd), a few
    /// doublings align the exponent on a limb, then [`Self::shift_mod`]
    /// shifts in the limbs left up to `R² = 2^(56·L)`. About two Montgomery
    /// multiplications' time in all (measured), where climbing to `R²` by
    /// squarings took six and more, a fifth of a whole RSA-2048
    /// verification.
    fn r_squared(&self) -> Vec<u64> {
        let len = self.n.len();
        let w = W as usize;
        let total = 2 * w * len;
        let mut exp = self.bits - 1;
        let mut y = vec![0u64; len];
        y[exp / w] = 1 << (exp % w);
        while !(total - exp).is_multiple_of(w) {
            self.double(&mut y);
            exp += 1;
        }
        self.shift_mod(&y, (total - exp) / w)
    }

    /// `y·2^(W·steps) mod n` for a residue `y < n`, by schoolbook
    /// reduction: each step shifts in one zero limb and takes off `q·n`,
    /// with `q` estimated from the top 32 bits of `n` (never above the true
    /// quotient, and at most two below it). A step is one multiply-subtract
    /// of `L` limbs, and nothing else: the remainder is left below `3n`
    /// (the next quotient takes the excess off), so no step compares or
    /// subtracts again; two conditional subtractions at the end make it a
    /// residue.
    fn shift_mod(&self, y: &[u64], steps: usize) -> Vec<u64> {
        let len = self.n.len();
        // Shifting in a limb is moving a window of L + 1 limbs down one
        // place in `buf`, not copying the number: its low end is the zero
        // shifted in, its top limb is zero after each step (y < 3n <
        // 2^(W·L), as R ≥ 4n).
        let mut buf = vec![0u64; steps + len + 1];
        buf[steps..steps + len].copy_from_slice(y);
        // The top 32 bits of n, and y at the same scale: y < 3n·2^W, so its
        // top is below 3·2^60. Dividing by one more than n's top never
        // overestimates q, and underestimates it by at most 2 (n's top is at
        // least 2^31, so the two truncations cost less than 1 + 3/8): the
        // remainder y·2^W − q·n is below n + 2n.
        let shift = self.bits - 32;
        let divisor = top_bits(&self.n, shift) + 1;
        for start in (0..steps).rev() {
            let y = &mut buf[start..=start + len];
            // q < 3·2^28, so q·n_i < 2^58: submul's bounds hold.
            let q = top_bits(y, shift) / divisor;
            submul(y, &self.n, q);
        }
        buf.truncate(len);
        while !less_than(&buf, &self.n) {
            sub_in_place(&mut buf, &self.n);
        }
        buf
    }

    /// `y = 2y mod n` for a residue `y < n`.
    fn double(&self, y: &mut [u64]) {
        let mut carry = 0;
        for limb in y.iter_mut() {
            let x = (*limb << 1) | carry;
            *limb = x & MASK;
            carry = x >> W;
        }
        // 2y < 2n ≤ 2^(28·L - 1): no bit leaves the top limb.
        if !less_than(y, &self.n) {
            sub_in_place(y, &self.n);
        }
    }

    /// `out = a·b·R⁻¹ mod n`, below `2n` for inputs below `2n` (normalised
    /// limbs). `scratch` holds `5L` words.
    fn mul(&self, a: &[u64], b: &[u64], scratch: &mut [u32], out: &mut [u64]) {
        self.mont(a, Some(b), scratch, out);
    }

    /// `out = a²·R⁻¹ mod n`: [`Self::mul`] with each cross product once.
    fn sqr(&self, a: &[u64], scratch: &mut [u32], out: &mut [u64]) {
        self.mont(a, None, scratch, out);
    }

    /// Montgomery multiplication by product scanning, the reduction
    /// interleaved column by column (FIPS, Koç et al. 1996). Column `k` sums
    /// `a_i·b_(k−i)` and `m_i·n_(k−i)` in two accumulators (each at most `L`
    /// products below 2⁵⁶); the quotient digit `m_k` then makes the column a
    /// multiple of 2^W (`k < L`), or the column is a limb of the result
    /// (`k ≥ L`). `b = None` squares `a`.
    ///
    /// Columns go by pairs `(2h, 2h + 1)` in one pass over `i` ([`dot2`]):
    /// the partner of `a_i` in column `2h` is the one of `a_(i+1)` in column
    /// `2h + 1`, so each product costs one load instead of two. The second
    /// factors are read from copies reversed and padded with zeros
    /// ([`pad_reversed`]) so that both columns of a pair run over the same
    /// range of `i`; `scratch` holds them (`3L` words), the digits and a copy of `a`.
    ///
    /// The pairs go in three runs ([`Self::mont_columns`]): below `L`
    /// (digits, every range from limb 0), the pair across `L` when `L` is
    /// odd, and from `L` on (output limbs, every range up to the last limb).
    /// Each run's bounds are then known without a test per pair (Cranelift
    /// spills most values the general loop kept, and its bookkeeping cost
    /// about a quarter of the products' instructions: the runs took 73 k
    /// off an RSA-2048 verification), and the product's and the
    /// reduction's sums of a pair are inlined into each run
    /// ([`dot2_twice`]).
    ///
    /// The scratch's limbs are `u32`, as the SIMD sums read them (`a` is
    /// copied there first).
    fn mont(&self, a: &[u64], b: Option<&[u64]>, scratch: &mut [u32], out: &mut [u64]) {
        let len = self.n.len();
        let (a32, rest) = scratch.split_at_mut(len);
        let (m, pad) = rest.split_at_mut(len);
        for (x, &limb) in a32.iter_mut().zip(a) {
            *x = limb as u32;
        }
        pad_reversed(b.unwrap_or(a), pad);
        match b {
            Some(_) => self.mont_columns::<false>(a32, pad, m, out),
            None => self.mont_columns::<true>(a32, pad, m, out),
        }
    }

    /// [`Self::mont`]'s columns, for a product (`SQUARE`: a square) whose
    /// second factor is in `pad`.
    fn mont_columns<const SQUARE: bool>(
        &self,
        a: &[u32],
        pad: &[u32],
        m: &mut [u32],
        out: &mut [u64],
    ) {
        let len = self.n.len();
        let (n0, n1, n0inv) = (self.n[0], self.n[1], self.n0inv);
        let n_pad = &self.n_pad[..];
        let mut carry = 0u64;
        // Pairs of columns below L, where every range starts at 0 and both
        // columns give digits.
        let low_pairs = len / 2;
        for h in 0..low_pairs {
            let k = 2 * h;
            let start = 2 * len - 3 - k;
            let x = if SQUARE { &a[..h] } else { &a[..=k + 1] };
            let [odd, even, odd_red, even_red] =
                dot2_twice(x, &pad[start..], &m[..k], &n_pad[start..]);
            let (odd, even) = if SQUARE {
                (
                    2 * (odd + wide(a[h]) * wide(a[h + 1])),
                    2 * even + wide(a[h]) * wide(a[h]),
                )
            } else {
                (odd, even)
            };
            let digit = digit_column(&mut carry, even, even_red, n0, n0inv);
            m[k] = digit as u32;
            m[k + 1] = digit_column(&mut carry, odd, odd_red + digit * n1, n0, n0inv) as u32;
        }
        // Column `k`, given its sums: the digit or the output limb. The
        // arithmetic of `digit_column` and `output_column`, written out with
        // the column's value shared by both branches: calling the two
        // helpers here costs 3.5 k instructions per RSA-2048 verification
        // (measured), through Cranelift's allocation of this whole function,
        // though the closure runs for one pair at most.
        let mut column = |k: usize, products: u64, reduction: u64, m: &mut [u32]| {
            // The column's value, split so that nothing overflows.
            let low = (products & MASK) + (reduction & MASK) + (carry & MASK);
            let high = (products >> W) + (reduction >> W) + (carry >> W);
            if k < len {
                let digit = (low & MASK).wrapping_mul(n0inv) & MASK;
                m[k] = digit as u32;
                // low + digit·n_0 is a multiple of 2^W.
                carry = high + ((low + digit * n0) >> W);
                digit
            } else {
                out[k - len] = low & MASK;
                carry = high + (low >> W);
                0
            }
        };
        // The pair across L when L is odd (column L − 1 gives a digit,
        // column L an output limb): the general case.
        let high_pairs = len.div_ceil(2);
        for h in low_pairs..high_pairs {
            let k = 2 * h;
            let lo = (k + 1).saturating_sub(len);
            // pad[start + j] partners a_(lo+j) in column k + 1, and
            // pad[start + j + 1] in column k.
            let start = 2 * len - 3 + lo - k;
            let (odd, even) = if SQUARE {
                // Pairs i < j: i < h in both columns, and i = h in k + 1.
                let (odd, even) = if h > lo {
                    dot2(&a[lo..h], &pad[start..])
                } else {
                    (0, 0)
                };
                let middle = a.get(h + 1).map_or(0, |&next| wide(a[h]) * wide(next));
                (2 * (odd + middle), 2 * even + wide(a[h]) * wide(a[h]))
            } else {
                dot2(&a[lo..=(k + 1).min(len - 1)], &pad[start..])
            };
            // Digits m_i, i < k, in both columns.
            let m_end = k.min(len);
            let (odd_red, even_red) = if m_end > lo {
                dot2(&m[lo..m_end], &n_pad[start..])
            } else {
                (0, 0)
            };
            let digit = column(k, even, even_red, m);
            if k + 1 < 2 * len - 1 {
                // m_k·n_1 in column k + 1 (0 if k ≥ L: there is no m_k).
                column(k + 1, odd, odd_red + digit * n1, m);
            }
        }
        // Pairs of columns from L on: output limbs, every range ending at
        // the last limb; the second factors always start at `pad[L − 2]`.
        let (pad, n_pad) = (&pad[len - 2..], &n_pad[len - 2..]);
        for h in high_pairs..len {
            let k = 2 * h;
            let lo = k + 1 - len;
            let x = if SQUARE { &a[lo..h] } else { &a[lo..] };
            let [odd, even, odd_red, even_red] = dot2_twice(x, pad, &m[lo..], n_pad);
            let (odd, even) = if SQUARE {
                let middle = a.get(h + 1).map_or(0, |&next| wide(a[h]) * wide(next));
                (2 * (odd + middle), 2 * even + wide(a[h]) * wide(a[h]))
            } else {
                (odd, even)
            };
            for (limb, products, reduction) in [(k, even, even_red), (k + 1, odd, odd_red)] {
                if limb == 2 * len - 1 {
                    break;
                }
                out[limb - len] = output_column(&mut carry, products, reduction);
            }
        }
        // The result is below 2n < 2^(W·L): the last carry is its top limb.
        out[len - 1] = carry;
    }

    /// `s^e mod n` as big-endian bytes of the modulus's byte length.
    /// `None` when `s` is not exactly that long or not less than `n`, when
    /// `e` is 0, or when the modulus is too large (above 7138 bits).
    #[must_use]
    pub fn pow(&self, s_be: &[u8], e: u64) -> Option<Vec<u8>> {
        let k = self.bits.div_ceil(8);
        if s_be.len() != k || e == 0 || self.n.is_empty() {
            return None;
        }
        let len = self.n.len();
        let base = from_be(s_be, len)?;
        if !less_than(&base, &self.n) {
            return None;
        }
        if e == 1 {
            return Some(s_be.to_vec());
        }
        let mut t = vec![0u32; 5 * len];
        let mut base_m = vec![0u64; len];
        self.to_montgomery(&base, &mut t, &mut base_m);
        let mut acc = base_m.clone();
        let mut tmp = vec![0u64; len];
        let top = 63 - e.leading_zeros();
        for i in (1..top).rev() {
            self.sqr(&acc, &mut t, &mut tmp);
            std::mem::swap(&mut acc, &mut tmp);
            if (e >> i) & 1 == 1 {
                self.mul(&acc, &base_m, &mut t, &mut tmp);
                std::mem::swap(&mut acc, &mut tmp);
            }
        }
        self.sqr(&acc, &mut t, &mut tmp);
        // The last multiplication leaves the Montgomery domain: by the base
        // itself (not its Montgomery form) for an odd exponent, else by 1.
        let last = if e & 1 == 1 {
            base
        } else {
            let mut one = vec![0u64; len];
            one[0] = 1;
            one
        };
        self.mul(&tmp, &last, &mut t, &mut acc);
        if !less_than(&acc, &self.n) {
            sub_in_place(&mut acc, &self.n);
        }
        Some(to_be(&acc, k))
    }
}

/// A column below `L`: its digit, and the carry it passes up.
#[inline(always)]
fn digit_column(carry: &mut u64, products: u64, reduction: u64, n0: u64, n0inv: u64) -> u64 {
    // The column's value, split so that nothing overflows.
    let low = (products & MASK) + (reduction & MASK) + (*carry & MASK);
    let high = (products >> W) + (reduction >> W) + (*carry >> W);
    let digit = (low & MASK).wrapping_mul(n0inv) & MASK;
    // low + digit·n_0 is a multiple of 2^W.
    *carry = high + ((low + digit * n0) >> W);
    digit
}

/// A column from `L` on: its limb of the result, and the carry it passes
/// up.
#[inline(always)]
fn output_column(carry: &mut u64, products: u64, reduction: u64) -> u64 {
    // The column's value, split so that nothing overflows.
    let low = (products & MASK) + (reduction & MASK) + (*carry & MASK);
    *carry = (products >> W) + (reduction >> W) + (*carry >> W) + (low >> W);
    low & MASK
}
