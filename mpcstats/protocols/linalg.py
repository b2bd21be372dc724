"""Linear algebra on shared matrices: exact inverses over the field, and fixed-point solves.

Exact inverse over the field (:func:`field_inverse`), after Bar-Ilan and Beaver's inversion:
a secret uniform matrix R masks A, M = A R is opened (one round), and A^-1 = R M^-1 locally.
For an integer matrix A the entries of A^-1 mod p are the rationals adj(A)_ij / det(A); a
receiver recovers them exactly (:meth:`PrimeField.rational`) when p exceeds twice the product
of a numerator and a denominator bound, which :func:`hadamard_bits` gives from bounds on A's
columns. Use it when the inverse, or products with it, go to an analyst.

Leakage: M is uniform over the invertible matrices whatever an invertible A is, so opening it
reveals only whether A is invertible (a singular A gives a singular M:
:class:`~mpcstats.SingularMatrixError`).

Fixed-point solves of symmetric positive definite systems A x = b (:func:`solve_spd`), when the
parties themselves need the solution as a number:

1. Power-of-two Jacobi scaling: one batch of comparisons gives the bit length of each diagonal
   entry, hence s_i = 2^-ceil(e_i / 2) with e_i = log2 A_ii rounded up; A' = S A S has its
   diagonal in [1/4, 1), so its largest eigenvalue is below d.
2. Scaled Newton-Schulz iteration X <- alpha X (2I - alpha A'X) from X0 = I / 2^ceil(log2 d),
   with public scalings alpha (:func:`_scalings`) that make the smallest eigenvalue of A'X grow
   four-fold per step until the error 1 - lambda contracts quadratically: 20 steps for d = 11
   and a condition bound of 1e7 (33 without the scaling), ending below 2^-64.
3. x = S X S b.

Each iteration is two fixed-point matrix products whose truncation masks are all drawn in one
round beforehand, so an iteration costs two rounds whatever d is. The scaling is exact and local:
alpha X = c X / 2^8 is X times the integer c at 8 more fractional bits, which the products'
truncation removes.

Accuracy: with working precision w fractional bits (default 56), the relative error of x is
about cond(A') 2^-w plus the error left by the iteration count, i.e. below 1e-9 for
cond(A') <= ``condition`` = 1e5 (the default). Systems with a larger condition number need a
larger ``condition`` (more iterations) and, beyond ~1e7, a larger ``work``.

Leakage: only masked values are opened (see :mod:`~mpcstats.protocols.fixedpoint`).
"""

from __future__ import annotations

import math

import gmpy2
import numpy as np

from mpcstats._errors import ConfigurationError, SingularMatrixError
from mpcstats.core.field import PrimeField
from mpcstats.protocols.arithmetic import reduce_degree
from mpcstats.protocols.fixedpoint import _exponent_factor, _normalise, mask_pool, matmul, mul
from mpcstats.protocols.fixedpoint import truncate as fx_truncate
from mpcstats.protocols.opening import open_elements
from mpcstats.protocols.session import Session
from mpcstats.protocols.shared import Shared
from mpcstats.protocols.sharing import random_field

__all__ = ["field_inverse", "hadamard_bits", "inverse_spd", "solve_spd"]


async def field_inverse(session: Session, a: Shared, label: str = "masked matrix") -> np.ndarray:
    """Degree-t shares of A^-1 over the field for a shared square matrix A.

    One round with PRSS keys (M = A R opened at degree 2t after a pseudo-random zero sharing
    re-randomises it), three without (R dealt, A R reduced, then opened).
    """
    d = a.shape[0]
    if a.shape != (d, d):
        raise ConfigurationError(f"only a square matrix has an inverse, got shape {a.shape}")
    field = session.field
    mask = await random_field(session, (d, d))
    product = field.dot(a.share, mask)
    if session.prss is not None:
        degree = 2 * session.t
        product = field.add(product, session.prss.zero(field, (d, d)))
    else:
        degree = session.t
        (product,) = await reduce_degree(session, [(field, product)])
    masked = await open_elements(session, field, product, degree=degree, label=label)
    assert masked is not None
    inverse = _public_inverse(field, masked)
    if inverse is None:
        raise SingularMatrixError(
            f"the {d} x {d} matrix is singular: some of its columns are linear combinations of "
            "others (which ones is not revealed)"
        )
    return field.dot(mask, inverse)


def _public_inverse(field: PrimeField, m: np.ndarray) -> np.ndarray | None:
    """M^-1 mod p by Gauss-Jordan elimination (in GMP integers), or None when M is singular."""
    p, d = gmpy2.mpz(field.order), m.shape[0]
    identity = [[gmpy2.mpz(i == j) for j in range(d)] for i in range(d)]
    rows = [[gmpy2.mpz(v) % p for v in m[i]] + identity[i] for i in range(d)]
    for col in range(d):
        pivot = next((r for r in range(col, d) if rows[r][col]), None)
        if pivot is None:
            return None
        rows[col], rows[pivot] = rows[pivot], rows[col]
        scale = gmpy2.invert(rows[col][col], p)
        rows[col] = [v * scale % p for v in rows[col]]
        for r in range(d):
            factor = rows[r][col]
            if r != col and factor:
                rows[r] = [(v - factor * w) % p for v, w in zip(rows[r], rows[col], strict=True)]
    out = np.empty((d, d), dtype=object)
    out[...] = [[int(v) for v in row[d:]] for row in rows]
    return out


def hadamard_bits(column_norms: list[float]) -> int:
    """Bits of Hadamard's bound prod_j ||a_j|| on |det A| (and on every cofactor, when each
    bound is at least 1), from upper bounds on the Euclidean norms of A's columns."""
    return math.ceil(sum(math.log2(max(norm, 1.0)) for norm in column_norms)) + 1


async def solve_spd(
    session: Session,
    a: Shared,
    b: Shared,
    *,
    condition: float = 1e5,
    work: int = 56,
    frac: int | None = None,
) -> Shared:
    """x with A x = b for a shared SPD matrix A (d x d) and vector b, both at one scale."""
    d = a.shape[0]
    if b.shape != (d,):
        raise ConfigurationError(f"solve_spd needs a vector of length {d}, got {b.shape}")
    x, s = await _scaled_inverse(session, a, condition, work)
    rhs = await mul(session, b, s, frac=work)
    solution = await matmul(session, x, rhs.reshape(d, 1))
    result = await mul(session, solution.reshape(d), s, frac=work)
    out = a.frac if frac is None else frac
    return await fx_truncate(session, result, work - out) if work > out else result


async def inverse_spd(
    session: Session,
    a: Shared,
    *,
    condition: float = 1e5,
    work: int = 56,
    frac: int | None = None,
) -> Shared:
    """A^-1 for a shared SPD matrix A (accuracy as for :func:`solve_spd`).

    The default scale, ``work`` plus the bits of A's largest entry, keeps ``work`` significant
    bits even in entries as small as 1 / max|A_ij|.
    """
    x, s = await _scaled_inverse(session, a, condition, work)
    d = a.shape[0]
    outer = await mul(session, s.reshape(d, 1), s.reshape(1, d), frac=2 * work)
    out = work + max(a.bits - a.frac, 0) if frac is None else frac
    return await mul(session, x, outer, frac=out)


async def _scaled_inverse(
    session: Session, a: Shared, condition: float, work: int
) -> tuple[Shared, Shared]:
    """(X, s) with X ~ (S A S)^-1 and S = diag(s), both at scale ``work``."""
    d = a.shape[0]
    if a.shape != (d, d):
        raise ConfigurationError(f"an SPD matrix is square, got shape {a.shape}")
    field = session.field
    diagonal = Shared(field, np.diagonal(a.share).copy(), a.bits, a.frac)
    onehot, _, _ = await _normalise(session, diagonal)
    # A_ii in [2^(i-1), 2^i) / 2^frac  ->  s = 2^-ceil((i - frac) / 2)
    exponents = [-math.ceil((i - a.frac) / 2) for i in range(1, a.bits + 1)]
    s = _exponent_factor(onehot, [2.0**e for e in exponents], work)
    outer = await mul(session, s.reshape(d, 1), s.reshape(1, d))
    scaled = (await mul(session, a, outer, frac=work)).with_bits(work + 1)  # |A'_ij| < 1

    scalings = _scalings(d, condition)
    bound = work + math.ceil(math.log2(condition)) + 2  # |X_ij| <= ||A'^-1|| <= condition
    k = scaled.bits + bound + _SCALE_BITS + d.bit_length()
    pool = await mask_pool(session, 2 * len(scalings) * d * d, k, work + _SCALE_BITS)
    start = (1 << work) >> math.ceil(math.log2(d))  # X0 = I / 2^ceil(log2 d), exactly
    x = Shared(field, field.array(np.eye(d, dtype=np.int64).astype(object) * start), work + 1, work)
    for c in scalings:
        y = (x * c).with_frac(work + _SCALE_BITS)  # alpha X with alpha = c / 2^8, exactly
        product = (await matmul(session, scaled, y, frac=work, pool=pool)).with_bits(bound)
        x = (await matmul(session, y, (-product) + 2.0 * np.eye(d), frac=work, pool=pool))
        x = x.with_bits(bound)
    return x, s


_SCALE_BITS = 8  # the Newton-Schulz scalings are multiples of 2^-8


def _scalings(d: int, condition: float) -> list[int]:
    """The numerators c of each Newton-Schulz step's scaling alpha = c / 2^8 (public).

    The spectrum of A'X lies in [a, b]; at the start a = 1 / (8 d condition) (lambda_min(A') is
    at least lambda_max / condition >= 1 / (4 condition), and X0 >= I / 2d) and b = 1. The step
    X <- alpha X (2I - alpha A'X) with alpha = 2 / (a + b) centres the spectrum on 1 before
    x -> x (2 - x) maps it into [4ab / (a + b)^2, 1], so a small a grows four-fold per step
    instead of two-fold (the scaled iteration of Pan and Schreiber, 1991). Rounding alpha down
    to a multiple of 2^-8 keeps alpha b < 2. Once alpha rounds to 1 the error 1 - a squares each
    step; the schedule ends when it is below 2^-64.
    """
    one = 1 << _SCALE_BITS
    a, b, error = 1 / (8 * d * condition), 1.0, 1.0
    scalings: list[int] = []
    while error > 2.0**-64:
        c = min(math.floor(2 / (a + b) * one), 2 * one - 1)
        low, high = a * c / one, b * c / one
        if c == one and b == 1.0:
            error = min(error, 1 - a) ** 2  # exact squaring, beyond float resolution near 1
        else:
            a = min(low * (2 - low), high * (2 - high))
            b = 1.0 if low <= 1 <= high else max(low * (2 - low), high * (2 - high))
            error = 1 - a
        a = max(a, 1 - error)
        scalings.append(c)
    return scalings
