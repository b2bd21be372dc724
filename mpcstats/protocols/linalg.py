"""Solving symmetric positive definite systems A x = b.

1. Power-of-two Jacobi scaling: one batch of comparisons gives the bit length of each diagonal
   entry, hence s_i = 2^-ceil(e_i / 2) with e_i = log2 A_ii rounded up; A' = S A S has its
   diagonal in [1/4, 1), so its largest eigenvalue is below d.
2. Newton-Schulz iteration X <- X (2I - A'X) from X0 = I / 2^ceil(log2 d): the error
   1 - lambda X contracts quadratically once below one; reaching 2^-48 from
   1 - 1/(d cond) takes log2(d cond) + 6 iterations.
3. x = S X S b.

Each iteration is two fixed-point matrix products whose truncation masks are all drawn in one
round beforehand, so an iteration costs two rounds whatever d is.

Accuracy: with working precision w fractional bits (default 56), the relative error of x is
about cond(A') 2^-w plus the error left by the iteration count, i.e. below 1e-9 for
cond(A') <= ``condition`` = 1e5 (the default). Systems with a larger condition number need a
larger ``condition`` (more iterations) and, beyond ~1e7, a larger ``work``.

Leakage: only masked values are opened (see :mod:`~mpcstats.protocols.fixedpoint`).
"""

from __future__ import annotations

import math

import numpy as np

from mpcstats._errors import ConfigurationError
from mpcstats.protocols.fixedpoint import _exponent_factor, _normalise, mask_pool, matmul, mul
from mpcstats.protocols.fixedpoint import truncate as fx_truncate
from mpcstats.protocols.session import Session
from mpcstats.protocols.shared import Shared

__all__ = ["inverse_spd", "solve_spd"]


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

    iterations = math.ceil(math.log2(d * condition)) + 6
    bound = work + math.ceil(math.log2(condition)) + 2  # |X_ij| <= ||A'^-1|| <= condition
    k = scaled.bits + bound + d.bit_length()
    pool = await mask_pool(session, 2 * iterations * d * d, k, work)
    start = (1 << work) >> math.ceil(math.log2(d))  # X0 = I / 2^ceil(log2 d), exactly
    x = Shared(field, field.array(np.eye(d, dtype=np.int64).astype(object) * start), work + 1, work)
    for _ in range(iterations):
        product = (await matmul(session, scaled, x, pool=pool)).with_bits(bound)
        x = (await matmul(session, x, (-product) + 2.0 * np.eye(d), pool=pool)).with_bits(bound)
    return x, s
