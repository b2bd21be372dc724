"""Opening: the one code path that turns shares into plaintext.

Every disclosure goes through :func:`open_elements` (to all parties or to one party) or through
:func:`reconstruct_output` (at an analyst outside the computation), both of which call
:func:`mpcstats.core.shamir.interpolate` and log the opening in the session's stats.

Leakage: exactly the opened values, to the named receiver(s). Output shares for an analyst are
re-randomised with a pseudo-random zero sharing of degree 2t first, so the analyst learns the
output and nothing about how it was computed.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from mpcstats.core.field import PrimeField
from mpcstats.core.shamir import Field, interpolate
from mpcstats.protocols.session import Session
from mpcstats.protocols.shared import Shared

__all__ = ["decode", "open", "open_elements", "open_to", "output_share", "reconstruct_output"]


def decode(field: PrimeField, elements: np.ndarray, frac: int) -> np.ndarray:
    """Field elements as signed integers (frac = 0) or floats scaled by 2**-frac."""
    signed = field.signed(elements)
    if frac == 0:
        return signed
    return np.vectorize(lambda v: float(v) / (1 << frac) if v else 0.0, otypes=[np.float64])(signed)


async def open_elements(
    session: Session,
    field: Field,
    share: np.ndarray,
    *,
    degree: int | None = None,
    receiver: int | None = None,
    label: str,
) -> np.ndarray | None:
    """Open shares of ``degree`` (default t) to all parties, or only to ``receiver``.

    Only the first degree + 1 parties send (the rest would be redundant); returns the field
    elements, or None at parties that are not the receiver.
    """
    degree = session.t if degree is None else degree
    senders = range(degree + 1)
    receivers = range(session.n) if receiver is None else [receiver]
    outgoing: dict[int, list[np.ndarray]] = {}
    if session.party in senders:
        outgoing = {j: [share] for j in receivers if j != session.party}
    expect = senders if session.party in receivers else []
    received = await session.exchange(outgoing, expect)
    if session.party not in receivers:
        return None
    shares = {j: received[j][0] for j in received}
    if session.party in senders:
        shares[session.party] = share
    values = interpolate(field, shares, degree)
    session.record(label, field.kind, values, receiver)
    return values


async def open(session: Session, x: Shared, label: str = "output") -> np.ndarray:
    """Reveal ``x`` to all parties, decoded (ints, or floats for fixed point)."""
    values = await open_elements(session, x.field, x.share, label=label)
    assert values is not None
    return decode(x.field, values, x.frac)


async def open_to(
    session: Session, x: Shared, receiver: int, label: str = "output"
) -> np.ndarray | None:
    """Reveal ``x`` to party ``receiver`` only; the others get None and learn nothing.

    Shares are re-randomised (degree-2t zero sharing), so the receiver sees a fresh polynomial.
    """
    share = output_share(session, x) if session.prss is not None else x.share
    degree = 2 * session.t if session.prss is not None else session.t
    values = await open_elements(
        session, x.field, share, degree=degree, receiver=receiver, label=label
    )
    return None if values is None else decode(x.field, values, x.frac)


def output_share(session: Session, x: Shared) -> np.ndarray:
    """This party's share of ``x`` for an outside receiver: degree 2t, re-randomised.

    Needs PRSS keys (n <= 9). The receiver combines 2t + 1 of them with
    :func:`reconstruct_output`.
    """
    if session.prss is None:
        raise NotImplementedError("output re-randomisation needs PRSS keys (n <= 9)")
    return session.field.add(x.share, session.prss.zero(session.field, x.shape))


def reconstruct_output(
    field: PrimeField, shares: Mapping[int, np.ndarray], degree: int, frac: int
) -> np.ndarray:
    """The analyst's side: decode output shares received from the parties."""
    return decode(field, interpolate(field, shares, degree), frac)
