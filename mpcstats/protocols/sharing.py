"""Secret-sharing inputs and fresh randomness.

Leakage: :func:`input` reveals the shape of the owner's array to every party (never its values).
"""

from __future__ import annotations

from collections.abc import Sequence
from math import comb
from typing import Any

import numpy as np

from mpcstats._errors import ConfigurationError, InputRangeError
from mpcstats.core.randomness import element_count
from mpcstats.core.shamir import Field, share
from mpcstats.protocols.session import Session
from mpcstats.protocols.shared import Shared

__all__ = ["deal", "encode", "input", "input_all", "random_field", "random_integers"]


def encode(values: Any, frac: int) -> np.ndarray:
    """Real or integer values as integers scaled by 2**frac (round to nearest)."""
    arr = np.asarray(values)
    if arr.dtype.kind == "f":
        if not np.all(np.isfinite(arr)):
            raise ConfigurationError(
                "inputs must be finite numbers (NaN and inf are not encodable)"
            )
        scaled = np.ldexp(arr.astype(np.float64), frac)
        return np.vectorize(lambda x: round(x), otypes=[object])(scaled)
    if arr.dtype.kind in "iub" or arr.dtype == object:
        return arr.astype(object) * (1 << frac)
    raise ConfigurationError(f"inputs must be numbers, not {arr.dtype}")


async def input(
    session: Session, values: Any | None, *, owner: int, bits: int, frac: int = 0
) -> Shared:
    """Secret-share the owner's ``values``; the other parties pass ``values=None``.

    ``bits`` declares the range: every encoded value v must satisfy |v| < 2**bits, checked at the
    owner (the error names the owner and the first offending position, not the value).
    """
    field = session.field
    field.require(bits, session.kappa, len(session.contributors), "an input")
    if session.party == owner:
        if values is None:
            raise ConfigurationError(f"party {owner} owns this input but passed no values")
        ints = _checked(encode(values, frac), bits, frac, owner)
        shares = share(field, field.array(ints), session.n, session.t, session.stream)
        outgoing = {j: [shares[j]] for j in range(session.n) if j != owner}
        await session.exchange(outgoing, [])
        mine = shares[owner]
    else:
        received = await session.exchange({}, [owner])
        mine = received[owner][0]
    return Shared(field, mine, bits, frac)


async def deal(
    session: Session,
    arrays: Sequence[tuple[Field, np.ndarray]],
    degrees: list[int] | None = None,
) -> list[list[np.ndarray]]:
    """One round in which each of the t + 1 contributors shares its own arrays.

    ``arrays`` are this party's (field, values) pairs, shared with degree t unless ``degrees``
    says otherwise; parties that are not contributors pass an empty list. Returns, per
    contributor, this party's shares of that contributor's arrays.
    """
    contributing = session.party in session.contributors
    outgoing: dict[int, list[np.ndarray]] = {}
    mine: list[np.ndarray] = []
    if contributing:
        peers = [j for j in range(session.n) if j != session.party]
        outgoing = {j: [] for j in peers}
        degrees = degrees or [session.t] * len(arrays)
        for (field, values), degree in zip(arrays, degrees, strict=True):
            shares = share(field, values, session.n, degree, session.stream)
            mine.append(shares[session.party])
            for j in peers:
                outgoing[j].append(shares[j])
    received = await session.exchange(outgoing, session.contributors)
    return [mine if j == session.party else received[j] for j in session.contributors]


async def random_field(session: Session, shape: int | tuple[int, ...]) -> np.ndarray:
    """This party's degree-t share of uniformly random elements of the prime field.

    With PRSS (n <= 9) this costs no message; otherwise the t + 1 contributors each share a
    random array and the shares are summed (one round).
    """
    if session.prss is not None:
        return session.prss.random(session.field, shape)
    field = session.field
    mine = (
        [(field, field.random(session.stream, shape))]
        if session.party in session.contributors
        else []
    )
    parts = await deal(session, mine)
    return field.lincomb([1] * len(parts), [p[0] for p in parts])


async def random_integers(session: Session, shape: int | tuple[int, ...], bits: int) -> Shared:
    """Shared random integers for masking: a sum of uniform ``bits``-bit integers (one per PRSS
    set, or one per contributor without PRSS), so at least one honest uniform term is in it.

    Not uniform on a range; it statistically hides any value of ``bits - kappa`` bits.
    """
    field = session.field
    count = element_count(shape)
    if session.prss is not None:
        share_ = session.prss.random_integers(field, bits, count)
        terms = comb(session.n, session.t)
    else:
        mine = (
            session.stream.integers(bits, count) if session.party in session.contributors else None
        )
        parts = await deal(session, [(field, mine)] if mine is not None else [])
        share_ = field.lincomb([1] * len(parts), [p[0] for p in parts])
        terms = len(parts)
    return Shared(field, share_.reshape(shape), bits + max(terms, 1).bit_length(), 0)


async def input_all(session: Session, values: Any, *, bits: int, frac: int = 0) -> list[Shared]:
    """Every party secret-shares its own array of the same shape, all in one round.

    Returns the shares of each party's array, in party order; summing them gives the pooled
    aggregate without revealing any party's own. Each party's range is checked at that party.
    The round is all-to-all, so it carries the PRSS keys of ``Session.prepare_setup``.
    """
    field = session.field
    field.require(bits, session.kappa, len(session.contributors), "an input")
    ints = _checked(encode(values, frac), bits, frac, session.party)
    shares = share(field, field.array(ints), session.n, session.t, session.stream)
    outgoing = {j: [shares[j]] for j in range(session.n) if j != session.party}
    received = await session.exchange(outgoing, range(session.n), all_to_all=True)
    return [
        Shared(field, shares[i] if i == session.party else received[i][0], bits, frac)
        for i in range(session.n)
    ]


def _checked(ints: np.ndarray, bits: int, frac: int, owner: int) -> np.ndarray:
    """``ints`` if every |v| < 2**bits, else an InputRangeError naming the owner and position."""
    bound = 1 << bits
    outside = np.flatnonzero(np.vectorize(lambda v: abs(v) >= bound, otypes=[bool])(ints))
    if outside.size:
        raise InputRangeError(
            f"party {owner}: {outside.size} input value(s) lie outside the declared range "
            f"|v| < 2^{bits - frac} (first at flat position {int(outside[0])})"
        )
    return ints
