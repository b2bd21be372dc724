"""Multiplication, inner and matrix products (one round each).

The product of two degree-t sharings is a degree-2t sharing; :func:`reduce_degree` brings it
back to degree t (Gennaro, Rabin and Rabin 1998): each of the first 2t + 1 parties re-shares its
local product with a fresh degree-t polynomial and every party recombines with the Lagrange
coefficients at zero. An inner product is one local sum of products followed by one re-share per
output element, not per term, so its communication does not depend on the vector length.

Leakage: none (nothing is opened).
"""

from __future__ import annotations

import numpy as np

from mpcstats.core.shamir import Field, lagrange, share
from mpcstats.protocols.session import Session
from mpcstats.protocols.shared import Shared

__all__ = ["dot", "matmul", "mul", "reduce_degree", "square"]


async def reduce_degree(
    session: Session, items: list[tuple[Field, np.ndarray]]
) -> list[np.ndarray]:
    """Degree-2t shares to degree-t shares, for several arrays (any fields) in one round."""
    n, t = session.n, session.t
    senders = range(2 * t + 1)
    outgoing: dict[int, list[np.ndarray]] = {}
    mine: list[np.ndarray] = []
    if session.party in senders:
        outgoing = {j: [] for j in range(n) if j != session.party}
        for field, product in items:
            shares = share(field, product, n, t, session.stream)
            mine.append(shares[session.party])
            for j in outgoing:
                outgoing[j].append(shares[j])
    received = await session.exchange(outgoing, senders)
    result = []
    for k, (field, _) in enumerate(items):
        lam = lagrange(field, tuple(i + 1 for i in senders))
        parts = [mine[k] if i == session.party else received[i][k] for i in senders]
        result.append(field.lincomb(lam, parts))
    return result


def _product_bits(a: Shared, b: Shared) -> int:
    return a.bits + b.bits


async def mul(session: Session, a: Shared, b: Shared) -> Shared:
    """Elementwise product (numpy broadcasting). Fixed-point scales add: truncate afterwards,
    or use :func:`mpcstats.protocols.fixedpoint.mul` which fuses the truncation."""
    bits = _product_bits(a, b)
    a.field.require(bits, session.kappa, len(session.contributors), "a product")
    (share_,) = await reduce_degree(session, [(a.field, a.field.mul(a.share, b.share))])
    return Shared(a.field, share_, bits, a.frac + b.frac)


async def square(session: Session, a: Shared) -> Shared:
    return await mul(session, a, a)


def _sum_bits(a: Shared, b: Shared, terms: int) -> int:
    return a.bits + b.bits + max(terms, 1).bit_length()


async def matmul(session: Session, a: Shared, b: Shared) -> Shared:
    """Matrix (or inner) product: local sums of products, one re-share per output element."""
    bits = _sum_bits(a, b, a.shape[-1])
    a.field.require(bits, session.kappa, len(session.contributors), "a matrix product")
    local = np.asarray(a.field.dot(a.share, b.share), dtype=object)
    (share_,) = await reduce_degree(session, [(a.field, local)])
    return Shared(a.field, share_, bits, a.frac + b.frac)


dot = matmul  # an inner product is the matrix product of two vectors
