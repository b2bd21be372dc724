"""A party's view of one secure computation.

A :class:`Session` holds the party's id, n, the threshold t, the prime field, the security margin
kappa, the party's private randomness, its PRSS keys and its :class:`Channel`. It owns the round
counter: :meth:`Session.exchange` is the single way protocols communicate, one message per peer
per round, and it counts rounds and bytes into :attr:`Session.stats`. Nothing is global, so any
number of sessions run concurrently in one process.

PRSS keys are agreed in a round of their own (:meth:`Session.setup`), or, after
:meth:`Session.prepare_setup`, carried by the session's first all-to-all round (every statistic
starts by pooling its aggregates with :func:`~mpcstats.protocols.sharing.input_all`), which saves
that round. Until the keys have arrived, reading :attr:`Session.prss` is an error, not None, so
no protocol silently falls back to interactive randomness.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

import numpy as np

from mpcstats._errors import ConfigurationError, ProtocolError
from mpcstats.core.field import DEFAULT_MODULUS_BITS, PrimeField
from mpcstats.core.gf256 import GF256
from mpcstats.core.prss import PRSS, dealer, prss_available, unqualified_sets
from mpcstats.core.randomness import Stream
from mpcstats.transport.channel import Channel, Payload

__all__ = ["DEFAULT_KAPPA", "Opening", "Session", "Stats", "max_threshold"]

DEFAULT_KAPPA = 40


def max_threshold(n: int) -> int:
    """The honest-majority threshold t = floor((n - 1) / 2)."""
    return (n - 1) // 2


@dataclass
class Opening:
    """A record of one opened batch: who learned it, what it was for, how many values."""

    label: str
    field: str
    count: int
    receiver: int | None  # None: all parties
    values: np.ndarray | None = None  # kept only when the session records openings (tests)


@dataclass
class Stats:
    """Communication of one party: rounds, bytes and messages sent, and what was opened."""

    rounds: int = 0
    bytes_sent: int = 0
    messages_sent: int = 0
    openings: list[Opening] = field(default_factory=list)

    def snapshot(self) -> tuple[int, int, int]:
        return self.rounds, self.bytes_sent, self.messages_sent


class Session:
    """One party's state in one secure computation."""

    def __init__(
        self,
        party: int,
        n: int,
        channel: Channel,
        *,
        modulus_bits: int = DEFAULT_MODULUS_BITS,
        modulus: int | None = None,
        threshold: int | None = None,
        kappa: int = DEFAULT_KAPPA,
        record_openings: bool = False,
    ) -> None:
        if not 3 <= n <= 16:
            raise ConfigurationError(f"mpcstats runs with 3 to 16 compute parties, not {n}")
        t = max_threshold(n) if threshold is None else threshold
        if not 1 <= t <= max_threshold(n):
            raise ConfigurationError(
                f"threshold t={t} is not an honest majority for n={n}: use 1..{max_threshold(n)}"
            )
        if not 0 <= party < n:
            raise ConfigurationError(f"party id {party} is outside 0..{n - 1}")
        if kappa < 30:
            raise ConfigurationError(f"a statistical security margin of {kappa} bits is too small")
        self.party, self.n, self.t, self.kappa = party, n, t, kappa
        self.field = (
            PrimeField(modulus) if modulus is not None else PrimeField.with_bits(modulus_bits)
        )
        self.gf256 = GF256()
        self.channel = channel
        self.stream = Stream(os.urandom(32))
        self.stats = Stats()
        self.record_openings = record_openings
        self._prss: PRSS | None = None
        self._deal: _KeyDeal | None = None  # keys drawn, waiting for the first all-to-all round
        self._round = 0

    def __repr__(self) -> str:
        return f"Session(party={self.party}, n={self.n}, t={self.t}, field={self.field!r})"

    @property
    def prss(self) -> PRSS | None:
        """The PRSS keys, or None for sessions too large for PRSS."""
        if self._deal is not None:
            raise ProtocolError(
                "the PRSS keys travel with the session's first input_all round, which has not "
                "run yet: call `await session.setup()` before this protocol"
            )
        return self._prss

    @property
    def output_degree(self) -> int:
        """The degree of output shares: 2t when they are re-randomised with PRSS, else t."""
        return 2 * self.t if prss_available(self.n, self.t) else self.t

    @property
    def contributors(self) -> range:
        """The t + 1 parties that contribute randomness: at least one of them is honest."""
        return range(self.t + 1)

    # communication ------------------------------------------------------------------------
    def _nbytes(self, payload: Payload) -> int:
        return sum(
            self.gf256.nbytes(a) if a.dtype == np.uint8 else self.field.nbytes(a) for a in payload
        )

    async def exchange(
        self, outgoing: Mapping[int, Payload], expect: Iterable[int], *, all_to_all: bool = False
    ) -> dict[int, Payload]:
        """One round: send each peer its payload, then receive from the ``expect``ed peers.

        ``all_to_all`` declares that every party sends to and expects from every other party in
        this round; the first such round carries the PRSS keys of :meth:`prepare_setup`."""
        deal = self._deal if all_to_all else None
        if deal is not None:
            outgoing = {j: [*payload, deal.keys_for(j)] for j, payload in outgoing.items()}
        self._round += 1
        round_id = self._round
        self.stats.rounds += 1
        for peer, payload in outgoing.items():
            if peer == self.party:
                raise ConfigurationError("a party does not send to itself")
            self.stats.bytes_sent += self._nbytes(payload)
            self.stats.messages_sent += 1
            await self.channel.send(peer, round_id, payload)
        received = {
            peer: await self.channel.receive(peer, round_id)
            for peer in expect
            if peer != self.party
        }
        if deal is not None:
            self._finish_setup(deal, {j: payload[-1] for j, payload in received.items()})
            received = {j: payload[:-1] for j, payload in received.items()}
        return received

    def record(self, label: str, kind: str, values: np.ndarray, receiver: int | None) -> None:
        """Log an opening; only the opening protocol calls this."""
        kept = np.array(values, copy=True) if self.record_openings else None
        self.stats.openings.append(Opening(label, kind, int(np.size(values)), receiver, kept))

    # set-up -------------------------------------------------------------------------------
    def prepare_setup(self) -> None:
        """Draw this party's PRSS keys now; they travel with the first all-to-all round.

        Saves the round of :meth:`setup` for programs that start by pooling (every statistic)."""
        if prss_available(self.n, self.t) and self._prss is None:
            self._deal = _KeyDeal.draw(self.party, self.n, self.t)

    async def setup(self) -> None:
        """Agree PRSS keys: for each set A of t parties, A's dealer sends k_A to the others
        outside A (one round). Sessions too large for PRSS skip this."""
        if not prss_available(self.n, self.t) or self._prss is not None:
            return
        deal = self._deal or _KeyDeal.draw(self.party, self.n, self.t)
        self._deal = None
        payloads = {j: [deal.keys_for(j)] for j in range(self.n) if j != self.party}
        received = await self.exchange(payloads, range(self.n))
        self._finish_setup(deal, {j: payload[0] for j, payload in received.items()})

    def _finish_setup(self, deal: _KeyDeal, received: Mapping[int, np.ndarray]) -> None:
        self._deal = None
        self._prss = PRSS(self.party, self.n, self.t, deal.keys(received))


@dataclass
class _KeyDeal:
    """One party's side of the PRSS key agreement: the keys it deals and the sets it needs."""

    party: int
    n: int
    sets: list[frozenset[int]]  # the sets A this party lies outside of, in the agreed order
    dealt: dict[frozenset[int], bytes]

    @classmethod
    def draw(cls, party: int, n: int, t: int) -> _KeyDeal:
        sets = [a for a in unqualified_sets(n, t) if party not in a]
        dealt = {a: os.urandom(32) for a in sets if dealer(a, n) == party}
        return cls(party, n, sets, dealt)

    def keys_for(self, peer: int) -> np.ndarray:
        """The keys ``peer`` receives from this party (every set it dealt that excludes peer),
        as bytes; possibly none."""
        keys = [key for a, key in self.dealt.items() if peer not in a]
        return np.frombuffer(b"".join(keys), dtype=np.uint8)

    def keys(self, received: Mapping[int, np.ndarray]) -> dict[frozenset[int], bytes]:
        """Every key of this party's sets: its own, and those its dealers sent, in order."""
        keys = dict(self.dealt)
        offsets = dict.fromkeys(received, 0)
        for a in self.sets:
            d = dealer(a, self.n)
            if d != self.party:
                data = received[d]
                keys[a] = data[offsets[d] : offsets[d] + 32].tobytes()
                offsets[d] += 32
        return keys
