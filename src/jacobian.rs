//! The point arithmetic of both ECDSA verifiers ([`crate::p256_verify`],
//! [`crate::p384_verify`]): curves `y² = x³ − 3x + b` of prime order, in
//! Jacobian coordinates, and `u1·G + u2·Q` by Shamir's trick over two wNAF
//! expansions.
//!
//! The two curves differ only in their field, their generator's table and
//! their scalars, so the formulas exist once, generic over the field
//! ([`Field`]); each curve's code is this module monomorphised for its
//! field (instruction counts of the bench's P-256 and P-384 scenarios were
//! compared before and after the move).
//!
//! Everything is variable time, which is sound for verification: the key,
//! the signature and the digest are public.

/// An element of a prime field, in the representation its curve chose
/// (Montgomery form, limbs shaped for wasm): what the formulas need of it.
pub trait Field: Copy {
    /// One (in the field's own representation).
    const ONE: Self;

    /// `self·rhs`.
    #[must_use]
    fn mul(&self, rhs: &Self) -> Self;

    /// `self²`.
    #[must_use]
    fn square(&self) -> Self;

    /// `self + rhs`.
    #[must_use]
    fn add(&self, rhs: &Self) -> Self;

    /// `self − rhs`.
    #[must_use]
    fn sub(&self, rhs: &Self) -> Self;

    /// `−self`.
    #[must_use]
    fn neg(&self) -> Self;

    /// `k·self` for a small `k` (at most 8).
    #[must_use]
    fn mul_small(&self, k: i64) -> Self;

    /// Whether the element is 0 mod p.
    fn is_zero(&self) -> bool;

    /// Whether both elements are equal mod p.
    fn equals(&self, rhs: &Self) -> bool;

    /// `self^e` for a big-endian exponent, square-and-multiply: for the
    /// tests and [`affine_x`] (an inversion), never on a verification's
    /// path.
    #[must_use]
    fn pow_vartime(&self, e: &[u8]) -> Self {
        let mut acc = Self::ONE;
        for &byte in e {
            for bit in (0..8).rev() {
                acc = acc.square();
                if (byte >> bit) & 1 == 1 {
                    acc = acc.mul(self);
                }
            }
        }
        acc
    }
}

/// The big-endian encoding of a field's elements, `N` bytes.
pub trait Encoding<const N: usize>: Field {
    /// The element whose value is the big-endian `bytes` (any `8N`-bit
    /// value, reduced mod p by the arithmetic).
    fn from_be_bytes(bytes: &[u8; N]) -> Self;

    /// The fully reduced value, big-endian.
    fn to_be_bytes(&self) -> [u8; N];
}

/// A point in Jacobian coordinates `(X/Z², Y/Z³)`; never the identity
/// (that is `None` where it can occur).
#[derive(Clone, Copy, Debug)]
pub struct Jacobian<F> {
    x: F,
    y: F,
    z: F,
}

/// An affine point (`Z = 1`).
#[derive(Clone, Copy, Debug)]
pub struct Affine<F> {
    pub x: F,
    pub y: F,
}

/// A Jacobian point with `Z²` and `Z³` kept: the entries of the key's
/// table, each added many times, so that an addition saves a squaring and
/// a multiplication.
#[derive(Clone, Copy, Debug)]
struct Cached<F> {
    p: Jacobian<F>,
    zz: F,
    zzz: F,
}

impl<F: Field> Affine<F> {
    fn neg(&self) -> Affine<F> {
        Affine {
            x: self.x,
            y: self.y.neg(),
        }
    }

    fn to_jacobian(self) -> Jacobian<F> {
        Jacobian {
            x: self.x,
            y: self.y,
            z: F::ONE,
        }
    }
}

impl<F: Field> Cached<F> {
    fn new(p: Jacobian<F>) -> Cached<F> {
        let zz = p.z.square();
        Cached {
            zz,
            zzz: zz.mul(&p.z),
            p,
        }
    }

    fn neg(&self) -> Cached<F> {
        Cached {
            p: self.p.neg(),
            ..*self
        }
    }
}

impl<F: Field> Jacobian<F> {
    fn neg(&self) -> Jacobian<F> {
        Jacobian {
            x: self.x,
            y: self.y.neg(),
            z: self.z,
        }
    }

    /// `2·self` (dbl-2001-b, `a = −3`: 3M + 5S). The group has prime
    /// order, so no point has order 2: the double of a point is never the
    /// identity. Not inlined, nor is [`Jacobian::add_affine`]: the P-384
    /// code was 48 KiB instead of 28 KiB of the module with them inlined,
    /// for 4% fewer instructions.
    #[inline(never)]
    fn double(&self) -> Jacobian<F> {
        let delta = self.z.square();
        let gamma = self.y.square();
        let beta = self.x.mul(&gamma);
        let alpha = self.x.sub(&delta).mul(&self.x.add(&delta)).mul_small(3);
        let x3 = alpha.square().sub(&beta.mul_small(8));
        let z3 = self.y.add(&self.z).square().sub(&gamma).sub(&delta);
        let y3 = alpha
            .mul(&beta.mul_small(4).sub(&x3))
            .sub(&gamma.square().mul_small(8));
        Jacobian {
            x: x3,
            y: y3,
            z: z3,
        }
    }

    /// `self + q` for an affine `q` (madd-2007-bl: 7M + 4S).
    #[inline(never)]
    fn add_affine(&self, q: &Affine<F>) -> Option<Jacobian<F>> {
        let z1z1 = self.z.square();
        let u2 = q.x.mul(&z1z1);
        let s2 = q.y.mul(&self.z).mul(&z1z1);
        let h = u2.sub(&self.x);
        let r = s2.sub(&self.y).mul_small(2);
        if h.is_zero() {
            // Same x: the same point (double it) or opposite ones.
            return r.is_zero().then(|| self.double());
        }
        let hh = h.square();
        let i = hh.mul_small(4);
        let j = h.mul(&i);
        let v = self.x.mul(&i);
        let x3 = r.square().sub(&j).sub(&v.mul_small(2));
        let y3 = r.mul(&v.sub(&x3)).sub(&self.y.mul(&j).mul_small(2));
        let z3 = self.z.add(&h).square().sub(&z1z1).sub(&hh);
        Some(Jacobian {
            x: x3,
            y: y3,
            z: z3,
        })
    }

    /// `self + q`, `q`'s `Z²` and `Z³` given (add-2007-bl without its
    /// first squaring and multiplication: 10M + 4S).
    fn add_cached(&self, q: &Cached<F>) -> Option<Jacobian<F>> {
        let z1z1 = self.z.square();
        let u1 = self.x.mul(&q.zz);
        let u2 = q.p.x.mul(&z1z1);
        let s1 = self.y.mul(&q.zzz);
        let s2 = q.p.y.mul(&self.z).mul(&z1z1);
        let h = u2.sub(&u1);
        let r = s2.sub(&s1).mul_small(2);
        if h.is_zero() {
            return r.is_zero().then(|| self.double());
        }
        let i = h.mul_small(2).square();
        let j = h.mul(&i);
        let v = u1.mul(&i);
        let x3 = r.square().sub(&j).sub(&v.mul_small(2));
        let y3 = r.mul(&v.sub(&x3)).sub(&s1.mul(&j).mul_small(2));
        let z3 = self.z.add(&q.p.z).square().sub(&z1z1).sub(&q.zz).mul(&h);
        Some(Jacobian {
            x: x3,
            y: y3,
            z: z3,
        })
    }
}

/// Window of the key's table: `2^(w−2)` = 8 odd multiples of `Q`, built
/// per call (the generator's window is its curve's table's).
pub const Q_WINDOW: u32 = 5;

/// `u1·G + u2·Q` from the wNAF digits of `u1` (window of the generator's
/// table) and `u2` (window [`Q_WINDOW`]), least significant first, of the
/// same length; `generator(i)` is `(2i + 1)·G`. `None` for the identity.
pub fn lincomb<F: Field>(
    g_digits: &[i8],
    q_digits: &[i8],
    generator: impl Fn(usize) -> Affine<F>,
    q: &Affine<F>,
) -> Option<Jacobian<F>> {
    // Q, 3Q, …, 15Q.
    let mut q_table = [Cached::new(q.to_jacobian()); 1 << (Q_WINDOW - 2)];
    let q2 = Cached::new(q.to_jacobian().double());
    for i in 1..q_table.len() {
        // (2i − 1)·Q + 2Q is never the identity: 2i + 1 < n.
        q_table[i] = Cached::new(q_table[i - 1].p.add_cached(&q2)?);
    }
    let top = g_digits
        .iter()
        .zip(q_digits)
        .rposition(|(&g, &d)| g != 0 || d != 0)?;
    let mut acc: Option<Jacobian<F>> = None;
    for i in (0..=top).rev() {
        acc = acc.map(|a| a.double());
        let g = g_digits[i];
        if g != 0 {
            let p = generator(usize::from(g.unsigned_abs() / 2));
            let p = if g > 0 { p } else { p.neg() };
            acc = match acc {
                None => Some(p.to_jacobian()),
                Some(a) => a.add_affine(&p),
            };
        }
        let d = q_digits[i];
        if d != 0 {
            let p = q_table[usize::from(d.unsigned_abs() / 2)];
            let p = if d > 0 { p } else { p.neg() };
            acc = match acc {
                None => Some(p.p),
                Some(a) => a.add_cached(&p),
            };
        }
    }
    acc
}

/// Whether the affine x of `acc`, reduced mod the group order `order`,
/// equals `r` (reduced, big-endian): the last step of ECDSA verification
/// (SEC 1 §4.1.4, steps 6–8), without the inversion. `x = X/Z²`, and
/// `x mod n = r` ⟺ `X = r·Z²`, or `X = (r + n)·Z²` when `r + n < p`.
pub fn x_matches<const N: usize, F: Encoding<N>>(
    acc: &Jacobian<F>,
    r: &[u8; N],
    order: &[u8; N],
    prime: &[u8; N],
) -> bool {
    let z2 = acc.z.square();
    let matches = |v: &[u8; N]| F::from_be_bytes(v).mul(&z2).equals(&acc.x);
    if matches(r) {
        return true;
    }
    match crate::radix::add_be(r, order) {
        Some(rn) if rn < *prime => matches(&rn),
        _ => false,
    }
}

/// The affine x of `acc`, big-endian, by a Fermat inversion (`Z^(p−2)`):
/// slow, for the tests and fuzz targets that compare it with the curve
/// crates'.
pub fn affine_x<const N: usize, F: Encoding<N>>(acc: &Jacobian<F>, prime: &[u8; N]) -> [u8; N] {
    let mut e = *prime;
    // p is odd and above 2: no borrow.
    e[N - 1] -= 2;
    let inv = acc.z.pow_vartime(&e);
    acc.x.mul(&inv.square()).to_be_bytes()
}
